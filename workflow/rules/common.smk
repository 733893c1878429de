# Helpers shared by the rules: the experiment list, output paths, flags for the eoslab CLI.
import itertools
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.main_snakefile).parent / "workflow"))
from eoslab.figures.catalog import FIGURES, figures_for  # noqa: E402  (imports neither torch nor matplotlib)

validate(config, "../../config/schema.yaml")

DATASETS = ("dice", "cifar10", "atrial_fibrillation", "sst")
CRITERIA = ("cross_entropy", "mse")


wildcard_constraints:
    dataset="|".join(DATASETS),
    criterion="|".join(CRITERIA),
    size=r"\d+",
    subset_seed=r"\d+",
    init_seed=r"\d+",


def experiments():
    """Every training run of the config: Table 1 rows × subset seeds × init seeds."""
    runs = []
    for row in config["experiments"]:
        for size, subset_seed, init_seed in itertools.product(
            row["sizes"], config["subset_seeds"], config["init_seeds"]
        ):
            runs.append(dict(dataset=row["dataset"], criterion=row["criterion"], size=size,
                             subset_seed=subset_seed, init_seed=init_seed))
    return runs


def combos():
    """The (dataset, criterion) pairs the config trains, in config order."""
    seen = []
    for row in config["experiments"]:
        if (row["dataset"], row["criterion"]) not in seen:
            seen.append((row["dataset"], row["criterion"]))
    return seen


def subset_path(dataset, size, subset_seed):
    return f"results/data/{dataset}/train_n{size}_s{subset_seed}.npz"


def run_dir(w):
    return "results/runs/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}".format(**w)


def analysis_path(w):
    return "results/analysis/{dataset}/{criterion}/n{size}_s{subset_seed}_i{init_seed}.parquet".format(**w)


def runs_of(dataset, criterion):
    return [e for e in experiments() if e["dataset"] == dataset and e["criterion"] == criterion]


def cli_flags(values):
    """A dict as eoslab CLI flags (--key value)."""
    flags = []
    for key, value in values.items():
        flags.append(f"--{key.replace('_', '-')} {value}")
    return " ".join(flags)


def training_flags(w):
    t, m = config["training"], config["model"]
    values = {**m, **{k: v for k, v in t.items() if k != "loss_thresholds"},
              "loss_threshold": t["loss_thresholds"][w.criterion],
              "transient_snapshot": config["transient_iterations"]}
    return cli_flags(values)


def analysis_flags(w):
    return cli_flags(config["analysis"])


def job_resource(kind, name):
    return config["resources"][kind][name]


def figure_combo(nn):
    return FIGURES[nn].dataset, FIGURES[nn].criterion


def figure_caption(nn):
    return FIGURES[nn].caption


def figure_subcategory(nn):
    return FIGURES[nn].section


def all_figures():
    """The figures of the data sets × criteria this config trains (the paper config: all 42)."""
    return [f"results/figures/fig{nn}.{ext}" for nn in figures_for(combos()) for ext in ("pdf", "png")]

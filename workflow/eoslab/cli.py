"""The eoslab command line, which the workflow rules call.

  eoslab train --data FILE.npz --out DIR [--config FILE.yaml] [--KEY VALUE ...]
      train one network; every training setting can come from the YAML/JSON config
      file and be overridden by a flag of the same name (see: eoslab train --help)
  eoslab analyze RUN_DIR --out FILE.parquet [--config FILE.yaml] [--KEY VALUE ...]
      compute every quantity the paper plots for every snapshot of a run
  eoslab data dice|cifar10|atrial-fibrillation|sst --out POOL.npz ...
      prepare a data set's pool
  eoslab data subset --pool POOL.npz --size N --seed S --out FILE.npz
      draw a training subset (--split test writes the test set)
  eoslab data figure5 --pool DICE_POOL.npz --out DIR/fig05
      draw Figure 5
  eoslab aggregate | table | figure ...
      per-run tables -> aggregates -> Tables 1-3, the claims table, Figures 1-42
      (of jacobian_alignment, Lowell & Kastner 2024; the same as
      eoslab study jacobian_alignment analyze | aggregate | table | figure)
  eoslab status [ROOT] | status --figure RUN_DIR --out STEM
      the runs under a results root (status, iterations, loss, checkpoint age), or
      one run's training curves
  eoslab study NAME COMMAND ...
      a companion study's own commands (eoslab.studies.NAME.cli; eoslab study NAME --help)

Exit status: 0 success (training converged or reached max_iterations; also
diverged with train --diverged-ok), 2 bad input (the message names the key or
file; also: another process holds the run directory), 3 training diverged, 143
interrupted by SIGTERM (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys

from . import __version__
from .arrays import DataFileError
from .datasets.download import DownloadError
from .settings import ConfigError, add_dataclass_flags, config_values
from .studies.jacobian_alignment import cli as jacobian_alignment_cli
from .training import TrainConfig, TrainingDiverged, train


TRAIN_DESCRIPTION = """Train one network full-batch (exponential Euler, Supplement 7.2, or gradient descent).

Writes into --out: run.json (the resolved settings), log.parquet (one row per
iteration), snapshots/, checkpoint.pt while running, status.json. Settings come
from --config (YAML/JSON with the names below, underscores) overridden by flags.
Rerunning the same command resumes from the checkpoint."""

def _add_train_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train one network (exponential Euler or gradient descent)",
                                   description=TRAIN_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output directory of the run (required)")
    parser.add_argument("--config", help="YAML or JSON file of the settings below (flags override it)")
    parser.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    parser.add_argument("--diverged-ok", action="store_true",
                        help="exit 0 when the run diverges (its status.json says diverged): a diverged run is a "
                             "result, which the workflow records instead of failing the job (default: exit 3)")
    add_dataclass_flags(parser.add_argument_group("training settings"), TrainConfig)


def _train(args: argparse.Namespace) -> int:
    values = config_values(args, TrainConfig)
    if "data" not in values:
        raise ConfigError("no data file: pass --data FILE.npz or set 'data' in --config")
    config = TrainConfig.from_dict(values)
    try:
        status = train(config, args.out, progress=not args.no_progress)
    except TrainingDiverged as error:
        if not args.diverged_ok:
            raise
        print(f"{args.out}: diverged — {error} (exit 0: --diverged-ok)")
        return 0
    print(f"{args.out}: {status['status']} — {status['message']}")
    return 0


def _add_data_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="prepare data pools, subsets and Figure 5")
    sub = parser.add_subparsers(dest="data_command", required=True)
    dice = sub.add_parser("dice", help="generate the synthetic dice set (Supplement 7.3)")
    dice.add_argument("--out", required=True, help="pool file (.npz; a JSON card is written beside it)")
    dice.add_argument("--seed", type=int, default=0, help="seed of the generator (default: 0)")
    dice.add_argument("--per-class", type=int, default=20_000,
                      help="images per class, six classes (default: 20000, the paper's 120,000 images)")
    dice.add_argument("--background", choices=("white", "black"), default="white",
                      help="white: black ink on white, as an R PNG device draws by default (pixel 1 after x/255 "
                           "is background); black: ink intensity on black (default: white)")
    dice.add_argument("--pip", choices=("filled", "circle"), default="filled",
                      help="pips as filled dots, or as R's default points() symbol, an open circle (default: filled)")
    dice.add_argument("--channels", type=int, choices=(1, 3), default=1,
                      help="1 grey channel (1,024 inputs) or the 3 identical channels of an RGB PNG (default: 1)")
    dice.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    dice.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    for name, default in (("cifar10", "resources/cifar-10-batches-py"),
                          ("atrial-fibrillation", "resources/AtrialFibrillation"),
                          ("sst", "resources/stanfordSentimentTreebank")):
        p = sub.add_parser(name, help=f"prepare the {name} pool from {default}")
        p.add_argument("--out", required=True, help="pool file (.npz; a JSON card is written beside it)")
        p.add_argument("--root", default=default, help=f"raw data directory (default: {default})")
        p.add_argument("--download", action="store_true", help="download the raw data if --root is missing")
        if name == "atrial-fibrillation":
            p.add_argument("--stride", type=int, default=1, help="step between the 128-sample windows (default: 1)")
            p.add_argument("--windows-per-case", type=int, default=512,
                           help="keep the first N windows of each case; 0 keeps all (default: 512, so the 15 "
                                "training cases give 7,680 = 960 x 8 windows)")
        if name == "sst":
            p.add_argument("--model", default="resources/roberta-base",
                           help="RoBERTa-base directory or hub name (default: resources/roberta-base)")
            p.add_argument("--batch-size", type=int, default=64, help="sentences per RoBERTa batch (default: 64)")
            p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
            p.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    subset = sub.add_parser("subset", help="draw a seeded training subset (or the test split) of a pool")
    subset.add_argument("--pool", required=True, help="pool file from 'eoslab data <data set>'")
    subset.add_argument("--size", type=int, help="training-set size D (required for --split train)")
    subset.add_argument("--seed", type=int, default=0, help="subset seed (default: 0)")
    subset.add_argument("--split", choices=("train", "test"), default="train",
                        help="a training subset or the whole test split (default: train)")
    subset.add_argument("--out", required=True, help="array file (.npz; a JSON card is written beside it)")
    figure = sub.add_parser("figure5", help="Figure 5: dice examples")
    figure.add_argument("--pool", required=True, help="the dice pool")
    figure.add_argument("--out", required=True, help="path without extension; writes .pdf and .png")


def _data(args: argparse.Namespace) -> int:
    from .datasets import prepare
    from .datasets.pools import write_subset

    command = args.data_command
    if command == "dice":
        path = prepare.prepare_dice(args.out, seed=args.seed, per_class=args.per_class, workers=args.workers,
                                    progress=not args.no_progress, background=args.background, pip=args.pip,
                                    channels=args.channels)
    elif command == "cifar10":
        path = prepare.prepare_cifar10(args.out, args.root, download=args.download)
    elif command == "atrial-fibrillation":
        path = prepare.prepare_atrial_fibrillation(args.out, args.root, download=args.download, stride=args.stride,
                                                   per_case=args.windows_per_case or None)
    elif command == "sst":
        path = prepare.prepare_sst(args.out, args.root, args.model, download=args.download,
                                   batch_size=args.batch_size, device=args.device, progress=not args.no_progress)
    elif command == "subset":
        if args.split == "train" and args.size is None:
            raise ConfigError("--size is required for a training subset")
        path = write_subset(args.pool, args.size, args.seed, args.out, split=args.split)
    else:
        from .studies.jacobian_alignment.dice_examples import figure05

        path = ", ".join(map(str, figure05(args.pool, args.out)))
    print(f"wrote {path}")
    return 0


def study_names() -> list[str]:
    """The companion studies with a command line: packages ``eoslab.studies.<name>`` with a ``cli`` module."""
    import pkgutil

    from . import studies

    return sorted(info.name for info in pkgutil.iter_modules(studies.__path__)
                  if info.ispkg and importlib.util.find_spec(f"eoslab.studies.{info.name}.cli") is not None)


def _add_study_parser(subparsers) -> None:
    parser = subparsers.add_parser("study", help="a companion study's own commands (eoslab study NAME --help)",
                                   description="Run a companion study's own commands: eoslab study NAME COMMAND ...")
    parser.add_argument("name", help="the study: " + ", ".join(study_names()))
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="the study's command and its arguments")


def _study(args: argparse.Namespace) -> int:
    names = study_names()
    if args.name not in names:
        raise ConfigError(f"unknown study {args.name!r}; the studies with commands are: {', '.join(names)}")
    module = importlib.import_module(f"eoslab.studies.{args.name}.cli")
    return module.main(args.rest)


def _add_status_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "status", help="the runs under a results root, or one run's training curves (--figure)",
        description="Without --figure: a table of every run directory under ROOT (study, data set, criterion, "
                    "size, seeds, status, iterations, final loss, checkpoint age). A run whose status.json says "
                    "running but which no process holds is shown as died. With --figure RUN_DIR --out STEM: that "
                    "run's loss against its threshold, top eigenvalues and lambda_min, and time step over "
                    "iterations, from its log.parquet.")
    parser.add_argument("root", nargs="?", default="results",
                        help="results root or any folder above run directories (default: results)")
    parser.add_argument("--figure", metavar="RUN_DIR", help="draw this run's training curves instead of the table")
    parser.add_argument("--out", help="with --figure: path without extension (.pdf and .png are written)")
    parser.add_argument("--csv", help="also write the table to this CSV file")


def _status(args: argparse.Namespace) -> int:
    from .runstatus import format_table, run_figure, run_table

    if args.figure:
        if not args.out:
            raise ConfigError("--figure needs --out STEM")
        print("wrote " + ", ".join(map(str, run_figure(args.figure, args.out))))
        return 0
    from pathlib import Path

    if not Path(args.root).is_dir():
        raise ConfigError(f"{args.root} is not a directory")
    table = run_table(args.root)
    print(format_table(table))
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


def _add_claims_page_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "claims-page", help="put a study's CPU claims table on its docs page (docs/claims/README.md)",
        description="Copy RESULTS/STUDY/tables/claims.csv to docs/claims/STUDY-cpu.csv and replace the page's "
                    "block between <!-- claims: config/cpu/STUDY.yaml --> and <!-- /claims --> by that table as "
                    "claims_markdown renders it (appended under '## Claims at CPU scale' if the page has none). "
                    "Refuses a table that config/cpu/STUDY.yaml did not make.")
    parser.add_argument("study", help="study name (jacobian_alignment, sam_edge, stochastic_eos, layerwise_sharpness)")
    parser.add_argument("--results", default="results/cpu", help="the CPU config's output root (default: results/cpu)")
    parser.add_argument("--docs", default="docs", help="the docs folder of the checkout (default: docs)")


def _claims_page(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .io import atomic_write
    from .verdicts import CLAIMS_PAGES, read_claims, with_claims_block

    if args.study not in CLAIMS_PAGES:
        raise ConfigError(f"unknown study {args.study!r}; expected one of {', '.join(CLAIMS_PAGES)}")
    source = Path(args.results) / args.study / "tables" / "claims.csv"
    if not source.exists():
        raise DataFileError(f"{source} is missing: run snakemake -c2 all --configfile config/cpu/{args.study}.yaml")
    table = read_claims(source)
    expected = f"config/cpu/{args.study}.yaml"
    configs = set(table["config"])
    if configs != {expected}:
        raise ConfigError(f"{source} was made from {sorted(configs)}, not {expected}")
    docs = Path(args.docs)
    page = docs / Path(CLAIMS_PAGES[args.study]).name
    csv = docs / "claims" / f"{args.study}-cpu.csv"
    atomic_write(csv, lambda tmp: Path(tmp).write_bytes(source.read_bytes()))
    text = with_claims_block(page.read_text(encoding="utf-8"), args.study, read_claims(csv))
    atomic_write(page, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    counts = table["verdict"].value_counts().to_dict()
    print(f"wrote {csv} and the claims block of {page} ({counts})")
    return 0


COMMANDS = {"claims-page": _claims_page, "study": _study, "train": _train, "data": _data, "status": _status, **jacobian_alignment_cli.COMMANDS}


DECOMPOSE_DESCRIPTION = """Decompose the sharpness of a saved network on a data file (Eqs. 2-8): the metrics and
names of 'eoslab analyze', as one table (metric, layer, value).

MODEL is a torch.save'd nn.Sequential of nn.Linear layers and elementwise activations (unpickled with
weights_only=False: load only files you trust), an eoslab snapshot (snapshots/NNNNNNN.pt of
'eoslab train'), or a state dict with --arch (a JSON/YAML spec: widths, activation, bias, dtype;
see eoslab.adapters.sequential_from_spec). DATA is an .npz with X (N, D) and y (as 'eoslab data
subset' writes), or a .pt holding {"X": ..., "y": ...}. Networks it cannot decompose are refused
with the module and the reason (exit status 2)."""


def _add_decompose_parser(subparsers) -> None:
    """`eoslab decompose MODEL DATA --out FILE` (issue 25); registers its own command."""
    parser = subparsers.add_parser("decompose", help="decompose the sharpness of a saved network on a data file",
                                   description=DECOMPOSE_DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="saved nn.Sequential (.pt), eoslab snapshot, or state dict with --arch")
    parser.add_argument("data", help=".npz with X and y, or .pt with {'X', 'y'}")
    parser.add_argument("--out", required=True, help="output table: .parquet or .csv (required)")
    parser.add_argument("--arch", help="JSON/YAML architecture spec, when MODEL is a state dict")
    parser.add_argument("--criterion", default="cross_entropy", choices=("cross_entropy", "mse"),
                        help="training loss (default: cross_entropy)")
    parser.add_argument("--reduction", default="mean", choices=("mean", "sum"),
                        help="how the training loss reduces over samples; sum scales the curvature metrics by N "
                             "(cross-entropy) or N*O (MSE) (default: mean, the paper's)")
    parser.add_argument("--device", default="cpu", help="torch device for the model and data (default: cpu)")
    from .metrics import MetricSettings

    add_dataclass_flags(parser.add_argument_group("metric settings"), MetricSettings, skip=("device",))
    COMMANDS["decompose"] = _decompose


def _decompose(args: argparse.Namespace) -> int:
    from .metrics import MetricSettings
    from .network import decompose_files

    settings = MetricSettings.from_dict(config_values(args, MetricSettings))
    frame = decompose_files(args.model, args.data, args.out, arch=args.arch, criterion=args.criterion,
                            reduction=args.reduction, device=args.device, settings=settings)
    print(f"wrote {args.out}: {len(frame)} rows; sharpness {frame.attrs['sharpness']:.6g}, E|K|^2 "
          f"{frame.attrs['EK2']:.6g}, P1_DeltaJ {frame.attrs['P_DeltaJ_1']:.6g}")
    return 0


def configure_logging(verbose: bool) -> None:
    """INFO (DEBUG with -v) for eoslab's own messages; matplotlib only from WARNING on, unless
    verbose (its mathtext logs every glyph substitution at INFO, which buried the figure logs)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("matplotlib").setLevel(logging.DEBUG if verbose else logging.WARNING)


def _pin_other_threadpools(threads: int) -> None:
    """``--threads N`` for everything, not only torch's pool: numpy's BLAS (OpenBLAS, used by the
    eigensolvers' small dense steps) otherwise keeps one thread per core unless the environment says
    otherwise, and a run by hand then differs from the workflow's, which Snakemake runs with
    ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` = N (docs/reliability.md (d)).
    The variables are set too, for child processes."""
    import os

    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    try:
        from threadpoolctl import threadpool_limits   # installed with scikit-learn, a dependency
    except ImportError:
        return
    import importlib

    importlib.import_module("numpy")   # loads its BLAS, so that the limit reaches it
    threadpool_limits(limits=threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eoslab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"eoslab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of torch's intra-op pool (default: $OMP_NUM_THREADS if set, else one per "
                             "core); the workflow passes each rule's threads")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(subparsers)
    _add_data_parser(subparsers)
    # The first paper's analysis and results commands, also reached as `eoslab study jacobian_alignment ...`.
    jacobian_alignment_cli.add_commands(subparsers)
    _add_status_parser(subparsers)
    _add_study_parser(subparsers)
    _add_decompose_parser(subparsers)  # issue 25: eoslab decompose
    _add_claims_page_parser(subparsers)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        import torch

        torch.set_num_threads(args.threads)
        _pin_other_threadpools(args.threads)
    try:
        return COMMANDS[args.command](args)
    except (DataFileError, ConfigError, DownloadError) as error:
        print(f"eoslab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"eoslab {args.command}: diverged: {error}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())

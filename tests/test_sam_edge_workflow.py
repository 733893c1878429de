"""Study sam_edge in the workflow: schema defaults, job counts, figure targets, errors by name."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
snakemake_utils = pytest.importorskip("snakemake.utils")
needs_snakemake = pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake CLI not installed")
SCHEMA = str(ROOT / "config" / "schemas" / "sam_edge.schema.yaml")


def dry_run(*args):
    return subprocess.run(["snakemake", "-n", *args, "--quiet", "rules"], cwd=ROOT, capture_output=True, text=True)


def job_counts(output: str) -> dict[str, int]:
    section = output[output.index("Job stats"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", section, re.M)}


def test_schema_defaults_are_the_papers_grids():
    section = {}
    snakemake_utils.validate(section, SCHEMA)
    ex = section["experiments"]
    assert list(ex) == ["mlp", "cnn", "transformer"]
    assert ex["mlp"]["lrs"] == [0.03, 0.1, 0.3] and ex["mlp"]["rhos"] == [0.0, 0.1, 0.3, 1.0]
    assert ex["mlp"]["model"] == {"depth": 4, "width": 1000, "activation": "relu", "init_seed": 0}
    assert ex["mlp"]["batch_size"] is None and ex["mlp"]["data"]["source"] == "mnist"
    assert ex["cnn"]["lrs"] == [0.0003, 0.001, 0.003, 0.01] and ex["cnn"]["data"]["train_size"] == 1000
    assert ex["cnn"]["model"]["channels"] == [16, 32]
    assert ex["transformer"]["lrs"] == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5] and ex["transformer"]["batch_size"] == 128
    assert ex["transformer"]["model"] == {"num_layers": 6, "num_heads": 8, "key_size": 32, "model_size": 128,
                                          "seq_len": 64, "widening_factor": 4, "init_seed": 0}
    assert ex["transformer"]["data"]["held_out_lines"] == 10000
    assert (ex["mlp"]["figure_rho"], ex["cnn"]["figure_rho"], ex["transformer"]["figure_rho"]) == (0.1, 0.1, 0.3)
    assert section["eigen"]["num_eigenvalues"] == 3
    # Only the experiments a config names are run; their missing keys are the defaults.
    mine = {"experiments": {"cnn": {"lrs": [0.01]}}}
    snakemake_utils.validate(mine, SCHEMA)
    assert list(mine["experiments"]) == ["cnn"] and mine["experiments"]["cnn"]["steps"] == 100000


@pytest.mark.parametrize("name", ["tiny.yaml", "paper/sam_edge.yaml", "cpu/sam_edge.yaml"])
def test_shipped_configs_are_valid(name):
    config = yaml.safe_load((ROOT / "config" / name).read_text())
    snakemake_utils.validate(config, str(ROOT / "config" / "schema.yaml"))
    snakemake_utils.validate(config["sam_edge"], SCHEMA)
    for experiment in config["sam_edge"]["experiments"].values():
        assert 0.0 in experiment["rhos"] and experiment["figure_rho"] in experiment["rhos"]


@needs_snakemake
def test_paper_config_has_one_training_job_per_grid_point():
    result = dry_run("--configfile", "config/paper/sam_edge.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["sam_edge_train"] == 3 * 4 + 4 * 4 + 6 * 4
    assert counts["sam_edge_figure"] == 16 and counts["sam_edge_aggregate"] == 3 and counts["sam_edge_data"] == 3
    assert counts["sam_edge_claims"] == 1


@needs_snakemake
def test_one_figure_builds_only_its_experiments_runs():
    result = dry_run("results/paper/sam_edge/figures/fig08.pdf", "--configfile", "config/paper/sam_edge.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["sam_edge_train"] == 16 and counts["sam_edge_data"] == 1 and counts["sam_edge_figure"] == 1


@needs_snakemake
def test_a_figure_of_an_experiment_the_config_does_not_run_names_the_config_that_does(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"sam_edge": {"experiments": {"mlp": {"lrs": [0.1]}}}}))
    result = dry_run("results/mine/sam_edge/figures/fig12.pdf", "--configfile", str(mine))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "needs experiment 'transformer' of study sam_edge" in output
    assert "use --configfile config/paper/sam_edge.yaml" in output
    assert "Job stats" not in output  # stopped while building the DAG


@needs_snakemake
def test_a_figure_rho_outside_the_grid_stops_before_any_job(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"sam_edge": {"experiments": {"mlp": {"rhos": [0.0, 0.3]}}}}))
    result = dry_run("--configfile", str(mine))
    assert result.returncode != 0 and "figure_rho = 0.1" in result.stdout + result.stderr


@needs_snakemake
def test_a_bad_value_is_named_on_the_last_line(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"sam_edge": {"experiments": {"mlp": {"lrs": [-0.1]}}}}))
    result = dry_run("--configfile", str(mine))
    assert result.returncode != 0
    assert (result.stdout + result.stderr).strip().splitlines()[-1].startswith("sam_edge.experiments.mlp.lrs.0")

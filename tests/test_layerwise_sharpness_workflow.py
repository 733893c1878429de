"""Study layerwise_sharpness in the Snakemake workflow: configs, schema, job counts, one figure's
runs, the commands' flags and the CIFAR-10 message."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from eoslab.studies.layerwise_sharpness import catalog

ROOT = Path(__file__).resolve().parents[1]
snakemake_utils = pytest.importorskip("snakemake.utils")
needs_snakemake = pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake CLI not installed")
SCHEMA = str(ROOT / "config" / "schemas" / "layerwise_sharpness.schema.yaml")


def section(name):
    config = yaml.safe_load((ROOT / "config" / name).read_text())
    snakemake_utils.validate(config, str(ROOT / "config" / "schema.yaml"))
    snakemake_utils.validate(config["layerwise_sharpness"], SCHEMA)
    return config, config["layerwise_sharpness"]


def test_the_schema_defaults_are_the_thesis_values_and_the_shipped_configs_validate():
    config = {}
    snakemake_utils.validate(config, SCHEMA)
    assert config["trajectory"]["samples"] == 5000 and config["trajectory"]["iterations"] == 5000
    m = config["maxstep"]
    assert (m["runs"], m["iterations"], m["beta"], m["batch_size"]) == (10, 100, 1.01, 1)
    assert m["eta0"] == {"synthetic_full_batch": 0.1, "synthetic_minibatch": 0.01, "cifar10_full_batch": 0.01}
    assert config["cifar10"]["enabled"] is True
    paper_root, paper = section("paper/layerwise_sharpness.yaml")
    cpu_root, cpu = section("cpu/layerwise_sharpness.yaml")
    _, tiny = section("tiny.yaml")
    assert paper_root["results"] == "results/paper" and cpu_root["results"] == "results/cpu"
    assert paper["maxstep"] == {**m, "block": paper["maxstep"]["block"]}
    assert not cpu["cifar10"]["enabled"] and not tiny["cifar10"]["enabled"]
    assert catalog.selected_figures(paper) == list(catalog.FIGURE_ORDER)


@pytest.mark.parametrize("mutate,named", [
    (lambda c: c["maxstep"].update(beta=1.0), "beta"),
    (lambda c: c["maxstep"].update(horizon="steps"), "steps"),
    (lambda c: c.update(figures=["fig_3_10"]), "fig_3_10"),
    (lambda c: c["trajectory"].update(sample=10), "sample"),
])
def test_the_schema_rejects_bad_values_by_name(mutate, named):
    _, tiny = section("tiny.yaml")
    bad = copy.deepcopy(tiny)
    mutate(bad)
    with pytest.raises(Exception) as error:
        snakemake_utils.validate(bad, SCHEMA)
    assert named in str(error.value)


def test_the_catalog_covers_every_thesis_figure_and_table():
    expected = ({f"fig_3_{i}" for i in range(1, 10)} | {f"fig_4_{i}" for i in range(2, 8)}
                | {f"fig_a_{i}" for i in range(1, 11)})
    assert set(catalog.FIGURES) == expected and catalog.TABLES == ("table_4_1", "table_4_2")
    config = {"cifar10": {"enabled": True}, "maxstep": {"depths": [1, 3], "widths": [10], "sizes": [100, 5],
                                                         "batch_size": 1}}
    assert len(catalog.figure_runs("fig_a_1", config)) == 4
    assert [r.key for r in catalog.figure_runs("fig_3_7", config)][:4] == [
        "synthetic_relu_d3_w10_inv0", "synthetic_relu_d3_w10_invt", "synthetic_relu_d3_w10_lr0.08",
        "synthetic_relu_d3_w10_lr0.2"]
    assert len(catalog.figure_runs("fig_3_9", config)) == 8  # synthetic and CIFAR-10
    assert {p.key for p in catalog.figure_points("fig_4_7", config)} >= {"synthetic_b1_relu_d3_w10_n5"}
    assert catalog.table_points("table_4_2", config)[0].key == "synthetic_b1_linear_d3_w10_n100"
    assert not catalog.figure_available("fig_a_9", {"cifar10": {"enabled": False}})


def dry_run(*args):
    """A dry run of every job (-F: also of those whose outputs exist, e.g. after a run in this checkout)."""
    return subprocess.run(["snakemake", "-n", "-F", *args, "--quiet", "rules"], cwd=ROOT, capture_output=True,
                          text=True)


def job_counts(output: str) -> dict[str, int]:
    stats = output[output.index("Job stats"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}


@needs_snakemake
def test_paper_config_builds_every_figure_and_both_tables():
    result = dry_run("--configfile", "config/paper/layerwise_sharpness.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    # 26 constant-η runs + 12 synthetic and 14 CIFAR-10 scheme runs; 3 settings × 4 activations × 17 points.
    assert counts["ls_trajectory"] == 52 and counts["ls_maxstep"] == 204
    assert counts["ls_figure"] == 25 and counts["ls_table"] == 2 and counts["ls_cifar10_pool"] == 1
    assert counts["ls_claims"] == 1                   # tables/claims.{csv,md} is one of the `all` targets


@needs_snakemake
def test_one_table_builds_only_its_four_points_with_the_thesis_settings():
    result = subprocess.run(["snakemake", "-n", "-p", "-F", "results/paper/layerwise_sharpness/tables/table_4_2.csv",
                             "--configfile", "config/paper/layerwise_sharpness.yaml"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    commands = [line for line in result.stdout.splitlines() if "layerwise_sharpness maxstep" in line]
    assert len(commands) == 4
    for command in commands:
        assert "--point synthetic_b1_" in command and "--eta0 0.01 " in command and "--runs 10 " in command
        assert "--iterations 100 " in command and "--beta 1.01 " in command and "--dtype float32 " in command


@needs_snakemake
def test_a_cifar10_figure_in_a_config_without_cifar10_stops_before_any_job_naming_the_config_that_has_it():
    result = dry_run("results/tiny/layerwise_sharpness/figures/fig_a_8.pdf")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Figure A.8 needs CIFAR-10, which this config (config/tiny.yaml) leaves out" in output
    assert "config/paper/layerwise_sharpness.yaml" in output and "Job stats" not in output


@needs_snakemake
def test_the_tiny_config_runs_few_jobs_all_on_synthetic_data():
    result = subprocess.run(["snakemake", "-n", "-p", "-F"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ours = [line for line in result.stdout.splitlines() if "eoslab" in line and "layerwise_sharpness" in line]
    assert ours and not any("cifar10" in line for line in ours)
    assert sum("study layerwise_sharpness trajectory" in line for line in ours) == 6
    assert sum("study layerwise_sharpness maxstep" in line for line in ours) == 12
    assert all("results/tiny/layerwise_sharpness/" in line for line in ours)

"""Study stochastic_eos: the command line end to end at toy size, and the workflow's dry runs."""

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from eoslab.studies.stochastic_eos import cli

ROOT = Path(__file__).resolve().parents[1]
needs_snakemake = pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake CLI not installed")


def run(*argv):
    assert cli.main([str(a) for a in argv]) == 0


@pytest.mark.slow
def test_command_line_end_to_end(tmp_path):
    """linear → quadratic → data → two MLP runs → collect → every figure → the tables and claims."""
    for setting in ("flat", "localised"):
        run("linear", "--setting", setting, "--num-samples", 10, "--num-parameters", 20, "--lr-num", 5,
            "--lr-min", 0.05, "--steps", 40, "--replicas", 8, "--out", tmp_path / f"{setting}.parquet",
            "--trajectories", tmp_path / f"{setting}_traj.parquet")
    sweep = pd.read_parquet(tmp_path / "flat.parquet")
    assert len(sweep) == 5 and sweep["lr_lambda_max"].iloc[-1] == pytest.approx(2.0)
    assert (sweep["K_tr"] <= sweep["K_hd"] * (1 + 1e-12)).all()
    for shape in ("flat", "shaped"):
        run("quadratic", "--shape", shape, "--num-samples", 6, "--num-parameters", 8, "--batch-sizes", "1,6",
            "--steps", 6, "--seeds", 1, "--out", tmp_path / f"q_{shape}.parquet")
    run("mnist-data", "--source", "sklearn_digits", "--num-examples", 40, "--out", tmp_path / "data.npz")
    for batch, lr in ((4, 0.02), (20, 0.1)):
        run("mlp-train", "--data", tmp_path / "data.npz", "--batch-size", batch, "--lr", lr, "--steps", 12,
            "--width", 8, "--measurements", 3, "--out", tmp_path / f"run{batch}", "--finished",
            tmp_path / f"run{batch}.json")
    run("collect", tmp_path / "run4", tmp_path / "run20", "--out", tmp_path / "runs.parquet")
    linear_files = [tmp_path / "flat.parquet", tmp_path / "localised.parquet"]
    for number in ("01", "07", "08"):
        run("figure", number, "--linear", *linear_files, "--trajectories", tmp_path / "flat_traj.parquet",
            "--out", tmp_path / f"fig{number}")
    for number in ("02", "09"):
        run("figure", number, "--quadratic", tmp_path / "q_flat.parquet", tmp_path / "q_shaped.parquet",
            "--out", tmp_path / f"fig{number}")
    for number in ("03", "04", "05", "10"):
        run("figure", number, "--mlp", tmp_path / "runs.parquet", "--small-batch-sizes", "4", "--out",
            tmp_path / f"fig{number}")
    for number in ("01", "02", "03", "04", "05", "07", "08", "09", "10"):
        assert (tmp_path / f"fig{number}.pdf").stat().st_size > 0 and (tmp_path / f"fig{number}.png").exists()
    run("localisation", "--scale", 0.5, "--num-samples", 8, "--num-parameters", 16, "--seeds", "0", "--lr-num", 4,
        "--steps", 40, "--replicas", 8, "--out", tmp_path / "loc.parquet")
    run("figure", "A4", "--localisation", tmp_path / "loc.parquet", "--out", tmp_path / "figA4")
    assert (tmp_path / "figA4.png").exists()
    run("mlp-train", "--data", tmp_path / "data.npz", "--batch-size", 4, "--lr", 0.2, "--steps", 12, "--width", 8,
        "--measurements", 3, "--gain", 0.5, "--out", tmp_path / "rise4")
    run("collect", tmp_path / "rise4", "--out", tmp_path / "rise.parquet")
    assert pd.read_parquet(tmp_path / "rise.parquet")["gain"].iloc[0] == 0.5
    run("table", "--linear", *linear_files, "--mlp", tmp_path / "runs.parquet", "--large-batch-min", 20,
        "--localisation", tmp_path / "loc.parquet", "--out", tmp_path / "thresholds")
    table = pd.read_csv(tmp_path / "thresholds.csv")
    assert {"linear", "mlp", "localisation"} == set(table["experiment"])
    assert "median_final_lr_lambda_max_half" in set(table[table["case"] == "B=20"]["quantity"])
    assert {"eta_radius_equals_1", "eta_radius_equals_1_interpolated"} <= set(table["quantity"])
    run("outcomes", tmp_path / "runs.parquet", tmp_path / "rise.parquet", "--out", tmp_path / "mlp_runs")
    assert len(pd.read_csv(tmp_path / "mlp_runs.csv")) == 3
    run("claims", "--linear", *linear_files, "--localisation", tmp_path / "loc.parquet", "--mlp",
        tmp_path / "runs.parquet", "--rise", tmp_path / "rise.parquet", "--small-batch-sizes", "4",
        "--large-batch-min", 20, "--config", "test", "--out", tmp_path / "claims")
    from eoslab.verdicts import read_claims
    claims = read_claims(tmp_path / "claims.csv")
    assert set(claims["verdict"]) <= {"reproduced", "partial", "not reproduced", "not run"}
    assert claims.set_index("claim").loc["dispersed_K_at_boundary", "verdict"] == "not run"   # no dispersed sweep


def test_command_line_errors_are_named(tmp_path, capsys):
    assert cli.main(["mnist-data", "--source", "mnist", "--root", str(tmp_path), "--num-examples", "10",
                     "--out", str(tmp_path / "d.npz")]) == 2
    assert "MNIST/raw" in capsys.readouterr().err
    assert cli.main(["figure", "03", "--mlp", str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "f")]) != 0
    assert cli.main(["figure", "06", "--out", str(tmp_path / "f")]) == 2
    assert "figure number must be one of" in capsys.readouterr().err


def dry_run(*args):
    # -F: every job, also when a tiny run in the checkout has made the outputs already
    result = subprocess.run(["snakemake", "-n", "-F", *args, "--quiet", "rules"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    section = (result.stdout + result.stderr).split("Job stats")[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", section, re.M)}


@needs_snakemake
def test_dry_runs_tiny_cpu_and_paper():
    tiny = dry_run()
    assert tiny["stochastic_eos_linear"] == 3 and tiny["stochastic_eos_quadratic"] == 2
    assert tiny["stochastic_eos_mlp_train"] == 3 and tiny["stochastic_eos_figure"] == 10
    assert tiny["stochastic_eos_localisation"] == 2 and tiny["stochastic_eos_mlp_rise"] == 1
    assert tiny["stochastic_eos_claims"] == 1 and tiny["stochastic_eos_outcomes"] == 1
    paper = dry_run("--configfile", "config/paper/stochastic_eos.yaml")
    mlp = yaml.safe_load((ROOT / "config/paper/stochastic_eos.yaml").read_text())["stochastic_eos"]["mlp"]
    expected = (len(mlp["small_batch"]["batch_sizes"]) * len(mlp["small_batch"]["lr_over_batch"])
                + len(mlp["large_batch"]["batch_sizes"]) * len(mlp["large_batch"]["lrs"]))
    assert paper["stochastic_eos_mlp_train"] == expected == 96
    cpu = dry_run("--configfile", "config/cpu/stochastic_eos.yaml")
    assert cpu["stochastic_eos_mlp_train"] == 18 and cpu["stochastic_eos_table"] == 1
    assert cpu["stochastic_eos_localisation"] == 7 and cpu["stochastic_eos_mlp_rise"] == 9
    assert paper["stochastic_eos_localisation"] == 7 and paper["stochastic_eos_claims"] == 1
    # one figure file builds only what it shows
    one = dry_run("results/paper/stochastic_eos/figures/fig07.pdf", "--configfile", "config/paper/stochastic_eos.yaml")
    assert one == {"stochastic_eos_linear": 3, "stochastic_eos_figure": 1, "total": 4}


@needs_snakemake
def test_bad_key_is_named(tmp_path):
    config = yaml.safe_load((ROOT / "config/tiny.yaml").read_text())
    config["stochastic_eos"]["linear"]["replica"] = 3
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = subprocess.run(["snakemake", "-n", "--configfile", str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    last = (result.stdout + result.stderr).strip().splitlines()[-1]
    assert last.startswith("stochastic_eos.linear") and "'replica' was unexpected" in last

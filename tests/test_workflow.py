"""The Snakemake workflow: config schema, job counts of the paper config, figure targets."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
snakemake_utils = pytest.importorskip("snakemake.utils")
needs_snakemake = pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake CLI not installed")


def load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


def validate(config):
    """Validate a whole config as common.smk does: the top level, then each study's section."""
    snakemake_utils.validate(config, str(ROOT / "config" / "schema.yaml"))
    for study, section in config.items():
        if study != "results":
            snakemake_utils.validate(section, str(ROOT / "config" / "schemas" / f"{study}.schema.yaml"))
    return config


def test_configs_are_valid_and_defaults_are_filled():
    paper = validate(load("paper/jacobian_alignment.yaml"))["jacobian_alignment"]
    assert paper["model"] == {"depth": 6, "width": 512, "activation": "elu", "init": "xavier", "dtype": "float64"}
    assert paper["training"]["loss_thresholds"] == {"cross_entropy": 0.01, "mse": 0.02}
    assert paper["training"]["snapshot_every"] == 100
    runs = sum(len(row["sizes"]) for row in paper["experiments"]) * len(paper["subset_seeds"]) * len(paper["init_seeds"])
    assert runs == 368
    tiny = validate(load("tiny.yaml"))["jacobian_alignment"]
    assert tiny["data"]["cifar10"]["root"] == "resources/cifar-10-batches-py"  # default filled in
    assert {row["dataset"] for row in tiny["experiments"]} == {"dice"}


@pytest.mark.parametrize("mutate,named", [
    (lambda c: c["model"].update(width="wide"), "width"),
    (lambda c: c.update(modle={}), "modle"),
    (lambda c: c["experiments"][0].update(criterion="hinge"), "hinge"),
    (lambda c: c["resources"]["train"].update(runtime=72), "runtime"),
    (lambda c: c.update(subset_seeds=[0, -1]), "-1"),
])
def test_schema_rejects_bad_values_by_name(mutate, named):
    config = copy.deepcopy(load("tiny.yaml"))
    mutate(config["jacobian_alignment"])
    with pytest.raises(Exception) as error:
        validate(config)
    assert named in str(error.value)


def dry_run(*args):
    result = subprocess.run(["snakemake", "-n", *args, "--quiet", "rules"], cwd=ROOT, capture_output=True,
                            text=True)
    return result


def job_counts(output: str) -> dict[str, int]:
    section = output[output.index("Job stats"):]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", section, re.M)}


@needs_snakemake
def test_paper_config_dry_run_has_368_training_and_analysis_jobs():
    result = dry_run("--configfile", "config/paper/jacobian_alignment.yaml", "--directory", str(ROOT))
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 368 and counts["analyze"] == 368
    assert counts["figure"] == 41 and counts["aggregate_combo"] == 5


@needs_snakemake
def test_one_figure_builds_only_its_runs(tmp_path):
    result = dry_run("results/paper/jacobian_alignment/figures/fig02.pdf",
                     "--configfile", "config/paper/jacobian_alignment.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout + result.stderr)
    assert counts["train"] == 80 and counts["analyze"] == 80 and counts["figure"] == 1  # CIFAR-10 CE only


@needs_snakemake
@pytest.mark.parametrize("section,key,value,unexpected", [
    ("model", "width", "wide", None),
    ("training", "max_iteration", 10, "max_iteration"),
])
def test_bad_config_stops_snakemake_with_the_key_named_on_the_last_line(tmp_path, section, key, value,
                                                                        unexpected):
    config = load("tiny.yaml")
    config["jacobian_alignment"][section][key] = value
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = dry_run("--configfile", str(bad))
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    # Not the whole schema (it used to print ~60 lines ending in the schema's text): the message is
    # one line naming the config, and last the offending key.
    assert len(lines) <= 3, lines
    assert lines[-1].startswith(f"jacobian_alignment.{section}"), lines
    assert str(bad) in lines[-2]
    assert (f"'{unexpected}' was unexpected" if unexpected else f"'{value}' is not of type 'integer'") in lines[-1]


def dry_run_commands(*args) -> str:
    """The shell commands and outputs of every job of a dry run (-p; -F: also of jobs whose outputs
    exist, e.g. after a tiny run in this checkout), as text."""
    result = subprocess.run(["snakemake", "-n", "-p", "-F", *args], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def train_commands(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(r"\beoslab (--threads \d+ )?train ", line)]


@needs_snakemake
def test_a_config_of_your_own_starts_from_the_schema_defaults_not_from_tiny(tmp_path):
    """Issue 16.1: only experiments + model.width given; the rest are the paper's (schema) values."""
    mine = tmp_path / "mine.yaml"
    mine.write_text(yaml.safe_dump({"jacobian_alignment": {
        "experiments": [{"dataset": "dice", "criterion": "cross_entropy", "sizes": [32]}],
        "model": {"width": 32}}}))
    commands = train_commands(dry_run_commands("--configfile", str(mine)))
    paper = validate(load("paper/jacobian_alignment.yaml"))["jacobian_alignment"]
    assert len(commands) == len(paper["subset_seeds"]) * len(paper["init_seeds"]) == 16
    for command in commands:
        assert "--width 32 " in command and "--depth 6 " in command
        assert f"--max-iterations {paper['training']['max_iterations']} " in command  # not tiny's
        assert f"--snapshot-every {paper['training']['snapshot_every']} " in command
        assert f"--checkpoint-every {paper['training']['checkpoint_every']} " in command
        assert " --out results/mine/jacobian_alignment/runs/dice/cross_entropy/n32_s" in command
    # Without --configfile, the tiny values are the default.
    tiny = train_commands(dry_run_commands())
    small = load("tiny.yaml")["jacobian_alignment"]["training"]
    assert small["max_iterations"] != paper["training"]["max_iterations"]
    assert len(tiny) == 4 and all(f"--max-iterations {small['max_iterations']} " in c
                                  and f"--snapshot-every {small['snapshot_every']} " in c for c in tiny)


def output_paths(output: str) -> set[str]:
    paths = set()
    for line in output.splitlines():
        for field in ("output:", "log:", "benchmark:"):
            if line.strip().startswith(field):
                paths.update(p.strip() for p in line.strip()[len(field):].split(","))
    return paths


@needs_snakemake
def test_each_config_writes_under_its_own_root_with_one_folder_per_study(tmp_path):
    """Issue 16.2: tiny → results/tiny, paper → results/paper, mine.yaml → results/mine."""
    tiny = output_paths(dry_run_commands())
    paper = output_paths(dry_run_commands("--configfile", "config/paper/jacobian_alignment.yaml"))
    assert tiny and paper and not tiny & paper
    studies = [key for key in load("tiny.yaml") if key != "results"]  # each study writes its own folder
    assert all(p.split("/")[:2] == ["results", "tiny"] and p.split("/")[2] in studies for p in tiny), sorted(tiny)[:3]
    assert all(p.startswith("results/paper/jacobian_alignment/") for p in paper), sorted(paper)[:3]
    for folder in ("data", "runs", "analysis", "aggregate", "tables", "figures", "logs", "benchmarks"):
        assert any(p.startswith(f"results/tiny/jacobian_alignment/{folder}/") for p in tiny), folder
    relocated = tmp_path / "elsewhere.yaml"
    relocated.write_text(yaml.safe_dump({**load("tiny.yaml"), "results": "results/ci-elsewhere/"}))
    assert all(p.split("/")[:2] == ["results", "ci-elsewhere"] and p.split("/")[2] in studies
               for p in output_paths(dry_run_commands("--configfile", str(relocated))))


@needs_snakemake
def test_a_figure_the_config_does_not_train_stops_before_any_job_naming_the_config_that_does():
    """Issue 16.3: the tiny config trains only dice/cross_entropy; Figure 2 is CIFAR-10/cross-entropy."""
    result = dry_run("results/tiny/jacobian_alignment/figures/fig02.pdf")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert ("Figure 2 shows cifar10/cross_entropy, which this config (config/tiny.yaml) does not train; "
            "use --configfile config/paper/jacobian_alignment.yaml") in output
    assert "Job stats" not in output  # stopped while building the DAG: nothing scheduled, nothing run
    # One clean line (issue 24): not wrapped in Snakemake's InputFunctionException with a traceback.
    assert "InputFunctionException" not in output and "Traceback" not in output
    result = dry_run("results/tiny/jacobian_alignment/aggregate/cifar10/mse.parquet")
    assert result.returncode != 0
    assert "cifar10/mse, which this config (config/tiny.yaml) does not train" in result.stdout + result.stderr


@needs_snakemake
def test_common_rules_assume_no_particular_study(tmp_path):
    """A config holding only another study builds that study alone: common.smk, the Snakefile and
    the jacobian_alignment rules files must not need a jacobian_alignment section."""
    for name in ("Snakefile", "config", "workflow/rules", "workflow/report"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    schema = yaml.safe_load((tmp_path / "config/schema.yaml").read_text())
    schema["properties"]["toy_study"] = {"type": "object"}
    (tmp_path / "config/schema.yaml").write_text(yaml.safe_dump(schema))
    (tmp_path / "config/schemas/toy_study.schema.yaml").write_text(yaml.safe_dump({
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "additionalProperties": False, "properties": {"steps": {"type": "integer", "default": 3}}}))
    (tmp_path / "workflow/rules/toy_study.smk").write_text(
        'if "toy_study" in config:\n\n'
        '    rule toy_curve:\n'
        '        output:\n'
        '            f"{RESULTS}/toy_study/figures/fig1_1.pdf",\n'
        '        params:\n'
        '            steps=study_config("toy_study")["steps"],\n'
        '        shell:\n'
        '            "echo {params.steps} > {output}"\n\n'
        '    STUDY_TARGETS["toy_study"] = [f"{RESULTS}/toy_study/figures/fig1_1.pdf"]\n')
    snakefile = (tmp_path / "Snakefile").read_text()
    snakefile = snakefile.replace('\n\nrule all:', '\ninclude: "workflow/rules/toy_study.smk"\n\n\nrule all:')
    (tmp_path / "Snakefile").write_text(snakefile)
    (tmp_path / "toy.yaml").write_text("toy_study: {}\n")
    result = subprocess.run(["snakemake", "-n", "-p", "--configfile", "toy.yaml"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "echo 3 > results/toy/toy_study/figures/fig1_1.pdf" in result.stdout
    assert "jacobian_alignment" not in result.stdout
    (tmp_path / "nothing.yaml").write_text("results: results/nothing\n")
    empty = subprocess.run(["snakemake", "-n", "--configfile", "nothing.yaml"], cwd=tmp_path, capture_output=True,
                           text=True)
    assert empty.returncode != 0
    written = yaml.safe_load((tmp_path / "config/schema.yaml").read_text())   # every study, in the file's order
    studies = ", ".join(key for key in written["properties"] if key != "results")
    assert f"names no study; give at least one top-level section of: {studies}" in empty.stderr


@pytest.mark.parametrize("whitespace", [{}, {"trim_blocks": True, "lstrip_blocks": True}])  # the latter: Snakemake's
def test_report_prints_the_configuration_as_yaml(whitespace):
    jinja2 = pytest.importorskip("jinja2")
    docutils_core = pytest.importorskip("docutils.core")
    config = validate(load("paper/jacobian_alignment.yaml"))
    template = jinja2.Environment(**whitespace).from_string((ROOT / "workflow/report/workflow.rst").read_text())
    text = template.render(snakemake=type("Snakemake", (), {"config": config}))
    html = docutils_core.publish_parts(text, writer_name="html")["html_body"]
    assert html.count('<pre class="literal-block">') == 1
    block = text.split("filled in::\n", 1)[1]
    assert "{'" not in block  # not a Python repr
    shown = yaml.safe_load("\n".join(line.removeprefix("    ") for line in block.splitlines()))
    # PyYAML reads 1e-06 (YAML 1.2 float) as a string; the values are the same numbers.
    for section, key in (("training", "eig_tol"), ("analysis", "eig_tol"), ("analysis", "jacobian_tol")):
        shown["jacobian_alignment"][section][key] = float(shown["jacobian_alignment"][section][key])
    assert shown == config


@needs_snakemake
def test_a_subset_size_above_its_pool_is_refused_before_any_job(tmp_path):
    """Issue 24: dice with per_class 100 has a training pool of 300 images; D = 5000 used to pass the dry
    run and fail in the subset job."""
    config = {"results": str(tmp_path / "out"), "jacobian_alignment": {
        "experiments": [{"dataset": "dice", "criterion": "cross_entropy", "sizes": [32, 5000]}],
        "data": {"dice": {"per_class": 100}}}}
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(config))
    result = dry_run("--configfile", str(path))
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert "sizes [5000] exceed the dice training pool of 300 samples" in lines[-1], lines[-3:]
    assert "Traceback" not in result.stderr


@needs_snakemake
def test_a_second_snakemake_on_one_output_root_is_refused_with_the_holders_pid(tmp_path):
    """Issue 24: two Snakemake processes on one root used to report a misleading IncompleteFilesException."""
    import fcntl
    import json
    import os

    root = tmp_path / "root"
    root.mkdir()
    config = {"results": str(root), "jacobian_alignment": load("tiny.yaml")["jacobian_alignment"]}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    with open(root / ".snakemake-root.lock", "a+") as holder:   # as a running Snakemake holds it
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        holder.write(json.dumps({"pid": os.getpid(), "host": "here", "since": "now"}))
        holder.flush()
        target = f"{root}/jacobian_alignment/data/dice/pool.npz"
        result = subprocess.run(["snakemake", "-c1", target, "--configfile", str(path)], cwd=ROOT,
                                capture_output=True, text=True)
        assert result.returncode == 1
        assert f"Another Snakemake (PID {os.getpid()} on host here" in result.stderr
        assert not (root / "jacobian_alignment" / "data").exists()
        # A dry run does not need the root and is not refused.
        assert dry_run(target, "--configfile", str(path)).returncode == 0

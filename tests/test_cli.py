"""The eoslab command's help and the one source of its defaults: the config dataclasses' fields,
which the workflow schema must agree with (issue 16, item 5)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import yaml

from eoslab import cli
from eoslab.studies.jacobian_alignment.analysis import AnalysisConfig
from eoslab.criteria import PAPER_LOSS_THRESHOLDS
from eoslab.models import DEFAULT_GAINS, MODEL_DEFAULTS
from eoslab.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "config" / "schemas" / "jacobian_alignment.schema.yaml").read_text())
#: schema section -> the dataclass whose fields it sets (the rules pass them as eoslab flags).
SECTIONS = {"model": TrainConfig, "training": TrainConfig, "analysis": AnalysisConfig}


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("section", SECTIONS)
def test_schema_defaults_allowed_values_and_descriptions_are_the_dataclass_fields(section):
    fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
    properties = SCHEMA["properties"][section]["properties"]
    for key, spec in properties.items():
        if key == "loss_thresholds":
            assert {c: s["default"] for c, s in spec["properties"].items()} == PAPER_LOSS_THRESHOLDS
            continue
        field = fields[key]  # every schema key is a field of the dataclass
        assert spec["default"] == field.default, key
        assert spec["description"] == field.metadata["help"], key
        assert spec.get("enum") == (list(field.metadata["choices"]) if "choices" in field.metadata else None), key


def test_every_setting_is_documented_and_the_model_defaults_are_the_models():
    for cls in (TrainConfig, AnalysisConfig):
        for field in dataclasses.fields(cls):
            assert field.metadata.get("help"), f"{cls.__name__}.{field.name} has no help text"
            if field.default is None:
                assert field.metadata.get("default_text"), f"{cls.__name__}.{field.name}: what does None mean?"
    for key, value in MODEL_DEFAULTS.items():
        if key != "gain":
            assert getattr(TrainConfig, key) == value


def test_train_help_states_the_real_defaults_and_allowed_values(capsys):
    text = " ".join(help_text(capsys, "train").split())  # argparse wraps lines
    assert "(default: None)" not in text and "default: required" not in text
    assert "--data DATA training data file" in text and "required, as --data or as 'data' in --config" in text
    assert "--checkpoint-every CHECKPOINT_EVERY write checkpoint.pt and log.parquet every n iterations " \
           "(and on SIGTERM) (default: 20)" in text
    assert math.isclose(DEFAULT_GAINS["elu"], math.sqrt(2)) and "(default: by activation: elu √2," in text
    assert "(default: by criterion, the paper's: cross_entropy 0.01, mse 0.02)" in text
    assert "(default: the number of outputs O, the paper's choice)" in text
    assert "--activation {elu,relu,tanh,sigmoid,linear}" in text
    assert "--eig-method {auto,krylov,lanczos,lobpcg}" in text
    for field in dataclasses.fields(TrainConfig):
        assert "--" + field.name.replace("_", "-") in text


def test_help_has_no_sphinx_markup(capsys):
    for argv in ((), ("train",), ("analyze",), ("data",), ("table",), ("figure",), ("aggregate",)):
        text = help_text(capsys, *argv)
        assert "``" not in text and ":class:" not in text and ":mod:" not in text, argv


def test_flag_values_are_checked_against_the_allowed_values(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--data", "x.npz", "--out", "run", "--activation", "gelu"])
    assert exit_.value.code == 2
    assert "argument --activation: invalid choice: 'gelu'" in capsys.readouterr().err


def test_threads_flag_sets_torchs_pool_and_matplotlib_logs_only_warnings(tmp_path, capsys):
    import logging

    import torch

    before = torch.get_num_threads()
    try:
        # table3 needs no input: a cheap real command that goes through main()'s set-up.
        assert cli.main(["--threads", "1", "table", "table3", "--out", str(tmp_path / "table3")]) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert logging.getLogger("matplotlib.mathtext").getEffectiveLevel() == logging.WARNING


def test_status_lists_runs_and_draws_one(tmp_path, blob_data, capsys):
    """eoslab status ROOT: one row per run with its status (a 'running' run no process holds is 'died');
    --figure: the run's training curves."""
    import json

    from eoslab.cli import main

    data = blob_data()
    data.with_suffix(".json").write_text(json.dumps({"dataset": "blobs", "size": 60, "subset_seed": 3}))
    run = tmp_path / "study" / "runs" / "blobs" / "a"
    assert main(["train", "--data", str(data), "--out", str(run), "--depth", "2", "--width", "8",
                 "--max-iterations", "4", "--no-progress"]) == 0
    dead = tmp_path / "study" / "runs" / "blobs" / "b"
    assert main(["train", "--data", str(data), "--out", str(dead), "--depth", "2", "--width", "8",
                 "--max-iterations", "4", "--no-progress", "--init-seed", "1"]) == 0
    (dead / "status.json").write_text(json.dumps({"status": "running", "message": "training", "iteration": 2}))
    capsys.readouterr()
    assert main(["status", str(tmp_path), "--csv", str(tmp_path / "runs.csv")]) == 0
    out = capsys.readouterr().out
    assert "max_iterations" in out and "died" in out and "blobs" in out
    import pandas as pd
    table = pd.read_csv(tmp_path / "runs.csv")
    assert table["study"].tolist() == ["study", "study"] and table["subset_seed"].tolist() == [3, 3]
    assert table["iterations"].tolist() == [4, 2]
    assert main(["status", "--figure", str(run), "--out", str(tmp_path / "curves")]) == 0
    assert (tmp_path / "curves.png").stat().st_size > 0 and (tmp_path / "curves.pdf").exists()


def test_every_option_of_the_results_commands_has_help():
    import argparse

    from eoslab.cli import main

    for command in (["aggregate"], ["table"], ["figure"], ["status"], ["train"], ["analyze"]):
        try:
            main([*command, "--help"])
        except SystemExit:
            pass
    from eoslab import cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli.jacobian_alignment_cli.add_commands(sub)
    cli._add_status_parser(sub)
    for name, subparser in sub.choices.items():
        for action in subparser._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings} has no help text"

"""Study sam_edge: one run end to end on tiny real data, against dense references."""

from __future__ import annotations

import os
import signal

import numpy as np
import pandas as pd
import pytest
import torch
from torch.func import functional_call

from eoslab.curvature import ParameterSpace
from eoslab.io import read_json
from eoslab.sam import sam_edge
from eoslab.studies.sam_edge import data as study_data
from eoslab.studies.sam_edge import experiment
from eoslab.studies.sam_edge.experiment import RunSettings, SettingsError, train_run


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    study_data.prepare("mlp", {"source": "sklearn_digits", "root": "resources", "download": False,
                               "train_size": 60}, path)
    return path


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "text.npz"
    study_data.prepare("transformer", {"source": "excerpt", "root": "resources", "download": False,
                                       "held_out_lines": 20}, path)
    return path


def mlp_settings(**changes):
    values = {"experiment": "mlp", "lr": 0.5, "rho": 0.1, "steps": 12, "eig_every": 4,
              "model": {"depth": 3, "width": 8}, "eig_tol": 1e-8, **changes}
    return RunSettings.from_dict(values)


def test_image_data_are_the_first_images_centred(digits):
    arrays, card = study_data.load_images_file(digits)
    assert arrays.X.shape == (60, 64) and card["image_shape"] == [1, 8, 8] and card["source"] == "sklearn_digits"
    np.testing.assert_allclose(arrays.X.mean(axis=0), 0, atol=1e-12)
    from eoslab.datasets.mnist import load_digits_fallback

    images, labels = load_digits_fallback("train")
    first = images[:60].reshape(60, -1) / 255.0
    np.testing.assert_allclose(arrays.X, first - first.mean(axis=0), rtol=0, atol=1e-12)
    assert arrays.y.tolist() == labels[:60].tolist()


def test_text_data_hold_out_the_last_lines(text):
    from eoslab.datasets import shakespeare

    train, test, card = study_data.load_text_file(text)
    expected_train, expected_test = shakespeare.split_last_lines(shakespeare.excerpt_text(), 20)
    assert shakespeare.decode_ascii(train) == expected_train and shakespeare.decode_ascii(test) == expected_test
    assert card["held_out_lines"] == 20


def test_a_sam_run_logs_the_papers_quantities_against_dense_references(digits, tmp_path):
    settings = mlp_settings()
    status = train_run(settings, digits, tmp_path / "run", progress=False)
    assert status["status"] == "finished" and status["steps_logged"] == 12
    frame = pd.read_parquet(tmp_path / "run" / "log.parquet")
    assert frame["step"].tolist() == list(range(12))
    eig = frame.dropna(subset=["lambda_1"])
    assert eig["step"].tolist() == [0, 4, 8, 11]                        # every 4 steps and the last
    np.testing.assert_allclose(frame["sam_edge"], sam_edge(0.5, 0.1, frame["grad_norm"].to_numpy()), rtol=1e-14)
    assert (frame["gd_edge"] == 4.0).all()

    # Step 0 against dense autograd: loss, ‖g‖, the top-3 |λ| and both alignments.
    problem = experiment.Problem(settings, digits, torch.device("cpu"))
    space = ParameterSpace(problem.model)
    w = space.flatten(space.values(problem.model))

    def loss(theta):
        return problem.criterion.loss(functional_call(problem.model, space.unflatten(theta), (problem.X,)),
                                      problem.y).mean()

    g = torch.func.grad(loss)(w)
    H = torch.autograd.functional.hessian(loss, w)
    values, vectors = torch.linalg.eigh(H)
    order = torch.argsort(values.abs(), descending=True)
    first = frame.iloc[0]
    assert first["loss"] == pytest.approx(float(loss(w).detach()), rel=1e-12)
    assert first["grad_norm"] == pytest.approx(float(g.norm()), rel=1e-12)
    np.testing.assert_allclose(first[["lambda_1", "lambda_2", "lambda_3"]].to_numpy(dtype=float),
                               values[order[:3]].numpy(), rtol=1e-6)
    v1 = vectors[:, order[0]]
    g_ascent = torch.func.grad(loss)(w + 0.1 * g / g.norm())
    assert first["align_gradient"] == pytest.approx(float(abs(g @ v1) / g.norm()), rel=1e-5)
    assert first["align_ascent"] == pytest.approx(float(abs(g_ascent @ v1) / g_ascent.norm()), rel=1e-5)
    assert first["ascent_grad_norm"] == pytest.approx(float(g_ascent.norm()), rel=1e-12)

    run = read_json(tmp_path / "run" / "run.json")
    assert run["criterion"] == "mse" and run["model_config"]["init"] == "glorot-normal"
    assert not (tmp_path / "run" / "checkpoint.pt").exists() and (tmp_path / "run" / "final.pt").exists()
    # Done runs are recognised; a different configuration in the same directory is refused.
    assert train_run(settings, digits, tmp_path / "run", progress=False)["status"] == "finished"
    with pytest.raises(SettingsError, match="different run"):
        train_run(mlp_settings(lr=0.25), digits, tmp_path / "run", progress=False)


def test_an_interrupted_run_resumes_to_the_same_numbers(digits, tmp_path, monkeypatch):
    settings = mlp_settings(checkpoint_every=3)
    train_run(settings, digits, tmp_path / "straight", progress=False)
    calls = {"n": 0}
    original = experiment.sam_step

    def sigterm_at_step_7(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 7:
            os.kill(os.getpid(), signal.SIGTERM)  # the handler only sets a flag: the step finishes
        return original(*args, **kwargs)

    monkeypatch.setattr(experiment, "sam_step", sigterm_at_step_7)
    with pytest.raises(SystemExit) as stop:
        train_run(settings, digits, tmp_path / "resumed", progress=False)
    assert stop.value.code == 143
    assert read_json(tmp_path / "resumed" / "status.json")["status"] == "interrupted"
    monkeypatch.setattr(experiment, "sam_step", original)
    train_run(settings, digits, tmp_path / "resumed", progress=False)
    a = pd.read_parquet(tmp_path / "straight" / "log.parquet").drop(columns="seconds")
    b = pd.read_parquet(tmp_path / "resumed" / "log.parquet").drop(columns="seconds")
    pd.testing.assert_frame_equal(a, b)


def test_a_diverging_run_stops_with_status_diverged(digits, tmp_path):
    status = train_run(mlp_settings(lr=500.0, rho=0.0), digits, tmp_path / "run", progress=False)
    assert status["status"] == "diverged" and "step" in status
    frame = pd.read_parquet(tmp_path / "run" / "log.parquet")
    assert len(frame) == status["step"] + 1


def test_minibatch_transformer_runs_are_determined_by_the_seed(text, tmp_path):
    values = {"experiment": "transformer", "lr": 0.3, "rho": 0.3, "steps": 6, "eig_every": 3, "batch_size": 8,
              "model": {"num_layers": 1, "num_heads": 2, "key_size": 4, "model_size": 8, "seq_len": 8}}
    logs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        train_run(RunSettings.from_dict({**values, "seed": seed}), text, tmp_path / name, progress=False)
        logs.append(pd.read_parquet(tmp_path / name / "log.parquet").drop(columns="seconds"))
    pd.testing.assert_frame_equal(logs[0], logs[1])
    assert not np.allclose(logs[0]["loss"], logs[2]["loss"])
    assert logs[0]["lambda_1"].notna().sum() == 3 and np.isfinite(logs[0]["align_ascent"].dropna()).all()


@pytest.mark.parametrize("change, message", [
    ({"lr": 0.0}, "'lr' must be a positive"), ({"rho": -1.0}, "'rho' must be a non-negative"),
    ({"steps": 0}, "'steps'"), ({"model": {"channels": [3]}}, "do not apply"), ({"eig_method": "power"}, "eig_method"),
    ({"experiment": "rnn"}, "experiment"), ({"typo": 1}, "unknown settings")])
def test_bad_settings_are_named(change, message):
    with pytest.raises(SettingsError, match=message):
        mlp_settings(**change)


def test_the_transformer_needs_minibatches():
    with pytest.raises(SettingsError, match="batch_size"):
        RunSettings.from_dict({"experiment": "transformer", "lr": 0.1, "rho": 0.0, "steps": 1, "eig_every": 1,
                               "model": {}})


def test_paper_sources_on_format_faithful_fixtures(tmp_path):
    """CIFAR-10's first N training images (data_batch_1 order) and MNIST from its idx files."""
    from test_datasets import make_cifar
    from test_mnist import make_mnist

    make_cifar(tmp_path)                                             # 6 images per batch
    out = study_data.prepare("cnn", {"source": "cifar10", "root": str(tmp_path), "download": False,
                                     "train_size": 8}, tmp_path / "cnn.npz")
    arrays, card = study_data.load_images_file(out)
    from eoslab.datasets.cifar10 import load_cifar10

    images = load_cifar10(tmp_path / "cifar-10-batches-py")[0][:8].reshape(8, -1) / 255.0
    np.testing.assert_allclose(arrays.X, images - images.mean(axis=0), atol=1e-12)
    assert card["image_shape"] == [3, 32, 32] and card["size"] == 8
    _, mnist_arrays = make_mnist(tmp_path / "m", n_train=7)
    out = study_data.prepare("mlp", {"source": "mnist", "root": str(tmp_path / "m"), "download": False,
                                     "train_size": None}, tmp_path / "mlp.npz")
    arrays, card = study_data.load_images_file(out)
    assert arrays.X.shape == (7, 784) and arrays.y.tolist() == mnist_arrays["train"][1].tolist()
    with pytest.raises(ValueError, match="exceeds"):
        study_data.prepare("mlp", {"source": "mnist", "root": str(tmp_path / "m"), "download": False,
                                   "train_size": 8}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="must be one of"):
        study_data.prepare("mlp", {"source": "cifar10", "root": str(tmp_path), "download": False,
                                   "train_size": None}, tmp_path / "x.npz")
    from eoslab.arrays import DataFileError

    with pytest.raises(DataFileError, match="not found"):
        study_data.prepare("cnn", {"source": "cifar10", "root": str(tmp_path / "nothing"), "download": False,
                                   "train_size": 8}, tmp_path / "x.npz")

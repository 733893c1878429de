"""Study layerwise_sharpness end to end at toy size: the command line, the run files, the tables and
figures, the CIFAR-10 subsets and the errors a user can meet."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from eoslab.datasets.pools import save_pool
from eoslab.studies.layerwise_sharpness import catalog
from eoslab.studies.layerwise_sharpness.cli import main
from eoslab.studies.layerwise_sharpness.data import Cifar10Pool
from eoslab.studies.layerwise_sharpness.maxstep import MaxStepSettings, run_max_step
from eoslab.studies.layerwise_sharpness.tables import comparison_table, markdown

FAST = ["--samples", "40", "--iterations", "12", "--eig-tol", "1e-8", "--no-progress"]


def trajectory(tmp_path, key, *extra):
    out = tmp_path / f"{key}.parquet"
    assert main(["trajectory", "--run", key, "--out", str(out), *FAST, *extra]) == 0
    return pd.read_parquet(out), json.loads(out.with_suffix(".json").read_text())


def test_constant_step_trajectory_logs_every_layer_and_follows_gradient_descent(tmp_path):
    frame, card = trajectory(tmp_path, "synthetic_tanh_d3_w10_lr0.08")
    assert card["status"] == "finished" and len(frame) == 13 and frame["iteration"].tolist() == list(range(13))
    for column in ["loss", "sharpness", "grad_norm", *[f"{k}_layer{i}" for k in ("sharpness", "grad_norm", "lr")
                                                        for i in (1, 2, 3)]]:
        assert column in frame
    assert frame["sharpness"].notna().all() and frame["sharpness_layer2"].notna().all()
    assert (frame["sharpness"] >= frame[["sharpness_layer1", "sharpness_layer2", "sharpness_layer3"]].max(axis=1)
            - 1e-9).all()
    assert np.allclose(frame["lr"].iloc[:-1], 0.08) and np.isnan(frame["lr"].iloc[-1])
    # Row t holds the loss at θ_t: a second identical run gives identical numbers.
    again, _ = trajectory(tmp_path / "again", "synthetic_tanh_d3_w10_lr0.08")
    pd.testing.assert_frame_equal(frame.drop(columns=["eig_matvecs"]), again.drop(columns=["eig_matvecs"]))


def test_schemes_take_their_step_sizes_from_the_measured_sharpness(tmp_path):
    layer, _ = trajectory(tmp_path, "synthetic_sigmoid_d3_w10_layer2")
    for i in (1, 2, 3):
        assert np.allclose(layer[f"lr_layer{i}"].iloc[:-1], 1 / (2 * layer[f"sharpness_layer{i}"].iloc[:-1]))
    assert layer["sharpness"].isna().all()  # the layerwise scheme does not need λ_t
    initial, _ = trajectory(tmp_path, "synthetic_sigmoid_d3_w10_inv0")
    assert np.allclose(initial["lr"].iloc[:-1], 1 / initial["sharpness"].iloc[0])
    assert initial["sharpness"].iloc[1:].isna().all()   # λ_0 only
    current, _ = trajectory(tmp_path, "synthetic_sigmoid_d3_w10_invt")
    assert np.allclose(current["lr"].iloc[:-1], 1 / current["sharpness"].iloc[:-1])
    armijo, card = trajectory(tmp_path, "synthetic_sigmoid_d3_w10_armijo")
    assert card["scheme"] == {"scheme": "armijo", "c": 0.1, "beta": 0.9, "gamma": 2.0, "initial": 1.0}
    assert (armijo["ls_satisfied"].iloc[:-1] == True).all()  # noqa: E712
    assert (armijo["loss"].diff().iloc[1:] < 0).all()   # Armijo's sufficient decrease: monotone


def test_a_diverging_run_is_a_result_with_its_log_kept(tmp_path):
    frame, card = trajectory(tmp_path, "synthetic_linear_d3_w10_lr100")
    assert card["status"] == "diverged" and "iteration" in card["message"]
    assert not np.isfinite(frame["loss"].iloc[-1]) and np.isfinite(frame["loss"].iloc[0]) and len(frame) < 13


def test_maxstep_table_and_figures_from_the_command_line(tmp_path):
    outputs = []
    for activation in catalog.ACTIVATIONS:
        point = f"synthetic_full_{activation}_d3_w10_n100"
        out = tmp_path / f"{point}.parquet"
        assert main(["maxstep", "--point", point, "--out", str(out), "--runs", "2", "--iterations", "10",
                     "--beta", "1.2", "--no-progress"]) == 0
        outputs.append(str(out))
        runs = pd.read_parquet(out)
        assert runs["run"].tolist() == [0, 1] and (runs["diverged_at_iteration"] >= 0).all()
        assert np.allclose(runs["max_step_size"], 0.1 * 1.2 ** (runs["trials"] - 1))
    stem = tmp_path / "table_4_1"
    assert main(["table", "table_4_1", "--inputs", *outputs, "--out", str(stem), "--setting", "R=2"]) == 0
    table = pd.read_csv(f"{stem}.csv")
    assert table["activation"].tolist() == ["Linear", "Tanh", "ReLU", "Sigmoid"]
    assert table["thesis"].tolist() == [0.38433, 3.12765, 2.26166, 12.58223]
    text = open(f"{stem}.md").read()
    assert "| Sigmoid | 12.58223 |" in text and "Settings: R = 2" in text
    figure = tmp_path / "fig"
    spec_points = catalog.figure_points("fig_4_2", {"maxstep": {"depths": [3]}, "cifar10": {"enabled": False}})
    assert [p.key for p in spec_points] == [f"synthetic_full_{a}_d3_w10_n100" for a in catalog.ACTIVATIONS]
    assert main(["figure", "fig_4_2", "--inputs", *outputs, "--out", str(figure)]) == 0
    assert (tmp_path / "fig.pdf").stat().st_size > 0 and (tmp_path / "fig.png").stat().st_size > 0


def test_comparison_table_reports_the_spread_and_the_distance_in_standard_deviations():
    rows = [{"activation": a, "max_step_size": v} for a, values in
            {"linear": [0.3, 0.5], "tanh": [3.0, 3.2], "relu": [2.0, 2.4], "sigmoid": [12.5, 12.7]}.items()
            for v in values]
    table = comparison_table("table_4_2", pd.DataFrame(rows)).set_index("activation")
    assert table.loc["Linear", "mean"] == pytest.approx(0.4) and table.loc["Linear", "std"] == pytest.approx(0.1414, 1e-3)
    assert table.loc["Tanh", "difference_in_std"] == pytest.approx((3.1 - 1.44604) / np.std([3.0, 3.2], ddof=1))
    with pytest.raises(ValueError, match="sigmoid"):
        comparison_table("table_4_1", pd.DataFrame(rows[:6]))
    # runs that all diverge at the same grid step: std 0, the distance in std is undefined and says so
    same = [r if r["activation"] != "sigmoid" else {**r, "max_step_size": 12.5} for r in rows]
    text = markdown("table_4_1", comparison_table("table_4_1", pd.DataFrame(same)))
    sigmoid = next(line for line in text.splitlines() if line.startswith("| Sigmoid"))
    assert sigmoid.endswith("| — (std 0) |") and "nan" not in text.lower()


@pytest.fixture
def fake_cifar10_pool(tmp_path):
    """A format-faithful CIFAR-10 pool (uint8 (n, 3, 32, 32) images, channel standardisation)."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(60, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=60)
    card = {"dataset": "cifar10", "preprocessing": {"kind": "channel_standardize", "scale": 1 / 255,
                                                     "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}}
    path = tmp_path / "pool.npz"
    save_pool(path, X, y, X[:5], y[:5], [f"c{i}" for i in range(10)], card)
    return path, X, y


def test_cifar10_subsets_are_standardised_flat_images_with_one_hot_targets(fake_cifar10_pool):
    path, X, y = fake_cifar10_pool
    pool = Cifar10Pool(path)
    A, B = pool.subset(12, seed=3)
    assert A.shape == (12, 3072) and B.shape == (12, 10) and A.dtype == torch.float64
    assert torch.equal(B.sum(dim=1), torch.ones(12, dtype=torch.float64))
    first = np.flatnonzero(np.all(X.reshape(60, -1) == np.round((A[0].numpy() * 0.25 + 0.5) * 255), axis=1))
    assert first.size == 1 and B[0].argmax() == y[first[0]]
    assert torch.equal(pool.subset(12, seed=3)[0], A) and not torch.equal(pool.subset(12, seed=4)[0], A)
    settings = MaxStepSettings(runs=2, iterations=5, beta=1.5, eta0=0.01)
    runs, summary = run_max_step(catalog.MaxStepPoint("cifar10", None, "relu", 2, 4, 10), settings, pool=str(path),
                                 progress=False)
    assert summary["widths"] == [3072, 4, 10] and len(runs) == 2


def test_user_errors_are_named_with_exit_status_2(tmp_path, capsys, fake_cifar10_pool):
    assert main(["trajectory", "--run", "synthetic_tanh_depth3", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "not a trajectory run key" in capsys.readouterr().err
    assert main(["trajectory", "--run", "cifar10_tanh_d3_w10_lr0.08", "--out", str(tmp_path / "x.parquet")]) == 2
    assert "pool" in capsys.readouterr().err
    missing = tmp_path / "no" / "pool.npz"
    assert main(["maxstep", "--point", "cifar10_full_tanh_d3_w10_n100", "--out", str(tmp_path / "y.parquet"),
                 "--cifar10-pool", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
    assert main(["maxstep", "--point", "synthetic_full_tanh_d3_w10_n100", "--out", str(tmp_path / "y.parquet"),
                 "--dtype", "float16"]) == 2
    assert "float16" in capsys.readouterr().err
    assert main(["table", "table_4_1", "--inputs", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "t")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_chapter_4_keeps_the_data_dimension_at_10_so_that_figure_4_3_shows_what_the_thesis_says():
    """§4.2 on Figure 4.3: for sigmoid networks the maximal step size moves by less than 0.3 between 1
    and 100 hidden units.  That holds with d = 10 fixed (the default) and fails by far when d follows
    the width (d = 1 gives a sigmoid network a threshold near 1.3, not 12.6)."""
    assert MaxStepSettings().synthetic_dim == 10
    fine = dict(runs=10, eta0=10.0, beta=1.01, block=16)  # the thesis's R and β, started near the edge
    means = {}
    for width in (1, 100):
        point = catalog.MaxStepPoint("synthetic", None, "sigmoid", 3, width, 100)
        _, summary = run_max_step(point, MaxStepSettings(**fine), progress=False)
        assert summary["widths"] == [10, width, width, 10]
        means[width] = summary["mean"]
    assert 11.5 < means[100] < 13.5 and abs(means[1] - means[100]) < 0.3, means
    tied = MaxStepSettings(runs=2, beta=1.05, synthetic_dim="width")
    _, summary = run_max_step(catalog.MaxStepPoint("synthetic", None, "sigmoid", 3, 1, 100), tied, progress=False)
    assert summary["widths"] == [1, 1, 1, 1] and summary["mean"] < 2.0
    for bad in (0, -3, "wide", 2.5, True):
        with pytest.raises(ValueError, match="synthetic_dim"):
            MaxStepSettings(synthetic_dim=bad)


def test_the_maxstep_command_takes_a_data_dimension_or_width(tmp_path):
    out = tmp_path / "p.parquet"
    base = ["maxstep", "--point", "synthetic_full_relu_d2_w3_n20", "--out", str(out), "--runs", "1", "--iterations",
            "5", "--beta", "1.5", "--no-progress"]
    assert main(base + ["--synthetic-dim", "width"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["widths"] == [3, 3, 3]
    assert main(base + ["--synthetic-dim", "7"]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["widths"] == [7, 3, 7]
    assert main(base) == 0
    assert json.loads(out.with_suffix(".json").read_text())["widths"] == [10, 3, 10]

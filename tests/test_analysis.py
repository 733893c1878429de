"""eoslab analyze: the per-run table against dense references and the schema the workflow relies on."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import TinyProblem
from eoslab.metrics import GLOBAL_METRICS, LAYER_METRICS, METRICS, analyze_snapshot
from eoslab.studies.jacobian_alignment.analysis import COLUMNS, AnalysisConfig
from eoslab.cli import main
from eoslab.curvature import GaussNewtonOperator, HessianOperator
from eoslab.decomposition import layerwise_decomposition
from eoslab.training import load_snapshot


@pytest.mark.parametrize("criterion", ["cross_entropy", "mse"])
def test_snapshot_metrics_against_dense_matrices(criterion):
    p = TinyProblem(criterion=criterion, depth=3, width=5, n=15, d=4, o=3, seed=4)
    config = AnalysisConfig(eig_tol=1e-10, chunk_size=4, eig_method="krylov")
    rows, warm, diagnostics = analyze_snapshot(p.model, p.criterion, p.X, p.y, config,
                                               generator=torch.Generator().manual_seed(0))
    table = {(m, l): v for m, l, v in rows}
    hessian = p.dense_hessian()
    G = p.dense_gauss_newton().detach()
    lam_hessian = float(torch.linalg.eigvalsh(hessian)[-1])
    lam_G = float(torch.linalg.eigvalsh(G)[-1])
    lam_H = float(torch.linalg.eigvalsh(hessian - G)[-1])
    assert table[("sharpness_hessian", None)] == pytest.approx(lam_hessian, rel=1e-9)
    assert table[("sharpness_G", None)] == pytest.approx(lam_G, rel=1e-9)
    assert table[("sharpness_H", None)] == pytest.approx(lam_H, rel=1e-8, abs=1e-12)
    assert table[("loss", None)] == pytest.approx(float(p.loss(p.theta)), rel=1e-12)
    decomposition = layerwise_decomposition(p.model, p.criterion, p.X, p.y)
    assert table[("rho_K", None)] == pytest.approx(lam_G / decomposition.EK2, rel=1e-9)
    assert 0 <= table[("rho_K", None)] <= 1
    assert {m for m, _, _ in rows} == set(METRICS)
    assert set(warm) == {"sharpness_hessian", "sharpness_G", "sharpness_H"}
    assert all(diagnostics[k]["converged"] for k in warm)


def _train_tiny_run(tmp_path, blob_data, snapshot_every=3, max_iterations=7):
    data = blob_data(n=40, d=6, c=3)
    # The card the data stage writes next to every subset.
    data.with_suffix(".json").write_text(json.dumps({"dataset": "blobs", "size": 40, "subset_seed": 5}))
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--depth", "3", "--width", "8",
                 "--max-iterations", str(max_iterations), "--snapshot-every", str(snapshot_every),
                 "--no-progress"]) == 0
    return data, run


def test_analyze_cli_writes_the_documented_table(tmp_path, blob_data):
    data, run = _train_tiny_run(tmp_path, blob_data)
    out = tmp_path / "analysis" / "run.parquet"
    assert main(["analyze", str(run), "--out", str(out), "--no-progress", "--eig-method", "krylov",
                 "--eig-tol", "1e-10"]) == 0
    frame = pd.read_parquet(out)
    assert list(frame.columns) == COLUMNS
    assert set(frame["metric"]) == set(METRICS)
    assert (frame["dataset"] == "blobs").all() and (frame["size"] == 40).all()
    assert (frame["subset_seed"] == 5).all() and (frame["init_seed"] == 0).all()
    assert (frame["criterion"] == "cross_entropy").all()
    assert sorted(frame["iteration"].unique()) == [0, 3, 6, 7]
    L = 3
    per_snapshot = frame[frame["iteration"] == 3]
    counts = per_snapshot.groupby("metric")["layer"].apply(lambda s: sorted(s.dropna().astype(int)))
    assert counts["EK2_layer"] == [1, 2, 3]
    for name in ("chi2", "r_chi", "EJ2", "r_DeltaJ", "Pi_chi", "P_chi", "Pi_J", "P_DeltaJ"):
        assert counts[name] == list(range(1, L)), name
    assert set(GLOBAL_METRICS) | set(LAYER_METRICS) == set(METRICS)
    for name in GLOBAL_METRICS:
        assert counts[name] == [] and per_snapshot[per_snapshot.metric == name]["layer"].isna().all()
    # t matches the training log and the snapshot.
    log = pd.read_parquet(run / "log.parquet")
    t3 = float(log.loc[log.iteration == 3, "t"].iloc[0])
    assert per_snapshot["t"].iloc[0] == t3
    # Values equal a direct computation on the snapshot's weights (dense Hessian, dense G).
    model, _ = load_snapshot(run / "snapshots" / "0000003.pt")
    from eoslab.arrays import load_arrays
    from eoslab.criteria import get_criterion
    arrays = load_arrays(data)
    X = torch.as_tensor(arrays.X, dtype=torch.float64)
    y = torch.as_tensor(arrays.y)
    criterion = get_criterion("cross_entropy")
    dense_hessian = HessianOperator(model, criterion, X, y).to_dense()
    dense_G = GaussNewtonOperator(model, criterion, X, y).to_dense()
    value = per_snapshot.set_index("metric")["value"]
    assert value["sharpness_hessian"] == pytest.approx(float(torch.linalg.eigvalsh(dense_hessian)[-1]), rel=1e-8)
    assert value["sharpness_G"] == pytest.approx(float(torch.linalg.eigvalsh(dense_G)[-1]), rel=1e-8)
    # Eq. 7 in the table itself, for every k.
    for k in range(1, L):
        pieces = per_snapshot[(per_snapshot.layer == k)].set_index("metric")["value"]
        product = pieces["Pi_chi"] * pieces["P_chi"] * pieces["Pi_J"] * pieces["P_DeltaJ"] * value["EDeltaL2"]
        assert product == pytest.approx(pieces["EK2_layer"], rel=1e-10)
    card = json.loads(out.with_suffix(".json").read_text())
    assert [s["iteration"] for s in card["snapshots"]] == [0, 3, 6, 7]
    assert card["config"]["eig_method"] == "krylov"


def test_analyze_reports_bad_input_by_name(tmp_path, blob_data, capsys):
    data, run = _train_tiny_run(tmp_path, blob_data, max_iterations=2, snapshot_every=1)
    out = tmp_path / "a.parquet"
    assert main(["analyze", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "run.json" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("eig_tol: -1\n")
    assert main(["analyze", str(run), "--out", str(out), "--config", str(bad)]) == 2
    assert "eig_tol" in capsys.readouterr().err
    bad.write_text("chunk: 3\n")
    assert main(["analyze", str(run), "--out", str(out), "--config", str(bad)]) == 2
    assert "chunk" in capsys.readouterr().err
    data.with_suffix(".json").unlink()
    assert main(["analyze", str(run), "--out", str(out)]) == 2
    assert "subset_seed" in capsys.readouterr().err
    status = json.loads((run / "status.json").read_text())
    (run / "status.json").write_text(json.dumps({**status, "status": "interrupted"}))
    assert main(["analyze", str(run), "--out", str(out), "--dataset", "blobs", "--size", "40",
                 "--subset-seed", "5"]) == 2
    assert "interrupted" in capsys.readouterr().err
    assert not out.exists()


def test_analysis_is_deterministic(tmp_path, blob_data):
    data, run = _train_tiny_run(tmp_path, blob_data, max_iterations=3, snapshot_every=3)
    a = tmp_path / "a.parquet"
    b = tmp_path / "b.parquet"
    for out in (a, b):
        assert main(["analyze", str(run), "--out", str(out), "--no-progress"]) == 0
    fa, fb = pd.read_parquet(a), pd.read_parquet(b)
    assert np.array_equal(fa["value"].to_numpy(), fb["value"].to_numpy())


def test_interrupted_analysis_resumes_from_its_partial_results(tmp_path, blob_data, monkeypatch):
    import eoslab.studies.jacobian_alignment.analysis as analysis

    data, run = _train_tiny_run(tmp_path, blob_data, max_iterations=7, snapshot_every=2)
    out = tmp_path / "run.parquet"
    reference = analysis.analyze_run(run, tmp_path / "reference.parquet", progress=False)
    real = analysis.analyze_snapshot
    calls = {"n": 0}

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis, "analyze_snapshot", failing)
    with pytest.raises(KeyboardInterrupt):
        analysis.analyze_run(run, out, progress=False)
    assert not out.exists() and len(list((tmp_path / "run.parquet.partial").glob("*.parquet"))) == 2
    calls["n"] = 10  # no more failures; count the snapshots analysed again
    frame = analysis.analyze_run(run, out, progress=False)
    assert calls["n"] == 10 + 3          # snapshots 0, 2 reused; 4, 6, 7 analysed
    assert not (tmp_path / "run.parquet.partial").exists()
    pd.testing.assert_frame_equal(frame[frame.iteration <= 2], reference[reference.iteration <= 2])
    np.testing.assert_allclose(frame["value"], reference["value"], rtol=1e-6, atol=1e-9)


# --- Faults (issue 24, docs/reliability.md) -------------------------------------------------------------


def test_truncated_snapshot_names_the_file_and_the_run(tmp_path, blob_data, capsys):
    data, run = _train_tiny_run(tmp_path, blob_data)
    snapshot = run / "snapshots" / "0000003.pt"
    blob = snapshot.read_bytes()
    snapshot.write_bytes(blob[: len(blob) // 3])
    assert main(["analyze", str(run), "--out", str(tmp_path / "a.parquet"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(snapshot) in err and f"of run {run}" in err and "Traceback" not in err


def test_analysis_of_a_run_a_trainer_holds_is_refused(tmp_path, blob_data, capsys):
    from eoslab.rundir import RunPaths

    data, run = _train_tiny_run(tmp_path, blob_data)
    with RunPaths(run).lock("train"):
        assert main(["analyze", str(run), "--out", str(tmp_path / "a.parquet"), "--no-progress"]) == 2
    assert "in use by another process" in capsys.readouterr().err


def test_diverged_run_is_analysed_up_to_its_last_finite_snapshot_and_the_status_reaches_the_aggregate(
        tmp_path, blob_data):
    from eoslab.studies.jacobian_alignment.aggregate import aggregate, usable_runs

    data = blob_data(n=40, d=6, c=3)
    data.with_suffix(".json").write_text(json.dumps({"dataset": "blobs", "size": 40, "subset_seed": 5}))
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(run), "--depth", "2", "--width", "8",
                 "--integrator", "gradient_descent", "--lr", "1e6", "--criterion", "mse", "--snapshot-every", "1",
                 "--no-progress", "--diverged-ok"]) == 0
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "diverged"
    out = tmp_path / "diverged.parquet"
    assert main(["analyze", str(run), "--out", str(out), "--no-progress", "--eig-method", "krylov"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["status"] == "diverged" and card["skipped_snapshots"]
    frame = pd.read_parquet(out)
    assert frame["iteration"].max() < status["iteration"]
    _, good = _train_tiny_run(tmp_path / "g", blob_data)
    good_out = tmp_path / "good.parquet"
    assert main(["analyze", str(good), "--out", str(good_out), "--no-progress", "--subset-seed", "6"]) == 0
    analysis, training = aggregate([out, good_out])
    assert set(analysis.groupby("subset_seed")["status"].first()) == {"diverged", "max_iterations"}
    assert set(training["status"]) == {"diverged", "max_iterations"}
    used, note = usable_runs(analysis)
    assert set(used["status"]) == {"max_iterations"}
    assert "left out as diverged: blobs/mse D=40 s5 i0" in note and "stopped at max_iterations" in note

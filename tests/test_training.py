"""End-to-end training: files, snapshots, resume after a kill, divergence, bad input."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

import conftest
from eoslab.cli import main
from eoslab.curvature import HessianOperator
from eoslab.criteria import get_criterion
from eoslab.training import TrainConfig, TrainingDiverged, load_snapshot, train

SMALL = {"depth": 3, "width": 16, "snapshot_every": 5, "checkpoint_every": 5}


def _config(data, **overrides):
    return TrainConfig.from_dict({"data": str(data), **SMALL, "device": str(conftest.TEST_DEVICE), **overrides})


def test_train_writes_the_documented_files(blob_data, tmp_path):
    out = tmp_path / "run"
    status = train(_config(blob_data()), out, progress=False)
    assert status["status"] == "converged"
    assert status["loss"] <= 0.01
    run = json.loads((out / "run.json").read_text())
    assert run["data_sha256"] and run["num_eigenpairs"] == 3 and run["model"]["gain"] == pytest.approx(2 ** 0.5)
    assert run["loss_threshold"] == 0.01
    logged = pd.read_parquet(out / "log.parquet")
    last = status["iteration"]
    assert logged["iteration"].tolist() == list(range(last + 1))
    assert {"t", "dt", "loss", "accuracy", "grad_norm", "lambda_1", "lambda_4", "eig_max_residual"} <= set(logged)
    # t accumulates Δt and Δt = min(1/λ_{k+1}, η)
    np.testing.assert_allclose(logged["t"].iloc[1:].to_numpy(), logged["dt"].cumsum().iloc[:-1].to_numpy(), rtol=1e-12)
    expected_dt = np.minimum(1.0 / logged["lambda_4"].iloc[:-1].clip(lower=0), 1.0)
    np.testing.assert_allclose(logged["dt"].iloc[:-1], expected_dt, rtol=1e-12)
    assert logged["loss"].iloc[-1] <= 0.01 < logged["loss"].iloc[-2]
    snapshots = sorted(p.name for p in (out / "snapshots").iterdir())
    expected = sorted({f"{i:07d}.pt" for i in range(0, last + 1, 5)} | {f"{last:07d}.pt"})
    assert snapshots == expected
    assert not (out / "checkpoint.pt").exists()   # a finished run keeps log and snapshots only


def test_snapshot_rebuilds_the_model_and_its_logged_loss(blob_data, tmp_path):
    data = blob_data()
    out = tmp_path / "run"
    train(_config(data), out, progress=False)
    logged = pd.read_parquet(out / "log.parquet").set_index("iteration")
    model, snapshot = load_snapshot(out / "snapshots" / "0000005.pt")
    assert set(snapshot) == {"state_dict", "model", "iteration", "t"}
    assert snapshot["iteration"] == 5 and snapshot["t"] == logged.loc[5, "t"]
    arrays = np.load(data)
    X, y = torch.as_tensor(arrays["X"]), torch.as_tensor(arrays["y"])
    result = HessianOperator(model, get_criterion("cross_entropy"), X, y).loss_and_gradient()
    assert result.loss == pytest.approx(logged.loc[5, "loss"], rel=1e-12)


def test_same_seeds_same_numbers(blob_data, tmp_path):
    data = blob_data()
    train(_config(data), tmp_path / "a", progress=False)
    train(_config(data), tmp_path / "b", progress=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a/log.parquet"), pd.read_parquet(tmp_path / "b/log.parquet"))
    train(_config(data, init_seed=1), tmp_path / "c", progress=False)
    assert not pd.read_parquet(tmp_path / "c/log.parquet")["loss"].equals(pd.read_parquet(tmp_path / "a/log.parquet")["loss"])


def test_finished_run_is_not_recomputed_and_changed_config_is_refused(blob_data, tmp_path):
    data = blob_data()
    out = tmp_path / "run"
    first = train(_config(data), out, progress=False)
    mtime = (out / "log.parquet").stat().st_mtime_ns
    again = train(_config(data), out, progress=False)
    assert again["iteration"] == first["iteration"]
    assert (out / "log.parquet").stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="describes a different run"):
        train(_config(data, lr=0.5), out, progress=False)


def _cli(data, out, *extra):
    return [sys.executable, "-m", "eoslab.cli", "train", "--data", str(data), "--out", str(out), "--no-progress",
            "--depth", "3", "--width", "16", "--lr", "0.05", "--max-iterations", "60",
            "--snapshot-every", "10", "--checkpoint-every", "3", "--device", str(conftest.TEST_DEVICE), *extra]


@pytest.mark.slow
@pytest.mark.parametrize("kill_signal", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_resumes_bit_identically(blob_data, tmp_path, kill_signal):
    data = blob_data()
    reference = tmp_path / "reference"
    subprocess.run(_cli(data, reference), check=True, capture_output=True)
    resumed = tmp_path / "resumed"
    process = subprocess.Popen(_cli(data, resumed), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not (resumed / "checkpoint.pt").exists():  # kill once at least one checkpoint exists
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline
        time.sleep(0.01)
    time.sleep(0.3)
    process.send_signal(kill_signal)
    process.wait()
    assert process.returncode != 0, "the run finished before it could be interrupted; make it longer"
    if kill_signal == signal.SIGTERM:
        assert process.returncode == 143
        assert json.loads((resumed / "status.json").read_text())["status"] == "interrupted"
    interrupted_at = torch.load(resumed / "checkpoint.pt", weights_only=True)["iteration"]
    assert 0 < interrupted_at < 60
    subprocess.run(_cli(data, resumed), check=True, capture_output=True)
    pd.testing.assert_frame_equal(pd.read_parquet(resumed / "log.parquet"), pd.read_parquet(reference / "log.parquet"),
                                  check_exact=True)
    final_ref = torch.load(reference / "snapshots" / "0000060.pt", weights_only=True)
    final_res = torch.load(resumed / "snapshots" / "0000060.pt", weights_only=True)
    for name, tensor in final_ref["state_dict"].items():
        assert torch.equal(tensor, final_res["state_dict"][name]), name
    assert final_res["t"] == final_ref["t"]
    assert json.loads((resumed / "status.json").read_text())["status"] == "max_iterations"
    leftovers = [p for p in resumed.rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers


def test_diverging_run_is_recorded(blob_data, tmp_path):
    out = tmp_path / "run"
    config = _config(blob_data(), integrator="gradient_descent", lr=1e6, criterion="mse")
    with pytest.raises(TrainingDiverged, match="diverged"):
        train(config, out, progress=False)
    status = json.loads((out / "status.json").read_text())
    assert status["status"] == "diverged" and "iteration" in status["message"]
    logged = pd.read_parquet(out / "log.parquet")
    last = logged.iloc[-1]
    assert not (np.isfinite(last["loss"]) and np.isfinite(last["grad_norm"]))
    assert np.isfinite(logged["loss"].iloc[0]) and np.isfinite(logged["grad_norm"].iloc[0])
    assert len(logged) == status["iteration"] + 1


def test_cli_exit_codes_and_messages(blob_data, tmp_path, capsys):
    data = blob_data()
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "ok"), "--no-progress",
                 "--depth", "2", "--width", "8"]) == 0
    assert main(["train", "--data", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "x"), "--no-progress"]) == 2
    assert "missing.npz" in capsys.readouterr().err
    config = tmp_path / "bad.yaml"
    config.write_text("width: wide\n")
    assert main(["train", "--data", str(data), "--config", str(config), "--out", str(tmp_path / "y")]) == 2
    assert "'width' must be a non-negative integer" in capsys.readouterr().err
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "z"), "--no-progress", "--depth", "2",
                 "--width", "8", "--integrator", "gradient_descent", "--lr", "1e6", "--criterion", "mse"]) == 3
    assert "diverged" in capsys.readouterr().err


def test_gradient_descent_logs_sharpness_every_n(blob_data, tmp_path):
    out = tmp_path / "gd"
    train(_config(blob_data(), integrator="gradient_descent", lr=0.05, eig_every=4, max_iterations=9), out,
          progress=False)
    logged = pd.read_parquet(out / "log.parquet")
    has_eig = logged["lambda_1"].notna().tolist()
    assert has_eig == [i % 4 == 0 and i < 9 for i in range(10)]
    np.testing.assert_allclose(logged["dt"].iloc[:-1], 0.05)


def _dense_hessian_spectrum(data, snapshot):
    from torch.func import functional_call

    model, _ = load_snapshot(snapshot)
    arrays = np.load(data)
    X, y = torch.as_tensor(arrays["X"]), torch.as_tensor(arrays["y"])
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    theta = torch.cat([p.detach().reshape(-1) for _, p in model.named_parameters()])

    def loss(flat):
        pieces = torch.split(flat, [int(np.prod(s)) for s in shapes])
        params = {n: piece.view(s) for n, piece, s in zip(names, pieces, shapes)}
        return get_criterion("cross_entropy").loss(functional_call(model, params, (X,)), y).mean()

    return torch.linalg.eigvalsh(torch.autograd.functional.hessian(loss, theta))


def test_lambda_min_is_logged_and_matches_a_dense_eigendecomposition(blob_data, tmp_path):
    data = blob_data()
    out = tmp_path / "run"
    train(_config(data, max_iterations=6, lambda_min_tol=1e-9, lambda_min_max_products=400), out, progress=False)
    logged = pd.read_parquet(out / "log.parquet").set_index("iteration")
    assert {"lambda_min", "lambda_min_residual", "lambda_min_matvecs", "lambda_min_converged"} <= set(logged)
    spectrum = _dense_hessian_spectrum(data, out / "snapshots" / "0000005.pt")
    assert spectrum[0] < 0
    assert logged.loc[5, "lambda_min"] == pytest.approx(float(spectrum[0]), rel=1e-7)
    assert logged.loc[5, "lambda_1"] == pytest.approx(float(spectrum[-1]), rel=1e-7)
    assert bool(logged.loc[:5, "lambda_min_converged"].all()) and (logged.loc[:5, "lambda_min_matvecs"] > 0).all()
    assert np.isnan(logged.loc[6, "lambda_min"])                     # the last row takes no step
    off = tmp_path / "off"
    train(_config(data, max_iterations=3, lambda_min_every=0), off, progress=False)
    logged_off = pd.read_parquet(off / "log.parquet")
    assert logged_off["lambda_min"].isna().all() and (logged_off["lambda_min_matvecs"] == 0).all()


def test_magnitude_order_run_orders_by_absolute_value_and_steps_by_it(blob_data, tmp_path):
    data = blob_data()
    out = tmp_path / "mag"
    train(_config(data, max_iterations=6, eig_order="magnitude", lr=0.05, stiff_cap="dt", eig_method="krylov",
                  eig_tol=1e-10), out, progress=False)
    logged = pd.read_parquet(out / "log.parquet").iloc[:-1]
    lambdas = logged[[f"lambda_{j}" for j in range(1, 5)]].to_numpy()
    assert (np.diff(np.abs(lambdas), axis=1) <= 1e-9 * np.abs(lambdas[:, :1])).all()
    np.testing.assert_allclose(logged["dt"], np.minimum(1.0 / np.abs(logged["lambda_4"]), 0.05), rtol=1e-12)
    spectrum = _dense_hessian_spectrum(data, out / "snapshots" / "0000005.pt")
    expected = spectrum[torch.argsort(spectrum.abs(), descending=True)][:4].numpy()
    np.testing.assert_allclose(lambdas[5], expected, rtol=1e-7)
    with pytest.raises(ValueError, match="eig_order"):
        TrainConfig.from_dict({"data": str(data), "eig_order": "size"})


# --- Faults (issue 24, docs/reliability.md) -------------------------------------------------------------


def _wait_for(predicate, process, seconds=120):
    deadline = time.time() + seconds
    while not predicate():
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline
        time.sleep(0.02)


def test_second_trainer_on_one_run_is_refused_and_the_lock_dies_with_its_holder(blob_data, tmp_path):
    data = blob_data()
    out = tmp_path / "run"
    first = subprocess.Popen(_cli(data, out, "--max-iterations", "100000", "--checkpoint-every", "1"),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: (out / "checkpoint.pt").exists(), first)
        second = subprocess.run(_cli(data, out, "--max-iterations", "100000", "--checkpoint-every", "1"),
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert f"PID {first.pid}" in second.stderr and str(out) in second.stderr and "in use" in second.stderr
        assert first.poll() is None  # the first one carries on
    finally:
        first.kill()
        first.wait()
    # SIGKILL: the OS released the lock; status.json still says running, and the next trainer records that.
    assert json.loads((out / "status.json").read_text())["status"] == "running"
    config = _config(data, lr=0.05, max_iterations=100000, snapshot_every=10, checkpoint_every=1, depth=3,
                     width=16)
    from eoslab.rundir import RunPaths
    with RunPaths(out).lock("test"):  # a lock held in this process refuses train() too
        with pytest.raises(ValueError, match="in use by another process"):
            train(config, out, progress=False)


def _checkpoint_iteration(out) -> int:
    try:
        return int(torch.load(out / "checkpoint.pt", weights_only=True)["iteration"])
    except Exception:  # not written yet
        return -1


def test_died_trainer_is_recorded_by_the_next_one(blob_data, tmp_path):
    data = blob_data()
    out = tmp_path / "run"
    process = subprocess.Popen(_cli(data, out, "--max-iterations", "100000"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    # Killed after its second checkpoint (every 3 iterations): status.json says how far it had got.
    _wait_for(lambda: _checkpoint_iteration(out) >= 6, process)
    process.kill()
    process.wait()
    running = json.loads((out / "status.json").read_text())
    assert running["status"] == "running"
    # status.json of a running trainer follows its checkpoints (it used to say iteration 0 until the end,
    # so the next trainer recorded the dead one at iteration 0 whatever it had done; docs/reliability.md (b)).
    assert running["iteration"] >= 3 and running["iteration"] % 3 == 0
    second = subprocess.Popen(_cli(data, out, "--max-iterations", "100000"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: "previous" in json.loads((out / "status.json").read_text()), second)
    finally:
        second.terminate()
        second.communicate()
    status = json.loads((out / "status.json").read_text())
    assert status["status"] in ("running", "interrupted")
    assert status["previous"]["status"] == "died" and status["previous"]["pid"] == process.pid
    assert status["previous"]["iteration"] == running["iteration"]


def _finished_reference(data, tmp_path, **overrides):
    reference = tmp_path / "reference"
    train(_config(data, lr=0.05, max_iterations=30, **overrides), reference, progress=False)
    return reference


def _interrupted_copy(reference, tmp_path, iteration):
    """A run directory as a trainer killed after its checkpoint at ``iteration`` leaves it: snapshots and log
    up to then, a checkpoint (rebuilt from the snapshot, no warm start), status running."""
    import shutil
    out = tmp_path / "interrupted"
    shutil.copytree(reference, out)
    for snapshot in (out / "snapshots").glob("*.pt"):
        if int(snapshot.stem) > iteration:
            snapshot.unlink()
    logged = pd.read_parquet(out / "log.parquet")
    logged[logged["iteration"] < iteration].to_parquet(out / "log.parquet", index=False)
    run = json.loads((out / "run.json").read_text())
    saved = torch.load(out / "snapshots" / f"{iteration:07d}.pt", weights_only=True)
    torch.save({"state_dict": saved["state_dict"], "iteration": iteration, "t": saved["t"], "block": None,
                "min_block": None, "config_digest": run["config_digest"]}, out / "checkpoint.pt")
    (out / "status.json").write_text(json.dumps({"status": "running", "message": "training", "iteration": 0}))
    return out


def test_truncated_checkpoint_resumes_from_the_newest_intact_snapshot(blob_data, tmp_path, caplog):
    data = blob_data()
    reference = _finished_reference(data, tmp_path)
    out = _interrupted_copy(reference, tmp_path, 15)
    blob = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(blob[: len(blob) // 2])
    (out / "snapshots" / "0000015.pt").write_bytes(b"")      # the newest snapshot is broken as well
    with caplog.at_level("WARNING"):
        status = train(_config(data, lr=0.05, max_iterations=30), out, progress=False)
    text = caplog.text
    assert "checkpoint.pt is unreadable" in text and "0000010.pt" in text and "restart cold" in text
    assert status["status"] == "max_iterations" and status["iteration"] == 30
    assert status["resumed"]["from"] == "snapshots/0000010.pt" and "unreadable" in status["resumed"]["reason"]
    assert status["previous"]["status"] == "died"
    logged = pd.read_parquet(out / "log.parquet")
    assert logged["iteration"].tolist() == list(range(31))
    expected = pd.read_parquet(reference / "log.parquet")
    pd.testing.assert_frame_equal(logged.iloc[:10], expected.iloc[:10], check_exact=True)  # rebuilt rows
    np.testing.assert_allclose(logged["loss"], expected["loss"], rtol=1e-6)  # cold eigensolver: tolerance
    assert not (out / "checkpoint.pt.corrupt").exists() and not (out / "checkpoint.pt").exists()


def test_missing_checkpoint_does_not_silently_restart_and_without_snapshots_says_why(blob_data, tmp_path, caplog):
    data = blob_data()
    reference = _finished_reference(data, tmp_path)
    out = _interrupted_copy(reference, tmp_path, 15)
    (out / "checkpoint.pt").unlink()
    status = train(_config(data, lr=0.05, max_iterations=30), out, progress=False)
    assert status["resumed"]["from"] == "snapshots/0000015.pt" and "missing" in status["resumed"]["reason"]
    # No snapshot past 0 with its log rows: from the start, and the reason recorded.
    import shutil
    shutil.rmtree(out)
    out = _interrupted_copy(reference, tmp_path, 15)
    (out / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    (out / "log.parquet").write_bytes(b"garbage")
    status = train(_config(data, lr=0.05, max_iterations=30), out, progress=False)
    assert status["resumed"]["from"] == "start" and "unreadable" in status["resumed"]["reason"]
    pd.testing.assert_frame_equal(pd.read_parquet(out / "log.parquet"), pd.read_parquet(reference / "log.parquet"),
                                  check_exact=True)


def test_failed_start_leaves_no_empty_output_folder_and_records_failures(blob_data, tmp_path):
    out = tmp_path / "never"
    assert main(["train", "--data", str(tmp_path / "missing.npz"), "--out", str(out), "--no-progress"]) == 2
    assert not out.exists()
    # Nor the parents it created (docs/reliability.md (e): `--out b/never` used to leave an empty b/).
    out = tmp_path / "b" / "never"
    assert main(["train", "--data", str(tmp_path / "missing.npz"), "--out", str(out), "--no-progress"]) == 2
    assert not (tmp_path / "b").exists()


def test_diverged_ok_exits_zero_and_a_rerun_returns_the_status(blob_data, tmp_path, capsys):
    data = blob_data()
    flags = ["--depth", "2", "--width", "8", "--integrator", "gradient_descent", "--lr", "1e6", "--criterion", "mse"]
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--no-progress", "--diverged-ok", *flags]) == 0
    assert json.loads((out / "status.json").read_text())["status"] == "diverged"
    assert main(["train", "--data", str(data), "--out", str(out), "--no-progress", *flags]) == 3
    assert main(["train", "--data", str(data), "--out", str(out), "--no-progress", "--diverged-ok", *flags]) == 0


def test_threads_option_also_pins_numpy_blas(blob_data, tmp_path):
    # docs/reliability.md (d): `eoslab --threads 1 train` by hand (no OMP/OPENBLAS_NUM_THREADS in the
    # environment) left numpy's OpenBLAS on one thread per core, so it differed from the workflow's run
    # (which Snakemake gives OPENBLAS_NUM_THREADS=1) from iteration 1 on and converged at 231, not 210.
    import os
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                           "OPENBLAS_NUM_THREADS")}
    out = tmp_path / "run"
    command = _cli(blob_data(), out, "--max-iterations", "1")
    subprocess.run([*command[:3], "--threads", "1", *command[3:]], check=True, capture_output=True, env=env)
    run = json.loads((out / "run.json").read_text())
    assert run["threads"] == 1
    assert run["threadpools"] and all(pool["num_threads"] == 1 for pool in run["threadpools"]), run["threadpools"]


def test_run_json_records_threads_and_blas(blob_data, tmp_path):
    out = tmp_path / "run"
    train(_config(blob_data(), max_iterations=1), out, progress=False)
    run = json.loads((out / "run.json").read_text())
    assert run["threads"] == torch.get_num_threads() and run["device"] == str(conftest.TEST_DEVICE)
    assert run["torch_blas"] and "numpy_blas" in run and "OMP_NUM_THREADS" in run["thread_env"]

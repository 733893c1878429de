"""The MLP of §4.1 and Appendix C: SGD on the first N MNIST images, K̃ exactly from the NTK.

Data (Appendix C): the first ``N`` training images (in file order), flattened and scaled to
``[0, 1]``, ZCA-whitened with statistics of those ``N`` images (:mod:`eoslab.datasets.preprocessing`;
regulariser relative to the mean covariance eigenvalue — our choice, the paper's was lost),
targets ``+1`` for odd and ``−1`` for even digits.  ``source: sklearn_digits`` uses scikit-learn's
bundled 8×8 digits instead (offline; the tiny and CPU configs).

Network: two hidden layers (``eoslab.models.MLP`` of depth 3, one output), Xavier initialisation
with the activation's gain, float64.  Loss: the ½-scaled MSE ``L = (1/2N) Σ (f(x_n) − y_n)²``
(:class:`eoslab.criteria.RegressionMSE` with ``scale = 1/2``), so ``Θ̂ = JJᵀ/N`` is the NTK of
:mod:`eoslab.noise_kernel` and ``ηλ_max(Θ̂) = 2`` is the deterministic EOS.

Training: plain SGD, exactly ``B`` distinct examples per step
(:func:`eoslab.optimizers.minibatch_indices`), constant ``η``.  :func:`sgd_step` is the step of
:func:`eoslab.optimizers.gd_step` on the minibatch loss, done in place on the model's parameters
(6× faster on a CPU than the functional path for these small networks; a test checks that both
give the same weights).  At ``measurements`` steps
spaced geometrically (plus step 0 and the last) the whole-set loss, ``λ_max(Θ̂)``, ``tr Θ̂``,
K̃ (exact, Eq. 9, from the eigendecomposition of the exact NTK), K̃_HD and K̃_tr are logged.  A
loss that is not finite or exceeds :data:`DIVERGENCE_FACTOR` × its initial value stops the run
as ``diverged``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ... import noise_kernel as nk
from ...arrays import DataFileError
from ...criteria import RegressionMSE
from ...datasets.mnist import load_images
from ...datasets.preprocessing import apply_zca, fit_zca, flatten_images, parity_labels
from ...io import atomic_write, read_json, sha256sum, write_json, write_parquet
from ...models import build_model
from ...optimizers import minibatch_indices

log = logging.getLogger(__name__)

DIVERGENCE_FACTOR = 1e4
LOG_COLUMNS = ["step", "epoch", "loss", "lambda_max", "ntk_trace", "K", "K_hd", "K_tr", "lr_lambda_max",
               "wall_seconds"]


# -- data ---------------------------------------------------------------------------------------
def prepare_data(out: str | os.PathLike, source: str, root: str | os.PathLike | None, num_examples: int,
                 zca_regularization: float, download: bool = False) -> Path:
    """Write ``out`` (.npz with ``X`` (N, d) float64, ``y`` (N,) ±1, ``digits`` (N,)) and a JSON card."""
    images, digits = load_images(source, root, "train", download)
    if not 1 <= num_examples <= images.shape[0]:
        raise ValueError(f"num_examples must be in 1..{images.shape[0]} for source {source!r}, got {num_examples}")
    images, digits = images[:num_examples], digits[:num_examples]
    X = flatten_images(images)
    zca = fit_zca(X, zca_regularization)
    X = apply_zca(zca, X)
    y = parity_labels(digits)
    out = Path(out)
    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a handle: np.savez would append ".npz" to the temporary name
            np.savez(handle, X=X, y=y, digits=digits)

    atomic_write(out, write)
    write_json(out.with_suffix(".json"), {
        "source": source, "root": None if root is None else str(root), "split": "train",
        "num_examples": int(num_examples), "input_dim": int(X.shape[1]), "image_shape": list(images.shape[1:]),
        "preprocessing": {"scale": "1/255", "zca_regularization": zca_regularization, "zca_epsilon": zca.epsilon,
                          "fitted_on": f"the same first {num_examples} images"},
        "targets": "+1 odd digit, -1 even digit", "odd_fraction": float((y > 0).mean()),
        "sha256": sha256sum(out)})
    return out


def load_data(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{str(path)!r} does not exist; expected the .npz written by "
                            f"`eoslab study stochastic_eos mnist-data`")
    with np.load(path) as archive:
        if not {"X", "y"} <= set(archive.files):
            raise DataFileError(f"{str(path)!r} lacks 'X' and 'y' (has {archive.files})")
        X, y = archive["X"], archive["y"]
    return torch.as_tensor(X, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)


# -- training -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunConfig:
    batch_size: int
    lr: float
    steps: int
    width: int = 512
    activation: str = "tanh"
    init_seed: int = 0
    batch_seed: int = 0
    measurements: int = 40
    gain: float | None = None       # Xavier gain; None: the activation's (5/3 for tanh)


def measurement_steps(steps: int, measurements: int) -> list[int]:
    """Step 0, the last step and ``measurements`` geometrically spaced steps in between."""
    inner = np.unique(np.rint(np.geomspace(1, max(steps, 1), max(measurements, 2))).astype(int))
    return sorted({0, steps, *[int(s) for s in inner if s <= steps]})


def sgd_step(model, X: torch.Tensor, y: torch.Tensor, lr: float) -> float:
    """``θ ← θ − η ∇_θ (1/2B) Σ_b (f(x_b) − y_b)²`` in place; returns the minibatch loss before the step."""
    params = [p for p in model.parameters()]
    loss = RegressionMSE(scale=0.5).loss(model(X), y).mean()
    grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        for parameter, gradient in zip(params, grads):
            parameter.sub_(lr * gradient)
    return float(loss.detach())


@torch.no_grad()
def measure(model, X: torch.Tensor, y: torch.Tensor, lr: float, batch_size: int) -> dict:
    """Whole-set loss and the NTK quantities at the model's current weights."""
    f = model(X)
    loss = float(0.5 * ((f - y) ** 2).mean())
    ntk = nk.mlp_ntk(model, X)
    spectrum = nk.NTKSpectrum.from_ntk(ntk)
    D = X.shape[0]
    return {"loss": loss, "lambda_max": spectrum.lambda_max, "ntk_trace": spectrum.trace,
            "K": nk.noise_kernel_norm(spectrum, lr, batch_size),
            "K_hd": nk.noise_kernel_norm_hd(spectrum.eigenvalues, lr, batch_size, D),
            "K_tr": nk.noise_kernel_norm_trace(spectrum.trace, lr, batch_size, D),
            "lr_lambda_max": lr * spectrum.lambda_max}


def train(data_path: str | os.PathLike, config: RunConfig, out_dir: str | os.PathLike, progress: bool = True) -> dict:
    """One SGD run; writes ``log.parquet`` and ``status.json`` (atomically) into ``out_dir``."""
    out_dir = Path(out_dir)
    status_path = out_dir / "status.json"
    if status_path.exists():
        status = read_json(status_path)
        if status.get("config") == asdict(config) and status.get("status") in ("finished", "diverged"):
            log.info("run %s already %s", out_dir, status["status"])
            return status
    X, y = load_data(data_path)
    N = X.shape[0]
    if not 1 <= config.batch_size <= N:
        raise ValueError(f"batch_size must be in 1..{N}, got {config.batch_size}")
    if not config.lr > 0 or config.steps < 1:
        raise ValueError(f"need lr > 0 and steps >= 1, got lr={config.lr}, steps={config.steps}")
    model = build_model({"input_dim": X.shape[1], "output_dim": 1, "depth": 3, "width": config.width,
                         "activation": config.activation, "init": "xavier", "init_seed": config.init_seed,
                         "dtype": "float64", **({} if config.gain is None else {"gain": config.gain})})
    generator = torch.Generator().manual_seed(config.batch_seed)
    checkpoints = set(measurement_steps(config.steps, config.measurements))
    rows, status, message = [], "finished", ""
    initial_loss = None
    start = time.perf_counter()
    bar = tqdm(range(config.steps + 1), desc=f"B={config.batch_size} η={config.lr:g}", disable=not progress,
               mininterval=5.0)
    for step in bar:
        if step in checkpoints:
            row = {"step": step, "epoch": step * config.batch_size / N,
                   **measure(model, X, y, config.lr, config.batch_size),
                   "wall_seconds": time.perf_counter() - start}
            rows.append(row)
            initial_loss = row["loss"] if initial_loss is None else initial_loss
            if not math.isfinite(row["loss"]) or row["loss"] > DIVERGENCE_FACTOR * initial_loss:
                status, message = "diverged", f"whole-set loss {row['loss']:.3g} at step {step}"
                break
        if step == config.steps:
            break
        index = minibatch_indices(N, config.batch_size, generator)
        batch_loss = sgd_step(model, X[index], y[index], config.lr)
        if not math.isfinite(batch_loss) or not all(torch.isfinite(p).all() for p in model.parameters()):
            status, message = "diverged", f"non-finite minibatch loss or weights at step {step}"
            rows.append({"step": step, "epoch": step * config.batch_size / N, "loss": math.inf,
                         "lambda_max": math.nan, "ntk_trace": math.nan, "K": math.nan, "K_hd": math.nan,
                         "K_tr": math.nan, "lr_lambda_max": math.nan, "wall_seconds": time.perf_counter() - start})
            break
    frame = pd.DataFrame(rows, columns=LOG_COLUMNS)
    for key, value in asdict(config).items():
        frame[key] = math.nan if value is None else value
    frame["num_examples"] = N
    write_parquet(out_dir / "log.parquet", frame)
    summary = {"status": status, "message": message, "config": asdict(config), "data": str(data_path),
               "data_sha256": sha256sum(data_path), "wall_seconds": time.perf_counter() - start,
               "torch": torch.__version__}
    write_json(status_path, summary)
    return summary


def collect(run_dirs: list[str | os.PathLike]) -> pd.DataFrame:
    """All runs' logs in one table, with their status."""
    frames = []
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        for name in ("log.parquet", "status.json"):
            if not (run_dir / name).exists():
                raise DataFileError(f"{str(run_dir / name)!r} is missing: the run {str(run_dir)!r} did not finish")
        frame = pd.read_parquet(run_dir / "log.parquet")
        frame["status"] = json.loads((run_dir / "status.json").read_text())["status"]
        frames.append(frame)
    if not frames:
        raise DataFileError("no MLP runs to collect")
    return pd.concat(frames, ignore_index=True)


def final_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """The last measurement of every run (for diverged runs the last finite one, flagged)."""
    keys = ["batch_size", "lr", "init_seed", "batch_seed"]
    finite = runs[np.isfinite(runs["loss"])]
    last = finite.sort_values("step").groupby(keys, as_index=False).tail(1)
    return last.sort_values(keys).reset_index(drop=True)


#: A run "reaches the EOS" when its final ηλ_max/2 is in this band (the paper's Figure 4: "stabilizes
#: at the deterministic EOS, 2/η").
EOS_BAND = (0.9, 1.1)


def run_outcomes(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run: K̃ at the start, its peak (and the epoch), at the end; whether it started below
    1, crossed 1, came back below 1 after the first crossing, how often it crossed 1 upwards (measured
    points only) and whether it ended below 1 without diverging (``figure3_picture``: the paper's
    Figure 3, "initially increasing, attains values above 1, but eventually stabilizes below");
    ``ηλ_max/2`` at the start, its
    maximum and at the end, whether the final value is at the EOS (:data:`EOS_BAND`) and from which
    side the run got there (``from below``: started below the band; ``from above``: started above;
    ``started there``; ``not reached``)."""
    keys = ["batch_size", "lr", "init_seed", "batch_seed"]
    extra = [k for k in ("gain",) if k in runs.columns]
    rows = []
    for key, run in runs.groupby(keys):
        run = run.sort_values("step")
        # K̃ is +inf while ηλ_max ≥ 2 (a run started above the EOS): those rows count (as above 1)
        finite = run[np.isfinite(run["loss"]) & ~np.isnan(run["K"])]
        if finite.empty:
            continue
        first, last = finite.iloc[0], finite.iloc[-1]
        peak = finite.loc[finite["K"].idxmax()]
        K = finite["K"].to_numpy()
        above = K > 1
        crossed = bool(first["K"] < 1 and above.any())
        after_cross = finite.iloc[int(np.argmax(above)) + 1:] if crossed else finite.iloc[:0]
        back = after_cross[after_cross["K"] < 1]
        returned = bool(len(back))
        up_crossings = int(np.sum(~above[:-1] & above[1:]))
        x = (finite["lr_lambda_max"] / 2).to_numpy()
        x0, x_final = float(x[0]), float(x[-1])
        status = str(run["status"].iloc[0])
        at_eos = status != "diverged" and EOS_BAND[0] <= x_final <= EOS_BAND[1]
        side = ("not reached" if not at_eos else "from below" if x0 < EOS_BAND[0]
                else "from above" if x0 > EOS_BAND[1] else "started there")
        rows.append({**dict(zip(keys, key)), **{k: float(run[k].iloc[0]) for k in extra},
                     "lr_over_batch": key[1] / key[0], "status": status, "epochs": float(last["epoch"]),
                     "K_initial": float(first["K"]), "K_peak": float(peak["K"]), "epoch_of_peak": float(peak["epoch"]),
                     "K_final": float(last["K"]), "K_tr_final": float(last["K_tr"]),
                     "starts_below_1": bool(first["K"] < 1), "crosses_1": crossed, "returns_below_1": returned,
                     "epoch_of_return": float(back["epoch"].iloc[0]) if returned else math.nan,
                     "up_crossings": up_crossings, "ends_below_1": bool(last["K"] < 1),
                     "figure3_picture": bool(crossed and returned and last["K"] < 1 and status != "diverged"),
                     "loss_initial": float(first["loss"]), "loss_final": float(last["loss"]),
                     "half_eos_initial": x0, "half_eos_max": float(x.max()), "half_eos_final": x_final,
                     "reaches_eos": bool(at_eos), "eos_side": side})
    return pd.DataFrame(rows)

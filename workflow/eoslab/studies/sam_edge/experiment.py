"""One training run of Long & Bartlett (2023), §3: GD/SGD (ρ = 0) or SAM (Eq. 1), with tracking.

Three settings (:data:`EXPERIMENTS`), each trained for a grid of step sizes ``η`` and SAM radii
``ρ`` (§3.2), one run per ``(η, ρ)``:

* ``mlp``: a fully connected ReLU network (depth 4, 1,000 units per hidden layer in the paper),
  Glorot-normal, the quadratic loss, full-batch GD/SAM on centred MNIST;
* ``cnn``: :mod:`eoslab.convnet` (two conv–ReLU–LayerNorm–maxpool blocks, 16 and 32 channels),
  the quadratic loss, full-batch GD/SAM on the first 1,000 CIFAR-10 images;
* ``transformer``: :mod:`eoslab.transformer` (6 layers, 8 heads, key size 32, model size 128,
  sequence length 64, no dropout), sequence cross-entropy, minibatch SGD/SAM with batches of 128
  windows of ``tiny_shakespeare``.  The Hessian, its eigenvectors and the gradients are those of
  the current minibatch ("also estimated using minibatches").

"The quadratic loss" is read as :class:`eoslab.criteria.MeanSquaredError` against one-hot
targets (the mean over the ten outputs of the squared error; the paper gives no normalisation).
The MLP's activation is not stated; we use ReLU (the usual Flax choice), configurable.

Every step ``t`` logs, at ``w_t`` and before the update: the loss and accuracy, ``‖g‖`` with
``g = ∇ℓ(w_t)``, the SAM-edge ``S(η, ρ, ‖g‖)`` (:func:`eoslab.sam.sam_edge`; ``2/η`` for ρ = 0)
and ``2/η``.  Every ``eig_every`` steps (and at the first and last step) it also logs the three
eigenvalues of the Hessian of largest magnitude (signed, ``|λ₁| ≥ |λ₂| ≥ |λ₃|``; warm-started
from the previous ones, ``top_eigenpairs(order="magnitude")``), their solver's products and
residuals, and the alignments ``|⟨∇ℓ(w_t), v₁⟩| / ‖∇ℓ(w_t)‖`` and
``|⟨∇ℓ(w_t + ρĝ), v₁⟩| / ‖∇ℓ(w_t + ρĝ)‖`` with the top eigenvector ``v₁``.

The paper plots against wall-clock seconds; we log both the step and the elapsed seconds and
plot against the step, which does not depend on the machine.  A run whose loss or gradient
becomes NaN/inf, or whose loss exceeds ``divergence_factor`` times its initial loss, stops with
status ``diverged`` (the paper "discarded" such runs: they are kept here, marked, and left out of
the figures' curves and the claims, which say so).

Run directory: ``run.json`` (resolved settings, data sha256, versions), ``log.parquet``,
``status.json`` (``finished``, ``diverged``, ``interrupted``), ``final.pt`` (the last weights),
and ``checkpoint.pt`` while running: a run killed or preempted (SIGTERM: checkpoint, exit 143)
resumes from its last checkpoint when started again, with the same numbers on the same device.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from ... import __version__
from ...convnet import build_convnet
from ...criteria import MeanSquaredError, SequenceCrossEntropy
from ...curvature import HessianOperator
from ...datasets import shakespeare
from ...eigensolvers import top_eigenpairs
from ...io import read_json, save_torch, sha256sum, write_json, write_parquet
from ...models import ACTIVATIONS, build_model
from ...rundir import RunPaths
from ...settings import option
from ...optimizers import Objective, minibatch_indices, sam_step
from ...sam import gd_edge, sam_edge
from ...training import resolve_device
from ...transformer import build_transformer
from . import data as study_data

log = logging.getLogger(__name__)

EXPERIMENTS = ("mlp", "cnn", "transformer")
EIG_METHODS = ("auto", "lanczos", "krylov", "lobpcg")
STATUSES_DONE = ("finished", "diverged")
LOG_COLUMNS = ["step", "seconds", "loss", "accuracy", "grad_norm", "ascent_loss", "ascent_grad_norm", "sam_edge",
               "gd_edge", "lambda_1", "lambda_2", "lambda_3", "eig_matvecs", "eig_max_residual", "eig_converged",
               "align_gradient", "align_ascent"]

MODEL_KEYS = {
    "mlp": {"depth", "width", "activation", "init_seed"},
    "cnn": {"channels", "kernel_size", "init_seed"},
    "transformer": {"num_layers", "num_heads", "key_size", "model_size", "seq_len", "widening_factor", "init_seed"},
}


class SettingsError(ValueError):
    """A run's settings are missing a key or have a wrong type or value."""


@dataclass
class RunSettings:
    """Everything that determines one run (the rules pass the config's values; stored in run.json)."""

    experiment: str = option(dataclasses.MISSING, "the setting: mlp, cnn or transformer", choices=EXPERIMENTS)
    lr: float = option(dataclasses.MISSING, "η, the step size")
    rho: float = option(dataclasses.MISSING, "ρ, the SAM radius (0: GD / SGD)")
    steps: int = option(dataclasses.MISSING, "training steps")
    eig_every: int = option(dataclasses.MISSING, "compute the top Hessian eigenvalues every n steps")
    model: dict[str, Any] = option(dataclasses.MISSING, "model settings of the experiment (MODEL_KEYS)")
    batch_size: int | None = option(None, "minibatch size (SGD / minibatch SAM)", default_text="full batch (GD / SAM)")
    num_eigenvalues: int = option(3, "top eigenvalues by magnitude logged")
    eig_tol: float = option(1e-3, "eigensolver residual tolerance, relative to |λ₁|")
    eig_method: str = option("auto", "eigensolver; auto: lanczos on a CPU, krylov on a GPU", choices=EIG_METHODS)
    eig_max_iterations: int = option(100, "eigensolver iteration limit per solve")
    chunk_size: int | None = option(None, "samples per chunk of the Hessian products", default_text="all at once")
    seed: int = option(0, "seed of the minibatch sampler and of the eigensolver's first start")
    checkpoint_every: int = option(500, "write checkpoint.pt every n steps (and on SIGTERM)")
    divergence_factor: float = option(1000.0, "diverged when the loss exceeds this times its initial value")
    dtype: str = option("float64", "floating-point type of weights and data", choices=("float64", "float32"))
    device: str = option("auto", "torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:N")

    def validate(self) -> None:
        def positive_int(name, value, allow_none=False):
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SettingsError(f"setting '{name}' must be a positive integer{' or null' if allow_none else ''}, "
                                    f"got {value!r}")

        if self.experiment not in EXPERIMENTS:
            raise SettingsError(f"setting 'experiment' must be one of {list(EXPERIMENTS)}, got {self.experiment!r}")
        for name in ("lr", "rho", "eig_tol", "divergence_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0 \
                    or (value == 0 and name != "rho"):
                raise SettingsError(f"setting '{name}' must be a {'non-negative' if name == 'rho' else 'positive'} "
                                    f"number, got {value!r}")
        for name in ("steps", "eig_every", "num_eigenvalues", "eig_max_iterations", "checkpoint_every"):
            positive_int(name, getattr(self, name))
        positive_int("batch_size", self.batch_size, allow_none=True)
        positive_int("chunk_size", self.chunk_size, allow_none=True)
        if self.experiment == "transformer" and self.batch_size is None:
            raise SettingsError("the transformer trains on minibatches: setting 'batch_size' must be an integer")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SettingsError(f"setting 'seed' must be a non-negative integer, got {self.seed!r}")
        if self.eig_method not in EIG_METHODS:
            raise SettingsError(f"setting 'eig_method' must be one of {list(EIG_METHODS)}, got {self.eig_method!r}")
        if self.dtype not in ("float64", "float32"):
            raise SettingsError(f"setting 'dtype' must be float64 or float32, got {self.dtype!r}")
        if not isinstance(self.model, dict):
            raise SettingsError(f"setting 'model' must be a mapping, got {self.model!r}")
        unknown = set(self.model) - MODEL_KEYS[self.experiment]
        if unknown:
            raise SettingsError(f"model settings {sorted(unknown)} do not apply to experiment {self.experiment!r}; "
                                f"allowed: {sorted(MODEL_KEYS[self.experiment])}")
        if self.experiment == "mlp" and self.model.get("activation", "relu") not in ACTIVATIONS:
            raise SettingsError(f"model setting 'activation' must be one of {sorted(ACTIVATIONS)}, "
                                f"got {self.model['activation']!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RunSettings":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise SettingsError(f"unknown settings {sorted(unknown)}; expected a subset of {sorted(names)}")
        missing = {f.name for f in dataclasses.fields(cls)
                   if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING} - set(values)
        if missing:
            raise SettingsError(f"missing settings {sorted(missing)}")
        settings = cls(**values)
        settings.validate()
        return settings


class _Preempted(Exception):
    pass


class Problem:
    """The model, criterion and data of one experiment, and how a step's samples are drawn."""

    def __init__(self, settings: RunSettings, data_path: str | os.PathLike, device: torch.device):
        self.settings = settings
        self.device = device
        dtype = torch.float64 if settings.dtype == "float64" else torch.float32
        s, m = settings, settings.model
        if s.experiment == "transformer":
            train_tokens, _, self.card = study_data.load_text_file(data_path)
            seq_len = m.get("seq_len", 64)
            self.tokens = train_tokens
            self.num_samples = shakespeare.num_windows(train_tokens.size, seq_len)
            self.seq_len = seq_len
            self.model_config = {"architecture": "transformer", "vocab_size": shakespeare.VOCAB_SIZE,
                                 **{k: v for k, v in m.items()}, "dtype": s.dtype}
            self.model = build_transformer(self.model_config, device)
            self.criterion = SequenceCrossEntropy()
            self.X = self.y = None
        else:
            arrays, self.card = study_data.load_images_file(data_path)
            self.X = torch.as_tensor(arrays.X, dtype=dtype, device=device)
            self.y = torch.as_tensor(arrays.y, device=device)
            self.num_samples = arrays.num_samples
            if s.experiment == "mlp":
                self.model_config = {"input_dim": arrays.input_dim, "output_dim": arrays.num_classes,
                                     "depth": m.get("depth", 4), "width": m.get("width", 1000),
                                     "activation": m.get("activation", "relu"), "init": "glorot-normal",
                                     "init_seed": m.get("init_seed", 0), "dtype": s.dtype}
                self.model = build_model(self.model_config, device)
            else:
                self.model_config = {"architecture": "convnet", "input_shape": self.card["image_shape"],
                                     "output_dim": arrays.num_classes, **m, "dtype": s.dtype}
                self.model = build_convnet(self.model_config, device)
            self.criterion = MeanSquaredError()
        if s.batch_size is not None and s.batch_size > self.num_samples:
            raise SettingsError(f"batch_size {s.batch_size} exceeds the {self.num_samples} training samples")
        self.objective = Objective(self.model, self.criterion, s.chunk_size)

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The samples of the next step: all of them (full batch) or a fresh minibatch."""
        if self.settings.batch_size is None:
            return self.X, self.y
        indices = minibatch_indices(self.num_samples, self.settings.batch_size, generator)
        if self.X is None:
            X, y = shakespeare.windows(self.tokens, indices.numpy(), self.seq_len)
            return torch.from_numpy(X).to(self.device), torch.from_numpy(y).to(self.device)
        indices = indices.to(self.device)
        return self.X[indices], self.y[indices]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _alignment(gradient: torch.Tensor, vector: torch.Tensor) -> float:
    norm = float(gradient.norm())
    return abs(float(gradient @ vector)) / norm if norm > 0 else math.nan


def train_run(settings: RunSettings, data_path: str | os.PathLike, out_dir: str | os.PathLike,
              progress: bool = True) -> dict[str, Any]:
    """Run (or resume, or recognise as done) one run; returns its status dict.  Holds the run directory's
    lock throughout (:class:`eoslab.rundir.RunBusyError`, exit 2, if another process has it)."""
    settings.validate()
    paths = RunPaths(out_dir)
    device = resolve_device(settings.device)
    problem = Problem(settings, data_path, device)
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.lock("sam_edge train"):
        return _train_run_locked(settings, data_path, paths, device, problem, progress)


def _train_run_locked(settings: RunSettings, data_path, paths: RunPaths, device, problem: "Problem",
                      progress: bool) -> dict[str, Any]:
    eig_method = settings.eig_method
    if eig_method == "auto":  # measured on the CPU: as few products as ARPACK's, and block products are cheaper
        eig_method = "krylov"
    resolved = {**dataclasses.asdict(settings), "data": os.path.abspath(data_path),
                "data_sha256": sha256sum(data_path), "data_source": problem.card.get("source"),
                "num_samples": problem.num_samples, "model_config": problem.model_config,
                "num_parameters": problem.objective.space.numel, "criterion": problem.criterion.name}
    identity = {k: v for k, v in resolved.items() if k not in ("device", "chunk_size", "data", "checkpoint_every")}
    resolved["config_digest"] = _digest(identity)
    if paths.run.exists():
        previous = read_json(paths.run)
        if previous.get("config_digest") != resolved["config_digest"]:
            raise SettingsError(f"{paths.run} describes a different run (settings or data changed); remove "
                                f"{paths.root} or choose another output directory")
        if paths.status.exists() and read_json(paths.status).get("status") in STATUSES_DONE:
            log.info("run in %s is already done; nothing to do", paths.root)
            return read_json(paths.status)
    write_json(paths.run, {**resolved, "eig_method_resolved": eig_method, "device_resolved": str(device),
                           "eoslab_version": __version__, "torch_version": torch.__version__})

    s = settings
    space = problem.objective.space
    sampler = torch.Generator().manual_seed(s.seed)
    eig_generator = torch.Generator().manual_seed(s.seed + 1)
    w = problem.objective.parameters()
    rows: list[dict[str, Any]] = []
    start, block, elapsed, initial_loss = 0, None, 0.0, None
    if paths.checkpoint.exists():
        state = torch.load(paths.checkpoint, map_location="cpu", weights_only=True)
        if state.get("config_digest") != resolved["config_digest"]:
            raise SettingsError(f"{paths.checkpoint} belongs to a different run; remove {paths.root} to start over")
        w = state["parameters"].to(device)
        start, elapsed, initial_loss = int(state["step"]), float(state["seconds"]), state["initial_loss"]
        block = None if state["block"] is None else state["block"].to(device)
        sampler.set_state(state["sampler"])
        eig_generator.set_state(state["eig_generator"])
        rows = [dict(zip(state["columns"], values)) for values in state["rows"]]
        log.info("resuming %s from step %d", paths.root, start)

    def checkpoint(step: int, seconds: float) -> None:
        save_torch(paths.checkpoint, {
            "config_digest": resolved["config_digest"], "parameters": w.detach().cpu(), "step": step,
            "seconds": seconds, "initial_loss": initial_loss, "block": None if block is None else block.cpu(),
            "sampler": sampler.get_state(), "eig_generator": eig_generator.get_state(),
            "columns": LOG_COLUMNS, "rows": [[row[c] for c in LOG_COLUMNS] for row in rows]})

    preempted = {"flag": False}

    def on_sigterm(signum, frame):
        preempted["flag"] = True

    previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    status: dict[str, Any] = {"status": "finished", "message": f"{s.steps} steps"}
    clock = time.perf_counter() - elapsed
    try:
        from tqdm.auto import tqdm

        bar = tqdm(range(start, s.steps), initial=start, total=s.steps, disable=not progress, mininterval=5,
                   desc=f"{s.experiment} η={s.lr:g} ρ={s.rho:g}")
        for t in bar:
            if preempted["flag"]:
                raise _Preempted
            X, y = problem.batch(sampler)
            step = sam_step(w, problem.objective.on(X, y), s.lr, s.rho)
            here, uphill = step.at_iterate, step.at_ascent
            if initial_loss is None:
                initial_loss = here.loss
            row = {"step": t, "loss": here.loss, "accuracy": here.accuracy, "grad_norm": step.grad_norm,
                   "ascent_loss": uphill.loss, "ascent_grad_norm": float(uphill.gradient.norm()),
                   "sam_edge": float(sam_edge(s.lr, s.rho, step.grad_norm)), "gd_edge": float(gd_edge(s.lr)),
                   **{c: math.nan for c in LOG_COLUMNS[9:]}}
            finite = math.isfinite(here.loss) and bool(torch.isfinite(here.gradient).all()) \
                and math.isfinite(uphill.loss) and bool(torch.isfinite(uphill.gradient).all())
            if not finite or here.loss > s.divergence_factor * initial_loss:
                row["seconds"] = time.perf_counter() - clock
                rows.append(row)
                status = {"status": "diverged", "step": t,
                          "message": f"loss {here.loss:.6g} at step {t} (initial {initial_loss:.6g}): "
                                     f"{'not finite' if not finite else f'above {s.divergence_factor:g}× the initial loss'}"}
                break
            if t % s.eig_every == 0 or t == s.steps - 1:
                space.assign(problem.model, w)
                operator = HessianOperator(problem.model, problem.criterion, X, y, chunk_size=s.chunk_size)
                result = top_eigenpairs(operator, s.num_eigenvalues, initial=block, tol=s.eig_tol,
                                        max_iterations=s.eig_max_iterations, method=eig_method, order="magnitude",
                                        generator=eig_generator)
                block = result.block
                values = result.eigenvalues.tolist() + [math.nan] * (3 - s.num_eigenvalues)
                top = result.eigenvectors[:, 0]
                row.update({"lambda_1": values[0], "lambda_2": values[1], "lambda_3": values[2],
                            "eig_matvecs": result.matvecs, "eig_max_residual": float(result.residual_norms.max()),
                            "eig_converged": bool(result.converged), "align_gradient": _alignment(here.gradient, top),
                            "align_ascent": _alignment(uphill.gradient, top)})
                bar.set_postfix(loss=f"{here.loss:.4g}", lam1=f"{abs(values[0]):.4g}", edge=f"{row['sam_edge']:.4g}",
                                refresh=False)
            w = step.parameters
            row["seconds"] = time.perf_counter() - clock
            rows.append(row)
            if (t + 1) % s.checkpoint_every == 0 and t + 1 < s.steps:
                checkpoint(t + 1, time.perf_counter() - clock)
    except _Preempted:
        checkpoint(len(rows), time.perf_counter() - clock)
        write_json(paths.status, {"status": "interrupted", "step": len(rows),
                                  "message": "SIGTERM: checkpoint written; run again to resume"})
        raise SystemExit(143)
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
    frame = pd.DataFrame(rows, columns=LOG_COLUMNS)
    frame["eig_converged"] = frame["eig_converged"].astype("boolean")
    for key, value in (("experiment", s.experiment), ("lr", s.lr), ("rho", s.rho)):
        frame.insert(0, key, value)
    write_parquet(paths.log, frame)
    space.assign(problem.model, w)
    save_torch(paths.final, {"state_dict": problem.model.state_dict(), "model": problem.model_config,
                             "step": len(rows)})
    status.update({"steps_logged": len(rows), "seconds": float(frame["seconds"].iloc[-1]) if len(rows) else 0.0,
                   "final_loss": float(frame["loss"].iloc[-1]) if len(rows) else math.nan})
    write_json(paths.status, status)
    if paths.checkpoint.exists():
        paths.checkpoint.unlink()
    log.info("%s: %s (%s)", paths.root, status["status"], status["message"])
    return status


def read_log(run_dir: str | os.PathLike) -> pd.DataFrame:
    path = RunPaths(run_dir).log
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; train the run first (eoslab study sam_edge train)")
    return pd.read_parquet(path)

"""Full-batch training by exponential Euler (Supplement 7.2) or gradient descent.

One run writes into its output directory::

    run.json              fully resolved configuration, data path and sha256
    log.parquet           one row per iteration (columns: see _log_columns)
    snapshots/NNNNNNN.pt  {"state_dict", "model", "iteration", "t"} every snapshot_every iterations
    checkpoint.pt         state to resume from (weights, iteration, t, eigen warm start);
                          removed when the run finishes
    status.json           running / converged / diverged / max_iterations / interrupted / failed, with a message

Iteration ``u`` of the loop, at parameters ``θ_u`` and integration time ``t_u``:
compute the loss, accuracy and gradient over the whole training set; stop if
the loss is not finite (diverged) or has reached the threshold (converged);
otherwise compute the top ``k+1`` Hessian eigenpairs (warm-started from
iteration ``u−1``), take one step and advance ``t`` by ``Δt``.  The log row of
iteration ``u`` holds the quantities at ``θ_u`` and the ``Δt`` taken from it.

Resume: ``checkpoint.pt`` and ``log.parquet`` are written (atomically, log first)
every ``checkpoint_every`` iterations, and on SIGTERM (preemption).  Rerunning
the same command loads the checkpoint, drops log rows past it and continues; on
the CPU the result is bit-identical to an uninterrupted run because every
random choice is seeded and the eigensolvers' warm-start blocks (top pairs and
``λ_min``) are checkpointed.  On a GPU the same holds only as far as the kernels
are deterministic: the MLP's matmuls, elementwise ops and reductions are on one
device with a fixed ``CUBLAS_WORKSPACE_CONFIG`` (``:4096:8``, set by
``benchmarks/gpu_suite.sh``), but cuBLAS/cuDNN may choose other algorithms
after a restart on another GPU model or driver, so a resumed CUDA run is
guaranteed to agree to rounding, not to the bit (benchmarks/README.md, "CUDA").

Faults (docs/reliability.md): the trainer holds the run directory's lock
(:class:`eoslab.rundir.RunLock`) while it works, so a second trainer on the same
run stops at once (exit 2).  A ``checkpoint.pt`` that cannot be read (truncated
by a full disk, a copy interrupted, ...) or that is missing while the run has
progressed is not a reason to start silently from iteration 0: the run resumes
from the newest intact snapshot whose log rows ``log.parquet`` still holds
(snapshots hold neither the eigensolvers' warm-start blocks nor log rows: the
rows are rebuilt from the log and the eigensolvers restart cold, so that resume
agrees with an uninterrupted run to the eigensolver tolerance, not to the bit),
or from the start if there is none; the reason is logged and kept in
``status.json`` (``resumed``).  ``status.json`` is rewritten whenever the
process ends in Python (``failed`` with the error), and at every checkpoint while
it runs (``running`` with the checkpoint's iteration); after a SIGKILL it can only
say ``running``, and the next trainer, finding ``running`` and no lock holder,
records that the previous process died and the iteration of its last checkpoint
(``status.json``: ``previous``).

Per iteration the loop reads a few scalars back to the host (loss, gradient
norm, the eigenvalues and residuals for the log, ``Δt``); the Hessian products
themselves never leave the device.  ``eig_method: lanczos`` (ARPACK) is the
exception: it runs on the host and copies one vector each way per product.

``λ_min`` (log column ``lambda_min``): every ``lambda_min_every``-th iteration
that computes the top eigenpairs, a warm-started Lanczos on ``−𝓗`` off the top
``k+1`` eigenvectors (:func:`eoslab.eigensolvers.bottom_eigenpair`) with at
most ``lambda_min_max_products`` products; the logged value is the smaller of
it and the smallest top eigenvalue.  ``|λ_min| > λ_1`` is the event in which
the paper's power iteration (top eigenvalues by magnitude, Supplement 7.1)
returns a negative top eigenvalue.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass
from typing import Any, Iterator

import pandas as pd
import torch
from tqdm.auto import tqdm

from . import __version__
from .arrays import ArrayData, load_arrays
from .criteria import CRITERIA, PAPER_LOSS_THRESHOLDS, get_criterion
from .curvature import HessianOperator
from .eigensolvers import ORDERS, bottom_eigenpair, top_eigenpairs
from .integrators import CAPS, exponential_euler_step, gradient_descent_step
from .io import read_json, remove_stale_temporaries, save_torch, sha256sum, write_json, write_parquet
from .models import (ACTIVATIONS, DEFAULT_GAINS, DTYPES, INITIALISATIONS, MODEL_DEFAULTS, build_model,
                     resolve_model_config)
from .rundir import RunLock, RunPaths
from .settings import ConfigError, config_from_dict, option

log = logging.getLogger(__name__)

INTEGRATORS = ("exponential_euler", "gradient_descent")
#: Lanczos steps spent on λ_min every time even from a good warm start (see bottom_eigenpair): its tolerance
#: is relative to |λ_1|, which a bulk vector can meet, and a few steps let a new large negative eigenvalue show.
LAMBDA_MIN_MIN_PRODUCTS = 4
EIG_METHODS = ("auto", "krylov", "lanczos", "lobpcg")


def resolve_eig_method(name: str, device: torch.device) -> str:
    """``auto``: ARPACK Lanczos on a CPU, where single products cost about as much per
    column as blocks and Lanczos needs the fewest (benchmarks/README.md); the block
    Krylov solver on a GPU, where products of many columns at once are far cheaper."""
    if name != "auto":
        return name
    return "krylov" if device.type == "cuda" else "lanczos"


#: Statuses of a run that has ended normally (its snapshots and log are complete).
FINISHED_STATUSES = ("converged", "max_iterations")


def _gain_text(gain: float) -> str:
    known = {math.sqrt(2.0): "√2", 5.0 / 3.0: "5/3"}
    return next((text for value, text in known.items() if math.isclose(gain, value)), f"{gain:g}")


@dataclass
class TrainConfig:
    """Everything that determines a training run (stored resolved in ``run.json``)."""

    data: str = option(dataclasses.MISSING, "training data file (.npz written by 'eoslab data subset'); "
                       "required, as --data or as 'data' in --config")
    criterion: str = option("cross_entropy", "training loss (mse: mean over outputs against one-hot targets)",
                            choices=tuple(CRITERIA))
    # model (see eoslab.models.MODEL_DEFAULTS)
    depth: int = option(MODEL_DEFAULTS["depth"], "number L of linear layers of the MLP")
    width: int = option(MODEL_DEFAULTS["width"], "units per hidden layer")
    activation: str = option(MODEL_DEFAULTS["activation"], "activation function σ of the hidden layers",
                             choices=tuple(ACTIVATIONS))
    init: str = option(MODEL_DEFAULTS["init"], "weight initialisation: xavier (Glorot uniform times the gain, zero "
                       "biases) or torch-default (PyTorch's nn.Linear)", choices=INITIALISATIONS)
    gain: float | None = option(None, "xavier gain", default_text="by activation: " + ", ".join(
        f"{name} {_gain_text(gain)}" for name, gain in DEFAULT_GAINS.items()))
    init_seed: int = option(0, "seed of the weight initialisation")
    dtype: str = option("float64", "floating-point type of weights and data", choices=tuple(DTYPES))
    # dynamics
    integrator: str = option("exponential_euler", "exponential_euler (the gradient flow, Supplement 7.2) or "
                             "gradient_descent", choices=INTEGRATORS)
    lr: float = option(1.0, "η: the cap on the time step Δt (exponential Euler) or the step size (gradient descent)")
    loss_threshold: float | None = option(None, "stop (converged) once the training loss is at most this",
                                          default_text="by criterion, the paper's: " + ", ".join(
                                              f"{name} {value}" for name, value in PAPER_LOSS_THRESHOLDS.items()))
    max_iterations: int = option(100_000, "stop (status max_iterations) after this many iterations")
    num_eigenpairs: int | None = option(None, "k: top Hessian eigenpairs the exponential Euler step integrates "
                                        "exactly", default_text="the number of outputs O, the paper's choice")
    eig_tol: float = option(1e-6, "eigensolver residual tolerance, relative to |λ₁|")
    eig_method: str = option("auto", "eigensolver; auto: lanczos on a CPU, krylov on a GPU", choices=EIG_METHODS)
    eig_order: str = option("algebraic", "which k+1 Hessian eigenpairs the step uses: algebraic (the largest λ) or "
                            "magnitude (the largest |λ|, as the paper's power iteration finds them; Δt from "
                            "|λ_{k+1}|)", choices=ORDERS)
    stiff_cap: str = option("lr", "cap on the stiff step coefficients φ(λ_m, Δt): lr (η, Supplement 7.2) or dt "
                            "(Δt, as the authors' stable-solvers library does)", choices=CAPS)
    lambda_min_every: int = option(1, "log λ_min of the Hessian (Lanczos on −𝓗 off the top eigenvectors) at every "
                                   "n-th iteration that computes the top eigenpairs (0: never)")
    lambda_min_tol: float = option(1e-3, "λ_min residual tolerance, relative to |λ₁|")
    lambda_min_max_products: int = option(20, "at most this many Hessian products per λ_min estimate")
    reuse_graph: bool = option(True, "share one forward/backward pass per iteration between the gradient and the "
                               "Hessian products (keeps every chunk's graph alive during the iteration)")
    eig_max_iterations: int = option(100, "eigensolver iteration limit per training iteration")
    eig_guard: int = option(2, "krylov/lobpcg: extra block columns carried beside the k+1 wanted pairs (guard "
                            "vectors); 0 is cheapest at loose eig_tol (benchmarks/README.md)")
    eig_every: int = option(1, "gradient descent only: log the top eigenvalues every n iterations (0: never)")
    eig_seed: int = option(0, "seed of the eigensolver's first start block")
    # output
    snapshot_every: int = option(100, "save the weights every n iterations (snapshots/)")
    transient_snapshot: int | None = option(None, "also save the weights at this iteration (the end of the "
                                            "initial transient, Section 5)", default_text="none")
    checkpoint_every: int = option(20, "write checkpoint.pt and log.parquet every n iterations (and on SIGTERM)")
    chunk_size: int = option(1024, "samples per chunk of the Hessian products (memory against speed)")
    device: str = option("auto", "torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:N")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        return config_from_dict(cls, values, "training")

    def validate(self) -> None:
        ints = ("depth", "width", "init_seed", "max_iterations", "eig_max_iterations", "eig_every", "eig_seed",
                "snapshot_every", "checkpoint_every", "chunk_size", "lambda_min_every", "lambda_min_max_products",
                "eig_guard")
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"training config '{name}' must be a non-negative integer, got {value!r}")
        for name in ("snapshot_every", "checkpoint_every", "chunk_size", "eig_max_iterations", "lambda_min_max_products"):
            if getattr(self, name) < 1:
                raise ConfigError(f"training config '{name}' must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "eig_tol", "lambda_min_tol"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"training config '{name}' must be a positive number, got {value!r}")
        if self.transient_snapshot is not None and (isinstance(self.transient_snapshot, bool)
                                                    or not isinstance(self.transient_snapshot, int)
                                                    or self.transient_snapshot < 0):
            raise ConfigError(f"training config 'transient_snapshot' must be a non-negative integer or null, "
                              f"got {self.transient_snapshot!r}")
        if self.loss_threshold is not None and (not isinstance(self.loss_threshold, (int, float))
                                                or self.loss_threshold < 0):
            raise ConfigError(f"training config 'loss_threshold' must be a non-negative number or null, "
                             f"got {self.loss_threshold!r}")
        if self.criterion not in CRITERIA:
            raise ConfigError(f"training config 'criterion' must be one of {sorted(CRITERIA)}, got {self.criterion!r}")
        if self.integrator not in INTEGRATORS:
            raise ConfigError(f"training config 'integrator' must be one of {list(INTEGRATORS)}, "
                             f"got {self.integrator!r}")
        if self.num_eigenpairs is not None and (isinstance(self.num_eigenpairs, bool)
                                                or not isinstance(self.num_eigenpairs, int)
                                                or self.num_eigenpairs < 1):
            raise ConfigError(f"training config 'num_eigenpairs' must be a positive integer or null, "
                             f"got {self.num_eigenpairs!r}")
        if self.eig_method not in EIG_METHODS:
            raise ConfigError(f"training config 'eig_method' must be one of {list(EIG_METHODS)}, "
                              f"got {self.eig_method!r}")
        if self.eig_order not in ORDERS:
            raise ConfigError(f"training config 'eig_order' must be one of {list(ORDERS)}, got {self.eig_order!r}")
        if self.stiff_cap not in CAPS:
            raise ConfigError(f"training config 'stiff_cap' must be one of {list(CAPS)}, got {self.stiff_cap!r}")
        if not isinstance(self.reuse_graph, bool):
            raise ConfigError(f"training config 'reuse_graph' must be true or false, got {self.reuse_graph!r}")
        if not isinstance(self.device, str):
            raise ConfigError(f"training config 'device' must be a string, got {self.device!r}")

    def model_config(self, input_dim: int, output_dim: int) -> dict[str, Any]:
        try:
            return resolve_model_config({
                "input_dim": input_dim, "output_dim": output_dim, "depth": self.depth, "width": self.width,
                "activation": self.activation, "init": self.init, "gain": self.gain, "init_seed": self.init_seed,
                "dtype": self.dtype})
        except (TypeError, ValueError) as error:
            raise ConfigError(str(error)) from error


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def compute_environment(device: torch.device | None = None) -> dict[str, Any]:
    """What, besides the settings, changes a run's numbers: torch's thread counts (a reduction split
    over more threads sums in another order, so 1 and 2 threads give runs that differ in the last bits
    and then, through the eigensolver's iteration counts, by whole iterations), the BLAS torch and
    numpy use, the device and its name.  Recorded in ``run.json``; no new dependency (threadpoolctl
    only if installed)."""
    import platform

    info: dict[str, Any] = {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
                            "thread_env": {name: os.environ.get(name) for name in
                                           ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
                            "python_version": platform.python_version(), "machine": platform.machine()}
    config = torch.__config__.show()
    settings = {}
    for line in config.splitlines():
        if "Build settings:" in line:
            for item in line.split("Build settings:", 1)[1].split(","):
                key, _, value = item.strip().partition("=")
                if key in ("BLAS_INFO", "LAPACK_INFO", "USE_MKL", "USE_MKLDNN", "USE_OPENMP", "USE_CUDA"):
                    settings[key] = value
    info["torch_blas"] = settings.get("BLAS_INFO")
    info["torch_lapack"] = settings.get("LAPACK_INFO")
    info["torch_build"] = settings
    info["torch_libraries"] = [line.strip(" -") for line in config.splitlines()
                               if "Math Kernel Library" in line or "OpenBLAS" in line or "MKL-DNN" in line
                               or "OpenMP" in line]
    info["parallel_backend"] = next((line.split(":", 1)[1].strip() for line in torch.__config__.parallel_info()
                                     .splitlines() if line.startswith("ATen parallel backend")), None)
    try:
        import numpy

        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["numpy_version"] = numpy.__version__
        info["numpy_blas"] = {k: blas.get(k) for k in ("name", "version", "openblas configuration") if blas.get(k)}
    except Exception:  # older numpy has no mode="dicts"
        pass
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [{k: pool.get(k) for k in ("internal_api", "version", "num_threads", "prefix")}
                               for pool in threadpool_info()]
    except Exception:  # not installed
        pass
    if device is not None:
        info["device_name"] = (torch.cuda.get_device_name(device) if device.type == "cuda"
                               else (platform.processor() or platform.machine()))
        if device.type == "cuda":
            info["cuda_version"] = torch.version.cuda
            info["cudnn_version"] = torch.backends.cudnn.version()
    return info


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


class _Preempted(Exception):
    pass


@dataclass
class _Setup:
    """What one run is: its settings resolved against its data (``run.json``) and where it runs."""

    config: TrainConfig
    paths: RunPaths
    data: ArrayData
    device: torch.device
    model_config: dict[str, Any]
    criterion: Any
    threshold: float
    k: int
    eig_method: str
    resolved: dict[str, Any]
    runtime: dict[str, Any]


def _resolve(config: TrainConfig, paths: RunPaths) -> _Setup:
    data = load_arrays(config.data)
    device = resolve_device(config.device)
    model_config = config.model_config(data.input_dim, data.num_classes)
    threshold = PAPER_LOSS_THRESHOLDS[config.criterion] if config.loss_threshold is None else config.loss_threshold
    k = config.num_eigenpairs or data.num_classes
    resolved = {
        **dataclasses.asdict(config),
        "data": os.path.abspath(config.data),
        "data_sha256": sha256sum(config.data),
        "num_samples": data.num_samples,
        "num_classes": data.num_classes,
        "loss_threshold": threshold,
        "num_eigenpairs": k,
        "model": model_config,
    }
    # What a resumed run must agree on (device/chunking change rounding, not the run).
    identity = {key: value for key, value in resolved.items()
                if key not in ("device", "chunk_size", "data", "reuse_graph")}
    resolved["config_digest"] = _digest(identity)
    eig_method = resolve_eig_method(config.eig_method, device)
    runtime = {"eoslab_version": __version__, "torch_version": torch.__version__, "device": str(device),
               "eig_method_resolved": eig_method, **compute_environment(device)}
    return _Setup(config, paths, data, device, model_config, get_criterion(config.criterion), threshold, k,
                  eig_method, resolved, runtime)


def _finished_status(setup: _Setup) -> dict[str, Any] | None:
    """The status of an earlier run in this directory if it finished; ConfigError if it was another run."""
    paths = setup.paths
    if not paths.run.exists():
        return None
    previous = read_json(paths.run)
    if previous.get("config_digest") != setup.resolved["config_digest"]:
        raise ConfigError(f"{paths.run} describes a different run (config or data changed); "
                          f"remove {paths.root} or choose another output directory")
    if paths.status.exists():
        status = read_json(paths.status)
        if status.get("status") in FINISHED_STATUSES + ("diverged",):
            return status
    return None


@dataclass
class _State:
    """The trajectory so far: what a checkpoint holds (weights, iteration, t, the eigensolvers' warm
    starts, the log rows) and the objects that compute on it."""

    model: torch.nn.Module
    hessian: HessianOperator
    theta: torch.Tensor
    generator: torch.Generator
    iteration: int = 0
    t: float = 0.0
    block: torch.Tensor | None = None
    min_block: torch.Tensor | None = None
    rows: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: How this process started when not from a checkpoint of a run in progress: {"from", "iteration", "reason"}.
    resumed: dict[str, Any] | None = None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: " + (text.splitlines()[0][:200] if text else "(no message)")


def _read_checkpoint(setup: _Setup) -> tuple[dict | None, str | None]:
    """``(checkpoint, None)``, or ``(None, why)`` when there is none or it cannot be read."""
    paths = setup.paths
    if not paths.checkpoint.exists():
        return None, f"{paths.checkpoint} is missing"
    try:
        saved = torch.load(paths.checkpoint, map_location=setup.device, weights_only=True)
        for key in ("state_dict", "iteration", "t", "block"):
            saved[key]
    except Exception as error:  # truncated zip, unpickling errors, a non-dict: all mean unreadable
        reason = f"{paths.checkpoint} is unreadable ({_first_line(error)})"
        corrupt = paths.checkpoint.with_name(paths.checkpoint.name + ".corrupt")
        os.replace(paths.checkpoint, corrupt)
        log.error("%s; moved to %s", reason, corrupt.name)
        return None, reason
    if saved.get("config_digest") != setup.resolved["config_digest"]:
        raise ConfigError(f"{paths.checkpoint} belongs to a different run; remove {paths.root} to start over")
    return saved, None


def _logged_rows(paths: RunPaths, before: int) -> list[dict[str, Any]] | None:
    """The log rows of iterations ``< before`` if ``log.parquet`` holds all of them, else None."""
    if before == 0:
        return []
    try:
        logged = pd.read_parquet(paths.log)
    except Exception:  # missing or unreadable
        return None
    rows = logged[logged["iteration"] < before].to_dict("records")
    return rows if len(rows) == before and [r["iteration"] for r in rows] == list(range(before)) else None


def _newest_intact_snapshot(setup: _Setup, model: torch.nn.Module) -> tuple[int, float, list, str] | None:
    """The newest snapshot past iteration 0 that loads and whose log rows ``log.parquet`` holds:
    ``(iteration, t, rows, name)`` with its weights loaded into ``model``; None if there is none."""
    paths = setup.paths
    for path in sorted(paths.snapshots.glob("*.pt"), reverse=True):
        try:
            snapshot = torch.load(path, map_location=setup.device, weights_only=True)
            iteration, t = int(snapshot["iteration"]), float(snapshot["t"])
            if iteration == 0:
                return None
            rows = _logged_rows(paths, iteration)
            if rows is None:
                log.info("snapshot %s: log.parquet lacks its rows, trying an older one", path.name)
                continue
            model.load_state_dict(snapshot["state_dict"])
        except Exception as error:
            log.error("snapshot %s of %s is unreadable (%s); trying an older one", path.name, paths.root,
                      _first_line(error))
            continue
        if not all(torch.isfinite(v).all() for v in snapshot["state_dict"].values()):
            continue
        return iteration, t, rows, path.name
    return None


def _start_or_resume(setup: _Setup) -> _State:
    """A new trajectory at the seeded initial weights (snapshot 0), the checkpointed one, or — when the
    checkpoint is unreadable, or missing although the run has progressed — the newest intact snapshot
    (``state.resumed`` says which and why)."""
    config, paths = setup.config, setup.paths
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    X = torch.as_tensor(setup.data.X, dtype=dtype, device=setup.device)
    y = torch.as_tensor(setup.data.y, device=setup.device)
    model = build_model(setup.model_config, device=setup.device)
    hessian = HessianOperator(model, setup.criterion, X, y, chunk_size=config.chunk_size,
                              reuse_graph=config.reuse_graph)
    state = _State(model, hessian, theta=None, generator=torch.Generator().manual_seed(config.eig_seed))
    progressed = paths.log.exists() or any(p.name != "0000000.pt" for p in paths.snapshots.glob("*.pt"))
    saved, why = _read_checkpoint(setup) if (paths.checkpoint.exists() or progressed) else (None, None)
    if saved is not None:
        model.load_state_dict(saved["state_dict"])
        state.iteration, state.t, state.block = int(saved["iteration"]), float(saved["t"]), saved["block"]
        state.min_block = saved.get("min_block")
        if paths.log.exists():
            logged = pd.read_parquet(paths.log)
            state.rows = logged[logged["iteration"] < state.iteration].to_dict("records")
        if len(state.rows) != state.iteration:
            raise RuntimeError(f"{paths.log} holds {len(state.rows)} rows before iteration {state.iteration} "
                               f"but the checkpoint expects {state.iteration}; remove {paths.root} to start over")
        log.info("resuming %s from iteration %d (t = %.6g)", paths.root, state.iteration, state.t)
    elif why is not None:
        found = _newest_intact_snapshot(setup, model)
        if found is not None:
            state.iteration, state.t, state.rows, name = found
            state.resumed = {"from": f"snapshots/{name}", "iteration": state.iteration, "reason": why}
            log.warning("%s: %s; resuming from the newest intact snapshot %s (iteration %d, t = %.6g) with the "
                        "log rows before it from log.parquet; the eigensolvers' warm start is not in a snapshot, "
                        "so they restart cold (the continuation agrees with an uninterrupted run to the "
                        "eigensolver tolerance, not to the bit)", paths.root, why, name, state.iteration, state.t)
        else:
            model = build_model(setup.model_config, device=setup.device)
            state.model = model
            state.hessian = hessian = HessianOperator(model, setup.criterion, X, y, chunk_size=config.chunk_size,
                                                      reuse_graph=config.reuse_graph)
            state.resumed = {"from": "start", "iteration": 0, "reason": why + "; no intact snapshot past iteration "
                             "0 with its log rows"}
            log.warning("%s: %s and no intact snapshot past iteration 0 has its log rows; starting over from "
                        "iteration 0", paths.root, why)
        # Snapshots and log rows past the resume point belong to the abandoned continuation.
        for path in paths.snapshots.glob("*.pt"):
            if int(path.stem) > state.iteration:
                path.unlink()
        if state.iteration == 0:
            paths.log.unlink(missing_ok=True)
            _save_snapshot(paths, model, setup.model_config, 0, 0.0)
    else:
        _save_snapshot(paths, model, setup.model_config, 0, 0.0)
    hessian.refresh()
    space = hessian.space
    state.theta = space.flatten(space.values(model))
    return state


class _Recorder:
    """Writes what a run leaves on disk: the log, the checkpoint, snapshots and ``status.json``."""

    def __init__(self, setup: _Setup, state: _State, extra: dict[str, Any] | None = None):
        self.setup, self.state = setup, state
        self.started = time.time()
        self.extra = dict(extra or {})

    def write_log(self) -> None:
        write_parquet(self.setup.paths.log, pd.DataFrame(self.state.rows, columns=_log_columns(self.setup.k)))

    def save_checkpoint(self) -> None:
        state = self.state
        self.write_log()
        save_torch(self.setup.paths.checkpoint, {
            "state_dict": state.model.state_dict(), "iteration": state.iteration, "t": state.t,
            "block": state.block, "min_block": state.min_block,
            "config_digest": self.setup.resolved["config_digest"]})

    def save_snapshot(self) -> None:
        _save_snapshot(self.setup.paths, self.state.model, self.setup.model_config, self.state.iteration,
                       self.state.t)

    def write_status(self, status: str, message: str, row: dict | None = None) -> dict[str, Any]:
        result = {"status": status, "message": message, "iteration": self.state.iteration, "t": self.state.t,
                  "loss": None if row is None else row["loss"], "wall_seconds": time.time() - self.started,
                  "pid": os.getpid()}
        result.update(self.extra)
        write_json(self.setup.paths.status, result)
        return result

    #: Kept in every status.json this process writes: how it started (``resumed``) and what it found of the
    #: process before it (``previous``).
    extra: dict[str, Any] = {}
    #: The message of ``running`` (rewritten with the iteration at every checkpoint).
    running_message: str = "training"


@contextlib.contextmanager
def _sigterm_flag() -> Iterator[dict[str, bool]]:
    """While inside, SIGTERM (preemption) only sets ``flag["set"]``; the loop checkpoints and exits
    143 after the iteration it is in.  Outside the main thread no handler can be installed."""
    flag = {"set": False}

    def on_sigterm(signum, frame):
        flag["set"] = True

    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, on_sigterm)
        installed = True
    except ValueError:  # signal handlers can only be installed from the main thread
        installed = False
    try:
        yield flag
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous)


def _evaluate(setup: _Setup, state: _State, need_eigen: bool):
    """Loss, accuracy and gradient at ``θ_u`` and the iteration's log row (eigen columns unset)."""
    # One forward/backward pass serves the gradient and this iteration's products (if any).
    state.hessian.reuse_graph = setup.config.reuse_graph and need_eigen
    result = state.hessian.loss_and_gradient()
    grad_norm = float(result.gradient.norm())
    row = {"iteration": state.iteration, "t": state.t, "dt": math.nan, "loss": result.loss,
           "accuracy": result.accuracy, "grad_norm": grad_norm}
    row.update({f"lambda_{j + 1}": math.nan for j in range(setup.k + 1)})
    row.update({"eig_iterations": 0, "eig_matvecs": 0, "eig_max_residual": math.nan, "eig_converged": True,
                "lambda_min": math.nan, "lambda_min_residual": math.nan, "lambda_min_matvecs": 0,
                "lambda_min_converged": True})
    return result, row


def _top_eigenpairs(setup: _Setup, state: _State, row: dict[str, Any]):
    """The top ``k+1`` Hessian eigenpairs at ``θ_u`` (warm-started) and, every ``lambda_min_every``-th
    time, ``λ_min``; both recorded in ``row``."""
    config = setup.config
    eig = top_eigenpairs(state.hessian, setup.k + 1, initial=state.block, tol=config.eig_tol,
                         method=setup.eig_method, max_iterations=config.eig_max_iterations,
                         generator=state.generator, order=config.eig_order, guard=config.eig_guard)
    state.block = eig.block
    row.update({f"lambda_{j + 1}": float(v) for j, v in enumerate(eig.eigenvalues)})
    row.update({"eig_iterations": eig.iterations, "eig_matvecs": eig.matvecs,
                "eig_max_residual": float(eig.residual_norms.max()), "eig_converged": eig.converged})
    if not eig.converged:
        log.warning("iteration %d: eigensolver stopped after %d iterations with max residual %.3g "
                    "(tolerance %.3g relative to |lambda_1| = %.3g)", state.iteration, eig.iterations,
                    row["eig_max_residual"], config.eig_tol, abs(row["lambda_1"]))
    if config.lambda_min_every > 0 and state.iteration % config.lambda_min_every == 0:
        bottom = bottom_eigenpair(state.hessian, initial=state.min_block, deflate=eig.eigenvectors,
                                  tol=config.lambda_min_tol, scale=abs(row["lambda_1"]),
                                  max_products=config.lambda_min_max_products,
                                  min_products=min(LAMBDA_MIN_MIN_PRODUCTS, config.lambda_min_max_products),
                                  generator=state.generator)
        state.min_block = bottom.block
        row.update(_lambda_min_columns(bottom, eig))
    return eig


def _take_step(setup: _Setup, state: _State, gradient: torch.Tensor, eig, row: dict[str, Any]) -> None:
    """``θ_{u+1}`` by exponential Euler (Supplement 7.2) or gradient descent; advance ``u`` and ``t``."""
    config = setup.config
    if config.integrator == "exponential_euler":
        state.theta, info = exponential_euler_step(state.theta, gradient, eig.eigenvalues,
                                                   eig.eigenvectors[:, :setup.k], config.lr,
                                                   order=config.eig_order, cap=config.stiff_cap)
    else:
        state.theta, info = gradient_descent_step(state.theta, gradient, config.lr)
    state.hessian.space.assign(state.model, state.theta)
    state.hessian.refresh()
    row["dt"] = info.dt
    state.rows.append(row)
    state.iteration += 1
    state.t += info.dt


def _step_loop(setup: _Setup, state: _State, recorder: _Recorder, preempted: dict[str, bool], bar) -> dict[str, Any]:
    """Iterate until the run converges, reaches ``max_iterations`` (returns the final status),
    diverges (raises :class:`TrainingDiverged`) or is preempted (raises ``_Preempted``)."""
    config = setup.config
    while True:
        need_eigen = config.integrator == "exponential_euler" or (
            config.eig_every > 0 and state.iteration % config.eig_every == 0)
        result, row = _evaluate(setup, state, need_eigen)
        if not (math.isfinite(result.loss) and math.isfinite(row["grad_norm"])):
            state.rows.append(row)
            message = (f"training loss became {result.loss} (gradient norm {row['grad_norm']}) at iteration "
                       f"{state.iteration}, t = {state.t:.6g}; the run diverged")
            recorder.write_log()
            recorder.save_snapshot()
            recorder.write_status("diverged", message, row)
            raise TrainingDiverged(message)
        if result.loss <= setup.threshold or state.iteration >= config.max_iterations:
            state.rows.append(row)
            status = "converged" if result.loss <= setup.threshold else "max_iterations"
            message = (f"training loss {result.loss:.6g} <= {setup.threshold} at iteration {state.iteration}"
                       if status == "converged" else
                       f"reached max_iterations = {config.max_iterations} with loss {result.loss:.6g}")
            recorder.save_snapshot()
            recorder.write_log()
            final = recorder.write_status(status, message, row)
            # The checkpoint holds the eigensolver's warm-start block (P × (k+3) values,
            # ~270 MB at paper size); a finished run needs only its log and snapshots.
            setup.paths.checkpoint.unlink(missing_ok=True)
            setup.paths.checkpoint.with_name(setup.paths.checkpoint.name + ".corrupt").unlink(missing_ok=True)
            log.info("%s: %s", setup.paths.root, message)
            return final
        eig = _top_eigenpairs(setup, state, row) if need_eigen else None
        _take_step(setup, state, result.gradient, eig, row)
        bar.update(1)
        bar.set_postfix(loss=f"{result.loss:.4g}", lam1=f"{row['lambda_1']:.4g}", t=f"{state.t:.4g}",
                        refresh=False)
        if state.iteration % config.snapshot_every == 0 or state.iteration == config.transient_snapshot:
            recorder.save_snapshot()
        if state.iteration % config.checkpoint_every == 0:
            recorder.save_checkpoint()
            # status.json follows the checkpoints, so that it says how far a trainer got if it dies
            # (SIGKILL, out of memory, lost node) and the next one records that (``previous``).
            recorder.write_status("running", recorder.running_message)
        if preempted["set"]:
            raise _Preempted()


def train(config: TrainConfig, out_dir: str | os.PathLike, progress: bool = True) -> dict[str, Any]:
    """Run (or resume, or recognise as finished) one training run; return its final status dict.

    Holds the run directory's lock throughout (:class:`eoslab.rundir.RunBusyError` if another process
    has it).  Raises :class:`TrainingDiverged` after recording a diverged run in ``status.json`` (a
    rerun returns that status at once); on SIGTERM writes a checkpoint, records ``interrupted`` and
    exits 143; any other error is recorded as ``failed``.  If the process failed before it wrote
    anything worth keeping (no ``run.json``), a run directory it created is removed again.
    """
    config.validate()
    paths = RunPaths(out_dir)
    # The topmost directory of out_dir this process creates (None if out_dir exists): a failed start
    # removes it again if empty, parents included (``--out b/never`` must not leave an empty b/).
    created = next((p for p in reversed([paths.root, *paths.root.parents]) if not p.exists()), None)
    paths.root.mkdir(parents=True, exist_ok=True)
    try:
        lock = paths.lock("train").acquire()
    except BaseException:
        _remove_if_empty(paths.root, created)
        raise
    try:
        return _train_locked(config, paths, progress, lock)
    except BaseException:
        if not paths.run.exists():
            lock.release()
            _remove_if_empty(paths.root, created, also=(paths.lock_file,))
        raise
    finally:
        lock.release()


def _remove_if_empty(root, created: os.PathLike | None, also=()) -> None:
    """Remove a run directory this process created if it holds nothing but ``also``, and the empty
    parents up to ``created``, the topmost directory it created (a failed start should not leave an
    empty output folder behind)."""
    if created is None or not root.exists():
        return
    leftovers = [p for p in root.rglob("*") if p not in also and not p.is_dir()]
    if not leftovers:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        parent = root
        while parent != created and created in parent.parents:
            parent = parent.parent
            try:
                parent.rmdir()   # only if empty
            except OSError:
                break


def _train_locked(config: TrainConfig, paths: RunPaths, progress: bool, lock: RunLock) -> dict[str, Any]:
    # A SIGKILL during an atomic write leaves its temporary file; the run directory is this job's alone
    # (it holds the lock).
    for stale in remove_stale_temporaries(paths.root):
        log.info("%s: removed %s, left by an interrupted write", paths.root, stale.name)
    setup = _resolve(config, paths)
    finished = _finished_status(setup)
    if finished is not None:
        log.info("run in %s already finished (%s); nothing to do", paths.root, finished["status"])
        if finished["status"] == "diverged":
            raise TrainingDiverged(finished["message"])
        return finished
    extra: dict[str, Any] = {}
    previous = read_json(paths.status) if paths.status.exists() else None
    if previous is not None and previous.get("status") == "running":
        # We hold the lock, so the process that wrote "running" is gone without recording its end.
        holder = lock.previous or {}
        extra["previous"] = {"status": "died", "iteration": previous.get("iteration"),
                             "pid": previous.get("pid", holder.get("pid")), "host": holder.get("host"),
                             "message": "the previous process ended while running without recording it "
                                        "(killed by SIGKILL, out of memory or a lost node)"}
        log.warning("%s: status.json said 'running' but no process holds the run: the previous trainer "
                    "(PID %s) died without recording its end", paths.root, extra["previous"]["pid"])
    write_json(paths.run, {**setup.resolved, **setup.runtime})
    recorder = None
    try:
        state = _start_or_resume(setup)
        if state.resumed is not None:
            extra["resumed"] = state.resumed
        recorder = _Recorder(setup, state, extra)
        recorder.running_message = ("training" if state.resumed is None else
                                    f"training; resumed from {state.resumed['from']} because "
                                    f"{state.resumed['reason']}")
        recorder.write_status("running", recorder.running_message)
    except BaseException as error:
        failed = {"status": "failed", "message": f"{type(error).__name__}: {error}", "pid": os.getpid(), **extra}
        write_json(paths.status, failed)
        raise
    with _sigterm_flag() as preempted, tqdm(total=config.max_iterations, initial=state.iteration,
                                           disable=not progress, desc=paths.root.name, mininterval=1.0,
                                           dynamic_ncols=True) as bar:
        try:
            return _step_loop(setup, state, recorder, preempted, bar)
        except TrainingDiverged:
            raise
        except _Preempted:
            recorder.save_checkpoint()
            recorder.write_status("interrupted", f"SIGTERM received; checkpoint written at iteration "
                                                 f"{state.iteration}")
            log.warning("SIGTERM: checkpoint written at iteration %d; rerun the same command to resume",
                        state.iteration)
            raise SystemExit(143)
        except BaseException as error:
            recorder.write_status("failed", f"{type(error).__name__}: {error}")
            raise


def _log_columns(k: int) -> list[str]:
    return (["iteration", "t", "dt", "loss", "accuracy", "grad_norm"] + [f"lambda_{j + 1}" for j in range(k + 1)]
            + ["eig_iterations", "eig_matvecs", "eig_max_residual", "eig_converged"]
            + ["lambda_min", "lambda_min_residual", "lambda_min_matvecs", "lambda_min_converged"])


def _lambda_min_columns(bottom, eig) -> dict[str, Any]:
    """``λ_min(𝓗)``: the smaller of the Lanczos value off the top eigenvectors and the smallest top
    eigenvalue (in magnitude order a negative ``λ_min`` can be one of the top ``k+1``)."""
    j = int(torch.argmin(eig.eigenvalues))
    if float(eig.eigenvalues[j]) < float(bottom.eigenvalues[0]):
        value, residual, converged = float(eig.eigenvalues[j]), float(eig.residual_norms[j]), eig.converged
    else:
        value, residual, converged = float(bottom.eigenvalues[0]), float(bottom.residual_norms[0]), bottom.converged
    return {"lambda_min": value, "lambda_min_residual": residual, "lambda_min_matvecs": bottom.matvecs,
            "lambda_min_converged": converged}


def _save_snapshot(paths: RunPaths, model, model_config: dict, iteration: int, t: float) -> None:
    state = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    save_torch(paths.snapshot(iteration), {"state_dict": state, "model": model_config,
                                           "iteration": iteration, "t": t})


def load_snapshot(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Rebuild the model stored in a snapshot; returns ``(model, snapshot_dict)``."""
    snapshot = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(snapshot["model"], device=device)
    model.load_state_dict(snapshot["state_dict"])
    return model, snapshot

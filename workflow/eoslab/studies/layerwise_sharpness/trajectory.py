"""Chapter 3: full-batch gradient descent with a step-size scheme, logged at every iteration.

One run trains an MLP (PyTorch-default initialisation, float64) on a whole training set with the
MSE loss (``torch.nn.MSELoss``'s mean over samples and outputs) by

    θ_{i, t+1} = θ_{i, t} − η_{i, t} ∇_{θ_i} L(θ_t)        (layer i = 1 … L)

with ``η_{i,t}`` from an :class:`eoslab.step_sizes.StepSizeScheme` (the same for every layer except
in the layerwise schemes; Armijo picks one global ``η_t`` by backtracking).  Row ``t`` of the log
holds the values at ``θ_t`` and the step taken from it: ``loss``, ``grad_norm`` and
``grad_norm_layer{i}``, ``sharpness`` (``λ_t``, top eigenvalue of the full Hessian) and
``sharpness_layer{i}`` (``λ_{i,t}``, top eigenvalue of layer ``i``'s block), ``lr_layer{i}`` and
``lr`` (NaN when the layers differ), what the eigensolves cost and, for Armijo, the number of loss
evaluations.  The last row (``t = T``) has no step.

Which sharpness values are measured: constant step sizes measure ``λ_t`` and every ``λ_{i,t}``
(these are the runs of Figures 3.1–3.6 and A.1–A.5); the other schemes measure what they need
(``1/λ_0``: ``λ_0`` only; ``1/λ_t``: ``λ_t``; layerwise: the ``λ_{i,t}``; Armijo: none) unless
``measure_all`` asks for everything.

A loss that becomes NaN/inf ends the run with status ``diverged`` (the thesis's layerwise
``1/λ_{i,t}`` is "clearly too large" on the synthetic data: divergence is a result here, kept in
the log and the card, not an error); a scheme whose step size is undefined (``λ ≤ 0``) ends it with
status ``undefined_step``.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from torch.func import functional_call
from tqdm import tqdm

from ...criteria import RegressionMSE
from ...layerwise import LayerwiseSharpness
from ...settings import option
from ...models import build_model
from ...step_sizes import ArmijoLineSearch, ConstantStep, InverseInitialSharpness, make_scheme
from .catalog import TrajectoryRun

log = logging.getLogger(__name__)


@dataclass
class TrajectorySettings:
    """Everything besides the run key that determines a trajectory (defaults: the thesis's)."""

    samples: int = option(5000, "training examples (Table 3.1: 5000)")
    iterations: int = option(5000, "gradient-descent iterations T (Table 3.1: 5000)")
    data_seed: int = option(0, "seed of the synthetic data / of the CIFAR-10 subset")
    init_seed: int = option(0, "seed of the PyTorch-default initialisation")
    eig_tol: float = option(1e-3, "eigensolver residual tolerance relative to |λ| (Ritz values are then "
                                    "accurate to about tol²·λ²/gap)")
    eig_method: str = option("krylov", "eigensolver of eoslab.eigensolvers.top_eigenpairs: krylov, lanczos, lobpcg")
    eig_max_iterations: int = option(200, "eigensolver iteration cap per block")
    chunk_size: int = option(8192, "samples per chunk of the Hessian products (memory against speed)")
    measure_all: bool = option(False, "measure λ_t and every λ_i,t at every iteration for every scheme (default: "
                                        "constant steps measure all, the others what they need)")
    armijo_c: float = option(0.1, "Armijo constant c (Vaswani et al. 2019)")
    armijo_beta: float = option(0.9, "backtracking factor β of the line search")
    armijo_gamma: float = option(2.0, "reset factor γ: each search starts at γ × the previous step")
    armijo_initial: float = option(1.0, "first step of the line search")

    def __post_init__(self):
        for name in ("samples", "iterations", "chunk_size", "eig_max_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"trajectory setting '{name}' must be >= 1, got {getattr(self, name)}")
        if not self.eig_tol > 0:
            raise ValueError(f"trajectory setting 'eig_tol' must be positive, got {self.eig_tol}")


def _measures(scheme, iteration: int, measure_all: bool) -> tuple[bool, bool]:
    if measure_all or isinstance(scheme, ConstantStep):
        return True, True
    if isinstance(scheme, InverseInitialSharpness):
        return scheme.needs_full_at(iteration), False
    return scheme.needs_full, scheme.needs_layers


def run_trajectory(run: TrajectoryRun, X: torch.Tensor, Y: torch.Tensor, settings: TrajectorySettings,
                   progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Train ``run`` on ``(X, Y)``; returns the per-iteration log and a summary (status etc.)."""
    if X.shape != (settings.samples, run.input_dim) or Y.shape != (settings.samples, run.output_dim):
        raise ValueError(f"run {run.key} expects X {(settings.samples, run.input_dim)} and Y "
                         f"{(settings.samples, run.output_dim)}, got {tuple(X.shape)} and {tuple(Y.shape)}")
    armijo = {"c": settings.armijo_c, "beta": settings.armijo_beta, "gamma": settings.armijo_gamma,
              "initial": settings.armijo_initial}
    scheme = make_scheme(run.scheme_spec(armijo))
    model = build_model({"input_dim": run.input_dim, "output_dim": run.output_dim, "depth": run.depth,
                         "width": run.width, "activation": run.activation, "init": "torch-default",
                         "init_seed": settings.init_seed, "dtype": "float64"})
    criterion = RegressionMSE()
    tracker = LayerwiseSharpness(model, criterion, X, Y, tol=settings.eig_tol, method=settings.eig_method,
                                 max_iterations=settings.eig_max_iterations, chunk_size=settings.chunk_size,
                                 seed=settings.init_seed)
    space, depth = tracker.space, model.depth
    group_of = {name: i for i, names in enumerate(tracker.groups) for name in names}
    layer_of_entry = torch.cat([torch.full((numel,), group_of[name]) for name, numel in zip(space.names, space.numels)])

    def loss_at(theta: torch.Tensor) -> float:
        total = 0.0
        with torch.no_grad():
            params = space.unflatten(theta)
            for start in range(0, X.shape[0], settings.chunk_size):
                x, y = X[start:start + settings.chunk_size], Y[start:start + settings.chunk_size]
                total += float(criterion.loss(functional_call(model, params, (x,)), y).sum())
        return total / X.shape[0]

    rows, status, message = [], "finished", ""
    started = time.time()
    bar = tqdm(range(settings.iterations + 1), desc=run.key, disable=not progress, mininterval=10.0)
    for t in bar:
        result = tracker.loss_and_gradient()
        row = {"iteration": t, "loss": result.loss, "grad_norm": float(result.gradient.norm())}
        row.update({f"grad_norm_layer{i}": v for i, v in enumerate(tracker.gradient_norms(result.gradient), 1)})
        if not (math.isfinite(result.loss) and bool(torch.isfinite(result.gradient).all())):
            rows.append(row)
            status, message = "diverged", f"loss {result.loss!r} at iteration {t}"
            break
        want_full, want_layers = _measures(scheme, t, settings.measure_all)
        full, layers = float("nan"), [float("nan")] * depth
        if want_full or want_layers:
            measured = tracker.measure(full=want_full, layers=want_layers)
            full, layers = measured.full, measured.layers
            row.update(eig_matvecs=measured.matvecs, eig_max_relative_residual=measured.max_relative_residual,
                       eig_converged=measured.converged)
        row["sharpness"] = full
        row.update({f"sharpness_layer{i}": v for i, v in enumerate(layers, 1)})
        if t == settings.iterations:
            rows.append(row)
            break
        theta = space.flatten(space.values(model))
        try:
            if isinstance(scheme, ArmijoLineSearch):
                gradient = result.gradient
                search = scheme.search(lambda eta: loss_at(theta - eta * gradient), result.loss,
                                       float(gradient @ gradient))
                lrs = [search.lr] * depth
                row.update(ls_evaluations=search.evaluations, ls_satisfied=search.satisfied)
            else:
                lrs = scheme.step_sizes(t, depth, full=full, layers=layers)
        except ValueError as error:
            rows.append(row)
            status, message = "undefined_step", f"{error} at iteration {t}"
            break
        row.update({f"lr_layer{i}": v for i, v in enumerate(lrs, 1)})
        row["lr"] = lrs[0] if all(v == lrs[0] for v in lrs) else float("nan")
        rows.append(row)
        step = torch.as_tensor(lrs, dtype=theta.dtype)[layer_of_entry]
        space.assign(model, theta - step * result.gradient)
        if progress and t % 100 == 0:
            bar.set_postfix(loss=f"{result.loss:.4g}", sharpness=f"{full:.4g}")
    bar.close()
    frame = pd.DataFrame(rows)
    for column in ["eig_matvecs", "eig_max_relative_residual", "eig_converged", "ls_evaluations", "ls_satisfied",
                   *[f"lr_layer{i}" for i in range(1, depth + 1)], "lr"]:
        if column not in frame:
            frame[column] = np.nan
    summary = {"run": run.key, "status": status, "message": message, "iterations_done": int(frame["iteration"].max()),
               "final_loss": float(frame["loss"].iloc[-1]), "wall_seconds": round(time.time() - started, 2),
               "eig_matvecs": int(np.nansum(frame["eig_matvecs"].to_numpy(dtype=float))),
               "settings": asdict(settings), "scheme": run.scheme_spec(armijo), "depth": depth,
               "widths": model.widths, "parameters": space.numel, "torch": torch.__version__}
    if status != "finished":
        log.warning("%s: %s (%s)", run.key, status, message)
    return frame, summary

"""Chapter 4: Algorithm 2 at one point (architecture × data set × size × batch size).

``R`` runs of Algorithm 2 (:func:`eoslab.step_sizes.maximal_step_sizes`), every trial an MLP with
PyTorch-default initialisation trained by (mini-batch) gradient descent with the MSE loss for
``T`` iterations, vectorised over trials (:class:`eoslab.step_sizes.DivergenceTrials`).

Readings (measured, see ``docs/layerwise_sharpness.md``):

* **Data per run.**  Run ``r`` draws its own training set (synthetic seed ``data_seed + r``, or the
  CIFAR-10 subset of seed ``data_seed + r``), so the spread over the ``R`` runs covers data and
  initialisation.  With one shared data set the linear network's value depends on the draw (0.30–0.45
  over six draws for Table 4.1's linear row), and the mean over per-run draws is what lands on the
  thesis's 0.38.
* **float32 by default** (``dtype``), PyTorch's default and so, presumably, the thesis's: with
  bounded activations (tanh, sigmoid) the output grows only geometrically once the hidden units
  saturate, and "the loss is NaN/inf" then depends on the float format's range — float32
  reproduces Table 4.1's tanh 3.1 and sigmoid 12.6, float64 gives about 37 and 97.
* **Data dimension d = 10, fixed** (``synthetic_dim``), not the network's width: only then does
  the width sweep show what §4.2 says of Figure 4.3 — the maximal step size falls with the width
  for every activation, and for linear and sigmoid networks it moves by less than 0.3 between 1
  and 100 hidden units (d = 10: sigmoid 12.70 → 12.54, linear 0.64 → 0.37; d = width: sigmoid
  1.3 → 87, tanh 0.76 → 8.9, both rising).  Chapter 3 keeps d = width (§3's equal-width layers).
* **T counts iterations** (Algorithm 2's loop performs ``T`` steps; §4.2 "the number of iterations
  T is set to 100"), also with batch size 1 — which reproduces Table 4.2; ``horizon: epochs``
  reads the algorithm's "epochs" instead (``T · n / b`` steps).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ...settings import option
from ...models import DTYPES
from ...step_sizes import DivergenceTrials, horizon_iterations, maximal_step_sizes
from .catalog import CIFAR10_INPUT, CIFAR10_OUTPUT, MaxStepPoint
from .data import Cifar10Pool, synthetic

log = logging.getLogger(__name__)


def synthetic_dim(value: int | str) -> int | str:
    """``maxstep.synthetic_dim``: a dimension ``d >= 1`` or ``"width"`` (the network's width)."""
    if value == "width":
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"synthetic_dim must be an integer >= 1 or 'width', got {value!r}") from None
    if isinstance(value, bool) or number < 1 or (isinstance(value, float) and value != number):
        raise ValueError(f"synthetic_dim must be an integer >= 1 or 'width', got {value!r}")
    return number


@dataclass
class MaxStepSettings:
    """Algorithm 2's inputs besides the point (defaults: the thesis's values, §4.2)."""

    runs: int = option(10, "R, runs of Algorithm 2 (§4.2: 10)")
    iterations: int = option(100, "T, the horizon (§4.2: 100)")
    horizon: str = option("iterations", "what T counts: iterations (Algorithm 2's loop) or epochs")
    eta0: float = option(0.1, "η_0, the first step size (§4.2: 0.1 full batch; 0.01 batch size 1 and CIFAR-10)")
    beta: float = option(1.01, "β, the growth factor of η between trials (§4.2: 1.01)")
    dtype: str = option("float32", "float32 (PyTorch's default, the thesis's) or float64: sets when the loss "
                                     "overflows to inf")
    data_seed: int = option(0, "run r trains on the data of seed data_seed + r")
    seed: int = option(0, "base seed of the trials' initialisations and shufflings")
    block: int = option(64, "trials per run trained side by side (speed; results agree across block sizes "
                               "up to rounding at the edge of overflow)")
    max_trials: int = option(100_000, "give up (error) when a run has not diverged after this many trials")
    synthetic_dim: int | str = option(10, "dimension d of the synthetic data: a number, or 'width' for the "
                                             "network's width (default 10: Figure 4.3's reading, docs)",
                                        parse=synthetic_dim)

    def __post_init__(self):
        self.synthetic_dim = synthetic_dim(self.synthetic_dim)
        if self.dtype not in DTYPES:
            raise ValueError(f"max-step setting 'dtype' must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        for name in ("runs", "iterations", "block", "max_trials"):
            if getattr(self, name) < 1:
                raise ValueError(f"max-step setting '{name}' must be >= 1, got {getattr(self, name)}")


def point_data(point: MaxStepPoint, settings: MaxStepSettings, pool: str | None = None):
    """``(X, Y)`` stacked over the ``R`` runs: ``(R, n, d)`` and ``(R, n, o)``, and the layer sizes."""
    dtype = DTYPES[settings.dtype]
    seeds = [settings.data_seed + r for r in range(settings.runs)]
    if point.dataset == "synthetic":
        d = point.width if settings.synthetic_dim == "width" else settings.synthetic_dim
        sets = [synthetic(point.samples, d, seed) for seed in seeds]
        widths = [d] + [point.width] * (point.depth - 1) + [d]
    elif point.dataset == "cifar10":
        if pool is None:
            raise ValueError(f"{point.key} needs the CIFAR-10 pool (--cifar10-pool PATH, written by `eoslab data cifar10`)")
        cifar = Cifar10Pool(pool)
        sets = [cifar.subset(point.samples, seed) for seed in seeds]
        widths = [CIFAR10_INPUT] + [point.width] * (point.depth - 1) + [CIFAR10_OUTPUT]
    else:
        raise ValueError(f"dataset must be 'synthetic' or 'cifar10', got {point.dataset!r}")
    X = torch.stack([x for x, _ in sets]).to(dtype)
    Y = torch.stack([y for _, y in sets]).to(dtype)
    return X, Y, widths


def run_max_step(point: MaxStepPoint, settings: MaxStepSettings, pool: str | None = None,
                 progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Algorithm 2's ``R`` runs at ``point``: one row per run and a summary."""
    X, Y, widths = point_data(point, settings, pool)
    steps = horizon_iterations(settings.iterations, settings.horizon, point.samples, point.batch_size)
    oracle = DivergenceTrials(widths, point.activation, X, Y, iterations=steps, batch_size=point.batch_size,
                              seed=settings.seed, dtype=DTYPES[settings.dtype])
    started = time.time()
    bar = tqdm(desc=point.key, unit="trial", disable=not progress, mininterval=10.0)
    result = maximal_step_sizes(oracle, settings.runs, eta0=settings.eta0, beta=settings.beta, block=settings.block,
                                max_trials=settings.max_trials, progress=bar.update)
    bar.close()
    wall = time.time() - started
    diverged_at = [oracle.divergences[(r, int(k) - 1)] for r, k in enumerate(result.trials)]
    frame = pd.DataFrame({
        "point": point.key, "dataset": point.dataset,
        "batch_size": -1 if point.batch_size is None else point.batch_size,
        "activation": point.activation, "depth": point.depth, "width": point.width, "samples": point.samples,
        "run": np.arange(settings.runs), "max_step_size": result.step_sizes,
        "last_stable_step_size": result.step_sizes / settings.beta, "trials": result.trials,
        "diverged_at_iteration": diverged_at})
    summary = {"point": point.key, "mean": result.mean, "std": result.std, "min": float(result.step_sizes.min()),
               "max": float(result.step_sizes.max()), "runs": settings.runs, "horizon_steps": steps,
               "widths": widths, "models_trained": oracle.models_trained, "wall_seconds": round(wall, 2),
               "settings": asdict(settings), "torch": torch.__version__}
    log.info("%s: mean %.5g, std %.3g over %d runs (%d models, %.1f s)", point.key, result.mean, result.std,
             settings.runs, oracle.models_trained, wall)
    return frame, summary

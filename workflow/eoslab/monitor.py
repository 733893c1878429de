"""``eoslab.SharpnessMonitor``: the paper's metrics every N steps of *your* training loop.

    monitor = eoslab.SharpnessMonitor(model, X, y, torch.nn.CrossEntropyLoss(), out="run.parquet",
                                      every=50, optimizer=optimizer)
    for step in range(steps):
        monitor(step)                 # at steps 0, 50, 100, …: decompose the current weights
        optimizer.zero_grad(); criterion(model(X), y).backward(); optimizer.step()
    monitor(steps, force=True)        # the final weights

Any optimiser (SGD, Adam, full-batch GD, SAM — the monitor only reads the weights, at ``θ``, not at
SAM's perturbed point) and any loop: call the monitor once per step, before the update, with the
number of updates taken so far.  Each measurement is :func:`eoslab.decompose` on the fixed data
``(X, y)`` (typically the full training set, even when the loop uses mini-batches), warm-started
from the previous one, and the table is rewritten (atomically) after every measurement.

**The table** has the analysis stage's columns (:data:`eoslab.metrics.TABLE_COLUMNS`:
``dataset, criterion, size, subset_seed, init_seed, iteration, t, metric, layer, value``) plus
``step``, ``lr`` and ``two_over_lr``:

* ``iteration`` = ``step`` (the number of optimiser updates before the measurement);
* ``t`` = ``Σ_{k < step} η_k``, the integration time of gradient descent (the flow's time axis of the
  study's figures: GD with step size η advances ``t`` by η per step).  The monitor sums the step
  size it sees at each call times the steps since the previous call, so it is exact when it is
  called every step (``every`` only chooses when to measure) or when η is constant;
* ``lr`` = η at the measurement (``optimizer.param_groups[0]["lr"]``, the ``lr`` argument, or a
  callable ``lr(step)``) and ``two_over_lr`` = ``2/η``, the edge of stability of full-batch GD.
  For Adam and other adaptive methods 2/η is *not* the stability threshold (that concerns the
  preconditioned sharpness); it is written for reference only;
* ``dataset`` (the ``name`` argument, default ``"custom"``), ``criterion``, ``size`` = N,
  ``subset_seed`` = 0 and ``init_seed`` = ``seed`` identify the run; different runs in one figure
  need different ``name``/``seed``.

The study's figure code draws it unchanged, e.g.
``eoslab.studies.jacobian_alignment.figures.render_figure("06", table, "fig", dataset="custom",
criterion="cross_entropy")``; ``analysis_table(table)`` drops the three extra columns, which
``eoslab aggregate``/``eoslab figure`` (they check the analysis schema exactly) need.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import torch
from torch import nn

from .adapters import layer_stack
from .network import default_settings, prepare_data, resolve_criterion

#: The monitor's columns beyond the analysis schema.
MONITOR_EXTRA_COLUMNS = ["step", "lr", "two_over_lr"]


def analysis_columns() -> list[str]:
    from .metrics import TABLE_COLUMNS

    return list(TABLE_COLUMNS)


def analysis_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A monitor table reduced to the analysis schema (for ``eoslab aggregate`` / ``eoslab figure``)."""
    from .metrics import typed_table

    return typed_table(frame[analysis_columns()])


class SharpnessMonitor:
    """Decompose the sharpness of ``model`` on ``(X, y)`` every ``every`` steps of a training loop.

    ``criterion``: as for :func:`eoslab.decompose` (a ``reduction='sum'`` loss is measured in its own
    scale).  ``out``: parquet file rewritten after every measurement (``None``: keep in memory,
    :attr:`table`).  ``optimizer`` / ``lr``: where η comes from (``lr`` may be a number or a function of
    the step).  ``settings``: :class:`eoslab.metrics.MetricSettings`.  ``name``/``seed``: the run's
    ``dataset`` and ``init_seed`` columns.
    """

    def __init__(self, model: nn.Module, X: Any, y: Any, criterion: Any = "cross_entropy", *,
                 out: str | os.PathLike | None = None, every: int = 1, optimizer: torch.optim.Optimizer | None = None,
                 lr: float | Callable[[int], float] | None = None, settings=None, chunk_size: int | None = None,
                 name: str = "custom", seed: int = 0, scale: float | None = None):
        from .metrics import MetricSettings

        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if optimizer is None and lr is None:
            raise ValueError("pass optimizer= (η is read from its first parameter group) or lr= (a number or a "
                             "function of the step)")
        self.stack = layer_stack(model)  # refuse an unsupported network before training starts
        self.model = model
        self.X, self.y = prepare_data(model, X, y)
        self.criterion = criterion
        self.resolved = resolve_criterion(criterion, self.y, self.stack.linears[-1].out_features, scale=scale)
        self.out = None if out is None else Path(out)
        self.every = every
        self.optimizer = optimizer
        self.lr = lr
        self.settings = default_settings(model) if settings is None else settings
        if chunk_size is not None:
            self.settings = MetricSettings(**{**self.settings.__dict__, "chunk_size": chunk_size})
        self.settings.validate()
        self.name, self.seed = str(name), int(seed)
        self.generator = torch.Generator().manual_seed(self.settings.eig_seed)
        self.warm: dict[str, torch.Tensor] | None = None
        self.frames: list[pd.DataFrame] = []
        self.diagnostics: list[dict] = []
        self.t = 0.0
        self._last_step: int | None = None
        self._last_lr: float | None = None

    def current_lr(self, step: int) -> float:
        if self.optimizer is not None:
            return float(self.optimizer.param_groups[0]["lr"])
        return float(self.lr(step)) if callable(self.lr) else float(self.lr)

    def _advance(self, step: int, lr: float) -> None:
        if self._last_step is not None:
            if step < self._last_step:
                raise ValueError(f"steps must not decrease: got {step} after {self._last_step}")
            self.t += self._last_lr * (step - self._last_step)
        elif step > 0:  # first call after some steps: assume the current η for them
            self.t = lr * step
        self._last_step, self._last_lr = step, lr

    def __call__(self, step: int, *, force: bool = False) -> pd.DataFrame | None:
        """Call once per step with the number of updates taken so far; measures when ``step % every == 0``
        (or ``force``).  Returns this measurement's rows, or ``None``."""
        lr = self.current_lr(step)
        self._advance(int(step), lr)
        if not force and step % self.every:
            return None
        return self.measure(int(step), lr)

    def measure(self, step: int, lr: float) -> pd.DataFrame:
        from .metrics import analyze_snapshot

        was_training = self.model.training
        rows, self.warm, diagnostics = analyze_snapshot(self.model, self.resolved.criterion, self.X, self.y,
                                                        self.settings, self.warm, self.generator)
        self.model.train(was_training)
        frame = pd.DataFrame(rows, columns=["metric", "layer", "value"])
        frame.insert(0, "t", float(self.t))
        frame.insert(0, "iteration", step)
        for key, value in (("init_seed", self.seed), ("subset_seed", 0), ("size", int(self.X.shape[0])),
                           ("criterion", self.resolved.name), ("dataset", self.name)):
            frame.insert(0, key, value)
        frame["step"] = step
        frame["lr"] = lr
        frame["two_over_lr"] = 2.0 / lr if lr > 0 else float("nan")
        frame = typed_monitor(frame)
        if self.frames and int(self.frames[-1]["iteration"].iloc[0]) == step:
            self.frames[-1] = frame  # the same step measured twice (e.g. force at the end): keep the last
        else:
            self.frames.append(frame)
        self.diagnostics.append({"step": step, **diagnostics})
        if self.out is not None:
            self.write(self.out)
        return frame

    @property
    def table(self) -> pd.DataFrame:
        """Every measurement so far (analysis columns + ``step``, ``lr``, ``two_over_lr``)."""
        if not self.frames:
            return typed_monitor(pd.DataFrame(columns=analysis_columns() + MONITOR_EXTRA_COLUMNS))
        return pd.concat(self.frames, ignore_index=True)

    def write(self, path: str | os.PathLike) -> Path:
        from .io import write_parquet

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_parquet(path, self.table)
        return path


def typed_monitor(frame: pd.DataFrame) -> pd.DataFrame:
    from .metrics import typed_table as typed

    extra = frame[MONITOR_EXTRA_COLUMNS].astype({"step": "int64", "lr": "float64", "two_over_lr": "float64"})
    return pd.concat([typed(frame), extra], axis=1)

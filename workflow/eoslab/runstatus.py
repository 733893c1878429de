"""``eoslab status``: what the runs under a results root are doing, and one run's training curves.

:func:`run_table` finds every run directory (a ``run.json``) below a root — the flow trainer's runs
of jacobian_alignment and the runs of the companion studies that share :class:`eoslab.rundir.RunPaths`
— and reports per run: study, data set, criterion, size, seeds, status, iterations, final loss and
the age of its checkpoint.  The status is ``status.json``'s, corrected by the run lock
(:class:`eoslab.rundir.RunLock`): ``running`` with a live holder shows its PID, ``running`` with no
holder is ``died`` (the process was killed without recording its end).

:func:`run_figure` draws one run from its ``log.parquet``: the loss against its threshold, the top
eigenvalues λ₁ … λ_{k+1} and λ_min, and the time step Δt, over iterations.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .io import read_json
from .rundir import RunLock, RunPaths

COLUMNS = ["study", "dataset", "criterion", "size", "subset_seed", "init_seed", "status", "iterations",
           "final_loss", "checkpoint_age", "run"]


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _read(path: Path) -> dict[str, Any]:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return {}


def run_row(run_dir: str | os.PathLike, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """One row of :func:`run_table` for one run directory."""
    paths = RunPaths(run_dir)
    run = _read(paths.run)
    status = _read(paths.status) if paths.status.exists() else {}
    card: dict[str, Any] = {}
    data = run.get("data")
    if data:
        card = _read(Path(data).with_suffix(".json"))
    relative = Path(os.path.relpath(paths.root, root)) if root else paths.root
    parts = relative.parts
    study = parts[parts.index("runs") - 1] if "runs" in parts and parts.index("runs") > 0 else (
        parts[0] if len(parts) > 1 else "")
    state = status.get("status", "no status")
    holder = RunLock.held_by(paths.root)
    if holder is not None:
        state = f"running (PID {holder.get('pid', '?')} on {holder.get('host', '?')})"
    elif state == "running":
        state = "died (status says running, no process holds the run)"
    iterations = status.get("iteration")
    loss = status.get("loss")
    if paths.log.exists() and (iterations is None or loss is None or holder is not None):
        try:
            logged = pd.read_parquet(paths.log, columns=["iteration", "loss"])
            if len(logged):
                if iterations is None or holder is not None:
                    iterations = int(logged["iteration"].iloc[-1])
                if loss is None or holder is not None:
                    loss = float(logged["loss"].iloc[-1])
        except Exception:
            pass
    checkpoint = paths.checkpoint if paths.checkpoint.exists() else None
    return {"study": study, "dataset": card.get("dataset") or run.get("data_source") or "",
            "criterion": run.get("criterion", ""),
            "size": card.get("size", run.get("num_samples", "")),
            "subset_seed": card.get("subset_seed", ""), "init_seed": run.get("init_seed", run.get("seed", "")),
            "status": state, "iterations": "" if iterations is None else iterations,
            "final_loss": "" if loss is None or (isinstance(loss, float) and math.isnan(loss)) else f"{loss:.4g}",
            "checkpoint_age": _age(time.time() - checkpoint.stat().st_mtime) if checkpoint else "-",
            "run": str(relative)}


def run_table(root: str | os.PathLike) -> pd.DataFrame:
    """Every run directory (holding ``run.json``) below ``root``, one row each, sorted by path."""
    root = Path(root)
    runs = sorted({p.parent for p in root.rglob("run.json")})
    return pd.DataFrame([run_row(run, root) for run in runs], columns=COLUMNS)


def format_table(frame: pd.DataFrame) -> str:
    """A plain-text table (fixed-width columns) for the terminal."""
    if frame.empty:
        return "no runs"
    cells = [list(frame.columns)] + [[str(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells)


def run_figure(run_dir: str | os.PathLike, stem: str | os.PathLike) -> list[Path]:
    """One run's training curves from ``log.parquet`` over iterations: loss (log scale) against its
    threshold, λ₁ … λ_{k+1} and λ_min, Δt; written as ``stem.pdf`` and ``stem.png``."""
    from .arrays import DataFileError
    from .plotting import apply_style, plt, save_and_close

    paths = RunPaths(run_dir)
    try:
        logged = pd.read_parquet(paths.log)
    except Exception as error:
        raise DataFileError(f"cannot read the training log {paths.log} of run {run_dir}: {error}") from error
    run = _read(paths.run)
    status = _read(paths.status)
    x = logged["iteration"].to_numpy()
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    ax = axes[0]
    ax.plot(x, logged["loss"].to_numpy(), color="C0", lw=1)
    threshold = run.get("loss_threshold")
    if threshold:
        ax.axhline(threshold, color="0.4", ls="--", lw=0.8, label=f"threshold {threshold:g}")
        ax.legend(frameon=False)
    ax.set_yscale("log")
    ax.set_ylabel("training loss")
    ax = axes[1]
    tops = sorted((c for c in logged.columns if c.startswith("lambda_") and c.removeprefix("lambda_").isdigit()),
                  key=lambda c: int(c.removeprefix("lambda_")))
    drawn = 0
    for j, column in enumerate(tops):
        values = logged[column]
        if values.notna().any():
            ax.plot(x, values.to_numpy(), lw=0.9, color=plt.cm.viridis(j / max(len(tops) - 1, 1)),
                    label=f"$\\lambda_{{{column.removeprefix('lambda_')}}}$")
            drawn += 1
    if "lambda_min" in logged and logged["lambda_min"].notna().any():
        ax.plot(x, logged["lambda_min"].to_numpy(), color="C3", lw=0.9, ls=":", label=r"$\lambda_{\min}$")
        drawn += 1
    if drawn:
        ax.legend(frameon=False, fontsize=6, ncol=2)
    else:
        ax.text(0.5, 0.5, "no data\nno eigenvalues logged", transform=ax.transAxes, ha="center", va="center")
    ax.set_ylabel("Hessian eigenvalues")
    ax = axes[2]
    if "dt" in logged and logged["dt"].notna().any():
        ax.plot(x, logged["dt"].to_numpy(), color="C2", lw=1)
    else:
        ax.text(0.5, 0.5, "no data\nno time steps logged", transform=ax.transAxes, ha="center", va="center")
    ax.set_ylabel(r"time step $\Delta t$")
    for ax in axes:
        ax.set_xlabel("iteration")
    fig.suptitle(f"{paths.root} — {status.get('status', 'no status')}: {status.get('message', '')}"[:160],
                 fontsize=8)
    fig.tight_layout()
    return save_and_close(fig, stem)

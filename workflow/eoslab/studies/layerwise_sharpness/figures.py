"""The thesis's figures from this study's run files (one PDF + PNG per figure).

* ``sharpness`` figures (3.1–3.6, A.1–A.5): one row per network; loss, sharpness (full Hessian and
  each layer's block, with ``2/η``) and gradient norms (network and layers) against the iteration;
* ``schemes`` figures (3.7–3.9, A.6, A.7): one column per data set; loss and step size against the
  iteration, one colour per scheme (a run that diverged or whose step became undefined says so in
  the legend);
* ``maxstep`` figures (4.2–4.7, A.8–A.10): one panel per activation; the maximal step size of
  Algorithm 2 against the swept depth, width or training-set size (mean ± std over the runs, and
  the runs as dots).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ...plotting import apply_style, save_figure  # noqa: E402
from ...io import read_json  # noqa: E402
from .catalog import ACTIVATION_NAMES, ACTIVATIONS, DATASET_NAMES, FIGURES, TrajectoryRun  # noqa: E402
from .tables import read_points, summarise  # noqa: E402

LOG_SPAN = 20.0
SWEEP_LABELS = {"depth": "number of layers", "width": "hidden units per layer", "samples": "training examples"}


def read_trajectory(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"trajectory {os.fspath(path)!r} does not exist (the trajectory rule writes it)")
    card = path.with_suffix(".json")
    return pd.read_parquet(path), (read_json(card) if card.exists() else {})


def _log_if_spread(ax, values) -> None:
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size and finite.size == np.isfinite(values).sum() and finite.max() / finite.min() > LOG_SPAN:
        ax.set_yscale("log")


def layer_label(i: int, depth: int) -> str:
    if i == 1:
        return "layer 1 (input)"
    if i == depth:
        return f"layer {i} (output)"
    return f"layer {i} (hidden)"


def _depth_of(frame: pd.DataFrame) -> int:
    return sum(1 for c in frame.columns if c.startswith("sharpness_layer"))


def sharpness_figure(name: str, paths: list[str], stem) -> list[Path]:
    spec = FIGURES[name]
    if len(paths) != len(spec.panels):
        raise ValueError(f"{spec.label} shows {len(spec.panels)} runs, got {len(paths)} files")
    apply_style()
    rows = len(paths)
    fig, axes = plt.subplots(rows, 3, figsize=(11, 2.6 * rows), squeeze=False)
    threshold = 2.0 / spec.lr
    for (title, run), path, ax_row in zip(spec.panels, paths, axes):
        frame, card = read_trajectory(path)
        depth = _depth_of(frame)
        colours = sns.color_palette("viridis", n_colors=max(depth, 2))
        t = frame["iteration"].to_numpy()
        status = card.get("status", "finished")
        suffix = "" if status == "finished" else f" — {status} at t = {int(t[-1])}"
        ax_row[0].plot(t, frame["loss"], color="black", lw=0.8)
        ax_row[0].set_ylabel("training loss")
        _log_if_spread(ax_row[0], frame["loss"])
        ax_row[0].set_title(title + suffix, loc="left")
        ax_row[1].plot(t, frame["sharpness"], color="black", lw=0.9, label="Full")
        for i in range(1, depth + 1):
            ax_row[1].plot(t, frame[f"sharpness_layer{i}"], color=colours[i - 1], lw=0.8, label=layer_label(i, depth))
        ax_row[1].axhline(threshold, color="tab:red", ls="--", lw=0.8, label="2/η")
        ax_row[1].set_ylabel("sharpness λ, λᵢ")
        ax_row[2].plot(t, frame["grad_norm"], color="black", lw=0.8, label="Full")
        for i in range(1, depth + 1):
            ax_row[2].plot(t, frame[f"grad_norm_layer{i}"], color=colours[i - 1], lw=0.7, label=layer_label(i, depth))
        ax_row[2].set_ylabel("gradient norm")
        _log_if_spread(ax_row[2], frame["grad_norm"])
        ax_row[1].legend(loc="best", fontsize=6, frameon=False, ncol=2 if depth > 4 else 1)
        for ax in ax_row:
            ax.set_xlabel("iteration")
            sns.despine(ax=ax)
    eta = "2/25" if abs(spec.lr - 0.08) < 1e-12 else "2/10"
    fig.suptitle(f"{spec.label} (thesis 004). Loss, sharpness of the full Hessian and of each layer, gradient "
                 f"norms — gradient descent with η = {eta}", y=1.0, fontsize=10)
    fig.tight_layout()
    paths_out = save_figure(fig, stem)
    plt.close(fig)
    return paths_out


def _lr_columns(frame: pd.DataFrame) -> list[str]:
    return sorted((c for c in frame.columns if c.startswith("lr_layer")), key=lambda c: int(c[8:]))


def schemes_figure(name: str, paths: list[str], stem) -> list[Path]:
    spec = FIGURES[name]
    runs = [TrajectoryRun.parse(Path(p).stem) for p in paths]
    datasets = [d for d in ("synthetic", "cifar10") if any(r.dataset == d for r in runs)]
    apply_style()
    fig, axes = plt.subplots(2, len(datasets), figsize=(5.2 * len(datasets), 6), squeeze=False)
    colours = dict(zip(spec.schemes, sns.color_palette("colorblind", n_colors=len(spec.schemes))))
    styles = ["-", "--", ":", "-."]
    for column, dataset in enumerate(datasets):
        top, bottom = axes[0, column], axes[1, column]
        losses = []
        for run, path in zip(runs, paths):
            if run.dataset != dataset:
                continue
            frame, card = read_trajectory(path)
            status = card.get("status", "finished")
            label = run.scheme_label + ("" if status == "finished" else f" ({status} at t = {int(frame['iteration'].iloc[-1])})")
            t = frame["iteration"].to_numpy()
            top.plot(t, frame["loss"], color=colours[run.scheme], lw=0.9, label=label)
            losses.append(frame["loss"].to_numpy())
            lr_columns = _lr_columns(frame)
            if run.scheme.startswith("layer"):
                for k, column_name in enumerate(lr_columns):
                    bottom.plot(t, frame[column_name], color=colours[run.scheme], lw=0.7, ls=styles[k % len(styles)],
                                label=f"{run.scheme_label}, layer {k + 1}")
            else:
                bottom.plot(t, frame["lr"], color=colours[run.scheme], lw=0.9, label=run.scheme_label)
        top.set_title(DATASET_NAMES[dataset], loc="left")
        top.set_ylabel("training loss")
        if losses:
            _log_if_spread(top, np.concatenate(losses))
        bottom.set_ylabel("step size")
        bottom.set_yscale("log")
        top.legend(fontsize=7, frameon=False)
        bottom.legend(fontsize=6, frameon=False, ncol=2)
        for ax in (top, bottom):
            ax.set_xlabel("iteration")
            sns.despine(ax=ax)
    fig.suptitle(f"{spec.label} (thesis 004). Training loss and step size of each scheme — "
                 f"{ACTIVATION_NAMES[spec.activation]}, 3 layers of 10 units", y=1.0, fontsize=10)
    fig.tight_layout()
    paths_out = save_figure(fig, stem)
    plt.close(fig)
    return paths_out


def maxstep_figure(name: str, paths: list[str], stem) -> list[Path]:
    spec = FIGURES[name]
    frame = read_points(paths)
    x_column = spec.sweep
    apply_style()
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2), squeeze=False)
    for ax, activation in zip(axes[0], ACTIVATIONS):
        part = frame[frame["activation"] == activation]
        if part.empty:
            raise ValueError(f"{spec.label} has no results for {activation}")
        summary = summarise(part, x_column).sort_values(x_column)
        ax.errorbar(summary[x_column], summary["mean"], yerr=summary["std"], color="black", lw=1.0, marker="o",
                    ms=3, capsize=3, label="mean ± std")
        ax.scatter(part[x_column], part["max_step_size"], s=6, color="tab:blue", alpha=0.4, label="runs")
        ax.set_title(ACTIVATION_NAMES[activation], loc="left")
        ax.set_xlabel(SWEEP_LABELS[x_column])
        if x_column != "depth" or summary[x_column].max() / max(summary[x_column].min(), 1) > 8:
            ax.set_xscale("log")
        _log_if_spread(ax, part["max_step_size"])
        ax.set_ylabel("maximal step size")
        sns.despine(ax=ax)
    axes[0, 0].legend(fontsize=7, frameon=False)
    method = "full-batch gradient descent" if spec.batch == "full" else "gradient descent with batch size 1"
    fig.suptitle(f"{spec.label} (thesis 004). Maximal step size before {method} diverges, against the "
                 f"{SWEEP_LABELS[x_column]} — {DATASET_NAMES[spec.dataset]}", y=1.02, fontsize=10)
    fig.tight_layout()
    paths_out = save_figure(fig, stem)
    plt.close(fig)
    return paths_out


RENDERERS = {"sharpness": sharpness_figure, "schemes": schemes_figure, "maxstep": maxstep_figure}


def render(name: str, paths: list[str], stem) -> list[Path]:
    if name not in FIGURES:
        raise ValueError(f"unknown figure {name!r}; expected one of {', '.join(FIGURES)}")
    return RENDERERS[FIGURES[name].kind](name, list(paths), stem)

"""Figures 1–16 of Long & Bartlett (2023), one function call and one file pair each.

Figure 1 is the function ``r(α) = S / (2/η)`` (no training).  Figures 2–6 (MLP), 7–11 (CNN) and
12–16 (character transformer) follow one pattern per experiment, with one panel per step size η:

1. ``|λ₁|, |λ₂|, |λ₃|`` of GD/SGD (ρ = 0) with ``2/η`` (which is also the SAM-edge at ρ = 0);
2. the same for SAM at the figure's ρ (the paper's: 0.1, 0.1, 0.3) with ``2/η`` and the SAM-edge;
3. the same without ``2/η``, zoomed on the eigenvalues and the SAM-edge;
4. the training loss, ρ = 0 above and the figure's ρ below;
5. the alignments ``|cos(∇ℓ(w), v₁)|`` and ``|cos(∇ℓ(w + ρĝ), v₁)|`` for SAM at the figure's ρ.

The horizontal axis is the training step (the paper's is wall-clock seconds: see
:mod:`.experiment`).  The SAM-edge is drawn at every step (it depends on that step's ``‖g‖``; for
minibatch runs it is that minibatch's, so it is noisy, and a running median over the steps
between two eigenvalue computations is drawn over it); eigenvalues at the steps they were
computed.  Runs that diverged are not drawn (the paper discarded them): their panel says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ...plotting import apply_style, plt, save_and_close, sns
from ...sam import edge_ratio
from .catalog import EXPERIMENT_NAMES, FIGURES, FigureSpec

PAPER_DATA = {"mlp": "MNIST", "cnn": "CIFAR-10 (1,000 images)", "transformer": "tiny_shakespeare"}
EIGEN_COLOURS = sns.color_palette("crest", 3)
GD_EDGE_COLOUR, SAM_EDGE_COLOUR = "0.25", "tab:red"


def _title(spec: FigureSpec, rho: float | None, source: str | None) -> str:
    if spec.kind == "ratio":
        return "Figure 1. SAM-edge / (2/η) as a function of α = η‖g‖/(2ρ)"
    name = EXPERIMENT_NAMES[spec.experiment]
    gd = "SGD" if spec.experiment == "transformer" else "GD"
    data = f"data: {source}" + (f" (paper: {PAPER_DATA[spec.experiment]})" if source else "")
    what = {"eigen": "Hessian |λ₁|, |λ₂|, |λ₃|" + (", 2/η" if spec.gd_edge else "") +
            (" and the SAM-edge" if spec.sam else ""),
            "loss": "Training loss", "alignment": "Gradient alignment with v₁"}[spec.kind]
    setting = (f"SAM ρ = {rho:g}" if spec.sam or spec.kind == "alignment" else
               f"{gd} and SAM ρ = {rho:g}" if spec.kind == "loss" else f"{gd} (ρ = 0)")
    return f"Figure {int(spec.number)}. {what} — {name}, {setting}; {data}"


def _runs(frame: pd.DataFrame, rho: float) -> dict[float, pd.DataFrame]:
    chosen = frame[np.isclose(frame["rho"], rho)]
    return {float(lr): run.sort_values("step") for lr, run in chosen.groupby("lr", sort=True)}


def _require(frame: pd.DataFrame, rho: float, spec: FigureSpec) -> None:
    if not np.isclose(frame["rho"], rho).any():
        have = sorted(frame["rho"].unique().tolist())
        raise ValueError(f"Figure {int(spec.number)} needs runs of experiment {spec.experiment!r} with ρ = {rho:g}, "
                         f"but the aggregate has ρ in {have}; add {rho:g} to the experiment's rhos (or set figure_rho)")


def _diverged(ax, run: pd.DataFrame) -> bool:
    if run["status"].iloc[0] == "diverged":
        ax.text(0.5, 0.5, f"diverged at step {int(run['diverged_at'].iloc[0])}\n(not drawn, as in the paper)",
                transform=ax.transAxes, ha="center", va="center", fontsize=8, color="0.3")
        return True
    return False


def _running_median(values: pd.Series, window: int) -> np.ndarray:
    return values.rolling(window, center=True, min_periods=1).median().to_numpy()


def _eigen_panel(ax, run: pd.DataFrame, spec: FigureSpec, minibatch: bool, window: int) -> None:
    lr = float(run["lr"].iloc[0])
    eig = run.dropna(subset=["lambda_1"])
    for i, colour in zip(range(1, 4), EIGEN_COLOURS):
        ax.plot(eig["step"], eig[f"lambda_{i}"].abs(), color=colour, lw=1.0, label=f"|λ{'₁₂₃'[i - 1]}|",
                marker="." if len(eig) < 30 else None, ms=3)
    if spec.gd_edge:
        ax.axhline(2 / lr, color=GD_EDGE_COLOUR, ls="--", lw=1.0, label="2/η")
    if spec.sam:
        if minibatch:
            ax.plot(run["step"], run["sam_edge"], color=SAM_EDGE_COLOUR, lw=0.4, alpha=0.3)
            ax.plot(run["step"], _running_median(run["sam_edge"], window), color=SAM_EDGE_COLOUR, lw=1.0,
                    label="SAM-edge (running median)")
        else:
            ax.plot(run["step"], run["sam_edge"], color=SAM_EDGE_COLOUR, lw=0.8, label="SAM-edge S")
    values = np.concatenate([eig[f"lambda_{i}"].abs().to_numpy() for i in range(1, 4)] +
                            ([[2 / lr]] if spec.gd_edge else []) + ([run["sam_edge"].to_numpy()] if spec.sam else []))
    values = values[np.isfinite(values) & (values > 0)]
    if spec.gd_edge and spec.sam and values.size and values.max() / values.min() > 20:
        ax.set_yscale("log")
    elif not spec.gd_edge and values.size:  # zoom: from the first tenth of training on
        late = run[run["step"] >= run["step"].max() * 0.1]
        late_eig = late.dropna(subset=["lambda_1"])
        top = np.nanmax(np.concatenate([late_eig["lambda_1"].abs().to_numpy(),
                                        _running_median(late["sam_edge"], window) if minibatch
                                        else late["sam_edge"].to_numpy()]))
        if np.isfinite(top) and top > 0:
            ax.set_ylim(0, 1.25 * top)


def draw_figure(number: str, frame: pd.DataFrame | None, rho: float | None):
    """The figure ``number`` from an experiment's aggregate (``frame``) and the figure's ρ."""
    number = number.zfill(2)
    if number not in FIGURES:
        raise ValueError(f"figure number must be one of 01–16, got {number!r}")
    spec = FIGURES[number]
    apply_style()
    if spec.kind == "ratio":
        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        alpha = np.logspace(-4, 4, 400)
        ax.plot(alpha, edge_ratio(alpha), color="tab:blue", lw=1.5, label="S / (2/η)")
        ax.plot(alpha, np.sqrt(alpha), color="0.5", ls=":", lw=1.0, label="√α (α → 0)")
        ax.axhline(1.0, color="0.5", ls="--", lw=1.0, label="1 (α → ∞)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(5e-3, 2)
        ax.set_xlabel("α = η‖g‖ / (2ρ)")
        ax.set_ylabel("SAM-edge / (2/η)")
        ax.legend(frameon=False, loc="lower right")
        ax.set_title(_title(spec, None, None), fontsize=8)
        sns.despine(ax=ax)
        return fig
    if frame is None or frame.empty:
        raise ValueError(f"Figure {int(number)} needs the aggregate of experiment {spec.experiment!r}")
    experiment = set(frame["experiment"].unique())
    if experiment != {spec.experiment}:
        raise ValueError(f"Figure {int(number)} shows experiment {spec.experiment!r}, the table holds {sorted(experiment)}")
    if rho is None or rho <= 0:
        raise ValueError(f"Figure {int(number)} needs the SAM radius it shows (figure_rho > 0), got {rho!r}")
    source = ", ".join(sorted(set(frame["data_source"].dropna())))
    eig_steps = frame.dropna(subset=["lambda_1"])
    window = max(1, int(np.median(np.diff(np.sort(eig_steps["step"].unique())))) if eig_steps["step"].nunique() > 1 else 1)
    minibatch = spec.experiment == "transformer"
    gd_label = "SGD" if minibatch else "GD"
    rows_rho = [0.0, rho] if spec.kind == "loss" else [rho if (spec.sam or spec.kind == "alignment") else 0.0]
    for r in rows_rho:
        _require(frame, r, spec)
    lrs = sorted(frame["lr"].unique())
    fig, axes = plt.subplots(len(rows_rho), len(lrs), figsize=(3.0 * len(lrs), 2.5 * len(rows_rho) + 0.4),
                             squeeze=False, sharex=True)
    for i, r in enumerate(rows_rho):
        runs = _runs(frame, r)
        for j, lr in enumerate(lrs):
            ax = axes[i][j]
            ax.set_title(f"η = {lr:g}" + (f", ρ = {r:g}" if spec.kind == "loss" else ""))
            run = runs.get(float(lr))
            if run is None:
                ax.text(0.5, 0.5, "no run", transform=ax.transAxes, ha="center", va="center")
                continue
            if _diverged(ax, run):
                continue
            if spec.kind == "eigen":
                _eigen_panel(ax, run, spec, minibatch, window)
                ax.set_ylabel("eigenvalue magnitude" if j == 0 else "")
            elif spec.kind == "loss":
                ax.plot(run["step"], run["loss"], color="tab:blue" if r == 0 else "tab:red", lw=0.8,
                        label=gd_label if r == 0 else f"SAM ρ = {r:g}")
                ax.set_yscale("log")
                ax.set_ylabel(("minibatch " if minibatch else "") + "training loss" if j == 0 else "")
            else:
                eig = run.dropna(subset=["lambda_1"])
                ax.plot(eig["step"], eig["align_gradient"], color="tab:blue", lw=0.9, label="∇ℓ(w)",
                        marker="." if len(eig) < 30 else None, ms=3)
                ax.plot(eig["step"], eig["align_ascent"], color="tab:red", lw=0.9, label="∇ℓ(w + ρĝ)",
                        marker="." if len(eig) < 30 else None, ms=3)
                ax.set_ylim(0, 1)
                ax.set_ylabel("|cos(gradient, v₁)|" if j == 0 else "")
            if i == len(rows_rho) - 1:
                ax.set_xlabel("step")
            sns.despine(ax=ax)
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle(_title(spec, rho, source), fontsize=9)
    fig.tight_layout()
    return fig


def render_figure(number: str, frame: pd.DataFrame | None, rho: float | None, stem: str | os.PathLike) -> list[Path]:
    fig = draw_figure(number, frame, rho)
    return save_and_close(fig, stem)

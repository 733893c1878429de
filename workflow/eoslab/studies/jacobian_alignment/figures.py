"""Figures 1–4 and 6–42 of the paper from an aggregated analysis table.

Each figure is a grid of panels (three per row); each panel draws one metric
(optionally of one layer) with one curve per run against the integration time
``t``, coloured by the training-set size.  What each figure shows comes from
:mod:`.catalog`; the style, from :mod:`eoslab.plotting`.  The
"change" figures (kind ``components``) divide every run's curve by its value at
the end of the initial transient (Section 5; see :mod:`.aggregate`).

Which runs: every run of the aggregate but the diverged ones
(:func:`.aggregate.usable_runs`); when some run did not converge, a caption
line under the panels says how many runs were used, names the runs that stopped
at ``max_iterations`` and those left out as diverged.  A panel with no values
(e.g. no snapshot after ``t₀``) says "no data" and why, instead of empty axes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


from ...plotting import apply_style, finish_axes, plt, save_and_close, sns
from .aggregate import RUN_KEYS, metric_series, network_depth, relative_to_reference, usable_runs
from .catalog import CRITERION_NAMES, NAMES, Figure, figure_spec

def size_colours(sizes) -> dict[int, tuple]:
    """Dataset size → colour (viridis, ordered by size)."""
    sizes = sorted(set(int(s) for s in sizes))
    palette = sns.color_palette("viridis", n_colors=max(len(sizes), 1))
    return dict(zip(sizes, palette))


#: Curves with fewer points than this are hard to see as lines: a figure holding one marks every point.
FEW_POINTS = 4


def needs_markers(*series: pd.DataFrame) -> bool:
    """Whether some run of ``series`` has fewer than FEW_POINTS points (then every run gets markers,
    so that all curves of a figure look alike)."""
    return any(len(run) < FEW_POINTS for frame in series for _, run in frame.groupby(RUN_KEYS))


def plot_runs(ax, series: pd.DataFrame, colours: dict[int, tuple], markers: bool | None = None) -> int:
    """One line per run (``value`` against ``t``) coloured by its size; returns the number of lines.
    ``markers``: mark every point of every run (default: if some run of ``series`` has few points)."""
    if markers is None:
        markers = needs_markers(series)
    lines = 0
    for key, run in series.groupby(RUN_KEYS, sort=True):
        run = run.sort_values("t")
        size = int(run["size"].iloc[0])
        ax.plot(run["t"].to_numpy(), run["value"].to_numpy(), color=colours[size], lw=0.9, alpha=0.85,
                marker="." if markers else None, ms=3)
        lines += 1
    return lines


def no_data(ax, why: str) -> None:
    """Mark a panel that has nothing to draw (instead of leaving empty axes beside a legend)."""
    ax.text(0.5, 0.5, "no data\n" + why, transform=ax.transAxes, ha="center", va="center", fontsize=8,
            color="0.35", wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def caption_line(fig, note: str) -> None:
    """The runs a figure used and left out, as a small caption under its panels."""
    import textwrap

    fig.text(0.01, -0.01, "\n".join(textwrap.wrap(note, 140)), ha="left", va="top", fontsize=7, color="0.25")


def size_legend(fig, colours: dict[int, tuple]) -> None:
    handles = [plt.Line2D([], [], color=c, lw=2) for c in colours.values()]
    fig.legend(handles, [f"D = {s}" for s in colours], title="training-set size", loc="center left",
               bbox_to_anchor=(1.0, 0.5), frameon=False)


SYMBOLS = {
    "sharpness_hessian": r"$\lambda_1(\mathcal{H}_\theta\tilde{\mathcal{L}})$",
    "sharpness_H": r"$\lambda_1(H)$",
    "sharpness_G": r"$\lambda_1(G)$",
    "rho_K": r"$\rho(K)$",
    "EK2": r"$\mathbb{E}\|K\|^2_{\max}$",
    "EK2_layer": r"$\mathbb{E}\|K^{%d}\|^2_{\max}$",
    "Pi_chi": r"$\Pi_\chi^1$",
    "P_chi": r"$P^1_{\chi,\Delta/\chi}$",
    "Pi_J": r"$\Pi_J^1$",
    "P_DeltaJ": r"$P^1_{\Delta,J}$",
    "EDeltaL2": r"$\mathbb{E}\|\Delta^L\|^2_{\max}$",
    "chi2": r"$\mathbb{E}(\chi^{%d})^2$",
    "r_chi": r"$r(\chi^{%d}, \Delta^{%d}/\chi^{%d})$",
    "EJ2": r"$\mathbb{E}\|\partial\hat{x}^{%d}/\partial\hat{x}^{%d}\|^2_{\max}$",
    "r_DeltaJ": r"$r(\Delta^{%d}, \partial\hat{x}^{%d}/\partial\hat{x}^{%d})$",
}


#: The quantity each kind of figure shows, for its title (so that a PNG says what it plots on its own).
TITLES = {
    "sharpness": r"Sharpness $\lambda_1$ of the training-loss Hessian $\mathcal{H}_\theta\tilde{\mathcal{L}}$, "
                 r"of $H$ and of $G$",
    "overlap": r"Overlap ratio $\rho(K)$ and $\mathbb{E}\|K\|^2_{\max}$",
    "layers135": r"Layerwise $\mathbb{E}\|K^i\|^2_{\max}$, layers $i$ = 1, 3, 5",
    "layers": r"Layerwise $\mathbb{E}\|K^i\|^2_{\max}$, every layer $i$",
    "components": r"Factors of $\mathbb{E}\|\Delta^1\|^2_{\max}$ (Eq. 7), each relative to its value at $t_0$",
    "chi2": r"Mean squared activation ratios $\mathbb{E}(\chi^i)^2$",
    "r_chi": r"Alignment ratios $r(\chi^i, \Delta^i/\chi^i)$",
    "EJ2": r"Layerwise Jacobian norms $\mathbb{E}\|\partial\hat{x}^{i+1}/\partial\hat{x}^i\|^2_{\max}$",
    "r_DeltaJ": r"Alignment ratios $r(\Delta^{i+1}, \partial\hat{x}^{i+1}/\partial\hat{x}^i)$",
}


def figure_title(number: str | Figure) -> str:
    """E.g. "Figure 2. Overlap ratio ρ(K) and E‖K‖²_max — CIFAR-10, cross-entropy" (in mathtext)."""
    spec = number if isinstance(number, Figure) else figure_spec(number)
    label = f"Figure {int(spec.number)}" + (" (variant)" if spec.is_variant else "")
    # A data set of no paper's (e.g. a SharpnessMonitor run's name) is titled by its own name.
    return f"{label}. {TITLES[spec.kind]} — {NAMES.get(spec.dataset, spec.dataset)}, {CRITERION_NAMES[spec.criterion]}"


@dataclass
class Panel:
    metric: str
    layer: int | None
    ylabel: str
    title: str | None = None
    relative: bool = False


def _layer_label(metric: str, i: int) -> str:
    if metric in ("EK2_layer", "chi2"):
        return SYMBOLS[metric] % i
    if metric == "r_chi":
        return SYMBOLS[metric] % (i, i, i)
    if metric == "EJ2":
        return SYMBOLS[metric] % (i + 1, i)
    return SYMBOLS[metric] % (i + 1, i + 1, i)  # r_DeltaJ


def panels(kind: str, depth: int) -> list[Panel]:
    if kind == "sharpness":
        return [Panel(m, None, SYMBOLS[m]) for m in ("sharpness_hessian", "sharpness_H", "sharpness_G")]
    if kind == "overlap":
        return [Panel(m, None, SYMBOLS[m]) for m in ("rho_K", "EK2")]
    if kind == "layers135":
        return [Panel("EK2_layer", i, _layer_label("EK2_layer", i), f"layer $i = {i}$") for i in (1, 3, 5)]
    if kind == "layers":
        return [Panel("EK2_layer", i, _layer_label("EK2_layer", i), f"layer $i = {i}$")
                for i in range(1, depth + 1)]
    if kind == "components":
        out = [Panel(m, 1, SYMBOLS[m] + r"$(t)\,/\,$" + SYMBOLS[m] + r"$(t_0)$", relative=True)
               for m in ("Pi_chi", "P_chi", "Pi_J", "P_DeltaJ")]
        return out + [Panel("EDeltaL2", None, SYMBOLS["EDeltaL2"] + r"$(t)\,/\,$" + SYMBOLS["EDeltaL2"]
                            + r"$(t_0)$", relative=True)]
    if kind in ("chi2", "r_chi", "EJ2", "r_DeltaJ"):
        return [Panel(kind, i, _layer_label(kind, i), f"layer $i = {i}$") for i in range(1, depth)]
    raise ValueError(f"unknown figure kind {kind!r}")


def draw_figure(number: str, frame: pd.DataFrame, transient_iterations: int = 10, dataset: str | None = None,
                criterion: str | None = None):
    """Draw figure ``number`` from ``frame`` (rows of its data set × criterion, or of ``dataset`` ×
    ``criterion`` for a variant, :mod:`eoslab.studies.jacobian_alignment.catalog`); returns the matplotlib Figure."""
    spec = figure_spec(number, dataset, criterion)
    rows = frame[(frame["dataset"] == spec.dataset) & (frame["criterion"] == spec.criterion)]
    if rows.empty:
        raise ValueError(f"figure {number} needs runs of {spec.dataset} with {spec.criterion}; the table has none")
    rows, note = usable_runs(rows)
    apply_style()
    if rows.empty:  # every run diverged: a figure that says so, so the rest of the workflow goes on
        fig, ax = plt.subplots(figsize=(6, 2.5))
        no_data(ax, "no run of this data set and criterion is usable")
        fig.suptitle(figure_title(spec), fontsize=10)
        caption_line(fig, note)
        return fig
    depth = network_depth(rows)
    if spec.kind == "layers135" and depth < 5:
        raise ValueError(f"figure {number} shows layers 1, 3 and 5 but the networks have depth {depth}")
    layout = panels(spec.kind, depth)
    colours = size_colours(rows["size"].unique())
    ncols = min(3, len(layout))
    nrows = math.ceil(len(layout) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.6 * nrows), squeeze=False)
    flat = axes.ravel()
    panel_series = []
    for panel in layout:
        series = metric_series(rows, panel.metric, panel.layer)
        if series.empty:
            raise ValueError(f"figure {number}: no values of {panel.metric} (layer {panel.layer})")
        if panel.relative:
            series = relative_to_reference(series, transient_iterations)
        panel_series.append(series)
    markers = needs_markers(*[s for s in panel_series if not s.empty])  # one choice for the whole figure
    for ax, panel, series in zip(flat, layout, panel_series):
        if series.empty or not series["value"].notna().any():
            no_data(ax, f"no snapshot at iteration ≥ {transient_iterations} (t₀)" if panel.relative
                    else "no finite values")
            ax.set_ylabel(panel.ylabel)
            if panel.title:
                ax.set_title(panel.title)
            continue
        plot_runs(ax, series, colours, markers=markers)
        finish_axes(ax, panel.ylabel, series["value"].to_numpy(dtype=float), panel.title)
    for ax in flat[len(layout):]:
        fig.delaxes(ax)
    fig.suptitle(figure_title(spec), fontsize=10)
    size_legend(fig, colours)
    fig.tight_layout()
    if note:
        caption_line(fig, note)
    return fig


def render_figure(number: str, frame: pd.DataFrame, stem: str | os.PathLike,
                  transient_iterations: int = 10, dataset: str | None = None,
                  criterion: str | None = None) -> list[Path]:
    fig = draw_figure(number, frame, transient_iterations, dataset, criterion)
    return save_and_close(fig, stem)

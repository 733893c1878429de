"""One plotting style for every study's figures: the seaborn theme, axes finishing, atomic saving.

Study-specific drawing (which runs, which colours) lives in each study's ``figures`` module."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402

from .io import atomic_write  # noqa: E402

#: Ratio max/min above which a panel gets a logarithmic y axis.
LOG_SPAN = 20.0
X_LABEL = "integration time $t$"


def apply_style() -> None:
    sns.set_theme(context="paper", style="ticks", font_scale=1.0)
    plt.rcParams.update({"figure.dpi": 100, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
                         "mathtext.fontset": "dejavusans"})


def finish_axes(ax, ylabel: str, values: np.ndarray, title: str | None = None, xlabel: str = X_LABEL) -> None:
    """Labels, title, a logarithmic y axis when the finite values span more than ``LOG_SPAN``, despined."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > LOG_SPAN:
        ax.set_yscale("log")
    sns.despine(ax=ax)


def save_figure(fig, stem: str | os.PathLike) -> list[Path]:
    """Write ``stem.pdf`` and ``stem.png`` atomically."""
    paths = []
    for ext in ("pdf", "png"):
        path = Path(f"{stem}.{ext}")
        atomic_write(path, lambda tmp, ext=ext: fig.savefig(tmp, format=ext, dpi=200, bbox_inches="tight"))
        paths.append(path)
    return paths


def save_and_close(fig, stem: str | os.PathLike) -> list[Path]:
    """:func:`save_figure`, then close ``fig`` (also when writing fails), so a loop of figures frees memory."""
    try:
        return save_figure(fig, stem)
    finally:
        plt.close(fig)

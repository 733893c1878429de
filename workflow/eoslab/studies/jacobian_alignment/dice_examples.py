"""Figure 5: examples of the synthetic dice images, one column per class."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...datasets.pools import load_pool
from ...plotting import plt, save_figure


def figure05(pool_path: str | os.PathLike, stem: str | os.PathLike, rows: int = 6) -> list[Path]:
    """A grid of the first ``rows`` test images of every class, drawn as stored (a white-background pool
    shows black ink on white; a black-background pool, whose pixels are ink intensity, is shown the
    same way round, so the two look alike and only the card says which the network saw)."""
    arrays, card = load_pool(pool_path)
    X, y, names = arrays["X_test"], arrays["y_test"], card["class_names"]
    if X.ndim == 4:  # channels = 3: identical channels, show the first
        X = X[:, 0]
    # Pools written before the background option stored ink intensity on black.
    cmap = "gray" if card.get("background", "black") == "white" else "gray_r"
    fig, axes = plt.subplots(rows, len(names), figsize=(1.1 * len(names), 1.1 * rows))
    for c, name in enumerate(names):
        examples = np.flatnonzero(y == c)[:rows]
        for r in range(rows):
            ax = axes[r, c]
            ax.imshow(X[examples[r]], cmap=cmap, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle(f"Figure 5: examples of synthetic imagery (one column per class; {card.get('background', 'black')} "
                 "background as the network sees it)", fontsize=9)
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths

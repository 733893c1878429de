"""Generic input and label transforms: ZCA whitening, parity labels, flattening.

ZCA whitening (Bell & Sejnowski 1997).  For inputs ``X`` (``N × d``), centred by their mean
``μ``, with covariance ``Σ = (X − μ)ᵀ(X − μ)/N = U diag(s) Uᵀ``, the ZCA transform is

    W = U diag((s + ε)^{−1/2}) Uᵀ,        x ↦ W (x − μ),

the symmetric whitening matrix (it rotates back into the pixel basis, so whitened images still
look like images).  ``ε = regularization · mean(s)`` (``mean(s) = tr Σ / d``) keeps directions
with no variance finite; with ``ε = 0`` and ``N > d`` full-rank inputs the whitened covariance is
exactly the identity.  The transform is fitted once (:func:`fit_zca`) and applied to any split
(:func:`apply_zca`), so test inputs are whitened with the training statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ZCA:
    """A fitted ZCA transform: ``x ↦ matrix @ (x − mean)``."""

    mean: np.ndarray     # (d,)
    matrix: np.ndarray   # (d, d), symmetric
    epsilon: float       # the absolute regulariser added to the covariance eigenvalues


def fit_zca(X: np.ndarray, regularization: float = 0.0) -> ZCA:
    """Fit ZCA on rows of ``X`` (``N × d``, any real dtype; computed in float64).

    ``regularization`` is relative to the mean covariance eigenvalue (module docstring).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"ZCA needs a 2-d array with at least two rows, got shape {X.shape}")
    if not regularization >= 0:
        raise ValueError(f"ZCA regularization must be >= 0, got {regularization!r}")
    mean = X.mean(axis=0)
    centred = X - mean
    covariance = centred.T @ centred / X.shape[0]
    s, U = np.linalg.eigh(covariance)
    s = np.clip(s, 0.0, None)
    epsilon = float(regularization * s.mean())
    kept = s + epsilon > 1e-12 * max(s.max(), 1e-300)
    if regularization == 0 and not kept.all():
        raise ValueError(f"ZCA without regularization needs full-rank inputs: {int((~kept).sum())} of "
                         f"{X.shape[1]} covariance eigenvalues vanish; pass regularization > 0")
    scale = np.zeros_like(s)
    scale[kept] = 1.0 / np.sqrt(s[kept] + epsilon)
    return ZCA(mean=mean, matrix=(U * scale) @ U.T, epsilon=epsilon)


def apply_zca(zca: ZCA, X: np.ndarray) -> np.ndarray:
    """Whiten rows of ``X`` with a fitted transform (float64)."""
    return (np.asarray(X, dtype=np.float64) - zca.mean) @ zca.matrix  # matrix is symmetric


def parity_labels(labels: np.ndarray) -> np.ndarray:
    """Digit labels to ±1 targets: ``+1`` for odd digits, ``−1`` for even ones (float64)."""
    labels = np.asarray(labels)
    return np.where(labels % 2 == 1, 1.0, -1.0)


def flatten_images(images: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """``(N, h, w)`` uint8 images to ``(N, h·w)`` float64 rows in ``[0, 1]``."""
    images = np.asarray(images)
    return images.reshape(images.shape[0], -1).astype(np.float64) / scale

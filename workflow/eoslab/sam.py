"""SAM's edge of stability (Long & Bartlett 2023, Proposition 2 and Figure 1).

For the SAM update (Eq. 1) on a quadratic whose gradient ``g`` is aligned with a principal
eigenvector, one step decreases the loss iff ``‖H‖_op`` is below the *SAM-edge*

    S(η, ρ, ‖g‖) = (‖g‖ / 2ρ) (√(1 + 8ρ / (η‖g‖)) − 1),

the positive root of ``ηρλ² + η‖g‖λ − 2‖g‖ = 0`` (proof of Proposition 3).  Gradient descent
(``ρ = 0``) has the edge ``2/η``.  The ratio of the two depends only on
``α = η‖g‖ / (2ρ)``:

    S / (2/η) = r(α) = (α/2) (√(1 + 4/α) − 1),

which tends to 1 as ``α → ∞`` (``ρ → 0`` or large gradients: SAM's edge is GD's) and to
``√α`` as ``α → 0`` (small gradients: ``S → √(2‖g‖ / (ηρ))``).

Numerics: the formulas are evaluated in the equivalent forms
``S = 4 / (η (√(1 + 8ρ/(η‖g‖)) + 1))`` and ``r(α) = 2 / (√(1 + 4/α) + 1)``, which have no
cancellation, give the limits exactly (``ρ = 0`` → ``2/η``; ``‖g‖ = 0`` → 0) and work
elementwise on arrays.
"""

from __future__ import annotations

import numpy as np


def _as_array(value, name: str, positive: bool = False) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if np.any(np.isnan(array)):
        raise ValueError(f"{name} must not be NaN")
    if positive and np.any(array <= 0):
        raise ValueError(f"{name} must be positive, got {value!r}")
    if np.any(array < 0):
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return array


def gd_edge(lr):
    """``2/η``: the edge of stability of gradient descent (Proposition 1)."""
    return 2.0 / _as_array(lr, "η", positive=True)


def sam_edge(lr, rho, grad_norm):
    """``S(η, ρ, ‖g‖)`` of Proposition 2 (elementwise); ``2/η`` at ``ρ = 0``, 0 at ``‖g‖ = 0 < ρ``."""
    lr = _as_array(lr, "η", positive=True)
    rho = _as_array(rho, "ρ")
    grad_norm = _as_array(grad_norm, "‖g‖")
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(rho == 0, 0.0, 8.0 * rho / (lr * grad_norm))  # 8ρ/(η‖g‖); inf when ‖g‖ = 0 < ρ
        edge = 4.0 / (lr * (np.sqrt(1.0 + c) + 1.0))
    return edge if edge.ndim else float(edge)


def alpha(lr, rho, grad_norm):
    """``α = η‖g‖ / (2ρ)``, the one quantity the ratio ``S / (2/η)`` depends on (∞ at ρ = 0)."""
    lr = _as_array(lr, "η", positive=True)
    rho = _as_array(rho, "ρ")
    grad_norm = _as_array(grad_norm, "‖g‖")
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(rho == 0, np.inf, lr * grad_norm / (2.0 * rho))
    return value if value.ndim else float(value)


def edge_ratio(alpha_value):
    """``r(α) = S / (2/η) = (α/2)(√(1 + 4/α) − 1)`` (Figure 1); ``r(∞) = 1``, ``r(α) ≈ √α`` as α → 0."""
    a = _as_array(alpha_value, "α")
    with np.errstate(divide="ignore"):
        ratio = 2.0 / (np.sqrt(1.0 + 4.0 / a) + 1.0)
    return ratio if ratio.ndim else float(ratio)


def small_gradient_limit(lr, rho, grad_norm):
    """``√(2/η) · √(‖g‖/ρ)``: what ``S`` approaches as ``α → 0`` (the paper's remark after Figure 1)."""
    lr = _as_array(lr, "η", positive=True)
    rho = _as_array(rho, "ρ", positive=True)
    value = np.sqrt(2.0 / lr) * np.sqrt(_as_array(grad_norm, "‖g‖") / rho)
    return value if value.ndim else float(value)

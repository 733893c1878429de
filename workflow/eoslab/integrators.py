"""One step of the training dynamics: exponential Euler (Supplement 7.2) or gradient descent.

Gradient flow ``dθ/dt = −∇L̃(θ)`` is split, at the current point ``θ₀``, along
the top ``k`` Hessian eigenvectors ``v_m`` (eigenvalues ``λ_m``) and the residual::

    ∇L̃(θ₀) = Σ_m c_m v_m + w,      c_m = ∇L̃(θ₀)ᵀ v_m.

Linearising the gradient along each ``v_m`` gives ``dr_m/dt = −c_m − λ_m r_m``
for the coordinate ``r_m = (θ_t − θ₀)ᵀ v_m``, solved exactly by::

    r_m(Δt) = −c_m · φ(λ_m, Δt),      φ(λ, Δt) = (1 − e^{−λΔt}) / λ = −expm1(−λΔt) / λ,

with the limit ``φ(0, Δt) = Δt``; ``expm1`` keeps ``φ`` accurate for ``|λΔt| ≪ 1``.
The residual is advanced by explicit Euler, ``−w Δt``.  The step size is
``Δt = min(1/λ_{k+1}, η)`` from the ``(k+1)``-th eigenvalue (``Δt = η`` when
``λ_{k+1} ≤ 0``, where ``1/λ_{k+1}`` is no stability limit).  So::

    θ₁ = θ₀ − Σ_m min(φ(λ_m, Δt), η) · c_m v_m − Δt · w.

How we read the paper's cap ``r_m = min((1/λ_m)(e^{−λ_m t} − 1), η) · c_m``.
Taken literally the first argument is negative for ``λ_m > 0`` and the min
would always pick it, so the cap would never act; the text's intent ("early in
training ... r_m(t) may be unreasonably large") is a cap on the *magnitude* of
the step coefficient, which is ``φ(λ_m, Δt)``.  For ``λ_m ≥ 0``,
``φ ≤ Δt ≤ η``, so the cap changes nothing; it binds only for ``λ_m < 0``
(``φ = (e^{|λ|Δt} − 1)/|λ|`` grows exponentially), which happens early in
training when one of the top ``k`` algebraic eigenvalues is negative.  We
therefore use ``min(φ(λ_m, Δt), η)``.  (The paper also mixes ``λ_m(θ_t)`` and
``λ_m(θ₀)`` and writes ``r_m(0)`` for ``r_m(Δt)``; all are ``θ₀`` quantities at
``t = Δt`` here.)

Magnitude order.  The paper's power iteration (Supplement 7.1) returns the
top eigenpairs by *absolute value*, and so does the authors' later library
``stable-solvers`` (0.1, ``ExponentialEulerSolver``), which takes
``Δt = min(η, 1/|λ_{k+1}|)`` and caps the stiff coefficients at ``Δt``
instead of ``η``.  ``order="magnitude"`` takes ``eigenvalues`` ordered by
``|λ|`` and the time step from ``|λ_{k+1}|``; ``cap="dt"`` caps ``φ`` at ``Δt``.
For ``λ_m ≥ 0`` both caps change nothing (``φ ≤ Δt``); for ``λ_m < 0`` the
``Δt`` cap turns the step along ``v_m`` into explicit Euler, the ``η`` cap
lets it grow up to ``η``.

On a quadratic whose Hessian has rank ≤ ``k`` the step is the exact gradient
flow for any ``Δt`` (the tests check this against the closed-form solution).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class StepInfo:
    """What a step did: the time advanced and the split of the gradient."""

    dt: float
    coefficients: torch.Tensor | None = None   # c_m
    phi: torch.Tensor | None = None            # capped φ(λ_m, Δt)
    residual_norm: float | None = None         # ‖w‖


def phi_function(lam: torch.Tensor, dt: float) -> torch.Tensor:
    """``φ(λ, Δt) = (1 − e^{−λΔt}) / λ`` elementwise, with ``φ(0, Δt) = Δt``."""
    x = lam * dt
    safe = torch.where(x == 0, torch.ones_like(x), x)
    ratio = torch.where(x == 0, torch.ones_like(x), -torch.expm1(-safe) / safe)
    return dt * ratio


ORDERS = ("algebraic", "magnitude")
CAPS = ("lr", "dt")


def exponential_euler_time_step(next_eigenvalue: float, lr: float, order: str = "algebraic") -> float:
    """``Δt = min(1/λ_{k+1}, η)``, and ``η`` when ``λ_{k+1} ≤ 0``; ``order="magnitude"``:
    ``Δt = min(1/|λ_{k+1}|, η)``."""
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {list(ORDERS)}, got {order!r}")
    if order == "magnitude":
        next_eigenvalue = abs(next_eigenvalue)
    if next_eigenvalue > 0:
        return min(1.0 / next_eigenvalue, lr)
    return lr


def exponential_euler_step(theta: torch.Tensor, gradient: torch.Tensor, eigenvalues: torch.Tensor,
                           eigenvectors: torch.Tensor, lr: float, *, order: str = "algebraic",
                           cap: str = "lr") -> tuple[torch.Tensor, StepInfo]:
    """One exponential Euler step (Supplement 7.2).

    ``theta``, ``gradient``: flat (P,).  ``eigenvalues``: the top ``k + 1``
    eigenvalues of the Hessian at ``theta`` in ``order`` (algebraic:
    descending; magnitude: by ``|λ|`` descending); ``eigenvectors``: (P, k) for
    the first ``k`` of them (orthonormal columns).  ``cap``: ``"lr"`` caps the
    stiff coefficients ``φ`` at ``η`` (our reading of the paper), ``"dt"`` at
    ``Δt`` (``stable-solvers``).  Returns the new flat parameters and a
    :class:`StepInfo`.
    """
    k = eigenvectors.shape[1]
    if eigenvalues.shape[0] != k + 1:
        raise ValueError(f"need k+1 = {k + 1} eigenvalues for k = {k} eigenvectors, got {eigenvalues.shape[0]}")
    if cap not in CAPS:
        raise ValueError(f"cap must be one of {list(CAPS)}, got {cap!r}")
    dt = exponential_euler_time_step(float(eigenvalues[k]), lr, order)
    c = eigenvectors.T @ gradient
    phi = torch.clamp(phi_function(eigenvalues[:k], dt), max=lr if cap == "lr" else dt)
    w = gradient - eigenvectors @ c
    theta_new = theta - eigenvectors @ (phi * c) - dt * w
    return theta_new, StepInfo(dt=dt, coefficients=c, phi=phi, residual_norm=float(w.norm()))


def gradient_descent_step(theta: torch.Tensor, gradient: torch.Tensor, lr: float) -> tuple[torch.Tensor, StepInfo]:
    """``θ_{u+1} = θ_u − η ∇L̃(θ_u)`` (Section 2.1); integration time advances by ``η``."""
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    return theta - lr * gradient, StepInfo(dt=lr)

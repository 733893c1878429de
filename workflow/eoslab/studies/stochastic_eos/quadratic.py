r"""The quadratic regression model of §3 and Appendix B: conservative sharpening.

Model (Eqs. 12–13, 103–112): ``f(θ) = J₀θ + ½ Q(θ, θ)`` with ``D`` outputs and ``P``
parameters, ½-scaled MSE against targets ``y``, so the Jacobian is ``J(θ) = J₀ + Q(θ, ·)`` and
minibatch SGD ``θ' = θ − (η/B) J(θ)ᵀ P z`` moves both the residual ``z = f − y`` and ``J``.  The
model curvature is the tensor (Eq. 13)

    Q_{ijk} = Σ_α u_{iα} (Q_α)_{jk},

with ``u_α`` the left singular vectors of ``J₀`` (singular values ``σ_α``) and symmetric random
``Q_α = q_α (A + Aᵀ)/√2``, ``A`` i.i.d. ``N(0, 1)``: off-diagonal entries of variance ``q_α²``,
diagonal ``2q_α²``.  ``q_α² = ε² g(σ_α)/P`` with ``g ≡ 1`` (``flat``: the i.i.d. tensor) or
``g(σ) = σ²/mean(σ²)`` (``shaped``: more curvature along the large NTK modes, "correlated
weighting"; the paper's exact shape was lost, this is our choice, with the same mean).

Estimators (Eqs. 14–15): with the initial singular triples ``(u_α, v_α, σ_α)`` held fixed,
``σ̂_α(t) = u_αᵀ J(θ_t) v_α`` and ``λ̂_α(t) = σ̂_α(t)²/D`` (``Θ̂ = JJᵀ/D``), and the discrete
derivatives ``Δλ̂_t = λ̂_{t+1} − λ̂_t``, ``Δ²λ̂_t = λ̂_{t+2} − 2λ̂_{t+1} + λ̂_t``.

First derivative at ``t = 0`` (our derivation of the first part of Theorem 3.1 / Eq. 117): from
``θ₀ = 0``, ``J(θ₀) = J₀`` and ``Δθ = −(η/B) J₀ᵀ P z₀`` do not depend on ``Q``, and
``Δσ̂_α = v_αᵀ Q_α Δθ`` (``u_αᵀu_γ = δ_αγ``) has mean zero, so

    E Δλ̂_α = E[Δσ̂_α²]/D = (q_α²/D) E_P[‖Δθ‖² + (v_αᵀΔθ)²],
    E_P ‖Δθ‖²      = (η/B)² [β₂ z₀ᵀKz₀ + (β − β₂) Σ_i K_ii z₀ᵢ²],           K = J₀J₀ᵀ,
    E_P (v_αᵀΔθ)²  = (η/B)² σ_α² [β₂ (u_αᵀz₀)² + (β − β₂) Σ_i u_{iα}² z₀ᵢ²]

(:func:`first_derivative_theory`).  For ``z₀`` with i.i.d. entries of variance ``s²``,
``E‖Δθ‖² = η² s² tr Θ̂ / B``: at fixed ``η`` the first step sharpens *more* at small ``B``.
The second derivative is measured (seed averages), not predicted: its closed form (Eqs. 118–129)
did not survive the text extraction, and we do not claim to reproduce it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ... import noise_kernel as nk
from ...optimizers import minibatch_indices

SHAPES = ("flat", "shaped")


@dataclass(frozen=True)
class QuadraticConfig:
    num_samples: int = 100       # D
    num_parameters: int = 200    # P
    curvature_scale: float = 1.0  # ε
    batch_sizes: tuple = (1, 4, 16, 100)
    lr: float = 0.01
    steps: int = 300
    seeds: int = 20
    top_modes: int = 3
    seed: int = 0


@dataclass
class QuadraticModel:
    J0: torch.Tensor        # (D, P)
    U: torch.Tensor         # (D, D) left singular vectors of J0 (columns)
    S: torch.Tensor         # (D,) singular values, descending
    Vr: torch.Tensor        # (P, D) right singular vectors
    Qs: torch.Tensor        # (D, P, P) the Q_α
    y: torch.Tensor         # (D,)

    @property
    def num_samples(self) -> int:
        return self.J0.shape[0]

    def jacobian_and_residual(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``J(θ) = J₀ + Σ_α u_α (Q_α θ)ᵀ`` and ``z = J₀θ + ½ Σ_α u_α θᵀQ_αθ − y``."""
        D, P = self.J0.shape
        Qtheta = (self.Qs.view(D * P, P) @ theta).view(D, P)        # rows Q_α θ
        return self.J0 + self.U @ Qtheta, self.J0 @ theta + 0.5 * self.U @ (Qtheta @ theta) - self.y


def curvature_weights(singular_values: np.ndarray, shape: str) -> np.ndarray:
    """``g(σ_α)``: 1 (flat) or ``σ²/mean(σ²)`` (shaped)."""
    if shape == "flat":
        return np.ones_like(singular_values)
    if shape == "shaped":
        return singular_values ** 2 / np.mean(singular_values ** 2)
    raise ValueError(f"quadratic-model shape must be one of {list(SHAPES)}, got {shape!r}")


def make_model(D: int, P: int, shape: str, curvature_scale: float, seed: int, sign: int = 1) -> QuadraticModel:
    """One random quadratic model: flat ``J₀`` (i.i.d. ``N(0, D/P)``), targets ``y ~ N(0, I)``;
    ``sign = −1`` gives the antithetic twin with ``−Q`` (same ``J₀``, ``y``)."""
    if P < D:
        raise ValueError(f"the quadratic model needs P >= D, got P = {P}, D = {D}")
    rng = np.random.default_rng([seed, SHAPES.index(shape)])
    J0 = rng.normal(size=(D, P)) * math.sqrt(D / P)
    U, S, Vt = np.linalg.svd(J0, full_matrices=False)
    q = curvature_scale * np.sqrt(curvature_weights(S, shape) / P)
    A = rng.normal(size=(D, P, P))
    Qs = sign * q[:, None, None] * (A + A.transpose(0, 2, 1)) / math.sqrt(2.0)
    y = rng.normal(size=D)
    as_tensor = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64)  # noqa: E731
    return QuadraticModel(as_tensor(J0), as_tensor(U), as_tensor(S), as_tensor(Vt.T), as_tensor(Qs), as_tensor(y))


def first_derivative_theory(model: QuadraticModel, lr: float, batch_size: int, curvature_scale: float,
                            shape: str, modes: int) -> np.ndarray:
    """``E Δλ̂_α`` at ``t = 0`` over ``P`` and ``Q`` for the top ``modes`` modes (module docstring)."""
    J0, U, S = model.J0.numpy(), model.U.numpy(), model.S.numpy()
    D, P = J0.shape
    z0 = -model.y.numpy()
    s = nk.BatchSampling(D, batch_size)
    K = J0 @ J0.T
    step = (lr / batch_size) ** 2
    theta_norm = step * (s.beta2 * z0 @ K @ z0 + (s.beta - s.beta2) * np.sum(np.diag(K) * z0 ** 2))
    q2 = curvature_scale ** 2 * curvature_weights(S, shape) / P
    out = []
    for alpha in range(modes):
        u = U[:, alpha]
        along = step * S[alpha] ** 2 * (s.beta2 * (u @ z0) ** 2 + (s.beta - s.beta2) * np.sum(u ** 2 * z0 ** 2))
        out.append(q2[alpha] * (theta_norm + along) / D)
    return np.asarray(out)


@torch.no_grad()
def run(model: QuadraticModel, lr: float, batch_size: int, steps: int, modes: int, seed: int) -> pd.DataFrame:
    """SGD from ``θ₀ = 0``: per step the loss, λ_max(Θ̂_t) and the estimators λ̂_α(t) of the top modes."""
    D, P = model.J0.shape
    generator = torch.Generator().manual_seed(seed)
    theta = torch.zeros(P, dtype=torch.float64)
    u, v = model.U[:, :modes], model.Vr[:, :modes]
    rows = []
    for step in range(steps + 1):
        J, z = model.jacobian_and_residual(theta)
        loss = float(z @ z) / (2 * D)
        if not math.isfinite(loss):
            break
        lam_max = float(torch.linalg.eigvalsh(J @ J.T / D)[-1])
        sigma_hat = torch.einsum("ia,ij,ja->a", u, J, v)
        rows.append({"step": step, "loss": loss, "lambda_max": lam_max,
                     **{f"lambda_hat_{a + 1}": float(sigma_hat[a] ** 2 / D) for a in range(modes)}})
        if step == steps:
            break
        index = minibatch_indices(D, batch_size, generator)
        theta = theta - (lr / batch_size) * J[index].T @ z[index]
    return pd.DataFrame(rows)


def experiment(shape: str, config: QuadraticConfig, progress=None) -> pd.DataFrame:
    """All batch sizes × seeds of one curvature shape, long table with the theory's ``E Δλ̂_α(0)``.

    Each seed is an antithetic pair (``Q`` and ``−Q``, same ``J₀``, ``y`` and minibatches): the
    term ``2σ_α Δσ̂_α`` of ``Δλ̂_α``, odd in ``Q`` with mean zero, cancels within the pair, so the
    seed average estimates ``E Δλ̂`` with far fewer seeds (variance reduction only; every run is
    a plain SGD run of one model).
    """
    frames = []
    for seed in range(config.seeds):
        for sign in (1, -1):
            model = make_model(config.num_samples, config.num_parameters, shape, config.curvature_scale,
                               config.seed * 1000 + seed, sign)
            for batch_size in config.batch_sizes:
                frame = run(model, config.lr, int(batch_size), config.steps, config.top_modes,
                            seed=(config.seed * 1000 + seed) * 7919 + int(batch_size))
                theory = first_derivative_theory(model, config.lr, int(batch_size), config.curvature_scale, shape,
                                                 config.top_modes)
                for a in range(config.top_modes):
                    frame[f"first_derivative_theory_{a + 1}"] = theory[a]
                frame.insert(0, "sign", sign)
                frame.insert(0, "seed", seed)
                frame.insert(0, "batch_size", int(batch_size))
                frame.insert(0, "shape", shape)
                frames.append(frame)
                if progress is not None:
                    progress.update(1)
    return pd.concat(frames, ignore_index=True)


def discrete_derivatives(frame: pd.DataFrame, modes: int, window: int = 1) -> pd.DataFrame:
    """Seed-averaged ``λ̂_α`` per (shape, B, step), then ``Δλ̂`` and ``Δ²λ̂`` (Eq. 15), averaged over
    the first ``window`` steps."""
    mean = frame.groupby(["shape", "batch_size", "step"], as_index=False).mean(numeric_only=True)
    rows = []
    for (shape, batch_size), part in mean.groupby(["shape", "batch_size"]):
        part = part.sort_values("step")
        for a in range(1, modes + 1):
            lam = part[f"lambda_hat_{a}"].to_numpy()
            first = np.diff(lam)[:window].mean()
            second = np.diff(lam, 2)[:window].mean()
            rows.append({"shape": shape, "batch_size": batch_size, "mode": a, "first_derivative": first,
                         "second_derivative": second,
                         "first_derivative_theory": float(part[f"first_derivative_theory_{a}"].iloc[0])})
    return pd.DataFrame(rows)

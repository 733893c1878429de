"""The linear model of §2 and Appendix A.4: stability measures vs η and Monte-Carlo SGD.

Model: ``f(θ) = Jθ`` with a fixed ``D × P`` Jacobian, targets ``y``, ½-scaled MSE, so the
residual ``z = Jθ − y`` follows ``z' = z − (η/B) J Jᵀ P z`` exactly (``Θ̂ = JJᵀ/D``).  Three
Jacobians (Appendix A.4; the scales are our choices, the paper's were lost):

* ``flat`` — i.i.d. Gaussian ``J`` (``J_ij ~ N(0, D/P)``): Marchenko–Pastur spectrum of
  ``Θ̂`` (mean 1), delocalised eigenvectors;
* ``dispersed`` — ``Θ̂ = V diag(λ) Vᵀ`` with the power law ``λ_α ∝ 1/α`` (mean 1) and Haar
  eigenvectors ``V`` (``J = V diag(√(Dλ)) Wᵀ`` with Haar orthonormal ``W``, ``P × D``);
* ``localised`` — ``J = √D [diag(v) | 0] + G`` with ``v_i ~ N(0, σ_loc²)`` and the flat ``G``:
  extra weight on the diagonal of ``Θ̂``, eigenvectors localised in the coordinate basis.

Appendix A.4's failure case (:func:`localisation_point`): the same localised family over a range of
``σ_loc``, from 0 (flat, delocalised) to strongly localised, with the Monte-Carlo divergence
boundary and K̃ measured exactly there.  K̃ is exact for the diagonal of ``M̃`` at both ends
(Haar-like eigenvectors at large ``D``; coordinate eigenvectors, where ``M̃ = M``); in between the
dropped off-diagonal ``M̃_αβ`` feed the instability and SGD diverges at K̃ well below 1.

For each ``η`` of a sweep: ``ηλ_max/2``, λ_max(𝒯) (exact, on the range of Θ̂), K̃, K̃_HD, K̃_tr,
the exact expected loss after ``T`` steps, ``E L_T = tr 𝒯ᵀ(z₀z₀ᵀ)/2D``, and the Monte-Carlo
mean/median loss of ``R`` independent SGD runs (exactly ``B`` of ``D`` per step without
replacement), from ``θ₀ = 0`` (``z₀ = −y``, ``y ~ N(0, I)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ... import noise_kernel as nk

SETTINGS = ("flat", "dispersed", "localised")
#: A replica whose loss grew by this factor over its initial loss is counted as diverged and frozen.
DIVERGENCE_FACTOR = 1e12


@dataclass(frozen=True)
class LinearConfig:
    num_samples: int = 100          # D
    num_parameters: int = 200       # P
    batch_size: int = 2             # B
    localised_scale: float = 2.0    # σ_loc
    lr_fractions: tuple = ()        # η in units of 2/λ_max(Θ̂)
    steps: int = 1000               # T
    replicas: int = 100             # R
    trajectory_every: int = 10
    seed: int = 0


def haar_orthonormal(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random ``rows × cols`` matrix with orthonormal columns (sign-fixed QR)."""
    Q, R = np.linalg.qr(rng.normal(size=(rows, cols)))
    return Q * np.sign(np.diag(R))


def make_jacobian(setting: str, D: int, P: int, rng: np.random.Generator, localised_scale: float = 2.0) -> np.ndarray:
    """The ``D × P`` Jacobian of one setting (module docstring)."""
    if setting == "flat":
        return rng.normal(size=(D, P)) * math.sqrt(D / P)
    if setting == "dispersed":
        if P < D:
            raise ValueError(f"the dispersed setting needs P >= D, got P = {P}, D = {D}")
        lam = 1.0 / np.arange(1, D + 1)
        lam *= D / lam.sum()
        return haar_orthonormal(D, D, rng) @ (np.sqrt(D * lam)[:, None] * haar_orthonormal(P, D, rng).T)
    if setting == "localised":
        if P < D:
            raise ValueError(f"the localised setting needs P >= D, got P = {P}, D = {D}")
        J = rng.normal(size=(D, P)) * math.sqrt(D / P)
        J[:, :D] += math.sqrt(D) * np.diag(rng.normal(size=D) * localised_scale)
        return J
    raise ValueError(f"linear-model setting must be one of {list(SETTINGS)}, got {setting!r}")


def batched_minibatches(replicas: int, num_samples: int, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """``(replicas, batch_size)`` indices: per row a uniform subset of exactly ``batch_size`` of
    ``num_samples`` without replacement (the first ``B`` of a random permutation, as
    :func:`eoslab.optimizers.minibatch_indices` draws one; vectorised over replicas)."""
    return torch.rand(replicas, num_samples, generator=generator, dtype=torch.float64).argsort(dim=1)[:, :batch_size]


@torch.no_grad()
def monte_carlo_sgd(ntk: np.ndarray, z0: np.ndarray, lr: float, batch_size: int, steps: int, replicas: int,
                    seed: int, record_every: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``R`` SGD runs in function space, ``z' = z − (η/β) Θ̂ P z`` (exact for the linear model).

    Returns the final losses ``L = ‖z‖²/2D`` (``(R,)``; ``inf`` for diverged replicas) and, if
    ``record_every``, the mean and median loss every ``record_every`` steps (``(k, 3)``: step,
    mean, median).
    """
    D = ntk.shape[0]
    generator = torch.Generator().manual_seed(seed)
    K = torch.as_tensor(ntk * D, dtype=torch.float64)          # J Jᵀ
    z = torch.as_tensor(z0, dtype=torch.float64).repeat(replicas, 1)
    initial = float((z[0] ** 2).sum()) / (2 * D)
    alive = torch.ones(replicas, dtype=torch.bool)
    records = []

    def losses():
        values = (z ** 2).sum(dim=1) / (2 * D)
        return torch.where(alive, values, torch.full_like(values, math.inf))

    for step in range(steps + 1):
        if record_every and step % record_every == 0:
            current = losses()
            records.append((step, float(current.mean()), float(current.median())))
        if step == steps:
            break
        index = batched_minibatches(replicas, D, batch_size, generator)
        zb = torch.gather(z, 1, index)                             # (R, B)
        update = torch.einsum("rb,rbd->rd", zb, K[index])          # Σ_{j∈b} K[j, :] z_j (K symmetric)
        z = torch.where(alive[:, None], z - (lr / batch_size) * update, z)
        grown = (z ** 2).sum(dim=1) / (2 * D) > DIVERGENCE_FACTOR * initial
        grown |= ~torch.isfinite(z).all(dim=1)
        if grown.any():
            alive &= ~grown
            z = torch.where(alive[:, None], z, torch.zeros_like(z))
    return losses().numpy(), np.asarray(records, dtype=np.float64).reshape(-1, 3)


def expected_loss(spectrum: nk.NTKSpectrum, z0: np.ndarray, lr: float, batch_size: int, steps: int) -> float:
    """``E L_T = tr 𝒯ᵀ(z₀z₀ᵀ) / 2D`` from the exact map on the range (plus the null-space part,
    which never moves).  ``inf`` once it exceeds :data:`DIVERGENCE_FACTOR` × the initial loss."""
    V = spectrum.eigenvectors
    D = V.shape[0]
    coefficients = V.T @ z0
    apply = nk._range_operator(spectrum, lr, batch_size)
    r = coefficients.size
    Mt = np.outer(coefficients, coefficients)
    # the null-space block M̃₀₀ is constant and feeds the range through Diag(M); with M̃_r0 decaying
    # deterministically, we carry the full D × D matrix when the range is not everything.
    if r == D:
        vector = Mt.reshape(-1)
        limit = DIVERGENCE_FACTOR * float(z0 @ z0)
        for _ in range(steps):
            vector = apply(vector)
            if not np.isfinite(vector).all() or np.trace(vector.reshape(r, r)) > limit:
                return math.inf
        return float(np.trace(vector.reshape(r, r))) / (2 * D)
    M = np.outer(z0, z0)
    ntk = (V * spectrum.eigenvalues) @ V.T
    for _ in range(steps):
        M = nk.second_moment_map(M, ntk, lr, batch_size)
        if not np.isfinite(M).all() or np.trace(M) > DIVERGENCE_FACTOR * float(z0 @ z0):
            return math.inf
    return float(np.trace(M)) / (2 * D)


def localisation(spectrum: nk.NTKSpectrum) -> float:
    """``D · mean_α Σ_i V_iα⁴`` (the mean inverse participation ratio of the eigenvectors × D): about 3
    for Gaussian-random (delocalised) eigenvectors, ``D`` for coordinate vectors (fully localised)."""
    return float(spectrum.num_samples * np.mean(np.diag(spectrum.coupling())))


def measures_at(spectrum: nk.NTKSpectrum, lr: float, batch_size: int, coupling: np.ndarray | None = None,
                radius: bool = True) -> dict:
    """K̃, K̃_HD, K̃_tr (and λ_max(𝒯)) evaluated exactly at one η (NaN for a NaN η)."""
    if not math.isfinite(lr):
        return {"K": math.nan, "K_hd": math.nan, "K_tr": math.nan, **({"radius": math.nan} if radius else {})}
    D = spectrum.num_samples
    out = {"K": nk.noise_kernel_norm(spectrum, lr, batch_size, coupling),
           "K_hd": nk.noise_kernel_norm_hd(spectrum.eigenvalues, lr, batch_size, D),
           "K_tr": nk.noise_kernel_norm_trace(spectrum.trace, lr, batch_size, D)}
    if radius:
        out["radius"] = nk.second_moment_radius(spectrum, lr, batch_size)
    return out


def _radius_root_from_grid(spectrum: nk.NTKSpectrum, lrs: np.ndarray, radius: np.ndarray, batch_size: int) -> float:
    """The root of λ_max(𝒯) = 1 by Brent's method, bracketed by the first grid step where the
    sampled radius reaches 1 (NaN when the grid never does)."""
    above = np.nonzero(np.asarray(radius) >= 1.0)[0]
    if above.size == 0 or above[0] == 0:
        return math.nan
    i = above[0]
    return nk.lr_at_radius_one(spectrum, batch_size, start=float(lrs[i - 1]), factor=float(lrs[i] / lrs[i - 1]))


def sweep(setting: str, config: LinearConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The η sweep of one setting: ``(measures per η, MC loss trajectories per η)``.

    Besides the per-η columns, every row carries the sweep's summary: the Monte-Carlo divergence
    boundary ``eta_divergence_mc`` (:func:`divergence_boundary`), the measures evaluated exactly
    there (``*_at_boundary``), the roots ``eta_radius_root`` (λ_max(𝒯) = 1) and ``eta_K_root``
    (K̃ = 1) by root finding, and the eigenvectors' ``localisation``.
    """
    rng = np.random.default_rng([config.seed, SETTINGS.index(setting)])
    D, P, B = config.num_samples, config.num_parameters, config.batch_size
    J = make_jacobian(setting, D, P, rng, config.localised_scale)
    y = rng.normal(size=D)
    z0 = -y
    ntk = J @ J.T / D
    spectrum = nk.NTKSpectrum.from_ntk(ntk)
    coupling = spectrum.coupling()
    rows, trajectories = [], []
    for index, fraction in enumerate(config.lr_fractions):
        lr = 2.0 * fraction / spectrum.lambda_max
        final, records = monte_carlo_sgd(ntk, z0, lr, B, config.steps, config.replicas,
                                         seed=config.seed * 100_003 + index, record_every=config.trajectory_every)
        finite = np.isfinite(final)
        rows.append({
            "setting": setting, "lr": lr, "lr_fraction": fraction, "lr_lambda_max": lr * spectrum.lambda_max,
            "radius": nk.second_moment_radius(spectrum, lr, B),
            "radius_diagonal": nk.diagonal_radius(spectrum, lr, B),
            "K": nk.noise_kernel_norm(spectrum, lr, B, coupling),
            "K_hd": nk.noise_kernel_norm_hd(spectrum.eigenvalues, lr, B, D),
            "K_tr": nk.noise_kernel_norm_trace(spectrum.trace, lr, B, D),
            "loss_initial": float(z0 @ z0) / (2 * D),
            "loss_expected": expected_loss(spectrum, z0, lr, B, config.steps),
            "loss_mc_mean": float(final.mean()), "loss_mc_median": float(np.median(final)),
            "diverged_fraction": float(1.0 - finite.mean()),
            "num_samples": D, "num_parameters": P, "batch_size": B, "steps": config.steps,
            "replicas": config.replicas, "lambda_max": spectrum.lambda_max, "lambda_min": float(spectrum.eigenvalues[-1]),
            "ntk_trace": spectrum.trace, "ntk_rank": int(spectrum.eigenvalues.size),
        })
        trajectories.append(pd.DataFrame({"setting": setting, "lr": lr, "lr_fraction": fraction,
                                          "step": records[:, 0].astype(np.int64), "loss_mc_mean": records[:, 1],
                                          "loss_mc_median": records[:, 2]}))
    frame = pd.DataFrame(rows)
    boundary = divergence_boundary(frame)
    summary = {"eta_divergence_mc": boundary, "localised_scale": config.localised_scale if setting == "localised" else 0.0,
               "localisation": localisation(spectrum),
               "eta_radius_root": _radius_root_from_grid(spectrum, frame["lr"].to_numpy(), frame["radius"].to_numpy(), B),
               "eta_K_root": nk.lr_at_noise_kernel_norm_one(spectrum, B)}
    summary.update({f"{k}_at_boundary": v for k, v in measures_at(spectrum, boundary, B, coupling).items()})
    for key, value in summary.items():
        frame[key] = value
    return frame, pd.concat(trajectories, ignore_index=True)


@dataclass(frozen=True)
class LocalisationConfig:
    """Appendix A.4's failure case: the localised Jacobian ``√D [diag(v) | 0] + G`` over a range of
    ``σ_loc`` (0 = flat, delocalised; large = nearly coordinate eigenvectors)."""

    num_samples: int = 100
    num_parameters: int = 200
    batch_size: int = 2
    seeds: tuple = (0, 1)
    lr_factors: tuple = ()          # η in units of the root of λ_max(𝒯) = 1
    steps: int = 1000
    replicas: int = 100


def localisation_point(scale: float, config: LocalisationConfig) -> pd.DataFrame:
    """For one ``σ_loc`` and each seed: the root of λ_max(𝒯) = 1, Monte-Carlo SGD at η = factor × root,
    the MC divergence boundary η* and K̃, K̃_HD, K̃_tr evaluated exactly at η* (one row per η)."""
    D, P, B = config.num_samples, config.num_parameters, config.batch_size
    frames = []
    for seed in config.seeds:
        rng = np.random.default_rng([seed, SETTINGS.index("localised"), 7])
        J = rng.normal(size=(D, P)) * math.sqrt(D / P)
        J[:, :D] += math.sqrt(D) * np.diag(rng.normal(size=D) * scale)
        z0 = -rng.normal(size=D)
        ntk = J @ J.T / D
        spectrum = nk.NTKSpectrum.from_ntk(ntk)
        coupling = spectrum.coupling()
        eta_K = nk.lr_at_noise_kernel_norm_one(spectrum, B)
        root = nk.lr_at_radius_one(spectrum, B, start=eta_K)
        rows = []
        for index, factor in enumerate(config.lr_factors):
            lr = root * factor
            final, _ = monte_carlo_sgd(ntk, z0, lr, B, config.steps, config.replicas,
                                       seed=seed * 100_003 + 1000 + index)
            rows.append({"localised_scale": scale, "seed": seed, "lr": lr, "lr_factor": factor,
                         "loss_initial": float(z0 @ z0) / (2 * D), "loss_mc_mean": float(final.mean()),
                         "loss_mc_median": float(np.median(final)),
                         "diverged_fraction": float(1.0 - np.isfinite(final).mean()),
                         **measures_at(spectrum, lr, B, coupling, radius=False)})
        frame = pd.DataFrame(rows)
        boundary = divergence_boundary(frame)
        summary = {"eta_divergence_mc": boundary, "eta_radius_root": root, "eta_K_root": eta_K,
                   "localisation": localisation(spectrum), "lambda_max": spectrum.lambda_max,
                   "ntk_trace": spectrum.trace, "lr_lambda_max_half_at_boundary": boundary * spectrum.lambda_max / 2,
                   "num_samples": D, "num_parameters": P, "batch_size": B, "steps": config.steps,
                   "replicas": config.replicas}
        summary.update({f"{k}_at_boundary": v for k, v in measures_at(spectrum, boundary, B, coupling).items()})
        summary.update({f"{k}_at_root": v for k, v in measures_at(spectrum, root, B, coupling, radius=False).items()})
        for key, value in summary.items():
            frame[key] = value
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def crossing(x: np.ndarray, y: np.ndarray, level: float = 1.0) -> float:
    """The first ``x`` where ``y`` (sampled at increasing ``x``) crosses ``level`` from below,
    by linear interpolation in ``log x``; NaN if it never does."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    y = np.where(np.isfinite(y), y, np.inf)
    above = np.nonzero(y >= level)[0]
    if above.size == 0 or above[0] == 0:
        return math.nan
    i = above[0]
    y0, y1 = y[i - 1], y[i]
    if not np.isfinite(y1):
        return float(x[i - 1] * (x[i] / x[i - 1]) ** 0.5)
    t = (level - y0) / (y1 - y0)
    return float(math.exp(math.log(x[i - 1]) + t * (math.log(x[i]) - math.log(x[i - 1]))))


def divergence_boundary(frame: pd.DataFrame) -> float:
    """The smallest η at which the Monte-Carlo mean loss after ``T`` steps exceeds the initial
    loss (interpolated in log η / log loss ratio); NaN if no η of the sweep diverges."""
    frame = frame.sort_values("lr")
    ratio = frame["loss_mc_mean"].to_numpy() / frame["loss_initial"].to_numpy()
    with np.errstate(divide="ignore"):
        return crossing(frame["lr"].to_numpy(), np.log(np.maximum(ratio, 1e-300)), level=0.0)

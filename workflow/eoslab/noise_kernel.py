r"""Second moments of minibatch SGD on MSE and the noise kernel norm K̃ (Agarwala & Pennington 2024).

The text of the paper lost its displayed formulas; this is our reconstruction, derived from its
prose and standard algebra (the study's page ``docs/stochastic_eos.md`` has the same derivation
with the paper's equation numbers).  Symbols: ``D`` outputs (data points × outputs per point),
``P`` parameters, Jacobian ``J = ∂f/∂θ`` (``D × P``), residuals ``z = f − y`` (``D``), batch size
``B`` drawn **exactly, without replacement** each step, batch fraction ``β = B/D`` and
``β₂ = B(B − 1)/(D(D − 1))``.

Loss and NTK (Eqs. 1–2).  The full loss is the ½-scaled mean squared error
``L = (1/2D) ‖z‖²`` and the minibatch loss ``L_P = (1/2B) zᵀ P z`` with ``P`` the random
diagonal 0/1 matrix with exactly ``B`` ones.  We define the empirical NTK consistently with this
criterion as ``Θ̂ = J Jᵀ / D``: it has the nonzero eigenvalues of the Gauss–Newton matrix
``JᵀJ/D`` of ``L``, so ``η λ_max(Θ̂) < 2`` is the usual EOS condition.

Linearised SGD (Eqs. 3–6).  ``θ' = θ − (η/B) Jᵀ P z`` gives, for a linear model exactly,

    z' = (I − (η/β) Θ̂ P) z,              E z' = (I − η Θ̂) E z       (E P = β I),

so the first moment converges iff ``η λ_max(Θ̂) < 2`` (the deterministic EOS).

Averaging lemma (Lemma A.1, Eqs. 19–23).  For ``A`` independent of ``P``:
``E[P] = β I`` and ``E[P A P] = β₂ A + (β − β₂) Diag(A)`` — the diagonal entry ``i`` survives
when ``i`` is drawn (probability ``β``), the off-diagonal ``(i, j)`` when both are
(``β₂``).  :func:`expected_sandwich`; tested by enumerating all subsets.

Second-moment map 𝒯 (Eqs. 7, 24–26).  With ``M = E[z zᵀ]`` (so ``E L = tr M / 2D``),

    𝒯(M) = M − η(Θ̂M + MΘ̂) + (η²/β²) Θ̂ (β₂ M + (β − β₂) Diag(M)) Θ̂
         = (I − ηΘ̂) M (I − ηΘ̂) − η² b Θ̂ M Θ̂ + η² a Θ̂ Diag(M) Θ̂,

    a = (β − β₂)/β² = D(D − B)/(B(D − 1)),     b = (β² − β₂)/β² = (D − B)/(B(D − 1)) = a/D.

At ``B = D``: ``a = b = 0`` and 𝒯 is the deterministic map.  𝒯 is ``E[A M Aᵀ]`` for the random
``A = I − (η/β)Θ̂P``, a completely positive map, so its spectral radius is an eigenvalue with a
PSD eigenvector; ``E‖z_t‖² → 0`` for every start iff it is ``< 1``
(:func:`second_moment_radius`).  Modes in the null space of ``Θ̂`` never move (``vᵀΘ̂ = 0``) and
give eigenvalue 1 whatever ``η``; we therefore restrict to the range of ``Θ̂`` (eigenvalues above
``rtol · λ_max``): the residual's null-space part only adds a constant forcing.

Eigenbasis and its diagonal (Eqs. 8, 27–33).  With ``Θ̂ = V Λ Vᵀ`` and ``M̃ = Vᵀ M V``, the
diagonal ``p_α = M̃_αα = E(v_αᵀ z)²`` evolves, when the off-diagonal ``M̃_αβ`` are dropped
(``M_ii ≈ Σ_β V_iβ² p_β``), as ``p' = (T_D + T_S) p`` with

    T_D = diag((1 − ηλ_α)²)                                  (the full-batch factor),
    T_S = η² Λ² (a C − b I),      C_αβ = Σ_i V_iα² V_iβ²       (the SGD noise).

``C`` is symmetric, doubly stochastic and ``C_αα ≥ 1/D`` (Cauchy–Schwarz), so ``a C − b I`` and
``T_S`` are entrywise non-negative: ``T_D`` is diagonal with non-negative entries and ``T_S`` is
non-negative, which is the splitting the theorem needs.  (The paper calls both "PSD"; ``T_S`` has
non-negative eigenvalues whenever ``aC − bI`` is PSD.  Our proof of the theorem below uses
non-negativity only.)

Theorem 2.1 (Eq. 9).  ``p_t → 0`` for every start iff ``λ_max(T_D) < 1`` and

    K̃ = λ_max(T_S (I − T_D)⁻¹) < 1.

Proof in our reading: ``I − T_D − T_S = (I − T_S(I − T_D)⁻¹)(I − T_D)`` is a regular splitting
(``(I − T_D)⁻¹ ≥ 0``, ``T_S ≥ 0``), so ``ρ(T_D + T_S) < 1`` iff ``ρ(T_S(I − T_D)⁻¹) < 1``
(Varga, *Matrix Iterative Analysis*, Thm. 3.13); ``T_S(I − T_D)⁻¹`` is similar to the symmetric
``H (aC − bI) H`` with ``H = diag(h)``, ``h_α² = ηλ_α/(2 − ηλ_α)``, so K̃ is real and
non-negative and computed with a symmetric eigensolver (:func:`noise_kernel_norm`).  K̃ = 0 at
``B = D`` (no noise).

Approximations (Eqs. 10–11, 51–52).  Delocalised eigenvectors give ``C ≈ 11ᵀ/D``; dropping the
``O(1/D)`` term ``b I`` leaves the rank-one ``T_S ≈ (a/D) η² Λ² 11ᵀ`` and

    K̃_HD = ((D − B)/(B(D − 1))) Σ_α ηλ_α/(2 − ηλ_α)   →  ((1 − β)/B) Σ_α ηλ_α/(2 − ηλ_α),
    K̃_tr = ((D − B)/(B(D − 1))) (η/2) tr Θ̂             (ηλ_α ≪ 2),

so ``K̃_tr ≤ K̃_HD`` for ``ηλ_max < 2``.  We keep the finite-``D`` prefactor
``(D − B)/(B(D − 1))`` (exactly ``a/D``), which tends to the high-dimensional ``(1 − β)/B``.

Momentum and L2 (Eqs. 18, 53–86), in the same high-dimensional reading.  Heavy ball
``v' = μv − g``, ``θ' = θ + ηv'`` moves each eigenmode as ``z_{t+1} = (1 + μ − ηλ) z_t − μ z_{t−1}``
and the gradient noise enters ``z`` with the same variance as without momentum, so ``1/(1 − (1−ηλ)²)``
becomes the sum of the squared impulse response of that AR(2) recursion,
``(1 + μ)/((1 − μ) ηλ (2(1 + μ) − ηλ))``.  An L2 term ``(ρ/2)‖θ‖²`` shifts the mode's curvature
to ``λ + ρ`` but not the noise (which comes from the data term, ``∝ λ²``).  Together:

    K̃_HD(μ, ρ) = ((D − B)/(B(D − 1))) Σ_α η²λ_α² (1 + μ) / ((1 − μ) η(λ_α + ρ) (2(1 + μ) − η(λ_α + ρ))),

which is the plain K̃_HD at ``μ = ρ = 0``; for ``η(λ + ρ) ≪ 2(1 + μ)`` it is the trace form (Eq. 18)

    K̃_tr(μ, ρ) = ((D − B)/(B(D − 1))) η tr[Θ̂²(Θ̂ + ρ)⁻¹] / (2(1 − μ)),

the trace ``tr Θ̂`` at ``ρ = 0`` with the effective step ``η/(1 − μ)``; L2 lowers each mode's weight
from ``λ`` to ``λ²/(λ + ρ)`` (``≈ λ − ρ`` for ``λ ≫ ρ``, ``λ²/ρ`` for ``λ ≪ ρ``).

Roots (:func:`lr_at_radius_one`, :func:`lr_at_noise_kernel_norm_one`): the η where λ_max(𝒯) = 1 and
where K̃ = 1, by Brent's method, not by interpolating a grid (λ_max(𝒯) has kinks where its
dominant eigenvalue changes).  Closed form for ``Θ̂ = λI``: 𝒯 multiplies diagonal matrices by
``(1 − ηλ)² + (a − b)η²λ²`` (``a − b = (D − B)/B``), the largest factor, so λ_max(𝒯) = 1 at
``η = 2B/(Dλ)``.

NTK of an MLP.  For :class:`eoslab.models.MLP`, ``∂f/∂Aⁱ = Jᵢ ⊗ x^{i−1}`` and ``∂f/∂bⁱ = Jᵢ`` with
the pre-activation Jacobians ``Jᵢ = ∂f/∂x̂ⁱ`` of :mod:`eoslab.decomposition`, so
``J Jᵀ = Σᵢ (Jᵢ Jᵢᵀ) ⊙ (X_{i−1} X_{i−1}ᵀ + 1)`` without forming the ``D × P`` Jacobian
(:func:`mlp_ntk`; tested against ``torch.func.jacrev``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.optimize
import scipy.sparse.linalg
import torch

#: Below this many range modes the operator 𝒯 is built densely (``r² × r²``); above, ARPACK.
DENSE_OPERATOR_MAX_MODES = 24


@dataclass(frozen=True)
class BatchSampling:
    """Exactly ``batch_size`` of ``num_samples`` outputs per step, without replacement."""

    num_samples: int   # D
    batch_size: int    # B

    def __post_init__(self):
        if not (isinstance(self.num_samples, (int, np.integer)) and isinstance(self.batch_size, (int, np.integer))):
            raise TypeError(f"num_samples and batch_size must be integers, got {self.num_samples!r}, {self.batch_size!r}")
        if not 1 <= self.batch_size <= self.num_samples:
            raise ValueError(f"batch size must be in 1..{self.num_samples}, got {self.batch_size}")

    @property
    def beta(self) -> float:
        """β = B/D, the probability that one output is in the batch."""
        return self.batch_size / self.num_samples

    @property
    def beta2(self) -> float:
        """β₂ = B(B−1)/(D(D−1)), the probability that two given outputs both are (1 when D = 1)."""
        D, B = self.num_samples, self.batch_size
        return 1.0 if D == 1 else B * (B - 1) / (D * (D - 1))

    @property
    def a(self) -> float:
        """a = (β − β₂)/β² = D(D − B)/(B(D − 1)), the weight of Θ̂ Diag(M) Θ̂ in 𝒯."""
        D, B = self.num_samples, self.batch_size
        return 0.0 if D == 1 else D * (D - B) / (B * (D - 1))

    @property
    def b(self) -> float:
        """b = (β² − β₂)/β² = (D − B)/(B(D − 1)) = a/D, the weight removed from Θ̂ M Θ̂."""
        D, B = self.num_samples, self.batch_size
        return 0.0 if D == 1 else (D - B) / (B * (D - 1))


def expected_sandwich(A: np.ndarray, batch_size: int) -> np.ndarray:
    """``E[P A P] = β₂ A + (β − β₂) Diag(A)`` (Lemma A.1)."""
    A = np.asarray(A, dtype=np.float64)
    s = BatchSampling(A.shape[0], batch_size)
    return s.beta2 * A + (s.beta - s.beta2) * np.diag(np.diag(A))


def second_moment_map(M: np.ndarray, ntk: np.ndarray, lr: float, batch_size: int) -> np.ndarray:
    """One step of 𝒯 in the coordinate basis: ``E[z'z'ᵀ]`` given ``E[zzᵀ] = M`` (Eq. 7)."""
    M, ntk = np.asarray(M, dtype=np.float64), np.asarray(ntk, dtype=np.float64)
    s = BatchSampling(ntk.shape[0], batch_size)
    return M - lr * (ntk @ M + M @ ntk) + (lr / s.beta) ** 2 * ntk @ expected_sandwich(M, batch_size) @ ntk


@dataclass
class NTKSpectrum:
    """Eigendecomposition ``Θ̂ = V Λ Vᵀ`` restricted to its range (eigenvalues > ``rtol · λ_max``)."""

    eigenvalues: np.ndarray    # (r,) descending, positive
    eigenvectors: np.ndarray   # (D, r)
    trace: float               # tr Θ̂ (all eigenvalues)

    @property
    def num_samples(self) -> int:
        return self.eigenvectors.shape[0]

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[0]) if self.eigenvalues.size else 0.0

    @classmethod
    def from_ntk(cls, ntk: np.ndarray | torch.Tensor, rtol: float = 1e-10) -> "NTKSpectrum":
        if isinstance(ntk, torch.Tensor):
            ntk = ntk.detach().cpu().double().numpy()
        ntk = np.asarray(ntk, dtype=np.float64)
        if ntk.ndim != 2 or ntk.shape[0] != ntk.shape[1] or not np.all(np.isfinite(ntk)):
            raise ValueError(f"the NTK must be a finite square matrix, got shape {ntk.shape}")
        values, vectors = np.linalg.eigh(0.5 * (ntk + ntk.T))
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        keep = values > rtol * max(values[0], 0.0) if values.size else values > 0
        keep &= values > 0
        return cls(values[keep], vectors[:, keep], float(np.trace(ntk)))

    @classmethod
    def from_eigenpairs(cls, eigenvalues: np.ndarray, eigenvectors: np.ndarray) -> "NTKSpectrum":
        return cls.from_ntk((eigenvectors * eigenvalues) @ eigenvectors.T)

    def coupling(self) -> np.ndarray:
        """``C_αβ = Σ_i V_iα² V_iβ²`` over the range modes."""
        W = self.eigenvectors ** 2
        return W.T @ W


def diagonal_operator(spectrum: NTKSpectrum, lr: float, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(diag of T_D, T_S)`` of Eq. 8 on the range modes."""
    s = BatchSampling(spectrum.num_samples, batch_size)
    lam = spectrum.eigenvalues
    T_D = (1.0 - lr * lam) ** 2
    N = s.a * spectrum.coupling() - s.b * np.eye(lam.size)
    T_S = (lr * lam)[:, None] ** 2 * N
    return T_D, T_S


def noise_kernel_norm(spectrum: NTKSpectrum, lr: float, batch_size: int, coupling: np.ndarray | None = None) -> float:
    """K̃ = λ_max(T_S (I − T_D)⁻¹) (Eq. 9); ``inf`` when ``ηλ_max ≥ 2`` (then ``λ_max(T_D) ≥ 1``).

    ``coupling`` may pass a precomputed :meth:`NTKSpectrum.coupling` (it does not depend on ``η``).
    """
    s = BatchSampling(spectrum.num_samples, batch_size)
    lam = spectrum.eigenvalues
    if lam.size == 0 or s.a == 0:
        return 0.0
    x = lr * lam
    if x[0] >= 2.0:
        return math.inf
    h = np.sqrt(x / (2.0 - x))
    C = spectrum.coupling() if coupling is None else coupling
    S = h[:, None] * (s.a * C - s.b * np.eye(lam.size)) * h[None, :]
    return float(max(np.linalg.eigvalsh(0.5 * (S + S.T))[-1], 0.0))


def noise_prefactor(num_samples: int, batch_size: int) -> float:
    """``(D − B)/(B(D − 1))``, the high-dimensional ``(1 − β)/B`` at finite ``D``."""
    return BatchSampling(num_samples, batch_size).b


def noise_kernel_norm_hd(eigenvalues: np.ndarray, lr: float, batch_size: int, num_samples: int,
                         momentum: float = 0.0, weight_decay: float = 0.0) -> float:
    """K̃_HD (Eq. 10), with heavy-ball ``momentum`` μ and L2 ``weight_decay`` ρ (module docstring).

    ``inf`` when a mode is deterministically unstable, ``η(λ + ρ) ≥ 2(1 + μ)``.
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    lam = np.asarray(eigenvalues, dtype=np.float64)
    lam = lam[lam > 0]
    if lam.size == 0:
        return 0.0
    curvature = lr * (lam + weight_decay)
    if curvature.max() >= 2.0 * (1.0 + momentum):
        return math.inf
    terms = (lr * lam) ** 2 * (1 + momentum) / ((1 - momentum) * curvature * (2 * (1 + momentum) - curvature))
    return float(noise_prefactor(num_samples, batch_size) * terms.sum())


def regularised_trace(eigenvalues: np.ndarray, weight_decay: float) -> float:
    """``tr[Θ̂² (Θ̂ + ρ)⁻¹] = Σ_α λ_α²/(λ_α + ρ)``: ``tr Θ̂`` at ``ρ = 0``, ``tr Θ̂ − ρ·rank + O(ρ²)``
    when every ``λ_α ≫ ρ``; modes with ``λ_α ≪ ρ`` count ``λ_α²/ρ`` (the L2 term of Eq. 18)."""
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    lam = np.asarray(eigenvalues, dtype=np.float64)
    lam = lam[lam > 0]
    return float(np.sum(lam ** 2 / (lam + weight_decay)))


def noise_kernel_norm_trace(trace: float, lr: float, batch_size: int, num_samples: int, momentum: float = 0.0,
                            weight_decay: float = 0.0, eigenvalues: np.ndarray | None = None) -> float:
    """K̃_tr with momentum μ and L2 ρ (Eqs. 11, 18): the small-step limit ``η(λ_α + ρ) ≪ 2(1 + μ)`` of
    :func:`noise_kernel_norm_hd`, term by term ``η λ_α²/(2(1 − μ)(λ_α + ρ))``, so

        K̃_tr(μ, ρ) = ((D − B)/(B(D − 1))) η tr[Θ̂²(Θ̂ + ρ)⁻¹] / (2(1 − μ)),

    which is ``((D − B)/(B(D − 1))) η tr Θ̂ / (2(1 − μ))`` at ``ρ = 0`` (``trace`` is then all it
    needs).  The paper's Eq. 18 (lost in our copy) is the trace estimator "with the corrections due
    to momentum and the L2 regulariser" of its Appendices A.5 and A.6; the L2 term needs the
    spectrum (``eigenvalues``: :func:`regularised_trace`) or, matrix-free, a Hutchinson estimate of
    ``tr[Θ̂²(Θ̂ + ρ)⁻¹]`` passed as ``trace`` with ``weight_decay = 0``.
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {momentum}")
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    if weight_decay > 0:
        if eigenvalues is None:
            raise ValueError("the L2 term of K̃_tr needs the NTK eigenvalues (tr[Θ̂²(Θ̂ + ρ)⁻¹], not tr Θ̂)")
        trace = regularised_trace(eigenvalues, weight_decay)
    return float(noise_prefactor(num_samples, batch_size) * lr * trace / (2.0 * (1.0 - momentum)))


def lr_at_noise_kernel_norm_one(spectrum: "NTKSpectrum", batch_size: int, xtol: float = 1e-12) -> float:
    """The η where K̃(η) = 1 (Brent's method on ``(0, 2/λ_max)``, where K̃ increases from 0 to ∞);
    NaN at full batch (K̃ ≡ 0)."""
    s = BatchSampling(spectrum.num_samples, batch_size)
    if spectrum.eigenvalues.size == 0 or s.a == 0:
        return math.nan
    coupling = spectrum.coupling()
    top = 2.0 / spectrum.lambda_max
    return float(scipy.optimize.brentq(lambda lr: noise_kernel_norm(spectrum, lr, batch_size, coupling) - 1.0,
                                       top * 1e-12, top * (1.0 - 1e-12), xtol=xtol * top, rtol=1e-12))


def lr_at_radius_one(spectrum: "NTKSpectrum", batch_size: int, start: float | None = None, factor: float = 1.25,
                     rtol: float = 1e-9, tol: float = 1e-11) -> float:
    """The smallest η (to the bracketing resolution ``factor``) where λ_max(𝒯) = 1, by root finding.

    λ_max(𝒯) < 1 for small η (it is ``1 − 2ηλ_min + O(η²)``) and ≥ 1 at ``η = 2/λ_max``.  The
    spectral radius has kinks where its dominant eigenvalue changes, so interpolating it between
    grid points is not its root; we bracket a sign change of ``λ_max(𝒯) − 1`` by stepping η by
    ``factor`` from ``start`` (default: the η where K̃ = 1, a close guess when the eigenvectors are
    delocalised) and solve with Brent's method to relative tolerance ``rtol``.  ``tol`` is the
    eigensolver's tolerance (ARPACK above :data:`DENSE_OPERATOR_MAX_MODES` modes).
    """
    if spectrum.eigenvalues.size == 0:
        return math.nan
    top = 2.0 / spectrum.lambda_max

    def excess(lr: float) -> float:
        return second_moment_radius(spectrum, lr, batch_size, tol=tol) - 1.0

    if start is None:
        start = lr_at_noise_kernel_norm_one(spectrum, batch_size)
        if not math.isfinite(start):        # full batch: the deterministic root is 2/λ_max
            return top
    lr = min(start, top)
    value = excess(lr)
    if value >= 0:
        while value >= 0:
            hi, lr = lr, lr / factor
            if lr < top * 1e-12:
                raise ValueError("λ_max(𝒯) ≥ 1 down to η = 1e-12 · 2/λ_max; no root")
            value = excess(lr)
        lo = lr
    else:
        while value < 0:
            lo, lr = lr, min(lr * factor, top)
            value = excess(lr)
            if lr >= top and value < 0:
                raise ValueError("λ_max(𝒯) < 1 up to η = 2/λ_max; no root below the deterministic EOS")
        hi = lr
    return float(scipy.optimize.brentq(excess, lo, hi, xtol=rtol * lo, rtol=rtol))


def _range_operator(spectrum: NTKSpectrum, lr: float, batch_size: int):
    """𝒯 on symmetric ``r × r`` blocks ``M̃`` of the range eigenbasis, as a function of a flat vector."""
    s = BatchSampling(spectrum.num_samples, batch_size)
    lam, V = spectrum.eigenvalues, spectrum.eigenvectors
    r = lam.size
    decay = 1.0 - lr * lam
    quad = decay[:, None] * decay[None, :] - lr ** 2 * s.b * lam[:, None] * lam[None, :]
    noise = lr ** 2 * s.a * lam[:, None] * lam[None, :]

    def apply(vector: np.ndarray) -> np.ndarray:
        Mt = vector.reshape(r, r)
        diag = np.einsum("ia,ia->i", V @ Mt, V)            # Diag(V M̃ Vᵀ)
        out = quad * Mt + noise * ((V.T * diag) @ V)
        return out.reshape(-1)

    return apply


def second_moment_radius(spectrum: NTKSpectrum, lr: float, batch_size: int, tol: float = 1e-10) -> float:
    """λ_max(𝒯) on the range of Θ̂: the growth factor per step of ``E‖z‖²`` (Section 2.2)."""
    r = spectrum.eigenvalues.size
    if r == 0:
        return 0.0
    apply = _range_operator(spectrum, lr, batch_size)
    if r <= DENSE_OPERATOR_MAX_MODES:
        matrix = np.stack([apply(e) for e in np.eye(r * r)], axis=1)
        return float(np.abs(np.linalg.eigvals(matrix)).max())
    operator = scipy.sparse.linalg.LinearOperator((r * r, r * r), matvec=apply, dtype=np.float64)
    # Start from a PSD matrix: the Perron eigenvector of a positive map is PSD (Krein–Rutman).
    start = np.eye(r).reshape(-1) / math.sqrt(r)
    values = scipy.sparse.linalg.eigs(operator, k=3, which="LM", v0=start, tol=tol, return_eigenvectors=False,
                                      maxiter=20 * r * r)
    return float(np.abs(values).max())


def diagonal_radius(spectrum: NTKSpectrum, lr: float, batch_size: int) -> float:
    """ρ(T_D + T_S), the growth factor of the diagonal-restricted dynamics (Eq. 8)."""
    T_D, T_S = diagonal_operator(spectrum, lr, batch_size)
    return float(np.abs(np.linalg.eigvals(np.diag(T_D) + T_S)).max())


# -- NTK of an MLP --------------------------------------------------------------------------
@torch.no_grad()
def mlp_ntk(model, X: torch.Tensor, chunk_size: int = 4096) -> torch.Tensor:
    """``Θ̂ = J Jᵀ / D`` of an :class:`eoslab.models.MLP` on inputs ``X`` (``N × d``).

    Outputs are flattened sample-major (``D = N·O``, row ``n·O + o``), as the ½-scaled MSE over
    all ``D`` outputs averages them.  Built from the layerwise pre-activation Jacobians
    (module docstring); memory ``O(N · O · width)`` per layer plus the ``D × D`` result.
    """
    from .decomposition import forward_record, preactivation_jacobians

    parameter = next(model.parameters())
    X = X.to(device=parameter.device, dtype=parameter.dtype)
    records, jacobians = [], []
    for start in range(0, X.shape[0], chunk_size):
        record = forward_record(model, X[start:start + chunk_size])
        records.append(record)
        jacobians.append(preactivation_jacobians(model, record))
    N, O = X.shape[0], records[0].output.shape[1]
    ntk = torch.zeros(N * O, N * O, dtype=X.dtype, device=X.device)
    for layer in range(model.depth):
        inputs = torch.cat([r.inputs[layer] for r in records])                  # x^{i−1}, (N, n_{i−1})
        J = torch.cat([j[layer] for j in jacobians]).reshape(N * O, -1)          # rows (n, o), (N·O, n_i)
        gram = inputs @ inputs.T + 1.0                                           # (N, N)
        ntk += (J @ J.T) * torch.repeat_interleave(torch.repeat_interleave(gram, O, 0), O, 1)
    return ntk / (N * O)

"""The second-moment map 𝒯 and the noise kernel norm K̃ against independent computations."""

import itertools
import math

import numpy as np
import pytest
import torch
from torch.func import functional_call, jacrev

from eoslab import noise_kernel as nk
from eoslab.models import build_model


def random_orthogonal(D, rng):
    Q, R = np.linalg.qr(rng.normal(size=(D, D)))
    return Q * np.sign(np.diag(R))


def random_ntk(D, rng, rank=None, spread=1.0):
    V = random_orthogonal(D, rng)
    lam = np.exp(spread * rng.normal(size=D))
    if rank is not None:
        lam[rank:] = 0
    return (V * lam) @ V.T


# -- Lemma A.1 -------------------------------------------------------------------------------
@pytest.mark.parametrize("B", [1, 2, 3, 6])
def test_expected_sandwich_against_all_subsets(B):
    rng = np.random.default_rng(B)
    D = 6
    A = rng.normal(size=(D, D))
    total = np.zeros((D, D))
    subsets = list(itertools.combinations(range(D), B))
    for subset in subsets:
        P = np.zeros((D, D))
        P[list(subset), list(subset)] = 1
        total += P @ A @ P
    np.testing.assert_allclose(nk.expected_sandwich(A, B), total / len(subsets), atol=1e-13)
    s = nk.BatchSampling(D, B)
    assert s.a == pytest.approx((s.beta - s.beta2) / s.beta ** 2) and s.b == pytest.approx(s.a / D)


# -- the moment map against Monte-Carlo SGD on a linear model --------------------------------
def linear_sgd_residuals(J, y, theta0, lr, B, steps, samples, seed):
    """Parameter-space SGD θ' = θ − (η/B) J_bᵀ(J_b θ − y_b), exactly B rows without replacement,
    for `samples` independent sequences at once; returns the final residuals (samples, D)."""
    rng = np.random.default_rng(seed)
    D = J.shape[0]
    theta = np.repeat(theta0[None], samples, axis=0)
    for _ in range(steps):
        batches = np.argsort(rng.random((samples, D)), axis=1)[:, :B]          # exactly B, no repeats
        mask = np.zeros((samples, D))
        np.put_along_axis(mask, batches, 1.0, axis=1)
        residual = theta @ J.T - y
        theta = theta - (lr / B) * (mask * residual) @ J
    return theta @ J.T - y


@pytest.mark.parametrize("steps", [1, 3])
def test_moment_map_matches_monte_carlo_sgd(steps):
    """E[z_t z_tᵀ] = 𝒯ᵗ(z₀z₀ᵀ) to sampling error: every entry within 5 standard errors
    (std of the entry over the S = 40,000 samples / √S; the chance that one of the 21 distinct
    entries of a correct map falls outside is ~1e-5).  A map with the wrong pair probability
    (β² for β₂, i.e. sampling with replacement of pairs) is rejected by the same tolerance."""
    rng = np.random.default_rng(11)
    D, P, B, lr, S = 6, 9, 2, 0.35, 40_000
    J = rng.normal(size=(D, P)) / math.sqrt(P) * 1.5
    ntk = J @ J.T / D
    y = rng.normal(size=D)
    theta0 = rng.normal(size=P) * 0.3
    z0 = J @ theta0 - y
    Z = linear_sgd_residuals(J, y, theta0, lr, B, steps, S, seed=steps)
    outer = Z[:, :, None] * Z[:, None, :]
    mc_mean, mc_err = outer.mean(axis=0), outer.std(axis=0) / math.sqrt(S)
    M = np.outer(z0, z0)
    for _ in range(steps):
        M = nk.second_moment_map(M, ntk, lr, B)
    assert np.all(np.abs(mc_mean - M) <= 5 * mc_err + 1e-12), np.max(np.abs(mc_mean - M) / mc_err)

    # the same test rejects a wrong map: β₂ replaced by β² (the noise term then has weight 0 off the diagonal)
    beta = B / D
    wrong = np.outer(z0, z0)
    for _ in range(steps):
        sandwich = beta ** 2 * wrong + (beta - beta ** 2) * np.diag(np.diag(wrong))
        wrong = wrong - lr * (ntk @ wrong + wrong @ ntk) + (lr / beta) ** 2 * ntk @ sandwich @ ntk
    assert np.any(np.abs(mc_mean - wrong) > 5 * mc_err)


def test_full_batch_map_is_deterministic():
    rng = np.random.default_rng(0)
    ntk = random_ntk(5, rng)
    M = np.cov(rng.normal(size=(5, 20)))
    step = np.eye(5) - 0.3 * ntk
    np.testing.assert_allclose(nk.second_moment_map(M, ntk, 0.3, 5), step @ M @ step.T, atol=1e-12)


# -- the eigenbasis, its diagonal, K̃ -------------------------------------------------------
def test_diagonal_operator_is_the_diagonal_of_the_map_on_diagonal_inputs():
    rng = np.random.default_rng(1)
    D, B, lr = 7, 3, 0.2
    ntk = random_ntk(D, rng)
    spectrum = nk.NTKSpectrum.from_ntk(ntk)
    V = spectrum.eigenvectors
    p = rng.random(D)
    mapped = V.T @ nk.second_moment_map((V * p) @ V.T, ntk, lr, B) @ V
    T_D, T_S = nk.diagonal_operator(spectrum, lr, B)
    np.testing.assert_allclose(np.diag(mapped), T_D * p + T_S @ p, atol=1e-12)
    assert np.all(T_S >= -1e-15) and np.all(T_D >= 0)               # the non-negative splitting


def test_noise_kernel_norm_is_zero_at_full_batch_and_radius_is_deterministic():
    rng = np.random.default_rng(2)
    D = 9
    spectrum = nk.NTKSpectrum.from_ntk(random_ntk(D, rng))
    lr = 1.5 / spectrum.lambda_max
    assert nk.noise_kernel_norm(spectrum, lr, D) == 0.0
    expected = max((1 - lr * spectrum.eigenvalues) ** 2)
    assert nk.second_moment_radius(spectrum, lr, D) == pytest.approx(expected, rel=1e-10)
    assert nk.noise_kernel_norm(spectrum, lr, 1) > 0
    assert nk.noise_kernel_norm(spectrum, 2.01 / spectrum.lambda_max, 1) == math.inf


def test_theorem_2_1_kernel_norm_below_one_iff_diagonal_dynamics_stable():
    rng = np.random.default_rng(3)
    agree = 0
    for trial in range(40):
        D = int(rng.integers(4, 20))
        B = int(rng.integers(1, D))
        spectrum = nk.NTKSpectrum.from_ntk(random_ntk(D, rng, spread=1.5))
        lr = rng.uniform(0.05, 1.99) / spectrum.lambda_max
        K = nk.noise_kernel_norm(spectrum, lr, B)
        rho = nk.diagonal_radius(spectrum, lr, B)
        assert (K < 1) == (rho < 1), (K, rho)
        agree += 1
        # and K̃ = 1 exactly where ρ(T_D + T_S) = 1: bisect K̃(η) = 1 below the EOS, if it is crossed
        if nk.noise_kernel_norm(spectrum, 1.999 / spectrum.lambda_max, B) > 1 and trial % 4 == 0:
            lo, hi = 1e-6 / spectrum.lambda_max, 1.999 / spectrum.lambda_max
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if nk.noise_kernel_norm(spectrum, mid, B) < 1 else (lo, mid)
            assert nk.diagonal_radius(spectrum, hi, B) == pytest.approx(1.0, abs=1e-8)
    assert agree == 40


def test_trace_estimate_below_high_dimensional_estimate():
    rng = np.random.default_rng(4)
    for _ in range(200):
        D = int(rng.integers(2, 200))
        B = int(rng.integers(1, D + 1))
        lam = np.exp(2 * rng.normal(size=D))
        lr = rng.uniform(0, 1.999) / lam.max()
        hd = nk.noise_kernel_norm_hd(lam, lr, B, D)
        tr = nk.noise_kernel_norm_trace(lam.sum(), lr, B, D)
        assert tr <= hd * (1 + 1e-12) and tr >= 0


def test_high_dimensional_limit_with_delocalised_eigenvectors():
    """Haar eigenvectors (C ≈ 11ᵀ/D): K̃ within a few per cent of K̃_HD at D = 300."""
    rng = np.random.default_rng(5)
    D, B = 300, 10
    lam = rng.uniform(0.2, 1.0, D)
    spectrum = nk.NTKSpectrum.from_eigenpairs(lam, random_orthogonal(D, rng))
    for lr in (0.5, 1.0, 1.8):
        exact = nk.noise_kernel_norm(spectrum, lr, B)
        hd = nk.noise_kernel_norm_hd(spectrum.eigenvalues, lr, B, D)
        assert exact == pytest.approx(hd, rel=0.03)
    # localised eigenvectors (V = I, C = I) couple nothing: K̃ is the largest single-mode term
    local = nk.NTKSpectrum.from_eigenpairs(lam, np.eye(D))
    s = nk.BatchSampling(D, B)
    x = lam.max() * 1.0
    assert nk.noise_kernel_norm(local, 1.0, B) == pytest.approx((s.a - s.b) * x / (2 - x), rel=1e-10)


def test_second_moment_radius_dense_arpack_and_power_iteration_agree(monkeypatch):
    rng = np.random.default_rng(6)
    D, B = 8, 2
    ntk = random_ntk(D, rng, rank=6)                  # rank-deficient: only the range counts
    spectrum = nk.NTKSpectrum.from_ntk(ntk)
    assert spectrum.eigenvalues.size == 6
    lr = 0.9 / spectrum.lambda_max
    dense = nk.second_moment_radius(spectrum, lr, B)
    monkeypatch.setattr(nk, "DENSE_OPERATOR_MAX_MODES", 2)
    arpack = nk.second_moment_radius(spectrum, lr, B)
    assert arpack == pytest.approx(dense, rel=1e-8)
    # power iteration with the coordinate-basis map on range-supported PSD matrices (the range
    # is invariant; projecting onto it each step removes the rounding that leaks into the
    # null space, whose modes never move and would show eigenvalue 1)
    V = spectrum.eigenvectors
    projector = V @ V.T
    M = projector
    for _ in range(1500):
        M = projector @ nk.second_moment_map(M, ntk, lr, B) @ projector
        norm = np.linalg.norm(M)
        M /= norm
    assert norm == pytest.approx(dense, rel=1e-6)


def test_momentum_and_weight_decay_terms_are_impulse_response_sums():
    lam, lr, mu = np.array([0.7]), 0.9, 0.6
    h_prev, h, total = 0.0, 1.0, 0.0
    for _ in range(20000):                              # z_{t+1} = (1 + μ − ηλ) z_t − μ z_{t−1}
        total += h ** 2
        h_prev, h = h, (1 + mu - lr * lam[0]) * h - mu * h_prev
    D, B = 50, 5
    expected = nk.noise_prefactor(D, B) * (lr * lam[0]) ** 2 * total
    assert nk.noise_kernel_norm_hd(lam, lr, B, D, momentum=mu) == pytest.approx(expected, rel=1e-9)
    assert nk.noise_kernel_norm_hd(lam, lr, B, D) == pytest.approx(
        nk.noise_prefactor(D, B) * lr * lam[0] / (2 - lr * lam[0]), rel=1e-12)
    # L2 shifts the curvature only: with ρ the deterministic factor is (1 − η(λ + ρ))²
    rho = 0.3
    x = lr * (lam[0] + rho)
    assert nk.noise_kernel_norm_hd(lam, lr, B, D, weight_decay=rho) == pytest.approx(
        nk.noise_prefactor(D, B) * (lr * lam[0]) ** 2 / (1 - (1 - x) ** 2), rel=1e-12)
    assert nk.noise_kernel_norm_trace(2.0, 0.1, B, D, momentum=0.9) == pytest.approx(
        10 * nk.noise_kernel_norm_trace(2.0, 0.1, B, D))


def impulse_response_sum(lr, lam, mu, rho, steps=200_000):
    """Σ_t h_t² for the mode recursion z_{t+1} = (1 + μ − η(λ + ρ)) z_t − μ z_{t−1}, h_0 = 1."""
    h_prev, h, total = 0.0, 1.0, 0.0
    for _ in range(steps):
        total += h * h
        h_prev, h = h, (1 + mu - lr * (lam + rho)) * h - mu * h_prev
        if abs(h) < 1e-13 and abs(h_prev) < 1e-13:
            break
    return total


def test_trace_estimate_hand_computed_values():
    """D = 4, B = 1: prefactor (D − B)/(B(D − 1)) = 1; spectrum {3, 1} (tr Θ̂ = 4), η = 0.1."""
    lam = np.array([3.0, 1.0])
    assert nk.noise_kernel_norm_trace(4.0, 0.1, 1, 4) == pytest.approx(0.2)               # 0.1·4/2
    assert nk.noise_kernel_norm_trace(4.0, 0.1, 1, 4, momentum=0.5) == pytest.approx(0.4)  # 0.1·4/(2·0.5)
    # L2 ρ = 1: Σ λ²/(λ + ρ) = 9/4 + 1/2 = 2.75, so 0.1·2.75/(2·0.5) = 0.275
    assert nk.regularised_trace(lam, 1.0) == pytest.approx(2.75)
    assert nk.noise_kernel_norm_trace(4.0, 0.1, 1, 4, momentum=0.5, weight_decay=1.0, eigenvalues=lam) == \
        pytest.approx(0.275)
    with pytest.raises(ValueError, match="eigenvalues"):
        nk.noise_kernel_norm_trace(4.0, 0.1, 1, 4, weight_decay=1.0)


def test_trace_estimate_is_the_small_step_limit_of_simulated_impulse_responses():
    """Independent value: the gradient noise of mode α enters with weight η²λ_α² and is propagated by
    the heavy-ball recursion with L2-shifted curvature; summing the squared impulse response
    numerically, ``prefactor · Σ_α η²λ_α² Σ_t h_t²`` → K̃_tr(μ, ρ) as η → 0 (error O(η))."""
    lam = np.array([2.0, 1.0, 0.5, 0.05])
    D, B = 40, 4
    for mu, rho in ((0.0, 0.0), (0.5, 0.0), (0.0, 0.2), (0.9, 0.1)):
        errors = []
        for lr in (2e-3, 1e-3):
            simulated = nk.noise_prefactor(D, B) * sum((lr * l) ** 2 * impulse_response_sum(lr, l, mu, rho)
                                                      for l in lam)
            trace = nk.noise_kernel_norm_trace(lam.sum(), lr, B, D, momentum=mu, weight_decay=rho, eigenvalues=lam)
            errors.append(abs(simulated / trace - 1))
        assert errors[1] < 2e-3 and errors[1] < errors[0], (mu, rho, errors)


def test_trace_estimate_against_exact_kernel_norm_with_hadamard_eigenvectors():
    """Exactly delocalised eigenvectors (a normalised Hadamard matrix, V_iα² = 1/D, C = 11ᵀ/D) and a
    flat spectrum λ: T_S = b η²λ²(11ᵀ − I), so the exact K̃ = b (D − 1) ηλ/(2 − ηλ) in closed form,
    and K̃_tr = b D ηλ/2: K̃_tr/K̃ = (D/(D − 1))(1 − ηλ/2) → 1 as η → 0, D → ∞."""
    from scipy.linalg import hadamard
    D, B, lam = 64, 4, 1.5
    V = hadamard(D) / math.sqrt(D)
    spectrum = nk.NTKSpectrum.from_eigenpairs(np.full(D, lam), V)
    b = nk.noise_prefactor(D, B)
    for lr in (1e-3, 0.05, 0.5, 1.2):
        x = lr * lam
        exact = nk.noise_kernel_norm(spectrum, lr, B)
        assert exact == pytest.approx(b * (D - 1) * x / (2 - x), rel=1e-9)
        trace = nk.noise_kernel_norm_trace(spectrum.trace, lr, B, D)
        assert trace == pytest.approx(b * D * x / 2, rel=1e-12)
        assert trace / exact == pytest.approx(D / (D - 1) * (1 - x / 2), rel=1e-9)


# -- roots in η ---------------------------------------------------------------------------------
def test_radius_root_closed_form_flat_spectrum():
    """Θ̂ = λI: λ_max(𝒯) = (1 − ηλ)² + ((D − B)/B) η²λ², so λ_max(𝒯) = 1 at η = 2B/(Dλ)."""
    D, B, lam = 12, 3, 2.5
    spectrum = nk.NTKSpectrum.from_ntk(lam * np.eye(D))
    root = nk.lr_at_radius_one(spectrum, B)
    assert root == pytest.approx(2 * B / (D * lam), rel=1e-8)
    assert nk.second_moment_radius(spectrum, root, B) == pytest.approx(1.0, abs=1e-10)


def test_radius_root_across_a_kink_beats_interpolation():
    """V = I, Θ̂ = diag(10, 2, 1.5, 1), D = 4, B = 1: the diagonal entries decouple with factors
    1 − 2ηλ_i + 4η²λ_i²; the λ = 1 mode dominates until η = 1/22, then λ = 10 does (a kink); the
    root is η = 2B/(Dλ_max) = 0.05.  Interpolating the grid {0.04, 0.06} gives 0.0447 instead."""
    from eoslab.studies.stochastic_eos.linear import crossing

    spectrum = nk.NTKSpectrum.from_ntk(np.diag([10.0, 2.0, 1.5, 1.0]))
    root = nk.lr_at_radius_one(spectrum, 1)
    assert root == pytest.approx(0.05, rel=1e-8)
    grid = np.array([0.04, 0.06])
    radius = np.array([nk.second_moment_radius(spectrum, lr, 1) for lr in grid])
    assert radius == pytest.approx([1 - 0.08 + 4 * 0.04 ** 2, 1 - 1.2 + 4 * 0.6 ** 2])
    assert abs(crossing(grid, radius) / 0.05 - 1) > 0.08            # the interpolation misses by ~10 %
    assert nk.lr_at_radius_one(spectrum, 1, start=0.001) == pytest.approx(0.05, rel=1e-8)
    assert nk.lr_at_radius_one(spectrum, 1, start=0.15) == pytest.approx(0.05, rel=1e-8)


def test_kernel_norm_root_is_where_the_diagonal_dynamics_turn_unstable():
    rng = np.random.default_rng(8)
    spectrum = nk.NTKSpectrum.from_ntk(random_ntk(10, rng))
    root = nk.lr_at_noise_kernel_norm_one(spectrum, 2)
    assert nk.noise_kernel_norm(spectrum, root, 2) == pytest.approx(1.0, abs=1e-9)
    assert nk.diagonal_radius(spectrum, root, 2) == pytest.approx(1.0, abs=1e-8)
    assert math.isnan(nk.lr_at_noise_kernel_norm_one(spectrum, 10))


# -- the MLP's NTK ------------------------------------------------------------------------------
@pytest.mark.parametrize("outputs,activation", [(1, "tanh"), (2, "elu")])
def test_mlp_ntk_against_jacrev(outputs, activation):
    gen = torch.Generator().manual_seed(0)
    model = build_model({"input_dim": 5, "output_dim": outputs, "depth": 3, "width": 7,
                         "activation": activation, "init_seed": 1})
    with torch.no_grad():
        for linear in model.linears:
            linear.bias.normal_(0, 0.5, generator=gen)
    X = torch.randn(11, 5, dtype=torch.float64, generator=gen)
    params = {k: v.detach() for k, v in model.named_parameters()}
    jac = jacrev(lambda p: functional_call(model, p, (X,)))(params)
    J = torch.cat([j.reshape(11 * outputs, -1) for j in jac.values()], dim=1)   # (N·O, P)
    expected = J @ J.T / (11 * outputs)
    np.testing.assert_allclose(nk.mlp_ntk(model, X, chunk_size=4).numpy(), expected.numpy(), rtol=1e-11, atol=1e-13)

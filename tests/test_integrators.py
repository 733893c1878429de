import math

import pytest
import torch

import conftest
from eoslab.integrators import (exponential_euler_step, exponential_euler_time_step, gradient_descent_step,
                                phi_function)

DEV = conftest.TEST_DEVICE  # pytest --device (tests/conftest.py); set before this module is collected


def _quadratic(eigenvalues, dim, seed=0):
    """L(θ) = ½ θᵀAθ − bᵀθ with A = Q diag(λ) Qᵀ of rank len(eigenvalues) in R^dim."""
    gen = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(dim, dim, dtype=torch.float64, generator=gen).to(DEV))
    lam = torch.zeros(dim, dtype=torch.float64, device=DEV)
    lam[: len(eigenvalues)] = torch.tensor(eigenvalues, dtype=torch.float64, device=DEV)
    A = Q @ torch.diag(lam) @ Q.T
    b = torch.randn(dim, dtype=torch.float64, generator=gen).to(DEV)
    return A, b, Q, lam


def _exact_flow(A_eigvecs, lam, b, theta0, t):
    """θ(t) of dθ/dt = −(Aθ − b), solved in the eigenbasis (λ = 0 directions move linearly)."""
    coords = A_eigvecs.T @ theta0
    bc = A_eigvecs.T @ b
    out = torch.empty_like(coords)
    for j in range(len(lam)):
        if lam[j] == 0:
            out[j] = coords[j] + bc[j] * t
        else:
            star = bc[j] / lam[j]
            out[j] = star + (coords[j] - star) * math.exp(-float(lam[j]) * t)
    return A_eigvecs @ out


def test_exponential_euler_is_exact_gradient_flow_on_low_rank_quadratic():
    eigenvalues = [50.0, 7.0, 0.3]
    A, b, Q, lam = _quadratic(eigenvalues, dim=8)
    theta = torch.randn(8, dtype=torch.float64, generator=torch.Generator().manual_seed(9)).to(DEV)
    theta0, t, lr = theta.clone(), 0.0, 0.25
    for _ in range(5):
        gradient = A @ theta - b
        evals = torch.tensor(eigenvalues + [0.0], dtype=torch.float64, device=DEV)  # λ_{k+1} = 0 → Δt = η
        theta, info = exponential_euler_step(theta, gradient, evals, Q[:, :3], lr)
        t += info.dt
    assert info.dt == lr
    torch.testing.assert_close(theta, _exact_flow(Q, lam, b, theta0, t), rtol=1e-12, atol=1e-12)
    # plain gradient descent at the same η is unstable along λ = 50 (η λ > 2)
    assert lr * eigenvalues[0] > 2


def test_time_step_uses_next_eigenvalue_and_learning_rate():
    assert exponential_euler_time_step(4.0, lr=1.0) == 0.25
    assert exponential_euler_time_step(0.5, lr=1.0) == 1.0
    assert exponential_euler_time_step(-3.0, lr=0.1) == 0.1
    with pytest.raises(ValueError):
        exponential_euler_time_step(1.0, lr=0.0)


def test_residual_is_stepped_by_euler_with_dt():
    """A full-rank quadratic: top-k exact, the rest explicit Euler with Δt = 1/λ_{k+1}."""
    A, b, Q, lam = _quadratic([10.0, 4.0, 2.0, 1.0], dim=4, seed=1)
    theta = torch.zeros(4, dtype=torch.float64, device=DEV)
    gradient = A @ theta - b
    evals = lam[:3]
    new, info = exponential_euler_step(theta, gradient, evals, Q[:, :2], lr=10.0)
    assert info.dt == pytest.approx(0.5)
    exact = _exact_flow(Q[:, :2], lam[:2], b, theta, info.dt)  # coordinates along v1, v2
    torch.testing.assert_close(Q[:, :2].T @ new, Q[:, :2].T @ exact, rtol=1e-12, atol=1e-12)
    c_rest = Q[:, 2:].T @ gradient
    torch.testing.assert_close(Q[:, 2:].T @ new, -0.5 * c_rest, rtol=1e-12, atol=1e-12)


def test_phi_limit_and_cap_for_negative_eigenvalues():
    dt = 0.3
    lam = torch.tensor([0.0, 1e-300, 1e-9, 2.0, -2.0], dtype=torch.float64, device=DEV)
    phi = phi_function(lam, dt)
    assert float(phi[0]) == dt
    assert float(phi[1]) == pytest.approx(dt, rel=1e-15)
    assert float(phi[2]) == pytest.approx(dt * (1 - 1e-9 * dt / 2), rel=1e-15)
    assert float(phi[3]) == pytest.approx((1 - math.exp(-0.6)) / 2.0, rel=1e-15)
    assert float(phi[4]) == pytest.approx((math.exp(0.6) - 1) / 2.0, rel=1e-15)
    # the cap at η binds only for the negative eigenvalue
    theta = torch.zeros(2, dtype=torch.float64, device=DEV)
    gradient = torch.tensor([1.0, 1.0], dtype=torch.float64, device=DEV)
    evals = torch.tensor([3.0, -40.0, 0.0], dtype=torch.float64, device=DEV)
    new, info = exponential_euler_step(theta, gradient, evals, torch.eye(2, dtype=torch.float64, device=DEV), lr=0.3)
    assert float(info.phi[1]) == 0.3
    assert float(info.phi[0]) == pytest.approx((1 - math.exp(-0.9)) / 3.0)
    torch.testing.assert_close(new, -info.phi)


def test_gradient_descent_on_quadratic_matches_closed_form():
    A, b, Q, lam = _quadratic([3.0, 1.0, 0.5], dim=3, seed=2)
    theta = torch.ones(3, dtype=torch.float64, device=DEV)
    lr, steps = 0.2, 25
    star = torch.linalg.solve(A, b)
    expected = star + torch.linalg.matrix_power(torch.eye(3, dtype=torch.float64, device=DEV) - lr * A, steps) @ (theta - star)
    for _ in range(steps):
        theta, info = gradient_descent_step(theta, A @ theta - b, lr)
    assert info.dt == lr
    torch.testing.assert_close(theta, expected, rtol=1e-12, atol=1e-12)


def test_magnitude_order_time_step_and_stiff_cap_at_dt():
    """order="magnitude": Δt = min(1/|λ_{k+1}|, η); cap="dt" clamps φ at Δt (stable-solvers' rule)."""
    assert exponential_euler_time_step(-4.0, lr=1.0, order="magnitude") == 0.25
    assert exponential_euler_time_step(-4.0, lr=1.0) == 1.0
    assert exponential_euler_time_step(-0.5, lr=1.0, order="magnitude") == 1.0
    with pytest.raises(ValueError, match="order"):
        exponential_euler_time_step(1.0, lr=1.0, order="size")
    theta = torch.zeros(3, dtype=torch.float64, device=DEV)
    gradient = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, device=DEV)
    evals = torch.tensor([30.0, -20.0, -5.0], dtype=torch.float64, device=DEV)   # by |λ|; λ_{k+1} = −5 → Δt = 0.2
    vectors = torch.eye(3, dtype=torch.float64, device=DEV)[:, :2]
    new, info = exponential_euler_step(theta, gradient, evals, vectors, lr=1.0, order="magnitude", cap="dt")
    assert info.dt == pytest.approx(0.2)
    assert float(info.phi[0]) == pytest.approx((1 - math.exp(-6.0)) / 30.0)
    assert float(info.phi[1]) == pytest.approx(0.2)                  # (e^{4} − 1)/20 = 2.68 capped at Δt
    torch.testing.assert_close(new, torch.tensor([-float(info.phi[0]), -0.2 * 2.0, -0.2 * 3.0], dtype=torch.float64, device=DEV))
    _, eta_capped = exponential_euler_step(theta, gradient, evals, vectors, lr=1.0, order="magnitude")
    assert float(eta_capped.phi[1]) == 1.0                            # the paper's cap η
    with pytest.raises(ValueError, match="cap"):
        exponential_euler_step(theta, gradient, evals, vectors, lr=1.0, cap="none")

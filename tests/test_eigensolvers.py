import pytest
import torch

from eoslab.curvature import GaussNewtonOperator, HessianOperator, ResidualHessianOperator
from eoslab.eigensolvers import bottom_eigenpair, magnitude_subspace_iteration, negative_top_as_nan, top_eigenpairs

import conftest
from conftest import TinyProblem


def _symmetric(eigenvalues, seed=0):
    gen = torch.Generator().manual_seed(seed)
    n = len(eigenvalues)
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=gen))
    A = Q @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ Q.T
    return A.to(conftest.TEST_DEVICE)


def _assert_eigenpairs(result, dense, k, rtol=1e-8):
    evals, evecs = torch.linalg.eigh(dense)
    evals, evecs = evals.flip(0)[:k], evecs.flip(1)[:, :k]
    torch.testing.assert_close(result.eigenvalues, evals, rtol=rtol, atol=rtol * float(evals.abs().max()))
    # eigenvectors up to sign: |<v, v_ref>| = 1
    overlap = (result.eigenvectors * evecs).sum(0).abs()
    torch.testing.assert_close(overlap, torch.ones_like(overlap), rtol=0, atol=1e-6)
    # reported residuals are the true ones
    true_res = (dense @ result.eigenvectors - result.eigenvectors * result.eigenvalues).norm(dim=0)
    torch.testing.assert_close(result.residual_norms, true_res, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("method", ["krylov", "lobpcg", "lanczos"])
def test_algebraic_order_on_an_indefinite_matrix(method):
    """A large negative eigenvalue must not be reported as the top one."""
    spectrum = [5.0, 3.0, 2.5, 1.0] + [0.5 - 0.01 * i for i in range(60)] + [-20.0, -30.0]
    A = _symmetric(spectrum)
    result = top_eigenpairs(A, 3, tol=1e-10, method=method, generator=torch.Generator().manual_seed(0))
    assert result.converged
    _assert_eigenpairs(result, A, 3)
    assert result.eigenvalues.tolist() == pytest.approx([5.0, 3.0, 2.5], rel=1e-9)
    assert result.matvecs >= result.iterations


def test_residual_tolerance_is_met_and_reported():
    A = _symmetric([10.0, 9.9, 9.8] + [1.0 / (i + 1) for i in range(80)], seed=1)
    result = top_eigenpairs(A, 3, tol=1e-4, generator=torch.Generator().manual_seed(0))
    assert result.converged
    assert float(result.residual_norms.max()) <= 1e-4 * 10.0


@pytest.mark.parametrize("method", ["krylov", "lobpcg", "lanczos"])
def test_warm_start_converges_faster(method):
    A = _symmetric([8.0, 6.0, 4.0, 3.5] + [1.0 - 0.005 * i for i in range(150)], seed=2)
    gen = torch.Generator().manual_seed(0)
    cold = top_eigenpairs(A, 4, tol=1e-9, method=method, generator=gen)
    # a slightly perturbed matrix, as between two training steps
    B = A + 1e-4 * _symmetric(torch.linspace(-1, 1, A.shape[0]).tolist(), seed=3)
    warm = top_eigenpairs(B, 4, tol=1e-9, initial=cold.block, method=method, generator=gen)
    recold = top_eigenpairs(B, 4, tol=1e-9, method=method, generator=torch.Generator().manual_seed(1))
    assert warm.converged and recold.converged
    if method == "lanczos":  # ARPACK always builds its full basis (2k+1 vectors) before the first restart
        assert warm.matvecs <= recold.matvecs
    else:
        assert warm.matvecs < recold.matvecs
    _assert_eigenpairs(warm, B, 4)


def test_iteration_cap_reports_not_converged():
    A = _symmetric([1.0, 0.999, 0.998] + [0.99 - 0.001 * i for i in range(200)], seed=4)
    result = top_eigenpairs(A, 3, tol=1e-14, max_iterations=2, generator=torch.Generator().manual_seed(0))
    assert not result.converged
    assert result.iterations == 2


@pytest.mark.parametrize("method", ["krylov", "lanczos"])
@pytest.mark.parametrize("operator_class, dense_name", [
    (HessianOperator, "hessian"), (GaussNewtonOperator, "gauss_newton"), (ResidualHessianOperator, "residual")])
def test_top_eigenpairs_of_network_curvature(operator_class, dense_name, method):
    p = TinyProblem("elu", "cross_entropy", depth=3, width=6, n=25)
    hessian, G = p.dense_hessian(), p.dense_gauss_newton()
    dense = {"hessian": hessian, "gauss_newton": G, "residual": hessian - G}[dense_name]
    operator = operator_class(p.model, p.criterion, p.X, p.y, chunk_size=8)
    result = top_eigenpairs(operator, 3, tol=1e-11, max_iterations=500, method=method,
                            generator=torch.Generator().manual_seed(0))
    assert result.converged
    _assert_eigenpairs(result, dense, 3, rtol=1e-8)
    if dense_name == "residual":  # H is indefinite: its spectrum has both signs
        spectrum = torch.linalg.eigvalsh(dense)
        assert spectrum[0] < -1e-3 and spectrum[-1] > 1e-3


def test_paper_power_iteration_orders_by_magnitude_and_nan_rule():
    A = _symmetric([-9.0, 4.0, 3.0] + [0.1] * 40, seed=5)
    result = magnitude_subspace_iteration(A, 2, tol=1e-12, max_iterations=2000,
                                          generator=torch.Generator().manual_seed(0))
    assert result.eigenvalues.tolist() == pytest.approx([-9.0, 4.0], rel=1e-6)
    algebraic = top_eigenpairs(A, 2, tol=1e-10, generator=torch.Generator().manual_seed(0))
    assert algebraic.eigenvalues.tolist() == pytest.approx([4.0, 3.0], rel=1e-8)
    masked, count = negative_top_as_nan(torch.tensor([1.0, float(result.eigenvalues[0]), 2.0, -0.5]))
    assert count == 2
    assert torch.isnan(masked[1]) and torch.isnan(masked[3]) and masked[0] == 1.0 and masked[2] == 2.0


def _assert_magnitude_eigenvalues(result, dense, k, rtol=1e-8):
    spectrum = torch.linalg.eigvalsh(dense)
    expected = spectrum[torch.argsort(spectrum.abs(), descending=True)][:k]
    torch.testing.assert_close(result.eigenvalues, expected, rtol=rtol, atol=rtol * float(expected.abs().max()))
    true_res = (dense @ result.eigenvectors - result.eigenvectors * result.eigenvalues).norm(dim=0)
    torch.testing.assert_close(result.residual_norms, true_res, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("method", ["krylov", "lobpcg", "lanczos"])
def test_magnitude_order_on_an_indefinite_matrix(method):
    """order="magnitude": the largest |λ| (signed), as the paper's power iteration finds them."""
    spectrum = [5.0, 3.0, 2.5, 1.0] + [0.5 - 0.01 * i for i in range(60)] + [-20.0, -4.0]
    A = _symmetric(spectrum, seed=6)
    result = top_eigenpairs(A, 4, tol=1e-10, method=method, order="magnitude",
                            generator=torch.Generator().manual_seed(0))
    assert result.converged
    assert result.eigenvalues.tolist() == pytest.approx([-20.0, 5.0, -4.0, 3.0], rel=1e-9)
    _assert_magnitude_eigenvalues(result, A, 4)
    with pytest.raises(ValueError, match="order"):
        top_eigenpairs(A, 2, order="absolute")


@pytest.mark.parametrize("method", ["krylov", "lanczos"])
def test_magnitude_order_on_network_hessian(method):
    """The Hessian of a tiny net (indefinite) in magnitude order, against its dense spectrum."""
    p = TinyProblem("tanh", "cross_entropy", depth=3, width=6, n=25)
    dense = p.dense_hessian()
    operator = HessianOperator(p.model, p.criterion, p.X, p.y, chunk_size=8)
    result = top_eigenpairs(operator, 4, tol=1e-11, max_iterations=500, method=method, order="magnitude",
                            generator=torch.Generator().manual_seed(0))
    assert result.converged
    _assert_magnitude_eigenvalues(result, dense, 4)


def test_bottom_eigenpair_matches_dense_on_matrices():
    spectrum = [40.0, 30.0, 20.0] + [1.0 - 0.02 * i for i in range(80)] + [-3.0]
    A = _symmetric(spectrum, seed=7)
    top = top_eigenpairs(A, 3, tol=1e-12, generator=torch.Generator().manual_seed(0))
    bottom = bottom_eigenpair(A, deflate=top.eigenvectors, tol=1e-10, scale=40.0, max_products=200,
                              generator=torch.Generator().manual_seed(0))
    assert bottom.converged and float(bottom.eigenvalues[0]) == pytest.approx(-3.0, rel=1e-9)
    evals, evecs = torch.linalg.eigh(A)
    assert float((bottom.eigenvectors[:, 0] @ evecs[:, 0]).abs()) == pytest.approx(1.0, abs=1e-8)
    torch.testing.assert_close(bottom.residual_norms, (A @ bottom.eigenvectors - bottom.eigenvectors * bottom.eigenvalues)
                               .norm(dim=0), rtol=1e-6, atol=1e-12)
    # deflation removes the large end: fewer products than without it
    plain = bottom_eigenpair(A, tol=1e-10, scale=40.0, max_products=200, generator=torch.Generator().manual_seed(0))
    assert plain.converged and float(plain.eigenvalues[0]) == pytest.approx(-3.0, rel=1e-9)
    assert bottom.matvecs < plain.matvecs
    # warm start from the answer: converged after one product
    warm = bottom_eigenpair(A, initial=bottom.block, deflate=top.eigenvectors, tol=1e-8, scale=40.0)
    assert warm.converged and warm.matvecs == 1
    # a product budget is respected and reported
    capped = bottom_eigenpair(A, tol=1e-14, scale=40.0, max_products=3, generator=torch.Generator().manual_seed(0))
    assert not capped.converged and capped.matvecs == 3


@pytest.mark.parametrize("activation", ["elu", "tanh"])
def test_bottom_eigenpair_of_network_hessian_matches_dense(activation):
    """λ_min of a tiny net's (indefinite) Hessian against a dense eigendecomposition."""
    p = TinyProblem(activation, "cross_entropy", depth=3, width=6, n=25)
    dense = p.dense_hessian()
    spectrum = torch.linalg.eigvalsh(dense)
    assert spectrum[0] < -1e-3                                  # the test needs a negative λ_min
    operator = HessianOperator(p.model, p.criterion, p.X, p.y, chunk_size=8, reuse_graph=True)
    top = top_eigenpairs(operator, 4, tol=1e-11, max_iterations=500, generator=torch.Generator().manual_seed(0))
    bottom = bottom_eigenpair(operator, deflate=top.eigenvectors, tol=1e-10, scale=float(top.eigenvalues[0]),
                              max_products=300, generator=torch.Generator().manual_seed(0))
    assert bottom.converged
    assert float(bottom.eigenvalues[0]) == pytest.approx(float(spectrum[0]), rel=1e-8, abs=1e-10)


def test_bottom_eigenpair_spends_min_products_and_finds_a_new_negative_eigenvalue():
    """A warm start that meets a loose |λ_1|-relative tolerance in the bulk must not hide a
    large negative eigenvalue: min_products Lanczos steps find it."""
    spectrum = [1000.0] + [0.5 - 0.01 * i for i in range(100)] + [-300.0]
    A = _symmetric(spectrum, seed=8)
    evals, evecs = torch.linalg.eigh(A)
    bulk = evecs[:, 95:96] + 1e-3 * evecs[:, :1]           # almost a bulk eigenvector (λ ≈ 0.44), a little of λ_min's
    lazy = bottom_eigenpair(A, initial=bulk, deflate=evecs[:, -1:], tol=1e-3, scale=1000.0)
    assert lazy.matvecs == 1 and float(lazy.eigenvalues[0]) > 0        # the tolerance alone stops at once
    careful = bottom_eigenpair(A, initial=bulk, deflate=evecs[:, -1:], tol=1e-3, scale=1000.0, min_products=4)
    assert careful.matvecs >= 4 and float(careful.eigenvalues[0]) == pytest.approx(-300.0, rel=1e-3)

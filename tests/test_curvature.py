"""Block curvature products against dense autograd on tiny float64 MLPs."""

import pytest
import torch

from eoslab.curvature import GaussNewtonOperator, HessianOperator, ResidualHessianOperator

from conftest import ACTIVATION_NAMES, CRITERION_NAMES, TinyProblem, relative_error

TOL = 1e-8


@pytest.mark.parametrize("criterion", CRITERION_NAMES)
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_hessian_G_and_H_products_match_dense(activation, criterion):
    p = TinyProblem(activation, criterion)
    dense_hessian = p.dense_hessian()
    dense_G = p.dense_gauss_newton()
    V = torch.randn(p.space.numel, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(p.X.device)
    args = (p.model, p.criterion, p.X, p.y)
    assert relative_error(HessianOperator(*args, chunk_size=5) @ V, dense_hessian @ V) < TOL
    assert relative_error(GaussNewtonOperator(*args, chunk_size=5) @ V, dense_G @ V) < TOL
    assert relative_error(ResidualHessianOperator(*args, chunk_size=5) @ V, (dense_hessian - dense_G) @ V) < TOL


def test_gauss_newton_is_second_moment_of_K():
    """G = E(KᵀK) with K = R ∂f/∂θ (Section 2.2), built from an explicit Jacobian and R."""
    p = TinyProblem("tanh", "cross_entropy", depth=2, width=4)
    J = p.dense_jacobian()
    R = p.criterion.output_hessian_sqrt(p.outputs(p.theta).detach(), p.y)
    K = R @ J
    expected = torch.einsum("nop,noq->pq", K, K) / p.X.shape[0]
    dense = GaussNewtonOperator(p.model, p.criterion, p.X, p.y).to_dense()
    assert relative_error(dense, expected) < TOL


def test_mse_hessian_equals_G_for_a_linear_model():
    """For a linear network f = Ax + b and MSE, ∂²f/∂θ² = 0 so H = 0 and 𝓗 = G exactly."""
    p = TinyProblem("linear", "mse", depth=1)
    residual = ResidualHessianOperator(p.model, p.criterion, p.X, p.y).to_dense()
    assert float(residual.abs().max()) < 1e-13
    hessian = HessianOperator(p.model, p.criterion, p.X, p.y).to_dense()
    # closed form: (2/O) E[(x;1)(x;1)ᵀ] ⊗ I_O in (A row-major, b) coordinates
    n, d = p.X.shape
    o = 3
    xa = torch.cat([p.X, torch.ones(n, 1, dtype=p.X.dtype, device=p.X.device)], dim=1)
    second = xa.T @ xa / n
    kron = torch.kron(torch.eye(o, dtype=p.X.dtype, device=p.X.device), second[:d, :d])
    assert relative_error(hessian[: o * d, : o * d], (2.0 / o) * kron) < 1e-12


def test_layer_restriction_is_the_diagonal_block():
    p = TinyProblem("elu", "cross_entropy")
    dense = p.dense_hessian()
    names = p.model.layer_parameter_names(2)
    operator = HessianOperator(p.model, p.criterion, p.X, p.y, parameters=names)
    start = sum(p.space.numels[:2])
    stop = start + operator.space.numel
    assert operator.space.numel == 5 * 5 + 5
    assert relative_error(operator.to_dense(), dense[start:stop, start:stop]) < TOL


def test_chunking_does_not_change_the_result_and_matvecs_are_counted():
    p = TinyProblem("sigmoid", "mse", n=23)
    V = torch.randn(p.space.numel, 3, dtype=torch.float64).to(p.X.device)
    whole = HessianOperator(p.model, p.criterion, p.X, p.y, chunk_size=1000)
    pieces = HessianOperator(p.model, p.criterion, p.X, p.y, chunk_size=4)
    assert relative_error(pieces @ V, whole @ V) < 1e-13
    pieces @ V[:, 0]
    assert pieces.num_matvecs == 4


def test_gradient_and_loss_match_autograd():
    p = TinyProblem("elu", "cross_entropy", n=19)
    operator = HessianOperator(p.model, p.criterion, p.X, p.y, chunk_size=6)
    result = operator.loss_and_gradient()
    theta = p.theta.clone().requires_grad_(True)
    loss = p.loss(theta)
    (gradient,) = torch.autograd.grad(loss, theta, retain_graph=True)
    assert abs(result.loss - loss.item()) < 1e-14
    assert relative_error(result.gradient, gradient) < 1e-12
    accuracy = float((p.outputs(p.theta).argmax(1) == p.y).double().mean())
    assert result.accuracy == pytest.approx(accuracy)


def test_wrong_block_shape_is_reported():
    p = TinyProblem()
    operator = HessianOperator(p.model, p.criterion, p.X, p.y)
    with pytest.raises(ValueError, match="expected a block of shape"):
        operator.matmat(torch.zeros(3, 2, dtype=torch.float64))


@pytest.mark.parametrize("criterion", CRITERION_NAMES)
def test_reused_graph_gives_the_same_gradient_and_products(criterion):
    """reuse_graph: one forward/backward pass per chunk serves the gradient and every product
    until refresh(); values against dense autograd, and new parameters are picked up after refresh."""
    p = TinyProblem("elu", criterion, n=23)
    V = torch.randn(p.space.numel, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).to(p.X.device)
    reused = HessianOperator(p.model, p.criterion, p.X, p.y, chunk_size=5, reuse_graph=True)
    plain = HessianOperator(p.model, p.criterion, p.X, p.y, chunk_size=5)
    first = reused.loss_and_gradient()
    assert first.loss == pytest.approx(plain.loss_and_gradient().loss, rel=1e-14)
    assert relative_error(first.gradient, plain.loss_and_gradient().gradient) < 1e-13
    dense = p.dense_hessian()
    assert relative_error(reused @ V, dense @ V) < TOL
    assert relative_error(reused @ V[:, :1], dense @ V[:, :1]) < TOL      # the graph survives several products
    assert reused.num_matvecs == 4
    with torch.no_grad():                                                # move θ: refresh must rebuild
        for parameter in p.model.parameters():
            parameter.mul_(1.1)
    reused.refresh()
    moved = TinyProblem("elu", criterion, n=23)
    moved.model = p.model
    moved.theta = moved.space.flatten(moved.space.values(p.model))
    assert relative_error(reused @ V, moved.dense_hessian() @ V) < TOL

"""The real-valued regression MSE criterion (eoslab.criteria.RegressionMSE) against autograd and
torch.nn.MSELoss, and the curvature operators built on it."""

import pytest
import torch

from eoslab.criteria import RegressionMSE, get_criterion
from eoslab.curvature import GaussNewtonOperator, HessianOperator, ParameterSpace
from eoslab.models import build_model


def _z_and_y(seed=0, n=6, o=4):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, o, dtype=torch.float64, generator=gen) * 2,
            torch.randn(n, o, dtype=torch.float64, generator=gen))


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_value_is_nn_mse_loss_times_the_scale(scale):
    z, y = _z_and_y()
    criterion = get_criterion("regression_mse", scale=scale)
    assert isinstance(criterion, RegressionMSE) and criterion.scale == scale
    torch.testing.assert_close(criterion.loss(z, y).mean(), scale * torch.nn.MSELoss()(z, y), rtol=1e-14, atol=0)
    torch.testing.assert_close(criterion.loss(z, y), scale * ((z - y) ** 2).sum(dim=1) / z.shape[1])


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_output_hessian_its_root_and_products_match_autograd(scale):
    criterion = RegressionMSE(scale)
    z, y = _z_and_y(1, n=5, o=3)
    H = criterion.output_hessian(z, y)
    for n in range(z.shape[0]):
        dense = torch.autograd.functional.hessian(lambda zn: criterion.loss(zn[None], y[n:n + 1])[0], z[n])
        torch.testing.assert_close(H[n], dense, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(H[0], (2 * scale / 3) * torch.eye(3, dtype=torch.float64))
    R = criterion.output_hessian_sqrt(z, y)
    torch.testing.assert_close(R.transpose(-1, -2) @ R, H, rtol=1e-12, atol=1e-14)
    u = torch.randn(2, *z.shape, dtype=torch.float64)
    torch.testing.assert_close(criterion.output_hessian_matmul(z, y, u), torch.einsum("noq,knq->kno", H, u))


def test_accuracy_is_nan_and_bad_targets_or_scales_are_refused():
    z, y = _z_and_y(2)
    assert torch.isnan(RegressionMSE().accuracy(z, y)).all() and RegressionMSE().accuracy(z, y).shape == (6,)
    with pytest.raises(ValueError, match="real targets"):
        RegressionMSE().loss(z, torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match="real targets"):
        RegressionMSE().loss(z, y[:, :2])
    with pytest.raises(ValueError, match="scale"):
        RegressionMSE(scale=0.0)
    # The classification criteria keep their names and behaviour.
    assert get_criterion("mse").name == "mse" and get_criterion("cross_entropy").name == "cross_entropy"


def test_loss_gradient_and_hessian_operators_work_with_real_targets():
    gen = torch.Generator().manual_seed(4)
    model = build_model({"input_dim": 3, "output_dim": 2, "depth": 3, "width": 4, "activation": "tanh",
                         "init": "torch-default", "init_seed": 4})
    X = torch.randn(11, 3, dtype=torch.float64, generator=gen)
    Y = torch.randn(11, 2, dtype=torch.float64, generator=gen)
    criterion = RegressionMSE()
    operator = HessianOperator(model, criterion, X, Y, chunk_size=4)  # three chunks, one partial
    result = operator.loss_and_gradient()
    model.zero_grad()
    reference = torch.nn.MSELoss()(model(X), Y)
    reference.backward()
    space = ParameterSpace(model)
    assert result.loss == pytest.approx(reference.item(), rel=1e-13)
    assert result.accuracy != result.accuracy  # NaN
    torch.testing.assert_close(result.gradient, space.flatten({n: p.grad for n, p in model.named_parameters()}))
    theta = space.flatten(space.values(model))

    def loss(flat):
        return torch.nn.MSELoss()(torch.func.functional_call(model, space.unflatten(flat), (X,)), Y)

    torch.testing.assert_close(operator.to_dense(), torch.autograd.functional.hessian(loss, theta),
                               rtol=1e-10, atol=1e-12)
    J = torch.func.jacrev(lambda flat: torch.func.functional_call(model, space.unflatten(flat), (X,)))(theta)
    G = torch.einsum("nop,noq->pq", J, J) * 2 / (11 * 2)
    torch.testing.assert_close(GaussNewtonOperator(model, criterion, X, Y).to_dense(), G, rtol=1e-10, atol=1e-12)

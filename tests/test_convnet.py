"""eoslab.convnet (Long & Bartlett's CNN) and Glorot-normal initialisation; curvature on the CNN."""

from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from eoslab.convnet import build_convnet
from eoslab.criteria import get_criterion
from eoslab.curvature import GaussNewtonOperator, HessianOperator, ParameterSpace
from eoslab.eigensolvers import top_eigenpairs
from eoslab.models import TRUNCATED_NORMAL_STD, build_model, glorot_normal_


@pytest.mark.parametrize("shape", [(400, 300), (64, 32, 3, 3)])
def test_glorot_normal_has_the_glorot_variance_and_jaxs_truncation(shape):
    weight = torch.empty(shape, dtype=torch.float64)
    glorot_normal_(weight, torch.Generator().manual_seed(0))
    receptive = math.prod(shape[2:])
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    std = math.sqrt(2.0 / (fan_in + fan_out))
    n = weight.numel()
    # Sample variance within 5 standard errors (the fourth moment of a 2σ-truncated normal is ≈ 2.1σ⁴).
    assert float(weight.var()) == pytest.approx(std ** 2, rel=5 * math.sqrt(1.1 / n))
    assert abs(float(weight.mean())) < 5 * std / math.sqrt(n)
    bound = 2 * std / TRUNCATED_NORMAL_STD
    assert float(weight.abs().max()) <= bound and float(weight.abs().max()) > 0.99 * bound
    again = torch.empty(shape, dtype=torch.float64)
    glorot_normal_(again, torch.Generator().manual_seed(0))
    assert torch.equal(weight, again)


@torch.no_grad()
def test_mlp_glorot_normal_option_has_unit_gain_and_zero_biases():
    model = build_model({"input_dim": 500, "output_dim": 300, "depth": 2, "width": 700, "activation": "relu",
                         "init": "glorot-normal"})
    first = model.linears[0].weight.detach()
    assert float(first.var()) == pytest.approx(2.0 / 1200, rel=0.02)  # gain 1, not relu's √2
    assert all(float(linear.bias.abs().max()) == 0 for linear in model.linears)


@torch.no_grad()
def test_convnet_architecture_and_initialisation():
    model = build_convnet({})
    x = torch.randn(2, 3 * 32 * 32, dtype=torch.float64)
    assert model(x).shape == (2, 10)
    assert [conv.out_channels for conv in model.convs] == [16, 32]
    assert model.readout.in_features == 32 * 8 * 8
    assert sum(p.numel() for p in model.parameters()) == (3 * 9 * 16 + 16 + 32) + (16 * 9 * 32 + 32 + 64) + (2048 * 10 + 10)
    for conv in model.convs:
        fan_in, fan_out = conv.in_channels * 9, conv.out_channels * 9
        assert float(conv.weight.abs().max()) <= 2 * math.sqrt(2 / (fan_in + fan_out)) / TRUNCATED_NORMAL_STD
        assert float(conv.bias.abs().max()) == 0
    # The layer normalisation normalises over the channels at each position (Flax's LayerNorm on NHWC).
    block = torch.relu(model.convs[0](x.reshape(2, 3, 32, 32)))
    normed = model.norms[0](block)
    torch.testing.assert_close(normed.mean(dim=1), torch.zeros(2, 32, 32, dtype=torch.float64), atol=1e-12, rtol=0)
    assert torch.equal(build_convnet({"init_seed": 3}).readout.weight, build_convnet({"init_seed": 3}).readout.weight)


@pytest.mark.parametrize("bad, message", [({"input_shape": [3, 30, 30]}, "divisible"), ({"channels": []}, "channels"),
                                          ({"kernel_size": 2}, "odd"), ({"width": 3}, "unknown")])
def test_convnet_config_errors_name_the_key(bad, message):
    with pytest.raises(ValueError, match=message):
        build_convnet(bad)


def dense_hessian(model, criterion, X, y):
    space = ParameterSpace(model)
    theta = space.flatten(space.values(model))

    def loss(t):
        return criterion.loss(functional_call(model, space.unflatten(t), (X,)), y).mean()

    return torch.autograd.functional.hessian(loss, theta)


@pytest.mark.parametrize("criterion_name", ["mse", "cross_entropy"])
def test_hessian_products_of_the_cnn_match_dense_autograd(criterion_name):
    torch.manual_seed(0)
    model = build_convnet({"input_shape": [2, 8, 8], "channels": [3, 4], "output_dim": 3, "init_seed": 1})
    with torch.no_grad():  # non-trivial layer-norm parameters and biases exercise every term
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    X, y = torch.randn(7, 2 * 8 * 8, dtype=torch.float64), torch.randint(0, 3, (7,))
    criterion = get_criterion(criterion_name)
    H = dense_hessian(model, criterion, X, y)
    operator = HessianOperator(model, criterion, X, y, chunk_size=3)
    V = torch.randn(H.shape[0], 5, dtype=torch.float64)
    torch.testing.assert_close(operator.matmat(V), H @ V, rtol=1e-10, atol=1e-12)
    top = top_eigenpairs(operator, 2, tol=1e-10, generator=torch.Generator().manual_seed(0))
    dense_top = torch.linalg.eigvalsh(H).flip(0)[:2]
    torch.testing.assert_close(top.eigenvalues, dense_top, rtol=1e-8, atol=1e-10)
    # The Gauss-Newton part also runs on the CNN (positive semi-definite, below the Hessian's top
    # eigenvalue only approximately, so just check symmetry of its block product).
    G = GaussNewtonOperator(model, criterion, X, y).to_dense()
    torch.testing.assert_close(G, G.T, rtol=1e-10, atol=1e-12)

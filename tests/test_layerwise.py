"""Layer-block sharpness and per-layer gradient norms (eoslab.layerwise) against dense autograd."""

import pytest
import torch

from eoslab.criteria import CrossEntropy, RegressionMSE
from eoslab.curvature import HessianOperator, ParameterSpace
from eoslab.layerwise import LayerwiseSharpness, MLPHessian, layer_gradient_norms, layer_parameter_groups
from eoslab.models import build_model


def tiny_regression(activation="tanh", depth=3, width=4, d=3, o=3, n=13, seed=0):
    gen = torch.Generator().manual_seed(seed)
    model = build_model({"input_dim": d, "output_dim": o, "depth": depth, "width": width, "activation": activation,
                         "init": "torch-default", "init_seed": seed})
    X = torch.randn(n, d, dtype=torch.float64, generator=gen)
    Y = torch.randn(n, o, dtype=torch.float64, generator=gen) * 2
    return model, X, Y


def dense_hessian(model, X, Y):
    space = ParameterSpace(model)
    theta = space.flatten(space.values(model))

    def loss(flat):
        return torch.nn.MSELoss()(torch.func.functional_call(model, space.unflatten(flat), (X,)), Y)

    return space, torch.autograd.functional.hessian(loss, theta)


def block_indices(space, names):
    offsets, start = {}, 0
    for name, numel in zip(space.names, space.numels):
        offsets[name] = (start, start + numel)
        start += numel
    return torch.cat([torch.arange(*offsets[name]) for name in names])


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear", "elu"])
@pytest.mark.parametrize("selection", [None, "layer1", "layer2", "layer3", "mixed"])
def test_hand_written_hessian_products_equal_the_dense_autograd_hessian(activation, selection):
    model, X, Y = tiny_regression(activation, depth=3, seed=11)
    with torch.no_grad():  # non-zero biases, so that every term of the R-operator is exercised
        for linear in model.linears:
            linear.bias.normal_(0, 0.5, generator=torch.Generator().manual_seed(5))
    names = {None: None, "layer1": model.layer_parameter_names(1), "layer2": model.layer_parameter_names(2),
             "layer3": model.layer_parameter_names(3),
             "mixed": ["linears.0.bias", "linears.2.weight"]}[selection]
    space, H = dense_hessian(model, X, Y)
    operator = MLPHessian(model, RegressionMSE(), X, Y, parameters=names)
    index = block_indices(space, names if names is not None else space.names)
    torch.testing.assert_close(operator.to_dense(), H[index][:, index], rtol=1e-10, atol=1e-12)
    V = torch.randn(operator.shape[0], 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    reference = HessianOperator(model, RegressionMSE(), X, Y, parameters=names)
    torch.testing.assert_close(operator.matmat(V), reference.matmat(V), rtol=1e-10, atol=1e-12)
    assert operator.num_matvecs == operator.shape[0] + 3
    ours, theirs = operator.loss_and_gradient(), reference.loss_and_gradient()
    assert ours.loss == pytest.approx(theirs.loss, rel=1e-13)
    torch.testing.assert_close(ours.gradient, theirs.gradient, rtol=1e-11, atol=1e-13)


def test_hand_written_products_follow_the_parameters_and_take_any_criterion():
    gen = torch.Generator().manual_seed(2)
    model = build_model({"input_dim": 3, "output_dim": 4, "depth": 4, "width": 5, "activation": "tanh", "init_seed": 2})
    X, y = torch.randn(9, 3, dtype=torch.float64, generator=gen), torch.randint(0, 4, (9,), generator=gen)
    operator = MLPHessian(model, CrossEntropy(), X, y)
    space = ParameterSpace(model)
    space.assign(model, space.flatten(space.values(model)) * 1.1)
    operator.refresh()
    reference = HessianOperator(model, CrossEntropy(), X, y)
    torch.testing.assert_close(operator.to_dense(), reference.to_dense(), rtol=1e-10, atol=1e-12)
    assert operator.accuracy == pytest.approx(reference.loss_and_gradient().accuracy)


@pytest.mark.parametrize("engine", ["mlp", "autograd"])
@pytest.mark.parametrize("activation,depth", [("tanh", 3), ("relu", 4), ("sigmoid", 2), ("linear", 3)])
def test_layer_sharpness_is_the_top_eigenvalue_of_the_dense_diagonal_block(activation, depth, engine):
    model, X, Y = tiny_regression(activation, depth=depth, seed=depth)
    space, H = dense_hessian(model, X, Y)
    tracker = LayerwiseSharpness(model, RegressionMSE(), X, Y, tol=1e-10, method="krylov", chunk_size=5, engine=engine)
    measured = tracker.measure()
    assert measured.converged and measured.max_relative_residual <= 1e-10
    assert measured.full == pytest.approx(float(torch.linalg.eigvalsh(H)[-1]), rel=1e-9)
    expected = []
    for names in layer_parameter_groups(model):
        index = block_indices(space, names)
        expected.append(float(torch.linalg.eigvalsh(H[index][:, index])[-1]))
    assert measured.layers == pytest.approx(expected, rel=1e-9)
    # Cauchy interlacing: no diagonal block is sharper than the whole Hessian.
    assert max(measured.layers) <= measured.full * (1 + 1e-12)


@pytest.mark.parametrize("method", ["krylov", "lobpcg"])  # ARPACK restarts from one vector
def test_warm_start_after_a_gradient_step_matches_dense_and_costs_fewer_products(method):
    model, X, Y = tiny_regression("tanh", depth=3, width=5, seed=7)
    tracker = LayerwiseSharpness(model, RegressionMSE(), X, Y, tol=1e-9, method=method, seed=1)
    first = tracker.measure()
    assert tracker.measure().matvecs < first.matvecs  # same point: the warm start is already converged
    gradient = tracker.loss_and_gradient().gradient
    tracker.space.assign(model, tracker.space.flatten(tracker.space.values(model)) - 0.05 * gradient)
    second = tracker.measure()  # re-reads the moved parameters and warm-starts
    space, H = dense_hessian(model, X, Y)
    assert second.full == pytest.approx(float(torch.linalg.eigvalsh(H)[-1]), rel=1e-7)
    last = block_indices(space, model.layer_parameter_names(3))
    assert second.layers[2] == pytest.approx(float(torch.linalg.eigvalsh(H[last][:, last])[-1]), rel=1e-7)
    assert second.full != pytest.approx(first.full, rel=1e-6)  # the step changed the Hessian
    assert second.matvecs < first.matvecs


def test_only_full_or_only_layers():
    model, X, Y = tiny_regression()
    full_only = LayerwiseSharpness(model, RegressionMSE(), X, Y, tol=1e-10, layers=False).measure()
    layers_only = LayerwiseSharpness(model, RegressionMSE(), X, Y, tol=1e-10, full=False).measure()
    both = LayerwiseSharpness(model, RegressionMSE(), X, Y, tol=1e-10).measure()
    assert full_only.layers == [] and full_only.full == pytest.approx(both.full, rel=1e-9)
    assert layers_only.full != layers_only.full and layers_only.layers == pytest.approx(both.layers, rel=1e-9)
    with pytest.raises(ValueError, match="nothing to measure"):
        LayerwiseSharpness(model, RegressionMSE(), X, Y, full=False, layers=False)


def test_layer_gradient_norms_split_the_autograd_gradient():
    model, X, Y = tiny_regression("relu", depth=4, seed=3)
    tracker = LayerwiseSharpness(model, RegressionMSE(), X, Y)
    result = tracker.loss_and_gradient()
    model.zero_grad()
    torch.nn.MSELoss()(model(X), Y).backward()
    for i, norm in enumerate(tracker.gradient_norms(result.gradient), start=1):
        layer = model.linears[i - 1]
        expected = float(torch.sqrt(layer.weight.grad.pow(2).sum() + layer.bias.grad.pow(2).sum()))
        assert norm == pytest.approx(expected, rel=1e-12)
    norms = tracker.gradient_norms(result.gradient)
    assert sum(v * v for v in norms) == pytest.approx(float(result.gradient.pow(2).sum()), rel=1e-12)
    with pytest.raises(ValueError, match="flat"):
        layer_gradient_norms(result.gradient[:-1], tracker.space, layer_parameter_groups(model))

import math

import pytest
import torch

from eoslab.models import build_model, count_parameters, resolve_model_config


def test_paper_network_shape_and_parameter_count():
    model = build_model({"input_dim": 3072, "output_dim": 10})
    assert model.depth == 6
    assert [tuple(l.weight.shape) for l in model.linears] == [(512, 3072)] + [(512, 512)] * 4 + [(10, 512)]
    assert count_parameters(model) == 3072 * 512 + 512 + 4 * (512 * 512 + 512) + 512 * 10 + 10
    assert all(p.dtype == torch.float64 for p in model.parameters())


def test_xavier_with_gain_bounds_and_zero_bias():
    model = build_model({"input_dim": 300, "output_dim": 200, "depth": 2, "width": 400, "init_seed": 3})
    weight = model.linears[0].weight.detach()
    bound = math.sqrt(2.0) * math.sqrt(6.0 / (300 + 400))
    assert float(weight.abs().max()) <= bound
    assert float(weight.abs().max()) > 0.99 * bound
    # uniform on [-a, a] has variance a²/3
    assert abs(float(weight.var()) / (bound ** 2 / 3) - 1) < 0.02
    assert float(model.linears[0].bias.detach().abs().max()) == 0.0


def test_same_seed_same_weights_different_seed_different():
    a = build_model({"input_dim": 5, "output_dim": 2, "depth": 3, "width": 4, "init_seed": 7})
    b = build_model({"input_dim": 5, "output_dim": 2, "depth": 3, "width": 4, "init_seed": 7})
    c = build_model({"input_dim": 5, "output_dim": 2, "depth": 3, "width": 4, "init_seed": 8})
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.linears[0].weight, c.linears[0].weight)


def test_layer_parameter_names_follow_paper_indexing():
    model = build_model({"input_dim": 5, "output_dim": 2, "depth": 3, "width": 4})
    assert model.layer_parameter_names(1) == ["linears.0.weight", "linears.0.bias"]
    assert model.layer_parameter_names(3) == ["linears.2.weight", "linears.2.bias"]
    with pytest.raises(ValueError):
        model.layer_parameter_names(4)


@pytest.mark.parametrize("bad, message", [
    ({"depth": "6"}, "'depth' must be an integer"),
    ({"width": 0}, "'width' must be >= 1"),
    ({"activation": "gelu"}, "'activation' must be one of"),
    ({"init": "orthogonal"}, "'init' must be one of"),
    ({"gain": -1.0}, "'gain' must be a positive number"),
    ({"colour": 1}, "unknown model config keys"),
])
def test_bad_model_config_names_the_key(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        resolve_model_config({"input_dim": 3, "output_dim": 2, **bad})

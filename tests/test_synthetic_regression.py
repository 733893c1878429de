"""The synthetic regression set of the layerwise-sharpness thesis (§3.1.1): Y = XVᵀ − E."""

import pytest
import torch

from eoslab.datasets.synthetic_regression import make_synthetic_regression


def test_shapes_and_the_construction_y_equals_x_v_transpose_minus_standard_normal_noise():
    data = make_synthetic_regression(50, 7, seed=3)
    assert data.X.shape == (50, 7) and data.Y.shape == (50, 7) and data.V.shape == (7, 7)
    assert data.X.dtype == torch.float64 and data.num_samples == 50 and data.dim == 7
    # Redraw in the documented order (X, V, E) from the same seed: the labels are exactly XVᵀ − E.
    generator = torch.Generator().manual_seed(3)
    X = torch.randn(50, 7, dtype=torch.float64, generator=generator)
    V = torch.randn(7, 7, dtype=torch.float64, generator=generator)
    E = torch.randn(50, 7, dtype=torch.float64, generator=generator)
    assert torch.equal(data.X, X) and torch.equal(data.V, V)
    torch.testing.assert_close(data.Y, X @ V.T - E, rtol=0, atol=0)


def test_the_noise_is_standard_normal_and_scales_with_noise_std():
    data = make_synthetic_regression(20000, 4, seed=0)
    residual = data.X @ data.V.T - data.Y  # = E
    assert abs(float(residual.mean())) < 0.02 and abs(float(residual.std()) - 1.0) < 0.02
    scaled = make_synthetic_regression(20000, 4, seed=0, noise_std=0.25)
    torch.testing.assert_close(scaled.X @ scaled.V.T - scaled.Y, 0.25 * residual)
    noiseless = make_synthetic_regression(10, 4, seed=0, noise_std=0.0)
    torch.testing.assert_close(noiseless.Y, noiseless.X @ noiseless.V.T, rtol=0, atol=0)


def test_determinism_by_seed_and_dtype_is_a_cast_of_the_float64_draw():
    a, b = make_synthetic_regression(30, 5, seed=11), make_synthetic_regression(30, 5, seed=11)
    assert torch.equal(a.X, b.X) and torch.equal(a.Y, b.Y) and torch.equal(a.V, b.V)
    c = make_synthetic_regression(30, 5, seed=12)
    assert not torch.equal(a.X, c.X) and not torch.equal(a.Y, c.Y)
    single = make_synthetic_regression(30, 5, seed=11, dtype=torch.float32)
    assert single.X.dtype == torch.float32 and torch.equal(single.Y, a.Y.to(torch.float32))
    # The global RNG plays no part.
    torch.manual_seed(0)
    first = make_synthetic_regression(8, 3, seed=1).X
    torch.manual_seed(99)
    assert torch.equal(first, make_synthetic_regression(8, 3, seed=1).X)


@pytest.mark.parametrize("kwargs,named", [
    (dict(n=0, d=3, seed=0), "n=0"),
    (dict(n=5, d=0, seed=0), "d=0"),
    (dict(n=5, d=3, seed=-1), "seed"),
    (dict(n=5.0, d=3, seed=0), "'n'"),
    (dict(n=True, d=3, seed=0), "'n'"),
    (dict(n=5, d=3, seed=0, noise_std=-1.0), "noise_std"),
])
def test_bad_arguments_are_named(kwargs, named):
    with pytest.raises((TypeError, ValueError), match=named):
        make_synthetic_regression(**kwargs)

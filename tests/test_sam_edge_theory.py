"""eoslab.sam: the SAM-edge of Proposition 2, its ratio to 2/η (Figure 1) and its limits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eoslab.sam import alpha, edge_ratio, gd_edge, sam_edge, small_gradient_limit


def test_known_values():
    assert sam_edge(0.1, 0.1, 1.0) == pytest.approx(10.0, rel=1e-15)   # (1/0.2)(√(1 + 8) − 1) = 5 · 2
    # (‖g‖/2ρ)(√(1 + 8ρ/(η‖g‖)) − 1) written out for η = 0.03, ρ = 0.3, ‖g‖ = 2.5.
    expected = 2.5 / 0.6 * (math.sqrt(1 + 8 * 0.3 / (0.03 * 2.5)) - 1)
    assert sam_edge(0.03, 0.3, 2.5) == pytest.approx(expected, rel=1e-14)
    assert gd_edge(0.1) == pytest.approx(20.0)


def test_the_edge_is_the_positive_root_of_the_papers_quadratic():
    rng = np.random.default_rng(0)
    eta, rho, g = rng.uniform(0.01, 1, 50), rng.uniform(0.01, 1, 50), rng.uniform(1e-3, 10, 50)
    lam = sam_edge(eta, rho, g)
    np.testing.assert_allclose(eta * rho * lam ** 2 + eta * lam * g - 2 * g, 0, atol=1e-12 * np.max(g))
    assert np.all(lam > 0) and np.all(lam < 2 / eta)  # SAM's edge is below GD's for every ρ > 0


def test_limits_of_figure_1():
    eta = 0.1
    assert sam_edge(eta, 0.0, 3.0) == 2 / eta                          # ρ = 0: GD's edge exactly
    assert sam_edge(eta, 1e-12, 3.0) == pytest.approx(2 / eta, rel=1e-9)
    assert sam_edge(eta, 0.1, 0.0) == 0.0                              # no gradient: the edge closes
    for g in (1e-6, 1e-8):                                             # α → 0: √(2/η)·√(‖g‖/ρ)
        assert sam_edge(eta, 0.1, g) == pytest.approx(small_gradient_limit(eta, 0.1, g), rel=1e-3)
    assert edge_ratio(np.inf) == 1.0 and edge_ratio(0.0) == 0.0
    assert edge_ratio(1e8) == pytest.approx(1.0, abs=1e-7)
    for a in (1e-6, 1e-8):
        assert edge_ratio(a) / math.sqrt(a) == pytest.approx(1.0, abs=2 * math.sqrt(a))
    a = np.logspace(-6, 6, 200)                                        # increasing, between √α-ish and 1
    ratio = edge_ratio(a)
    assert np.all(np.diff(ratio) > 0) and np.all(ratio < 1) and np.all(ratio <= np.sqrt(a))


def test_ratio_to_gds_edge_depends_only_on_alpha():
    rng = np.random.default_rng(1)
    eta, rho, g = rng.uniform(0.01, 1, 20), rng.uniform(0.01, 1, 20), rng.uniform(1e-3, 10, 20)
    np.testing.assert_allclose(sam_edge(eta, rho, g) / gd_edge(eta), edge_ratio(alpha(eta, rho, g)), rtol=1e-13)
    a = alpha(0.2, 0.1, 0.5)
    assert a == pytest.approx(0.5) and edge_ratio(a) == pytest.approx(0.25 * (3 - 1))  # (α/2)(√(1+4/α) − 1)


@pytest.mark.parametrize("args", [(0.0, 0.1, 1.0), (-0.1, 0.1, 1.0), (0.1, -0.1, 1.0), (0.1, 0.1, -1.0),
                                  (0.1, math.nan, 1.0)])
def test_bad_arguments_are_refused(args):
    with pytest.raises(ValueError):
        sam_edge(*args)

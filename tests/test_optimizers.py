"""eoslab.optimizers: the SAM step (Eq. 1) against hand computations, GD/SGD, the minibatch sampler."""

from __future__ import annotations

import math

import pytest
import torch

from eoslab.criteria import get_criterion
from eoslab.models import build_model
from eoslab.optimizers import Evaluation, Objective, ascent_point, gd_step, minibatch_indices, sam_step


def quadratic(H: torch.Tensor, b: torch.Tensor):
    """ℓ(w) = ½ wᵀHw − bᵀw, ∇ℓ = Hw − b (accuracy has no meaning: NaN)."""
    def evaluate(w):
        return Evaluation(float(0.5 * w @ H @ w - b @ w), math.nan, H @ w - b)
    return evaluate


def test_sam_step_on_a_quadratic_matches_the_hand_computed_step():
    # ℓ(w) = ½(4 w₁² + w₂²) at w = (1, 1): g = (4, 1), ‖g‖ = √17.
    H = torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64))
    f = quadratic(H, torch.zeros(2, dtype=torch.float64))
    w = torch.tensor([1.0, 1.0], dtype=torch.float64)
    eta, rho = 0.1, 0.5
    step = sam_step(w, f, eta, rho)
    norm = math.sqrt(17.0)
    uphill = (1 + 4 * rho / norm, 1 + rho / norm)          # w + ρ g/‖g‖
    gradient_uphill = (4 * uphill[0], 1 * uphill[1])       # H (w + ρ ĝ)
    expected = (1 - eta * gradient_uphill[0], 1 - eta * gradient_uphill[1])
    assert step.parameters.tolist() == pytest.approx(expected, rel=1e-15)
    assert step.grad_norm == pytest.approx(norm, rel=1e-15)
    assert step.at_iterate.gradient.tolist() == [4.0, 1.0]
    assert step.at_ascent.gradient.tolist() == pytest.approx(gradient_uphill, rel=1e-15)
    # Proof of Proposition 3: w_{t+1} − w_t = −η (I + ρH/‖g‖) g on a quadratic.
    closed_form = w - eta * (torch.eye(2, dtype=torch.float64) + rho * H / norm) @ (H @ w)
    torch.testing.assert_close(step.parameters, closed_form, rtol=1e-15, atol=1e-15)


def test_sam_with_zero_radius_is_gradient_descent_and_a_zero_gradient_has_no_ascent():
    H = torch.tensor([[3.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([0.5, -1.0], dtype=torch.float64)
    f = quadratic(H, b)
    w = torch.tensor([0.3, -0.7], dtype=torch.float64)
    torch.testing.assert_close(sam_step(w, f, 0.2, 0.0).parameters, w - 0.2 * (H @ w - b))
    torch.testing.assert_close(gd_step(w, f, 0.2).parameters, w - 0.2 * (H @ w - b))
    minimiser = torch.linalg.solve(H, b)
    assert torch.equal(ascent_point(minimiser, torch.zeros(2, dtype=torch.float64), 0.5), minimiser)
    with pytest.raises(ValueError, match="step size"):
        sam_step(w, f, 0.0, 0.1)
    with pytest.raises(ValueError, match="radius"):
        sam_step(w, f, 0.1, -0.1)


def test_one_sam_step_on_a_quadratic_increases_the_loss_iff_lambda_exceeds_the_sam_edge():
    """Proposition 2's sign claim, on ℓ = ½λ w₁² + ½μ w₂² with g along the top eigenvector."""
    from eoslab.sam import sam_edge

    eta, rho = 0.1, 0.05
    w = torch.tensor([0.3, 0.0], dtype=torch.float64)
    for lam in (5.0, 12.0, 15.0, 18.0, 25.0):
        H = torch.diag(torch.tensor([lam, 1.0], dtype=torch.float64))
        f = quadratic(H, torch.zeros(2, dtype=torch.float64))
        edge = sam_edge(eta, rho, lam * 0.3)                       # ‖g‖ = λ w₁
        change = f(sam_step(w, f, eta, rho).parameters).loss - f(w).loss
        assert math.copysign(1, change) == math.copysign(1, lam - edge), (lam, edge)


def test_objective_gradient_is_autograd_of_the_mean_loss_in_any_chunking():
    torch.manual_seed(0)
    model = build_model({"input_dim": 4, "output_dim": 3, "depth": 3, "width": 6, "init": "glorot-normal"})
    X, y = torch.randn(11, 4, dtype=torch.float64), torch.randint(0, 3, (11,))
    criterion = get_criterion("mse")
    reference = criterion.loss(model(X), y).mean()
    reference_grad = torch.cat([g.reshape(-1) for g in torch.autograd.grad(reference, list(model.parameters()))])
    w = Objective(model, criterion).parameters()
    for chunk in (None, 1, 4):
        evaluation = Objective(model, criterion, chunk_size=chunk).evaluate(w, X, y)
        assert evaluation.loss == pytest.approx(float(reference.detach()), rel=1e-14)
        torch.testing.assert_close(evaluation.gradient, reference_grad, rtol=1e-13, atol=1e-15)
    # Evaluating elsewhere leaves the model untouched.
    Objective(model, criterion).evaluate(w + 1.0, X, y)
    torch.testing.assert_close(Objective(model, criterion).parameters(), w)


def test_minibatch_indices_are_distinct_and_determined_by_the_seed():
    draws = [minibatch_indices(50, 20, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(draws[0], draws[1])
    assert len(set(draws[0].tolist())) == 20 and 0 <= int(draws[0].min()) and int(draws[0].max()) < 50
    generator = torch.Generator().manual_seed(7)
    sequence = [minibatch_indices(50, 20, generator) for _ in range(3)]
    assert torch.equal(sequence[0], draws[0]) and not torch.equal(sequence[0], sequence[1])
    assert not torch.equal(minibatch_indices(50, 20, torch.Generator().manual_seed(8)), draws[0])
    assert sorted(minibatch_indices(9, 9, generator).tolist()) == list(range(9))  # B = N: a permutation


def test_minibatch_indices_are_uniform_over_the_samples():
    generator = torch.Generator().manual_seed(0)
    counts = torch.zeros(10)
    for _ in range(2000):
        counts[minibatch_indices(10, 3, generator)] += 1
    # Each sample is in a batch with probability 3/10: 600 of 2000 draws, binomial sd ≈ 20.5.
    assert (counts - 600).abs().max() < 5 * 20.5


@pytest.mark.parametrize("args, message", [((10, 11), "exceeds"), ((0, 1), "num_samples"), ((10, 0), "batch_size"),
                                            ((10, 2.0), "batch_size")])
def test_minibatch_indices_reject_bad_sizes(args, message):
    with pytest.raises(ValueError, match=message):
        minibatch_indices(*args, torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="generator"):
        minibatch_indices(10, 2, None)

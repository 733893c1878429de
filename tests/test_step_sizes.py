"""Step-size schemes, Armijo backtracking and Algorithm 2 (eoslab.step_sizes) against closed forms and
sequential training of eoslab MLPs."""

import math

import numpy as np
import pytest
import torch

from eoslab.models import build_model
from eoslab.step_sizes import (ArmijoLineSearch, ConstantStep, DivergenceTrials, InverseInitialSharpness,
                               InverseSharpness, LayerwiseInverseSharpness, armijo_backtracking, horizon_iterations,
                               make_scheme, maximal_step_sizes, torch_default_parameters, trial_seed,
                               trial_step_size)


# ---------------------------------------------------------------------------------------------
# Algorithm 2 on quadratics L(θ) = ½ θᵀAθ: gradient descent diverges iff η > 2/λ_max(A).

class QuadraticTrials:
    """Gradient descent on ½θᵀA_rθ (run r has its own A_r) for T steps, many trials at once; a trial
    diverges when the loss at some iteration is NaN/inf (Algorithm 2's rule)."""

    def __init__(self, top_eigenvalues, steps):
        gen = np.random.default_rng(0)
        self.matrices = []
        for top in top_eigenvalues:
            Q, _ = np.linalg.qr(gen.normal(size=(3, 3)))
            self.matrices.append(Q @ np.diag([top, 0.7, 0.1]) @ Q.T)
        self.start = np.array([1.0, -0.5, 0.25])
        self.steps = steps
        self.calls = []

    def __call__(self, etas, run_ids, trial_ids):
        self.calls.append(len(etas))
        A = np.stack([self.matrices[r] for r in run_ids])
        theta = np.tile(self.start, (len(etas), 1))
        diverged = np.zeros(len(etas), dtype=bool)
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(self.steps):
                gradient = np.einsum("mij,mj->mi", A, theta)
                loss = 0.5 * np.einsum("mi,mi->m", theta, gradient)
                diverged |= ~np.isfinite(loss)
                if diverged.all():
                    break
                theta = theta - etas[:, None] * gradient
        return diverged


def first_grid_point_above(threshold, eta0, beta):
    k = math.ceil(math.log(threshold / eta0) / math.log(beta))
    return k, eta0 * beta ** k


@pytest.mark.parametrize("block", [1, 4, 64])
def test_maximal_step_size_of_a_quadratic_is_the_first_grid_step_above_two_over_lambda(block):
    beta = 1.1
    tops = [4.0, 4.0 * beta ** 3, 4.0 * beta ** 7]   # 2/λ_max falls midway between grid points (in log)
    eta0 = 0.5 / beta ** 16.5
    result = maximal_step_sizes(QuadraticTrials(tops, steps=5000), 3, eta0=eta0, beta=beta, block=block)
    for r, top in enumerate(tops):
        k, eta = first_grid_point_above(2.0 / top, eta0, beta)
        # Algorithm 2 returns the first step size that diverged (k + 1 trials: 0..k), which is > 2/λ.
        assert result.step_sizes[r] == pytest.approx(eta, rel=1e-12) and result.trials[r] == k + 1
        assert result.step_sizes[r] > 2.0 / top > result.step_sizes[r] / beta
    assert result.mean == pytest.approx(np.mean(result.step_sizes))
    assert result.std == pytest.approx(np.std(result.step_sizes, ddof=1))


def test_only_unfinished_runs_get_more_trials_and_an_endless_run_is_an_error():
    oracle = QuadraticTrials([40.0, 4.0], steps=5000)
    eta0, beta = 0.5 / 1.1 ** 16.5, 1.1
    maximal_step_sizes(oracle, 2, eta0=eta0, beta=beta, block=5)
    # Run 0 (2/λ = 0.05) diverges within its first block, run 1 needs four blocks.
    assert oracle.calls == [10, 5, 5, 5]
    with pytest.raises(RuntimeError, match="did not diverge within 12 trials"):
        maximal_step_sizes(QuadraticTrials([4.0], steps=5000), 1, eta0=1e-6, beta=1.1, block=5, max_trials=12)
    with pytest.raises(ValueError, match="β > 1"):
        maximal_step_sizes(oracle, 1, eta0=0.1, beta=1.0)


def test_trial_step_sizes_and_seeds():
    assert trial_step_size(0.1, 1.01, 0) == 0.1
    assert trial_step_size(0.1, 1.01, np.arange(3)) == pytest.approx([0.1, 0.101, 0.10201])
    assert trial_seed(0, 1, 2) == trial_seed(0, 1, 2) != trial_seed(0, 2, 1)
    assert trial_seed(0, 1, 2, 0) != trial_seed(0, 1, 2, 1)
    assert horizon_iterations(100, "iterations", 100, 1) == 100
    assert horizon_iterations(100, "epochs", 100, 1) == 10_000
    assert horizon_iterations(3, "epochs", 10, 4) == 9 and horizon_iterations(3, "epochs", 10, None) == 3
    with pytest.raises(ValueError, match="horizon unit"):
        horizon_iterations(3, "steps", 10, None)


# ---------------------------------------------------------------------------------------------
# The vectorised trials are the eoslab MLP trained sequentially.

def test_torch_default_parameters_are_build_models_torch_default_initialisation():
    for seed in (0, 7, 2**31 + 5):
        model = build_model({"input_dim": 6, "output_dim": 3, "depth": 4, "width": 5, "activation": "tanh",
                             "init": "torch-default", "init_seed": seed})
        for mine, theirs in zip(torch_default_parameters([6, 5, 5, 5, 3], seed), model.parameters()):
            assert torch.equal(mine, theirs.detach())


def sequential_gd(widths, activation, X, Y, eta, seed, steps, batch_size=None, generator=None):
    """Plain (S)GD on one eoslab MLP with nn.MSELoss; returns (final model, 0-based divergence iteration or -1)."""
    model = build_model({"input_dim": widths[0], "output_dim": widths[-1], "depth": len(widths) - 1,
                         "width": widths[1], "activation": activation, "init": "torch-default", "init_seed": seed})
    n = X.shape[0]
    order = None
    for step in range(steps):
        if batch_size is None:
            x, y = X, Y
        else:
            per_epoch = math.ceil(n / batch_size)
            position = step % per_epoch
            if position == 0:
                order = torch.randperm(n, generator=generator)
            index = order[position * batch_size:(position + 1) * batch_size]
            x, y = X[index], Y[index]
        model.zero_grad()
        loss = torch.nn.MSELoss()(model(x), y)
        if not torch.isfinite(loss):
            return model, step
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= eta * p.grad
    return model, -1


def test_full_batch_trials_follow_sequential_gradient_descent_and_report_the_diverging_iteration():
    gen = torch.Generator().manual_seed(0)
    X, Y = torch.randn(9, 4, dtype=torch.float64, generator=gen), torch.randn(9, 4, dtype=torch.float64, generator=gen)
    widths = [4, 4, 4, 4]
    oracle = DivergenceTrials(widths, "linear", X, Y, iterations=25, seed=3)
    etas, runs, trials = np.array([0.05, 0.2, 300.0]), np.array([0, 1, 0]), np.array([0, 5, 2])
    outcome = oracle.train(etas, runs, trials)
    for m, (eta, r, k) in enumerate(zip(etas, runs, trials)):
        model, at = sequential_gd(widths, "linear", X, Y, float(eta), trial_seed(3, r, k), 25)
        assert outcome.diverged_at[m] == at
        if at < 0:
            for stacked, p in zip(outcome.parameters, model.parameters()):
                torch.testing.assert_close(stacked[m], p.detach(), rtol=1e-10, atol=1e-12)
        else:
            assert all(torch.isnan(stacked[m]).all() for stacked in outcome.parameters)
    assert outcome.diverged.tolist() == [False, False, True] and outcome.diverged_at[2] > 0
    assert oracle(etas, runs, trials).tolist() == [False, False, True]


def test_minibatch_trials_reshuffle_every_epoch_like_sequential_sgd_and_per_run_data_is_used():
    gen = torch.Generator().manual_seed(1)
    X = torch.randn(2, 10, 3, dtype=torch.float64, generator=gen)   # one data set per run
    Y = torch.randn(2, 10, 2, dtype=torch.float64, generator=gen)
    widths = [3, 5, 5, 2]
    oracle = DivergenceTrials(widths, "tanh", X, Y, iterations=8, batch_size=4, seed=0)  # 3 steps/epoch, last of 2
    etas, runs, trials = np.array([0.1, 0.3]), np.array([0, 1]), np.array([4, 4])
    outcome = oracle.train(etas, runs, trials)
    for m, (eta, r, k) in enumerate(zip(etas, runs, trials)):
        model, at = sequential_gd(widths, "tanh", X[r], Y[r], float(eta), trial_seed(0, r, k), 8, batch_size=4,
                                  generator=oracle.shuffling_generator(r, k))
        assert at == -1
        for stacked, p in zip(outcome.parameters, model.parameters()):
            torch.testing.assert_close(stacked[m], p.detach(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="no data set"):
        oracle.train(np.array([0.1]), np.array([2]), np.array([0]))


def test_results_do_not_depend_on_the_block_size():
    gen = torch.Generator().manual_seed(2)
    X, Y = torch.randn(12, 3, dtype=torch.float64, generator=gen), torch.randn(12, 3, dtype=torch.float64, generator=gen)
    results = []
    for block in (3, 16):
        oracle = DivergenceTrials([3, 3, 3], "relu", X, Y, iterations=30, seed=5, dtype=torch.float32)
        results.append(maximal_step_sizes(oracle, 2, eta0=0.5, beta=1.2, block=block))
    assert np.array_equal(results[0].step_sizes, results[1].step_sizes)
    assert np.array_equal(results[0].trials, results[1].trials)


# ---------------------------------------------------------------------------------------------
# Armijo backtracking on a quadratic: the condition holds exactly for η ≤ η* = 2(1 − c)‖g‖²/(gᵀAg).

@pytest.mark.parametrize("start", [5.0, 0.9, 0.01])
def test_armijo_on_a_quadratic_accepts_the_first_backtracked_step_below_the_closed_form_bound(start):
    A = torch.tensor([[3.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    theta = torch.tensor([1.0, -2.0], dtype=torch.float64)
    g = A @ theta

    def loss(t):
        return 0.5 * float(t @ A @ t)

    c, beta = 0.1, 0.9
    bound = 2 * (1 - c) * float(g @ g) / float(g @ A @ g)
    result = armijo_backtracking(lambda eta: loss(theta - eta * g), loss(theta), float(g @ g), start, c=c, beta=beta)
    j = max(0, math.ceil(math.log(start / bound) / math.log(1 / beta)))
    assert result.satisfied and result.evaluations == j + 1
    assert result.lr == pytest.approx(start * beta ** j, rel=1e-12) and result.lr <= bound
    assert j == 0 or bound < result.lr / beta   # the previous trial step violated the condition
    assert result.loss == pytest.approx(loss(theta - result.lr * g), rel=1e-14)


def test_armijo_line_search_resets_from_gamma_times_the_previous_step_and_gives_up_after_max_backtracks():
    search = ArmijoLineSearch(c=0.1, beta=0.5, gamma=2.0, initial=1.0)
    quadratic = lambda eta: (1 - eta) ** 2  # L(θ − η g) for L = θ², θ = 1, g = 2 (‖g‖² = 4, L = 1)
    first = search.search(lambda eta: quadratic(2 * eta), 1.0, 4.0)
    assert first.lr == pytest.approx(0.5) and first.evaluations == 2   # 1.0 fails (L=1), 0.5 holds
    second = search.search(lambda eta: quadratic(2 * eta), 1.0, 4.0)
    assert second.lr == pytest.approx(0.5) and second.evaluations == 2  # starts at 2·0.5 = 1.0 again
    never = armijo_backtracking(lambda eta: float("nan"), 1.0, 4.0, 1.0, beta=0.5, max_backtracks=3)
    assert not never.satisfied and never.evaluations == 4 and never.lr == pytest.approx(0.125)


# ---------------------------------------------------------------------------------------------
# The §3.3 schemes.

def test_schemes_give_the_thesis_step_sizes():
    assert ConstantStep(0.08).step_sizes(0, 3) == [0.08] * 3
    initial = InverseInitialSharpness()
    assert initial.step_sizes(0, 2, full=4.0) == [0.25, 0.25]
    assert initial.step_sizes(9, 2, full=100.0) == [0.25, 0.25] and not initial.needs_full_at(9)
    assert InverseSharpness().step_sizes(3, 2, full=8.0) == [0.125, 0.125]
    assert LayerwiseInverseSharpness().step_sizes(0, 3, layers=[1.0, 2.0, 4.0]) == [1.0, 0.5, 0.25]
    assert LayerwiseInverseSharpness(2.0).step_sizes(0, 2, layers=[1.0, 4.0]) == [0.5, 0.125]
    with pytest.raises(ValueError, match="undefined"):
        InverseSharpness().step_sizes(0, 2, full=-1.0)
    with pytest.raises(ValueError, match="each of the 3 layers"):
        LayerwiseInverseSharpness().step_sizes(0, 3, layers=[1.0])
    assert isinstance(make_scheme({"scheme": "layerwise_inverse_sharpness", "scale": 2}), LayerwiseInverseSharpness)
    assert make_scheme({"scheme": "constant", "lr": 0.2, "label": "η = 2/10"}).lr == 0.2
    with pytest.raises(ValueError, match="step-size scheme must be one of"):
        make_scheme({"scheme": "adam"})
    with pytest.raises(ValueError, match="bad options"):
        make_scheme({"scheme": "constant", "rate": 0.1})

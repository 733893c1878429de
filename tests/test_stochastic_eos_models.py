"""Study stochastic_eos: the linear, quadratic and MLP experiments against independent computations."""

import math

import numpy as np
import pytest
import torch
from torch.func import jacrev

from eoslab import noise_kernel as nk
from eoslab.criteria import RegressionMSE
from eoslab.models import build_model
from eoslab.optimizers import Objective, gd_step, minibatch_indices
from eoslab.studies.stochastic_eos import linear, mlp, quadratic


# -- linear model -------------------------------------------------------------------------------
def test_batched_minibatches_are_exactly_b_distinct_with_the_right_pair_frequencies():
    D, B, R = 7, 3, 60_000
    index = linear.batched_minibatches(R, D, B, torch.Generator().manual_seed(0))
    assert index.shape == (R, B)
    assert all(len(set(row)) == B for row in index[:2000].tolist())
    mask = torch.zeros(R, D, dtype=torch.float64).scatter_(1, index, 1.0)
    s = nk.BatchSampling(D, B)
    single, pair = mask.mean(0), (mask[:, 0] * mask[:, 1]).mean()
    # binomial standard errors: sqrt(p(1−p)/R) ≈ 0.002; 5σ tolerance
    assert torch.allclose(single, torch.full((D,), s.beta, dtype=torch.float64), atol=5 * math.sqrt(s.beta / R))
    assert abs(float(pair) - s.beta2) < 5 * math.sqrt(s.beta2 / R)


def test_monte_carlo_loss_matches_the_exact_expected_loss():
    """Mean final loss of R = 20,000 function-space SGD runs vs tr 𝒯ᵀ(z₀z₀ᵀ)/2D, within 5 standard errors."""
    rng = np.random.default_rng(0)
    D, P, B, T = 8, 12, 2, 6
    J = linear.make_jacobian("flat", D, P, rng)
    ntk = J @ J.T / D
    z0 = rng.normal(size=D)
    spectrum = nk.NTKSpectrum.from_ntk(ntk)
    lr = 0.8 / spectrum.lambda_max
    final, _ = linear.monte_carlo_sgd(ntk, z0, lr, B, T, 20_000, seed=1)
    expected = linear.expected_loss(spectrum, z0, lr, B, T)
    assert abs(final.mean() - expected) < 5 * final.std() / math.sqrt(final.size)
    # and the function-space update is the parameter-space SGD step: one replica, one step
    theta0 = rng.normal(size=P)
    y = J @ theta0 - z0
    _, records = linear.monte_carlo_sgd(ntk, z0, lr, B, 1, 1, seed=0, record_every=1)
    generator = torch.Generator().manual_seed(0)
    index = linear.batched_minibatches(1, D, B, generator)[0].numpy()
    theta1 = theta0 - (lr / B) * J[index].T @ (J[index] @ theta0 - y[index])
    z1 = J @ theta1 - y
    assert records[1, 1] == pytest.approx(float(z1 @ z1) / (2 * D), rel=1e-12)


def test_rank_deficient_expected_loss_keeps_the_null_space_part():
    rng = np.random.default_rng(1)
    D, P = 8, 5
    J = rng.normal(size=(D, P))
    ntk = J @ J.T / D
    spectrum = nk.NTKSpectrum.from_ntk(ntk)
    z0 = rng.normal(size=D)
    lr = 0.5 / spectrum.lambda_max
    final, _ = linear.monte_carlo_sgd(ntk, z0, lr, 3, 5, 20_000, seed=2)
    expected = linear.expected_loss(spectrum, z0, lr, 3, 5)
    null = z0 - spectrum.eigenvectors @ (spectrum.eigenvectors.T @ z0)
    assert expected > float(null @ null) / (2 * D)                       # the floor that never moves
    assert abs(final.mean() - expected) < 5 * final.std() / math.sqrt(final.size)


def test_jacobian_settings_have_their_spectra_and_eigenvector_localisation():
    rng = np.random.default_rng(2)
    D, P = 60, 120
    flat = nk.NTKSpectrum.from_ntk((lambda J: J @ J.T / D)(linear.make_jacobian("flat", D, P, rng)))
    dispersed = nk.NTKSpectrum.from_ntk((lambda J: J @ J.T / D)(linear.make_jacobian("dispersed", D, P, rng)))
    localised = nk.NTKSpectrum.from_ntk((lambda J: J @ J.T / D)(linear.make_jacobian("localised", D, P, rng)))
    assert flat.trace / D == pytest.approx(1.0, rel=0.1)
    expected = 1.0 / np.arange(1, D + 1)
    np.testing.assert_allclose(dispersed.eigenvalues, expected * D / expected.sum(), rtol=1e-9)
    participation = {name: float(np.mean(np.sum(s.eigenvectors ** 4, axis=0)))
                     for name, s in (("flat", flat), ("dispersed", dispersed), ("localised", localised))}
    assert participation["localised"] > 3 * participation["flat"]       # inverse participation ratio
    assert participation["dispersed"] == pytest.approx(participation["flat"], rel=0.5)


def test_crossing_and_divergence_boundary():
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert linear.crossing(x, np.array([0.1, 0.5, 2.0, 4.0])) == pytest.approx(2 * 2 ** (0.5 / 1.5))
    assert math.isnan(linear.crossing(x, np.array([0.1, 0.2, 0.3, 0.4])))
    import pandas as pd
    frame = pd.DataFrame({"lr": x, "loss_initial": 1.0, "loss_mc_mean": [0.1, 0.5, math.inf, math.inf]})
    assert linear.divergence_boundary(frame) == pytest.approx(2 * math.sqrt(2))


# -- quadratic model ----------------------------------------------------------------------------
def test_quadratic_jacobian_is_the_derivative_of_the_residual():
    model = quadratic.make_model(5, 7, "shaped", 1.3, seed=0)
    theta = torch.randn(7, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    J, z = model.jacobian_and_residual(theta)
    dense = jacrev(lambda t: model.jacobian_and_residual(t)[1])(theta)
    torch.testing.assert_close(J, dense, rtol=1e-12, atol=1e-12)
    twin = quadratic.make_model(5, 7, "shaped", 1.3, seed=0, sign=-1)
    torch.testing.assert_close(twin.Qs, -model.Qs)
    torch.testing.assert_close(twin.J0, model.J0)


def test_first_derivative_theory_against_monte_carlo_over_batches_and_curvature():
    """E Δλ̂_α at t = 0 over P and Q (fixed J₀, y): 4,000 antithetic pairs; 5 standard errors."""
    D, P, B, lr, eps = 6, 9, 2, 0.3, 2.0
    base = quadratic.make_model(D, P, "shaped", eps, seed=3)
    weights = quadratic.curvature_weights(base.S.numpy(), "shaped")
    rng = np.random.default_rng(4)
    generator = torch.Generator().manual_seed(5)
    u, v = base.U[:, 0], base.Vr[:, 0]
    samples = []
    for _ in range(4000):
        A = rng.normal(size=(D, P, P))
        Qs = torch.as_tensor(eps * np.sqrt(weights / P)[:, None, None] * (A + A.transpose(0, 2, 1)) / math.sqrt(2))
        index = minibatch_indices(D, B, generator)
        pair = []
        for sign in (1, -1):
            model = quadratic.QuadraticModel(base.J0, base.U, base.S, base.Vr, sign * Qs, base.y)
            J0, z0 = model.jacobian_and_residual(torch.zeros(P, dtype=torch.float64))
            theta1 = -(lr / B) * J0[index].T @ z0[index]
            J1, _ = model.jacobian_and_residual(theta1)
            pair.append(float((u @ J1 @ v) ** 2 - (u @ J0 @ v) ** 2) / D)
        samples.append(0.5 * sum(pair))
    samples = np.asarray(samples)
    theory = quadratic.first_derivative_theory(base, lr, B, eps, "shaped", 1)[0]
    assert abs(samples.mean() - theory) < 5 * samples.std() / math.sqrt(samples.size)
    assert theory > 0


def test_quadratic_run_starts_at_the_targets_and_tracks_the_estimators():
    model = quadratic.make_model(8, 12, "flat", 1.0, seed=0)
    frame = quadratic.run(model, 0.05, 8, 5, 2, seed=0)
    assert frame["loss"].iloc[0] == pytest.approx(float(model.y @ model.y) / 16)
    assert frame["lambda_hat_1"].iloc[0] == pytest.approx(float(model.S[0] ** 2 / 8))
    assert frame["lambda_max"].iloc[0] == pytest.approx(float(model.S[0] ** 2 / 8))
    assert frame["loss"].iloc[-1] < frame["loss"].iloc[0]


# -- MLP ------------------------------------------------------------------------------------------
def test_mlp_data_from_bundled_digits(tmp_path):
    path = mlp.prepare_data(tmp_path / "d.npz", "sklearn_digits", None, 300, 0.1)
    X, y = mlp.load_data(path)
    assert X.shape == (300, 64) and y.shape == (300, 1)
    assert set(torch.unique(y).tolist()) == {-1.0, 1.0}
    cov = np.cov(X.numpy().T, bias=True)
    eig = np.linalg.eigvalsh(cov)
    assert eig.max() < 1.0 + 1e-9 and np.abs(X.numpy().mean(0)).max() < 1e-10
    with pytest.raises(ValueError, match="num_examples must be in 1..1437"):
        mlp.prepare_data(tmp_path / "e.npz", "sklearn_digits", None, 5000, 0.1)


def test_in_place_sgd_step_equals_the_engine_gd_step():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(20, 4, dtype=torch.float64, generator=gen)
    y = torch.randn(20, 1, dtype=torch.float64, generator=gen)
    model = build_model({"input_dim": 4, "output_dim": 1, "depth": 3, "width": 6, "activation": "tanh"})
    objective = Objective(model, RegressionMSE(scale=0.5))
    w = objective.parameters()
    for _ in range(3):
        index = minibatch_indices(20, 5, gen)
        w = gd_step(w, objective.on(X[index], y[index]), 0.1).parameters
    model2 = build_model({"input_dim": 4, "output_dim": 1, "depth": 3, "width": 6, "activation": "tanh"})
    gen = torch.Generator().manual_seed(0)
    torch.randn(20, 4, generator=gen, dtype=torch.float64), torch.randn(20, 1, generator=gen, dtype=torch.float64)
    for _ in range(3):
        index = minibatch_indices(20, 5, gen)
        mlp.sgd_step(model2, X[index], y[index], 0.1)
    torch.testing.assert_close(torch.cat([p.reshape(-1) for p in model2.parameters()]), w, rtol=1e-13, atol=1e-14)


def test_mlp_training_logs_measures_resumes_and_flags_divergence(tmp_path):
    data = mlp.prepare_data(tmp_path / "d.npz", "sklearn_digits", None, 64, 0.1)
    config = mlp.RunConfig(batch_size=4, lr=0.01, steps=30, width=8, measurements=4)
    summary = mlp.train(data, config, tmp_path / "run", progress=False)
    assert summary["status"] == "finished"
    import pandas as pd
    log = pd.read_parquet(tmp_path / "run" / "log.parquet")
    assert log["step"].tolist() == mlp.measurement_steps(30, 4) and log["step"].iloc[-1] == 30
    row = log.iloc[0]
    X, y = mlp.load_data(data)
    model = build_model({"input_dim": 64, "output_dim": 1, "depth": 3, "width": 8, "activation": "tanh"})
    spectrum = nk.NTKSpectrum.from_ntk(nk.mlp_ntk(model, X))
    assert row["K"] == pytest.approx(nk.noise_kernel_norm(spectrum, 0.01, 4), rel=1e-10)
    with torch.no_grad():
        assert row["loss"] == pytest.approx(float(0.5 * ((model(X) - y) ** 2).mean()), rel=1e-12)
    assert mlp.train(data, config, tmp_path / "run", progress=False)["status"] == "finished"   # done: no rerun
    diverged = mlp.train(data, mlp.RunConfig(batch_size=4, lr=50.0, steps=200, width=8, measurements=50),
                         tmp_path / "big", progress=False)
    assert diverged["status"] == "diverged"
    final = mlp.final_rows(mlp.collect([tmp_path / "run", tmp_path / "big"]))
    assert len(final) == 2 and np.isfinite(final["loss"]).all()

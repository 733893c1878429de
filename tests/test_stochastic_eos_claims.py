"""Study stochastic_eos: Appendix A.4's localisation sweep, the per-run MLP outcomes and the claims table."""

import math

import numpy as np
import pandas as pd
import pytest

from eoslab.studies.stochastic_eos.claims import CLAIMS, claims_table, verdict_counts
from eoslab.studies.stochastic_eos.linear import LocalisationConfig, localisation_point
from eoslab.studies.stochastic_eos.mlp import run_outcomes
from eoslab.verdicts import CLAIM_COLUMNS


def test_localisation_point_root_boundary_and_measures():
    config = LocalisationConfig(num_samples=10, num_parameters=20, batch_size=2, seeds=(0,),
                                lr_factors=tuple(np.geomspace(0.6, 2.5, 7)), steps=300, replicas=32)
    frame = localisation_point(0.5, config)
    assert len(frame) == 7 and set(frame["seed"]) == {0}
    row = frame.iloc[0]
    assert row["lr"] == pytest.approx(0.6 * row["eta_radius_root"])
    # at the root the exact diagonal-restricted K̃ is below or near 1 and the MC boundary is found
    assert math.isfinite(row["eta_divergence_mc"]) and row["radius_at_boundary"] > 0.9
    assert row["K_tr_at_boundary"] <= row["K_hd_at_boundary"] * (1 + 1e-12)
    assert frame["diverged_fraction"].iloc[-1] > 0 or frame["loss_mc_mean"].iloc[-1] > row["loss_initial"]


def _run(lr, batch, K, x, status="finished", seed=0):
    steps = np.arange(len(K))
    return pd.DataFrame({"step": steps, "epoch": steps * batch / 100.0, "loss": np.linspace(1, 0.1, len(K)),
                         "K": K, "K_tr": np.asarray(K) * 0.9, "lr_lambda_max": 2 * np.asarray(x),
                         "batch_size": batch, "lr": lr, "init_seed": seed, "batch_seed": seed, "status": status,
                         "num_examples": 100})


def test_run_outcomes_rise_cross_return_and_eos_side():
    runs = pd.concat([
        _run(0.4, 8, [0.5, 0.9, 1.4, 1.1, 0.8, 0.7], [0.3, 0.3, 0.4, 0.4, 0.4, 0.4]),     # Figure 3 picture
        _run(0.2, 8, [0.2, 0.3, 0.3, 0.25, 0.2, 0.2], [0.2] * 6),                           # stays below
        _run(0.3, 8, [0.4, 1.2, 0.5, 1.1, 0.6, 2.0], [0.2] * 6),                            # ends above 1
        _run(0.3, 128, [0.0] * 6, [0.4, 0.6, 0.8, 0.95, 1.0, 0.98]),                        # EOS from below
        _run(0.5, 128, [np.inf, 0.3, 0.2, 0.2, 0.2, 0.2], [1.6, 1.2, 1.0, 0.97, 0.96, 0.96]),  # EOS from above
        _run(0.05, 128, [0.0] * 6, [0.2, 0.25, 0.3, 0.3, 0.3, 0.3]),                        # never
    ], ignore_index=True)
    out = run_outcomes(runs).set_index(["batch_size", "lr"])
    first = out.loc[(8, 0.4)]
    assert first["starts_below_1"] and first["crosses_1"] and first["returns_below_1"] and first["figure3_picture"]
    assert first["K_peak"] == 1.4 and first["epoch_of_return"] == pytest.approx(4 * 8 / 100)
    assert first["up_crossings"] == 1
    assert not out.loc[(8, 0.2)]["crosses_1"]
    late = out.loc[(8, 0.3)]
    assert late["returns_below_1"] and late["up_crossings"] == 3 and not late["figure3_picture"]
    assert out.loc[(128, 0.3)]["eos_side"] == "from below"
    assert out.loc[(128, 0.5)]["eos_side"] == "from above" and out.loc[(128, 0.5)]["half_eos_initial"] == 1.6
    assert not out.loc[(128, 0.5)]["starts_below_1"]
    assert out.loc[(128, 0.05)]["eos_side"] == "not reached" and not out.loc[(128, 0.05)]["reaches_eos"]


def _sweep(setting, K, K_hd, K_tr, radius=1.0, scale=0.0):
    return pd.DataFrame({"setting": [setting], "K_at_boundary": [K], "K_hd_at_boundary": [K_hd],
                         "K_tr_at_boundary": [K_tr], "radius_at_boundary": [radius], "eta_divergence_mc": [0.01],
                         "lambda_max": [20.0], "localised_scale": [scale]})


def test_claims_table_verdicts_from_measured_values():
    sweeps = {"flat": _sweep("flat", 0.95, 0.95, 0.93), "dispersed": _sweep("dispersed", 0.88, 0.83, 0.74),
              "localised": _sweep("localised", 0.98, 0.16, 0.16, scale=2.0)}
    localisation = pd.DataFrame({"localised_scale": [0.0, 0.5, 0.5, 2.0], "seed": [0, 0, 1, 0],
                                 "K_at_boundary": [0.93, 0.56, 0.65, 0.97], "radius_at_boundary": [1.0, 1.01, 1.0, 1.0]})
    rise = pd.DataFrame({"batch_size": [8, 8], "lr_over_batch": [0.05, 0.05], "init_seed": [0, 1],
                         "K_initial": [0.5, 0.5], "K_peak": [1.4, 0.9], "K_final": [0.8, 0.7],
                         "starts_below_1": [True, True], "crosses_1": [True, False],
                         "returns_below_1": [True, False], "figure3_picture": [True, False], "up_crossings": [1, 0],
                         "status": ["finished", "finished"]})
    outcomes = pd.DataFrame({"batch_size": [2, 8, 128, 128], "lr": [0.01, 0.04, 0.2, 0.05],
                             "lr_over_batch": [0.005, 0.005, 0.2 / 128, 0.05 / 128],
                             "status": ["finished"] * 4, "K_final": [0.5, 0.6, 0.0, 0.0],
                             "half_eos_initial": [0.01, 0.05, 1.6, 0.4], "half_eos_final": [0.01, 0.05, 0.96, 0.5],
                             "eos_side": ["not reached", "not reached", "from above", "not reached"]})
    frame = claims_table(sweeps, localisation, outcomes, rise, config="test.yaml", small_batch_sizes=(2, 8),
                         large_batch_min=64)
    assert list(frame.columns) == CLAIM_COLUMNS and set(frame["claim"]) == set(CLAIMS)
    verdicts = frame.set_index("claim")["verdict"]
    assert verdicts["flat_K_at_boundary"] == "reproduced"
    assert verdicts["dispersed_K_at_boundary"] == "reproduced"
    assert verdicts["localised_K_well_below_1"] == "reproduced"          # min 0.56 over σ_loc > 0
    assert verdicts["localised_sigma2_K_well_below_1"] == "not reproduced"   # 0.98 at σ_loc = 2
    assert verdicts["localised_K_hd_fails"] == "reproduced"
    assert verdicts["mlp_K_rises_crosses_returns"] == "partial"          # one of two runs
    assert verdicts["mlp_final_K_below_1"] == "reproduced"
    assert verdicts["mlp_large_batch_eos"] == "partial"                  # median of 0.96 and 0.5
    assert verdicts["mlp_large_batch_eos_from_below"] == "partial"       # 0.5 only
    assert verdicts["mlp_lr_over_B_boundary"] == "reproduced"
    counts = verdict_counts(frame)
    assert sum(counts.values()) == len(CLAIMS)
    empty = claims_table({}, None, None, None, config="none")
    assert set(empty["verdict"]) == {"not run"}

"""Study layerwise_sharpness: the claims table (eoslab.verdicts) on hand-made runs, and Tables 4.1/4.2
pinned at the thesis's scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eoslab.studies.layerwise_sharpness.catalog import MaxStepPoint, TrajectoryRun
from eoslab.studies.layerwise_sharpness.claims import (CLAIMS, claim_rows, read_maxstep, trajectory_summary, write)
from eoslab.verdicts import judge, read_claims


def trajectory(edge_ratio=1.05, cross=100, iterations=400, layers=(0.9, 0.3, 0.05), lr=0.08):
    """λ rises linearly to 2/η at ``cross`` and then alternates around ``edge_ratio`` × 2/η; layer i
    follows at ``layers[i]`` of λ; ‖g‖ halves before the crossing and triples after it."""
    t = np.arange(iterations + 1)
    edge = 2 / lr
    sharp = np.where(t < cross, 0.1 * edge + 0.9 * edge * t / cross,
                     edge_ratio * edge * (1 + 0.02 * (-1.0) ** t))
    frame = pd.DataFrame({"iteration": t, "loss": 1.0 / (1 + t), "sharpness": sharp,
                          "grad_norm": np.where(t < cross, 1.0 - 0.5 * t / cross, 1.5)})
    for i, share in enumerate(layers, start=1):
        frame[f"sharpness_layer{i}"] = share * sharp * (1 + 0.5 * (t == 0))   # growth from λᵢ,₀
    return frame


def test_trajectory_numbers():
    run = TrajectoryRun("synthetic", "tanh", 3, 10, "lr0.08")
    row = trajectory_summary(run, trajectory())
    assert row["reached"] == 1.0 and row["crossing"] == 100
    assert row["mean_after_over_edge"] == pytest.approx(1.05, rel=1e-3)
    assert row["layer_drift"] == pytest.approx(0.0, abs=1e-3)
    assert row["grad_after_over_before"] == pytest.approx(1.5 / np.median(1.0 - 0.5 * np.arange(50, 100) / 100))
    assert row["peaks"][0] == pytest.approx(0.9 * 1.05 * 25 * 1.02)
    never = trajectory_summary(run, trajectory(cross=10_000))
    assert never["reached"] == 0.0 and "mean_after_over_edge" not in never


def test_rows_follow_the_rule_and_every_run_is_partial_when_one_run_is_far():
    runs = [trajectory_summary(TrajectoryRun("synthetic", a, 3, 10, "lr0.08"), trajectory(edge_ratio=r))
            for a, r in (("tanh", 1.02), ("relu", 1.05), ("sigmoid", 1.6))]
    rows = {r["claim"]: r for r in claim_rows(pd.DataFrame(runs), read_maxstep([]), "c.yaml")}
    by_id = {c.claim: c for c in CLAIMS}
    for claim_id, row in rows.items():
        assert judge(by_id[claim_id], row["measured"], row["min"], row["max"], row["n"]) == row["verdict"]
    edge = rows["full_eos_at_edge"]
    assert edge["n"] == 3 and edge["verdict"] == "partial" and "synthetic_sigmoid_d3_w10_lr0.08 1.60" in edge["note"]
    assert rows["eos_reached"]["verdict"] == "reproduced"
    assert rows["table_4_1_tanh"]["verdict"] == "not run" and "not in this configuration" in rows["table_4_1_tanh"]["note"]


def _point(tmp_path, key, values):
    path = tmp_path / f"{key}.parquet"
    pd.DataFrame({"max_step_size": values}).to_parquet(path)
    return path


def test_chapter4_rows(tmp_path):
    paths = []
    thesis = {"linear": 0.384, "tanh": 3.13, "relu": 2.26, "sigmoid": 12.58}
    for activation, value in thesis.items():
        paths.append(_point(tmp_path, MaxStepPoint("synthetic", None, activation, 3, 10, 100).key,
                            [value * 0.95, value * 1.05]))
        # batch size 1: smaller, except ReLU (larger than full batch: "smaller" only partly holds)
        b1 = value * (1.2 if activation == "relu" else 0.2)
        paths.append(_point(tmp_path, MaxStepPoint("synthetic", 1, activation, 3, 10, 100).key, [b1, b1]))
    csv, md = write([], paths, tmp_path / "claims", "c.yaml")
    rows = read_claims(csv).set_index("claim")
    assert rows.loc["table_4_1_tanh", "verdict"] == "reproduced"
    assert rows.loc["table_4_1_tanh", "measured"] == pytest.approx(3.13)
    assert rows.loc["table_4_2_linear", "verdict"] == "partial"             # 0.0768 against 0.05842: ×1.31
    assert rows.loc["table_4_2_tanh", "verdict"] == "not reproduced"        # 0.626 against 1.446: ×0.43
    assert rows.loc["activations_vastly_different", "measured"] == pytest.approx(12.58 / 0.384)
    assert rows.loc["batch1_smaller", "verdict"] == "partial" and "relu" in rows.loc["batch1_smaller", "note"]
    assert rows.loc["depth_falls", "verdict"] == "not run"
    assert md.read_text().startswith("# layerwise_sharpness claims (c.yaml)")


# ---------------------------------------------------------------------------------------------
# Tables 4.1 and 4.2 at the thesis's scale (R = 10, T = 100, β = 1.01, float32, 3 × 10, n = 100,
# d = 10): the linear and tanh rows of both tables, the faster half (2–40 s per row on one idle
# core; the ReLU and sigmoid rows take longer and are left to `snakemake … table_4_{1,2}.md
# --configfile config/paper/layerwise_sharpness.yaml`).
#
# What is portable is the table's statistic, not each run's grid step: Algorithm 2 decides at the
# edge of float32 overflow, so one run's maximal step moves with the CPU's vector width.  On two
# machines (same torch 2.13.0, same seeds; each deterministic and independent of the thread count)
# 4 of the 10 Table 4.1 linear runs ended up to 3 steps of β apart and one tanh run 21 steps apart,
# while the means stayed within the thesis's spread.  So the test holds the thesis's mean ± spread
# against ours, and our spread against the recorded one (docs/layerwise_sharpness.md).
# ---------------------------------------------------------------------------------------------

#: (table, activation) → (thesis mean, our spread over 10 runs as recorded on the first machine).
RECORDED = {
    ("table_4_1", "linear"): (0.38433, 0.04958),
    ("table_4_1", "tanh"): (3.12765, 0.18380),
    ("table_4_2", "linear"): (0.05842, 0.00638),
    ("table_4_2", "tanh"): (1.44604, 0.04051),
}


@pytest.mark.parametrize("table, activation", sorted(RECORDED))
def test_tables_at_the_thesis_scale(table, activation):
    from eoslab.studies.layerwise_sharpness.maxstep import MaxStepSettings, run_max_step

    thesis, spread = RECORDED[(table, activation)]
    point = MaxStepPoint("synthetic", None if table == "table_4_1" else 1, activation, 3, 10, 100)
    settings = MaxStepSettings(eta0=0.1 if table == "table_4_1" else 0.01)      # the thesis's R, T, β, float32
    frame, summary = run_max_step(point, settings, progress=False)
    values = frame["max_step_size"].to_numpy()
    assert len(values) == 10 and np.all(values > 0)
    # the thesis's value within one standard deviation of our runs' mean (the measured spread) …
    assert abs(values.mean() - thesis) <= spread, (values.mean(), thesis)
    # … and a spread over runs like the recorded one (a broken Algorithm 2 collapses or explodes it).
    assert spread / 2 <= values.std(ddof=1) <= spread * 2, (values.tolist(), spread)

"""Every quantitative claim of Sections 4–5, computed from the results beside the paper's value.

All claims are "in any experiment" statements, so each is a maximum (or, for
the stable learning rates, a minimum) over runs of a per-run statistic, taken
over the run's post-transient snapshots (``iteration ≥ transient_iterations``,
Section 5).  "Increases by ×c" means ``max_t X(t) / X(t₀)``.

Two readings of the reference ``t₀`` (and of the snapshots a claim sees) are
reported side by side, because the paper's numbers depend on it:

* ``reproduced`` (the figures' reading): every snapshot at ``iteration ≥ 10``,
  with ``t₀`` the trainer's extra snapshot at iteration 10, the end of the
  transient (``transient_snapshot``);
* ``reproduced_paper_grid``: only the snapshots the paper had — every
  ``snapshot_every`` iterations (100 in the paper) and the last — at
  ``iteration ≥ 10``, so ``t₀`` is the first regular snapshot (iteration 100
  in the paper).  When ``snapshot_every`` divides 10 the two coincide.

The counterfactual bound of Section 5 is printed in the paper as
``ρ(K) Σᵢ [P^i_{Δ,J}(t) / P^i_{Δ,J}(0)] E‖Δⁱ‖²``; holding ``P^i_{Δ,J}`` at its
reference value means *dividing* today's ``E‖Δⁱ‖²`` (which is proportional to
``P^i_{Δ,J}`` by Eq. 7) by its growth, so we compute
``B(t) = ρ(K)(t) · Σ_{i=1}^{L} [P^i_{Δ,J}(t₀) / P^i_{Δ,J}(t)] · E‖Δⁱ‖²(t)`` (with
``P^L = 1``, an empty product), which bounds ``λ₁(G)`` by Eqs. 3, 4 and 8 under
the counterfactual; the stable learning rate is ``η < 2 / max_t B(t)``,
minimised over the runs of a criterion.

The share of "negative top eigenvalues" (Supplement 7.1) counts the event the
paper's power iteration saw: it ordered eigenvalues by ``|λ|``, so it returned
a negative top eigenvalue exactly when ``|λ_min(𝓗)| > λ_max(𝓗)``.  The
training logs hold ``lambda_min`` (a warm-started Lanczos solve on ``−𝓗``) and
the top eigenvalues ``lambda_1 …``; the event is ``−min(λ_min, λᵢ) > max λᵢ``
(valid for either eigenvalue order), counted over *all* logged iterations, as
the paper does, and over the iterations where ``lambda_min`` was computed.

A claim without data in the configuration (no MSE runs, no ``lambda_min`` in the
logs, no post-transient snapshots) is ``nan`` with the reason in ``note``.

Two tables come out of this module:

* ``claims.{csv,md}`` (:func:`claims_table`), the shared format of every study
  (:mod:`eoslab.verdicts`): one row per statement with the per-run values of the figures' reading
  summarised over runs and a verdict computed by the rule of each :data:`CLAIMS` entry (the
  paper-grid value is in the row's note);
* ``claims_readings.{csv,md}`` (:func:`compute_claims`): the largest value under both readings of
  ``t₀`` and the run that attains it, which docs/reproduction.md cites.
"""

from __future__ import annotations

import math

import pandas as pd

from ...verdicts import Claim, at_least, at_most, between, claim_row, claims_frame
from .aggregate import RUN_KEYS, metric_series, network_depth, post_transient
from .powerlaw import PAPER_TABLE2, table2

#: (key, claim, paper value, unit)
PAPER_CLAIMS = [
    ("max_increase_sharpness_hessian", "largest increase of the Hessian sharpness λ₁(𝓗_θL̃)", 5.45, "ratio"),
    ("max_sharpness_H", "largest sharpness of H after the transient", 56.74, "value"),
    ("max_share_H", "largest share λ₁(H)/λ₁(𝓗_θL̃) after the transient", 0.099, "fraction"),
    ("max_gap_G", "largest relative gap |λ₁(G) − λ₁(𝓗_θL̃)| / λ₁(𝓗_θL̃)", 0.101, "fraction"),
    ("max_increase_rho_K", "largest increase of the overlap ratio ρ(K)", 1.90, "ratio"),
    ("max_excess_EK2_layer", "largest excess of E‖Kⁱ‖² (i > 1) over E‖K¹‖²", 0.37, "fraction"),
    ("max_increase_EDeltaL2", "largest increase of E‖Δᴸ‖²", 2.12, "ratio"),
    ("max_increase_Pi_chi", "largest increase of Π_χ¹", 1.33, "ratio"),
    ("max_increase_P_chi", "largest increase of P¹_{χ,Δ/χ}", 1.27, "ratio"),
    ("max_increase_Pi_J", "largest increase of Π_J¹", 3.93, "ratio"),
    ("max_increase_P_DeltaJ", "largest increase of P¹_{Δ,J}", 28.97, "ratio"),
    ("stable_lr_cross_entropy", "stable learning rate if P_{Δ,J} stayed at its post-transient value, cross-entropy",
     0.0006, "learning rate"),
    ("stable_lr_mse", "stable learning rate if P_{Δ,J} stayed at its post-transient value, MSE", 0.00003,
     "learning rate"),
    ("max_share_negative_top_eigenvalue",
     "largest share of iterations whose top Hessian eigenvalue by magnitude is negative, |λ_min| > λ_max",
     0.00009, "fraction"),
]


READINGS = ("transient", "paper_grid")


def _where(run: pd.Series | dict | None) -> str:
    if run is None:
        return ""
    return ", ".join(f"{k}={run[k]}" for k in RUN_KEYS)


def claim_snapshots(frame: pd.DataFrame, transient: int, snapshot_every: int | None = None) -> pd.DataFrame:
    """The rows a claim sees: post-transient snapshots, and with ``snapshot_every`` only those on the
    regular grid (``iteration % snapshot_every == 0``) or the last snapshot of their run."""
    rows = post_transient(frame, transient)
    if snapshot_every is None:
        return rows
    last = frame.groupby(RUN_KEYS)["iteration"].transform("max")
    on_grid = (frame["iteration"] % int(snapshot_every) == 0) | (frame["iteration"] == last)
    return rows[on_grid.loc[rows.index]]


def _series(frame: pd.DataFrame, metric: str, layer: int | None) -> pd.DataFrame:
    return metric_series(frame, metric, layer)


def _argmax(table: pd.DataFrame, column: str) -> tuple[float, dict | None]:
    table = table.dropna(subset=[column])
    if table.empty:
        return math.nan, None
    row = table.loc[table[column].idxmax()]
    return float(row[column]), row


def max_increase(frame: pd.DataFrame, metric: str, layer: int | None) -> tuple[float, dict | None]:
    """``max over runs of max_t X(t)/X(t₀)``, ``t₀`` the first row of each run (rows already selected)."""
    rows = _series(frame, metric, layer)
    per_run = rows.groupby(RUN_KEYS, as_index=False)["value"].agg(lambda v: v.max() / v.iloc[0])
    return _argmax(per_run, "value")


def _wide(frame: pd.DataFrame, metrics: list[tuple[str, int | None]]) -> pd.DataFrame:
    """The selected snapshots as one row each, one column per (metric, layer)."""
    pieces = []
    for metric, layer in metrics:
        rows = _series(frame, metric, layer)
        name = metric if layer is None else f"{metric}_{layer}"
        pieces.append(rows.set_index(RUN_KEYS + ["iteration"])["value"].rename(name))
    return pd.concat(pieces, axis=1).reset_index()


def counterfactual_bound(frame: pd.DataFrame, transient: int, snapshot_every: int | None = None) -> pd.DataFrame:
    """Per selected snapshot (:func:`claim_snapshots`): ``B(t)`` of the module docstring, with the run keys."""
    selected = claim_snapshots(frame, transient, snapshot_every)
    L = network_depth(frame)
    wide = _wide(selected, [("rho_K", None)] + [("EK2_layer", i) for i in range(1, L + 1)]
                 + [("P_DeltaJ", i) for i in range(1, L)])
    wide = wide.sort_values(RUN_KEYS + ["iteration"])
    total = wide[f"EK2_layer_{L}"].copy()
    for i in range(1, L):
        reference = wide.groupby(RUN_KEYS, sort=False)[f"P_DeltaJ_{i}"].transform("first")
        total += reference / wide[f"P_DeltaJ_{i}"] * wide[f"EK2_layer_{i}"]
    wide["bound"] = wide["rho_K"] * total
    return wide[RUN_KEYS + ["iteration", "bound"]]


def negative_top_share(training: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per run, the share of logged iterations where ``|λ_min(𝓗)| > λ_max(𝓗)`` (module docstring);
    empty with the reason when the logs cannot say."""
    empty = pd.DataFrame(columns=RUN_KEYS + ["share", "iterations"])
    if training is None or training.empty:
        return empty, "no training logs"
    if "lambda_min" not in training:
        return empty, "the training logs have no lambda_min (trained before it was logged)"
    tops = [c for c in training.columns if c.startswith("lambda_") and c.removeprefix("lambda_").isdigit()]
    logged = training.dropna(subset=["lambda_min"])
    if logged.empty or not tops:
        return empty, "lambda_min was not computed in any logged iteration"
    top = logged[tops]
    largest = top.max(axis=1)
    smallest = pd.concat([top.min(axis=1), logged["lambda_min"]], axis=1).min(axis=1)
    event = (-smallest > largest).astype(float)
    frame = logged[RUN_KEYS].assign(event=event.to_numpy())
    per_run = frame.groupby(RUN_KEYS, as_index=False).agg(share=("event", "mean"), iterations=("event", "size"))
    return per_run, ""


def _claim_values(frame: pd.DataFrame, transient: int, snapshot_every: int | None
                  ) -> dict[str, tuple[float, dict | None, int, str]]:
    """Every snapshot-based claim under one reading: key → (value, attaining run, runs with data, note)."""
    selected = claim_snapshots(frame, transient, snapshot_every)
    runs_total = selected.groupby(RUN_KEYS).ngroups
    why = "" if runs_total else "no post-transient snapshots"
    values: dict[str, tuple[float, dict | None, int, str]] = {}

    def put(key, result, runs=runs_total, note=why):
        value, where = result
        values[key] = (value, where, runs, note if math.isnan(value) else "")

    put("max_increase_sharpness_hessian", max_increase(selected, "sharpness_hessian", None))
    sharp = _wide(selected, [("sharpness_hessian", None), ("sharpness_G", None), ("sharpness_H", None)])
    put("max_sharpness_H", _argmax(sharp, "sharpness_H"))
    sharp["share_H"] = sharp["sharpness_H"] / sharp["sharpness_hessian"]
    sharp["gap_G"] = (sharp["sharpness_G"] - sharp["sharpness_hessian"]).abs() / sharp["sharpness_hessian"]
    put("max_share_H", _argmax(sharp, "share_H"))
    put("max_gap_G", _argmax(sharp, "gap_G"))
    put("max_increase_rho_K", max_increase(selected, "rho_K", None))
    L = network_depth(frame)
    per_layer = _wide(selected, [("EK2_layer", i) for i in range(1, L + 1)])
    others = per_layer[[f"EK2_layer_{i}" for i in range(2, L + 1)]].max(axis=1)
    per_layer["excess"] = others / per_layer["EK2_layer_1"] - 1
    put("max_excess_EK2_layer", _argmax(per_layer, "excess"))
    put("max_increase_EDeltaL2", max_increase(selected, "EDeltaL2", None))
    for metric in ("Pi_chi", "P_chi", "Pi_J", "P_DeltaJ"):
        put(f"max_increase_{metric}", max_increase(selected, metric, 1))
    bound = counterfactual_bound(frame, transient, snapshot_every)
    per_run = bound.groupby(RUN_KEYS, as_index=False)["bound"].max()
    for criterion in ("cross_entropy", "mse"):
        runs = per_run[per_run["criterion"] == criterion].copy()
        runs["lr"] = 2.0 / runs["bound"]
        if runs.empty:
            label = "MSE" if criterion == "mse" else "cross-entropy"
            put(f"stable_lr_{criterion}", (math.nan, None), 0, why or f"no {label} runs in this configuration")
        else:
            row = runs.loc[runs["lr"].idxmin()]
            put(f"stable_lr_{criterion}", (float(row["lr"]), row), len(runs))
    return values


def compute_claims(frame: pd.DataFrame, training: pd.DataFrame | None, transient: int,
                   snapshot_every: int | None = None) -> pd.DataFrame:
    """The claims table: ``key, claim, unit, paper, reproduced, where, reproduced_paper_grid,
    where_paper_grid, runs, note`` (module docstring; without ``snapshot_every`` the paper-grid
    columns repeat the first reading).  Diverged runs are left out, as in :func:`claims_table`."""
    frame, training, _ = _without_diverged(frame, training)
    first = _claim_values(frame, transient, None)
    grid = _claim_values(frame, transient, snapshot_every) if snapshot_every else first
    shares, reason = negative_top_share(training)
    if shares.empty:
        negative = (math.nan, None, 0, reason)
    else:
        value, where = _argmax(shares, "share")
        negative = (value, where, len(shares), "")
    first["max_share_negative_top_eigenvalue"] = grid["max_share_negative_top_eigenvalue"] = negative
    rows = []
    for key, claim, paper, unit in PAPER_CLAIMS:
        value, where, runs, note = first[key]
        grid_value, grid_where, _, grid_note = grid[key]
        rows.append({"key": key, "claim": claim, "unit": unit, "paper": paper, "reproduced": value,
                     "where": _where(where), "reproduced_paper_grid": grid_value,
                     "where_paper_grid": _where(grid_where), "runs": runs, "note": note or grid_note})
    return pd.DataFrame(rows)


# --- the shared claims format (eoslab.verdicts) ------------------------------------------------------

STUDY = "jacobian_alignment"

#: How far a "by as much as ×c" statement may fall short and still be reproduced: a largest increase of
#: at least 0.8·c is the paper's size of effect; above ×1 it is the same direction (partial).
AS_MUCH_AS = 0.8


def _as_much_as(claim: str, section: str, words: str, quantity: str, paper: float) -> Claim:
    return Claim(claim, section, words, quantity, reproduced_if=at_least(AS_MUCH_AS * paper),
                 partial_if=at_least(1.0), paper_value=paper, statistic="max")


def _never_exceeds(claim: str, section: str, words: str, quantity: str, paper: float) -> Claim:
    # "never exceeds c in any experiment": every run's largest value ≤ c; partial if the median run's is.
    return Claim(claim, section, words, quantity, reproduced_if=at_most(paper), paper_value=paper,
                 statistic="median", every_run=True)


#: The quantitative statements of Sections 4–5 (per-run values: each run's largest post-transient value).
CLAIMS = [
    _as_much_as("max_increase_sharpness_hessian", "§4, Figs. 6–9", "the sharpness can increase by as much as ×5.45",
                "max_t λ₁(𝓗)(t) / λ₁(𝓗)(t₀) per run", 5.45),
    _never_exceeds("max_sharpness_H", "§4", "λ₁(H) never exceeds 56.74 after the transient",
                   "max_t λ₁(H) per run (absolute: depends on the width)", 56.74),
    _never_exceeds("max_share_H", "§4", "λ₁(H) never exceeds 9.9% of λ₁(𝓗) after the transient",
                   "max_t λ₁(H)/λ₁(𝓗) per run", 0.099),
    _never_exceeds("max_gap_G", "§4", "λ₁(G) is within 10.1% of λ₁(𝓗) at all times",
                   "max_t |λ₁(G) − λ₁(𝓗)|/λ₁(𝓗) per run", 0.101),
    _never_exceeds("max_increase_rho_K", "§4, Figs. 10–14", "ρ(K) never increases by more than ×1.90",
                   "max_t ρ(K)(t)/ρ(K)(t₀) per run", 1.90),
    _never_exceeds("max_excess_EK2_layer", "§4, Figs. 15–18", "E‖Kⁱ‖² (i > 1) never exceeds E‖K¹‖² by more than 37%",
                   "max_t max_{i>1} E‖Kⁱ‖²/E‖K¹‖² − 1 per run", 0.37),
    _never_exceeds("max_increase_EDeltaL2", "§4, Figs. 19–23", "E‖Δᴸ‖² is variable, increasing by at most ×2.12",
                   "max_t E‖Δᴸ‖²(t)/E‖Δᴸ‖²(t₀) per run", 2.12),
    _never_exceeds("max_increase_Pi_chi", "§4, Figs. 19–23", "Π¹_χ is stable or declining, at most ×1.33",
                   "max_t Π¹_χ(t)/Π¹_χ(t₀) per run", 1.33),
    _never_exceeds("max_increase_P_chi", "§4, Figs. 19–23", "P¹_{χ,Δ/χ} is stable, at most ×1.27",
                   "max_t P¹_{χ,Δ/χ}(t)/P¹_{χ,Δ/χ}(t₀) per run", 1.27),
    _as_much_as("max_increase_Pi_J", "§4, Figs. 19–23", "Π¹_J increases, by as much as ×3.93",
                "max_t Π¹_J(t)/Π¹_J(t₀) per run", 3.93),
    _as_much_as("max_increase_P_DeltaJ", "§4, Figs. 19–23", "P¹_{Δ,J} increases consistently, by as much as ×28.97",
                "max_t P¹_{Δ,J}(t)/P¹_{Δ,J}(t₀) per run", 28.97),
    # "consistently increasing": every run's alignment grows; ×1.5 is a growth well beyond solver noise.
    Claim("P_DeltaJ_increases_every_run", "§4", "P¹_{Δ,J} is consistently increasing",
          "max_t P¹_{Δ,J}(t)/P¹_{Δ,J}(t₀) per run", reproduced_if=at_least(1.5), partial_if=at_least(1.0),
          statistic="median", every_run=True),
    # A stable learning rate is an order-of-magnitude statement: within ×2 of the paper's is its number,
    # within ×10 the same order (partial).
    Claim("stable_lr_cross_entropy", "§5", "with P_{Δ,J} held at its post-transient value, cross-entropy training "
          "is stable for η < 0.0006", "2 / max_t B(t), the smallest over cross-entropy runs",
          reproduced_if=between(0.0003, 0.0012), partial_if=between(0.00006, 0.006), paper_value=0.0006,
          statistic="min"),
    Claim("stable_lr_mse", "§5", "with P_{Δ,J} held at its post-transient value, MSE training is stable for "
          "η < 0.00003", "2 / max_t B(t), the smallest over MSE runs",
          reproduced_if=between(0.000015, 0.00006), partial_if=between(0.000003, 0.0003), paper_value=0.00003,
          statistic="min"),
    _never_exceeds("max_share_negative_top_eigenvalue", "Supplement 7.1",
                   "the power iteration returned a negative top eigenvalue in at most 0.009% of iterations",
                   "share of logged iterations with |λ_min| > λ_max per run", 0.00009),
]

#: Table 2's exponent c₂ per data set × criterion (Eq. 9): within ±50% of the paper's is its power law;
#: a positive exponent (the peak alignment grows with D) is the same direction.
for (_dataset, _criterion), (_c1, _c2, _r2) in PAPER_TABLE2.items():
    CLAIMS.append(Claim(f"power_law_c2_{_dataset}_{_criterion}", "§5, Table 2",
                        f"max_t P¹_{{Δ,J}} = c₁ D^c₂ with c₂ = {_c2} ({_dataset}, {_criterion})",
                        "c₂ of the pooled OLS fit of log max_t P¹_{Δ,J} on log D",
                        reproduced_if=between(0.5 * _c2, 1.5 * _c2), partial_if=at_least(0.0), paper_value=_c2))


def _per_run_max(frame: pd.DataFrame, column: str) -> pd.Series:
    table = frame.dropna(subset=[column])
    return table.groupby(RUN_KEYS)[column].max()


def _per_run_increase(frame: pd.DataFrame, metric: str, layer: int | None) -> pd.Series:
    rows = _series(frame, metric, layer)
    return rows.groupby(RUN_KEYS)["value"].agg(lambda v: v.max() / v.iloc[0])


def per_run_values(frame: pd.DataFrame, training: pd.DataFrame | None, transient: int,
                   snapshot_every: int | None = None) -> dict[str, pd.Series]:
    """Claim id → one value per run (indexed by the run keys) under one reading of ``t₀``."""
    selected = claim_snapshots(frame, transient, snapshot_every)
    values: dict[str, pd.Series] = {}
    empty = pd.Series(dtype=float)
    if selected.empty:
        return {claim.claim: empty for claim in CLAIMS}
    values["max_increase_sharpness_hessian"] = _per_run_increase(selected, "sharpness_hessian", None)
    sharp = _wide(selected, [("sharpness_hessian", None), ("sharpness_G", None), ("sharpness_H", None)])
    sharp["share_H"] = sharp["sharpness_H"] / sharp["sharpness_hessian"]
    sharp["gap_G"] = (sharp["sharpness_G"] - sharp["sharpness_hessian"]).abs() / sharp["sharpness_hessian"]
    values["max_sharpness_H"] = _per_run_max(sharp, "sharpness_H")
    values["max_share_H"] = _per_run_max(sharp, "share_H")
    values["max_gap_G"] = _per_run_max(sharp, "gap_G")
    values["max_increase_rho_K"] = _per_run_increase(selected, "rho_K", None)
    L = network_depth(frame)
    per_layer = _wide(selected, [("EK2_layer", i) for i in range(1, L + 1)])
    others = per_layer[[f"EK2_layer_{i}" for i in range(2, L + 1)]].max(axis=1)
    per_layer["excess"] = others / per_layer["EK2_layer_1"] - 1
    values["max_excess_EK2_layer"] = _per_run_max(per_layer, "excess")
    values["max_increase_EDeltaL2"] = _per_run_increase(selected, "EDeltaL2", None)
    for metric in ("Pi_chi", "P_chi", "Pi_J", "P_DeltaJ"):
        values[f"max_increase_{metric}"] = _per_run_increase(selected, metric, 1)
    values["P_DeltaJ_increases_every_run"] = values["max_increase_P_DeltaJ"]
    bound = counterfactual_bound(frame, transient, snapshot_every)
    per_run = bound.groupby(RUN_KEYS)["bound"].max()
    for criterion in ("cross_entropy", "mse"):
        runs = per_run[per_run.index.get_level_values("criterion") == criterion]
        values[f"stable_lr_{criterion}"] = 2.0 / runs
    shares, _ = negative_top_share(training)
    values["max_share_negative_top_eigenvalue"] = (shares.set_index(RUN_KEYS)["share"] if not shares.empty
                                                   else empty)
    return values


def _power_law_exponents(frame: pd.DataFrame, transient: int) -> dict[tuple[str, str], tuple[float, int, str]]:
    """(data set, criterion) → (pooled c₂, runs, note); NaN with the reason when no fit is possible."""
    fits = {}
    for (dataset, criterion), group in frame.groupby(["dataset", "criterion"], sort=False):
        sizes = group["size"].nunique()
        runs = group.groupby(RUN_KEYS).ngroups
        if sizes < 3:
            fits[(dataset, criterion)] = (math.nan, runs, f"{sizes} training-set size(s): a power law in D needs "
                                                          f"at least three")
            continue
        pooled = table2(group, transient)
        pooled = pooled[pooled["fit"] == "pooled"]
        fits[(dataset, criterion)] = (float(pooled["c2"].iloc[0]), runs, f"{sizes} sizes, {runs} runs; "
                                      f"R² = {float(pooled['r_squared'].iloc[0]):.2f}")
    return fits


def _runs_text(index: pd.Index | pd.MultiIndex) -> str:
    if len(index) == 0:
        return ""
    frame = index.to_frame(index=False)
    parts = [f"{count} {dataset} {criterion}" for (dataset, criterion), count
             in frame.groupby(["dataset", "criterion"]).size().items()]
    return ", ".join(parts) + " runs"


def _status_note(statuses: pd.DataFrame | None, index: pd.Index) -> str:
    """Which of the runs behind a claim did not converge (from the aggregate's per-run ``status``)."""
    if statuses is None or len(index) == 0:
        return ""
    keyed = statuses.set_index(RUN_KEYS)["status"]
    used = keyed.reindex(index)
    unconverged = used[used != "converged"]
    if unconverged.empty:
        return ""
    counts = ", ".join(f"{n} {status}" for status, n in unconverged.value_counts().items())
    if len(unconverged) == len(used):
        return f"computed only from runs that did not converge ({counts})"
    return f"{len(unconverged)} of {len(used)} runs did not converge ({counts})"


def _diverged_runs(statuses: pd.DataFrame | None) -> pd.Index:
    """The run keys of the runs whose status is ``diverged`` (none without a status column)."""
    if statuses is None:
        return pd.MultiIndex.from_tuples([], names=RUN_KEYS)
    return statuses[statuses["status"] == "diverged"].set_index(RUN_KEYS).index


def _without_diverged(frame: pd.DataFrame, training: pd.DataFrame | None):
    """``(frame, training, diverged)`` without the diverged runs: like the figures and tables, a diverged
    run's values are not the flow's (the claims table and its readings both use this)."""
    diverged = _diverged_runs(run_statuses(frame, training))
    if len(diverged):
        frame = frame[~frame.set_index(RUN_KEYS).index.isin(diverged)]
        if training is not None:
            training = training[~training.set_index(RUN_KEYS).index.isin(diverged)]
    return frame, training, diverged


def run_statuses(frame: pd.DataFrame, training: pd.DataFrame | None) -> pd.DataFrame | None:
    """Per run its training status (``status`` column of the aggregate, where it has one)."""
    for table in (frame, training):
        if table is not None and "status" in table.columns:
            return table.groupby(RUN_KEYS, as_index=False)["status"].last()
    return None


def claims_table(frame: pd.DataFrame, training: pd.DataFrame | None, transient: int,
                 snapshot_every: int | None = None, config: str = "") -> pd.DataFrame:
    """The claims of Sections 4–5 in the shared format (:mod:`eoslab.verdicts`), verdicts by the rule."""
    statuses = run_statuses(frame, training)
    frame, training, diverged = _without_diverged(frame, training)
    first = per_run_values(frame, training, transient)
    grid = per_run_values(frame, training, transient, snapshot_every) if snapshot_every else None
    exponents = _power_law_exponents(frame, transient)
    reading = f"snapshots at iteration ≥ {transient}, t₀ = iteration {transient}"
    rows = []
    for claim in CLAIMS:
        if claim.claim.startswith("power_law_c2_"):
            key = next(k for k in PAPER_TABLE2 if claim.claim == f"power_law_c2_{k[0]}_{k[1]}")
            if key not in exponents:
                combo_diverged = sum(1 for run in diverged if run[0] == key[0] and run[1] == key[1])
                note = (f"all {combo_diverged} {key[0]} {key[1]} runs diverged" if combo_diverged
                        else f"no {key[0]} {key[1]} runs in this configuration")
                rows.append(claim_row(STUDY, claim, [], config=config, note=note))
                continue
            c2, runs, note = exponents[key]
            rows.append(claim_row(STUDY, claim, [c2], config=config, runs=f"{runs} {key[0]} {key[1]} runs",
                                  note=note))
            continue
        series = first.get(claim.claim, pd.Series(dtype=float)).dropna()
        notes = [reading] if len(series) else []
        if grid is not None and len(series):
            other = grid.get(claim.claim, pd.Series(dtype=float)).dropna()
            if len(other):
                value = {"max": other.max(), "min": other.min()}.get(claim.statistic, other.median())
                notes.append(f"paper-grid reading (every {snapshot_every} iterations): {claim.statistic} "
                             f"{value:.3g}")
        status = _status_note(statuses, series.index)
        if status:
            notes.append(status)
        if len(diverged):
            notes.append(f"{len(diverged)} diverged run(s) left out")
        if not len(series):
            notes.append("no runs with data for it in this configuration")
        rows.append(claim_row(STUDY, claim, series.to_numpy(), config=config, runs=_runs_text(series.index),
                              note="; ".join(notes)))
    return claims_frame(rows)

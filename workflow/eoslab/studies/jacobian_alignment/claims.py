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
"""

from __future__ import annotations

import math

import pandas as pd

from .aggregate import RUN_KEYS, metric_series, network_depth, post_transient

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
    columns repeat the first reading)."""
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

"""Every quantitative claim of Sections 4–5, computed from the results beside the paper's value.

All claims are "in any experiment" statements, so each is a maximum (or, for
the stable learning rates, a minimum) over runs of a per-run statistic, taken
over the run's post-transient snapshots (``iteration ≥ transient_iterations``,
Section 5).  "Increases by ×c" means ``max_t X(t) / X(t₀)`` with ``t₀`` the
first post-transient snapshot (see :mod:`eoslab.aggregate`).  The run that
attains each value is named in the ``where`` column.

The counterfactual bound of Section 5 is printed in the paper as
``ρ(K) Σᵢ [P^i_{Δ,J}(t) / P^i_{Δ,J}(0)] E‖Δⁱ‖²``; holding ``P^i_{Δ,J}`` at its
reference value means *dividing* today's ``E‖Δⁱ‖²`` (which is proportional to
``P^i_{Δ,J}`` by Eq. 7) by its growth, so we compute
``B(t) = ρ(K)(t) · Σ_{i=1}^{L} [P^i_{Δ,J}(t₀) / P^i_{Δ,J}(t)] · E‖Δⁱ‖²(t)`` (with
``P^L = 1``, an empty product), which bounds ``λ₁(G)`` by Eqs. 3, 4 and 8 under
the counterfactual; the stable learning rate is ``η < 2 / max_t B(t)``,
minimised over the runs of a criterion.

The share of negative top eigenvalues comes from the training logs (the Hessian
eigenvalues of every iteration).  The paper's power iteration ordered by |λ|,
so a negative "top" eigenvalue meant the most negative eigenvalue dominated;
our solver orders algebraically, so we count iterations whose largest
eigenvalue is negative — the same event only when it occurs at all.
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
    ("max_share_negative_top_eigenvalue", "largest share of iterations with a negative top Hessian eigenvalue",
     0.00009, "fraction"),
]


def _where(run: pd.Series | dict | None) -> str:
    if run is None:
        return ""
    return ", ".join(f"{k}={run[k]}" for k in RUN_KEYS)


def _per_run(frame: pd.DataFrame, metric: str, layer: int | None, transient: int) -> pd.DataFrame:
    return post_transient(metric_series(frame, metric, layer), transient)


def _argmax(table: pd.DataFrame, column: str) -> tuple[float, dict | None]:
    table = table.dropna(subset=[column])
    if table.empty:
        return math.nan, None
    row = table.loc[table[column].idxmax()]
    return float(row[column]), row


def max_increase(frame: pd.DataFrame, metric: str, layer: int | None, transient: int) -> tuple[float, dict | None]:
    """``max over runs of max_t X(t)/X(t₀)``."""
    rows = _per_run(frame, metric, layer, transient)
    per_run = rows.groupby(RUN_KEYS, as_index=False)["value"].agg(lambda v: v.max() / v.iloc[0])
    return _argmax(per_run, "value")


def _wide(frame: pd.DataFrame, transient: int, metrics: list[tuple[str, int | None]]) -> pd.DataFrame:
    """Post-transient snapshots as one row each, one column per (metric, layer)."""
    pieces = []
    for metric, layer in metrics:
        rows = _per_run(frame, metric, layer, transient)
        name = metric if layer is None else f"{metric}_{layer}"
        pieces.append(rows.set_index(RUN_KEYS + ["iteration"])["value"].rename(name))
    return pd.concat(pieces, axis=1).reset_index()


def counterfactual_bound(frame: pd.DataFrame, transient: int) -> pd.DataFrame:
    """Per post-transient snapshot: ``B(t)`` of the module docstring, with the run keys."""
    L = network_depth(frame)
    wide = _wide(frame, transient, [("rho_K", None)] + [("EK2_layer", i) for i in range(1, L + 1)]
                 + [("P_DeltaJ", i) for i in range(1, L)])
    wide = wide.sort_values(RUN_KEYS + ["iteration"])
    total = wide[f"EK2_layer_{L}"].copy()
    for i in range(1, L):
        reference = wide.groupby(RUN_KEYS, sort=False)[f"P_DeltaJ_{i}"].transform("first")
        total += reference / wide[f"P_DeltaJ_{i}"] * wide[f"EK2_layer_{i}"]
    wide["bound"] = wide["rho_K"] * total
    return wide[RUN_KEYS + ["iteration", "bound"]]


def compute_claims(frame: pd.DataFrame, training: pd.DataFrame | None, transient: int) -> pd.DataFrame:
    """The claims table: ``key, claim, unit, paper, reproduced, where, runs``."""
    values: dict[str, tuple[float, dict | None]] = {}
    values["max_increase_sharpness_hessian"] = max_increase(frame, "sharpness_hessian", None, transient)
    sharp = _wide(frame, transient, [("sharpness_hessian", None), ("sharpness_G", None), ("sharpness_H", None)])
    values["max_sharpness_H"] = _argmax(sharp, "sharpness_H")
    sharp["share_H"] = sharp["sharpness_H"] / sharp["sharpness_hessian"]
    sharp["gap_G"] = (sharp["sharpness_G"] - sharp["sharpness_hessian"]).abs() / sharp["sharpness_hessian"]
    values["max_share_H"] = _argmax(sharp, "share_H")
    values["max_gap_G"] = _argmax(sharp, "gap_G")
    values["max_increase_rho_K"] = max_increase(frame, "rho_K", None, transient)
    L = network_depth(frame)
    per_layer = _wide(frame, transient, [("EK2_layer", i) for i in range(1, L + 1)])
    others = per_layer[[f"EK2_layer_{i}" for i in range(2, L + 1)]].max(axis=1)
    per_layer["excess"] = others / per_layer["EK2_layer_1"] - 1
    values["max_excess_EK2_layer"] = _argmax(per_layer, "excess")
    values["max_increase_EDeltaL2"] = max_increase(frame, "EDeltaL2", None, transient)
    for metric in ("Pi_chi", "P_chi", "Pi_J", "P_DeltaJ"):
        values[f"max_increase_{metric}"] = max_increase(frame, metric, 1, transient)
    bound = counterfactual_bound(frame, transient)
    per_run = bound.groupby(RUN_KEYS, as_index=False)["bound"].max()
    for criterion in ("cross_entropy", "mse"):
        runs = per_run[per_run["criterion"] == criterion].copy()
        runs["lr"] = 2.0 / runs["bound"]
        if runs.empty:
            values[f"stable_lr_{criterion}"] = (math.nan, None)
        else:
            row = runs.loc[runs["lr"].idxmin()]
            values[f"stable_lr_{criterion}"] = (float(row["lr"]), row)
    if training is not None and "lambda_1" in training:
        logged = training[training["iteration"] >= transient].dropna(subset=["lambda_1"])
        share = logged.groupby(RUN_KEYS, as_index=False)["lambda_1"].agg(lambda v: float((v < 0).mean()))
        values["max_share_negative_top_eigenvalue"] = _argmax(share, "lambda_1")
    else:
        values["max_share_negative_top_eigenvalue"] = (math.nan, None)
    runs = frame.groupby(RUN_KEYS).ngroups
    rows = []
    for key, claim, paper, unit in PAPER_CLAIMS:
        value, where = values[key]
        rows.append({"key": key, "claim": claim, "unit": unit, "paper": paper, "reproduced": value,
                     "where": _where(where), "runs": runs})
    return pd.DataFrame(rows)

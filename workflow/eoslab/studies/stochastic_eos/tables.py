"""The table of measured thresholds: where SGD diverges, what K̃ and λ_max(𝒯) say there, the
final λ_max vs 2/η at large batch, and the loss vs K̃ at small batch.

One long table (``experiment, case, quantity, value``) written as CSV and Markdown:

* linear model, per Jacobian: the Monte-Carlo divergence boundary η* (first η whose mean loss
  after ``T`` steps exceeds the initial loss), ``η*λ_max/2`` and the measures evaluated exactly at
  η* (K̃, K̃_HD, K̃_tr, λ_max(𝒯)), the η where K̃ and λ_max(𝒯) reach 1 (root finding) and, for
  comparison, the grid interpolation of λ_max(𝒯) = 1;
* Appendix A.4's localisation sweep, per σ_loc and seed: η*, the root of λ_max(𝒯) = 1, K̃ and its
  approximations at η*;
* MLP, per batch size: the largest stable and smallest diverged ``η/B``; the peak and final K̃ of
  the largest stable run; for batch sizes ≥ ``large_batch_min``, the median final ``ηλ_max/2``
  over stable runs and the final ``ηλ_max/2`` of each stable run (1 at the deterministic EOS); the
  ``η/B`` and final K̃ of the lowest final loss.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ...io import atomic_write
from .linear import crossing
from .mlp import final_rows


def linear_rows(sweep: pd.DataFrame) -> list[dict]:
    """One Jacobian's sweep: the MC boundary η*, the measures evaluated exactly at η* (stored by
    :func:`~.linear.sweep`), and the η where λ_max(𝒯) and K̃ reach 1 by root finding; the grid
    interpolation of λ_max(𝒯) = 1 is kept beside the root to show what interpolating across a kink
    of the spectral radius gives."""
    sweep = sweep.sort_values("lr")
    setting = sweep["setting"].iloc[0]
    lr = sweep["lr"].to_numpy()
    first = sweep.iloc[0]
    boundary = float(first["eta_divergence_mc"])
    rows = [("eta_divergence_mc", boundary), ("eta_lambda_max_half_at_divergence",
                                              boundary * sweep["lambda_max"].iloc[0] / 2)]
    for name in ("K", "K_hd", "K_tr", "radius"):
        rows.append((f"{name}_at_divergence", float(first[f"{name}_at_boundary"])))
    rows.append(("eta_K_equals_1", float(first["eta_K_root"])))
    rows.append(("eta_radius_equals_1", float(first["eta_radius_root"])))
    rows.append(("eta_radius_equals_1_interpolated", crossing(lr, sweep["radius"].to_numpy())))
    rows.append(("eta_K_hd_equals_1", crossing(lr, sweep["K_hd"].to_numpy())))
    rows.append(("eta_K_tr_equals_1", crossing(lr, sweep["K_tr"].to_numpy())))
    rows.append(("localisation", float(first["localisation"])))
    return [{"experiment": "linear", "case": setting, "quantity": q, "value": v} for q, v in rows]


def localisation_rows(points: pd.DataFrame) -> list[dict]:
    """Appendix A.4's failure case, per σ_loc and seed: η*, the root of λ_max(𝒯) = 1, and K̃, K̃_HD,
    K̃_tr at the MC boundary η*."""
    out = []
    summary = points.groupby(["localised_scale", "seed"], as_index=False).first()
    for row in summary.itertuples():
        case = f"sigma_loc={row.localised_scale:g} seed={row.seed}"
        for quantity in ("localisation", "eta_divergence_mc", "eta_radius_root", "eta_K_root", "K_at_boundary",
                         "K_hd_at_boundary", "K_tr_at_boundary", "radius_at_boundary", "K_at_root"):
            out.append({"experiment": "localisation", "case": case, "quantity": quantity,
                        "value": float(getattr(row, quantity))})
    return out


def mlp_rows(runs: pd.DataFrame, large_batch_min: int) -> list[dict]:
    final = final_rows(runs)
    peaks = runs.groupby(["batch_size", "lr", "init_seed", "batch_seed"])["K"].max().rename("K_peak").reset_index()
    final = final.merge(peaks, on=["batch_size", "lr", "init_seed", "batch_seed"])
    out = []
    for batch_size, part in final.groupby("batch_size"):
        part = part.sort_values("lr")
        stable, diverged = part[part["status"] != "diverged"], part[part["status"] == "diverged"]
        case = f"B={batch_size}"
        rows = [("largest_stable_lr_over_B", stable["lr"].max() / batch_size if len(stable) else math.nan),
                ("smallest_diverged_lr_over_B", diverged["lr"].min() / batch_size if len(diverged) else math.nan)]
        if len(stable):
            top = stable.iloc[-1]
            rows += [("K_peak_of_largest_stable", top["K_peak"]), ("K_final_of_largest_stable", top["K"])]
            best = stable.loc[stable["loss"].idxmin()]
            rows += [("lr_over_B_of_lowest_loss", best["lr"] / batch_size), ("K_final_of_lowest_loss", best["K"]),
                     ("lowest_final_loss", best["loss"])]
            if batch_size >= large_batch_min:
                rows.append(("median_final_lr_lambda_max_half", float(np.median(stable["lr_lambda_max"] / 2))))
                rows += [(f"final_lr_lambda_max_half_at_lr={run.lr:.3g}", run.lr_lambda_max / 2)
                         for run in stable.itertuples()]
        out += [{"experiment": "mlp", "case": case, "quantity": q, "value": float(v)} for q, v in rows]
    return out


def threshold_table(linear_sweeps: list[pd.DataFrame], runs: pd.DataFrame | None, large_batch_min: int,
                    localisation: pd.DataFrame | None = None) -> pd.DataFrame:
    rows = [row for sweep in linear_sweeps for row in linear_rows(sweep)]
    if localisation is not None and len(localisation):
        rows += localisation_rows(localisation)
    if runs is not None:
        rows += mlp_rows(runs, large_batch_min)
    return pd.DataFrame(rows, columns=["experiment", "case", "quantity", "value"])


def write_table(frame: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """``stem.csv`` and ``stem.md`` (atomically)."""
    stem = Path(stem)
    csv = atomic_write(stem.with_suffix(".csv"), lambda tmp: frame.to_csv(tmp, index=False))
    lines = ["| experiment | case | quantity | value |", "|---|---|---|---|"]
    lines += [f"| {r.experiment} | {r.case} | {r.quantity} | {r.value:.4g} |" for r in frame.itertuples()]
    text = "# Measured thresholds (study stochastic_eos)\n\n" + "\n".join(lines) + "\n"

    def write(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write(text)

    md = atomic_write(stem.with_suffix(".md"), write)
    return [csv, md]


OUTCOME_COLUMNS = ["batch_size", "lr", "lr_over_batch", "init_seed", "gain", "status", "epochs", "K_initial", "K_peak",
                   "epoch_of_peak", "K_final", "crosses_1", "returns_below_1", "epoch_of_return", "up_crossings",
                   "figure3_picture",
                   "half_eos_initial", "half_eos_max", "half_eos_final", "reaches_eos", "eos_side", "loss_final"]


def write_outcomes(frame: pd.DataFrame, stem: str | os.PathLike) -> list[Path]:
    """``stem.csv`` and ``stem.md``: one row per MLP run (:func:`.mlp.run_outcomes`)."""
    stem = Path(stem)
    columns = [c for c in OUTCOME_COLUMNS if c in frame.columns]
    csv = atomic_write(stem.with_suffix(".csv"), lambda tmp: frame.to_csv(tmp, index=False))

    def cell(value) -> str:
        if isinstance(value, (bool, np.bool_)):
            return "yes" if value else "no"
        if isinstance(value, (float, np.floating)):
            return "—" if not math.isfinite(value) else f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in frame.to_dict("records")]
    text = ("# MLP runs (study stochastic_eos): K̃ and ηλ_max/2 at start, peak and end\n\n"
            "ηλ_max/2 = 1 is the deterministic EOS; `reaches_eos`: final value in [0.9, 1.1]; `eos_side`: "
            "from which side.\n\n" + "\n".join(lines) + "\n")

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    md = atomic_write(stem.with_suffix(".md"), write)
    return [csv, md]

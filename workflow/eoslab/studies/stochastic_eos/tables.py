"""The table of measured thresholds: where SGD diverges, what K̃ and λ_max(𝒯) say there, the
final λ_max vs 2/η at large batch, and the loss vs K̃ at small batch.

One long table (``experiment, case, quantity, value``) written as CSV and Markdown:

* linear model, per Jacobian: the Monte-Carlo divergence boundary η* (first η whose mean loss
  after ``T`` steps exceeds the initial loss), ``η*λ_max/2`` and the measures interpolated at η*
  (K̃, K̃_HD, K̃_tr, λ_max(𝒯)), and the η where K̃ and λ_max(𝒯) cross 1;
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
from .linear import crossing, divergence_boundary
from .mlp import final_rows


def _log_interpolate(x: np.ndarray, y: np.ndarray, at: float) -> float:
    ok = np.isfinite(y) & (y > 0)
    if not math.isfinite(at) or ok.sum() < 2:
        return math.nan
    return float(np.exp(np.interp(np.log(at), np.log(x[ok]), np.log(y[ok]))))


def linear_rows(sweep: pd.DataFrame) -> list[dict]:
    sweep = sweep.sort_values("lr")
    setting = sweep["setting"].iloc[0]
    lr = sweep["lr"].to_numpy()
    boundary = divergence_boundary(sweep)
    rows = [("eta_divergence_mc", boundary), ("eta_lambda_max_half_at_divergence",
                                              boundary * sweep["lambda_max"].iloc[0] / 2)]
    for name in ("K", "K_hd", "K_tr", "radius"):
        rows.append((f"{name}_at_divergence", _log_interpolate(lr, sweep[name].to_numpy(), boundary)))
    rows.append(("eta_K_equals_1", crossing(lr, sweep["K"].to_numpy())))
    rows.append(("eta_radius_equals_1", crossing(lr, sweep["radius"].to_numpy())))
    rows.append(("eta_K_hd_equals_1", crossing(lr, sweep["K_hd"].to_numpy())))
    rows.append(("eta_K_tr_equals_1", crossing(lr, sweep["K_tr"].to_numpy())))
    return [{"experiment": "linear", "case": setting, "quantity": q, "value": v} for q, v in rows]


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


def threshold_table(linear_sweeps: list[pd.DataFrame], runs: pd.DataFrame | None, large_batch_min: int) -> pd.DataFrame:
    rows = [row for sweep in linear_sweeps for row in linear_rows(sweep)]
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

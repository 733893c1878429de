"""Power law of the peak layerwise Jacobian alignment in the data-set size (Eq. 9, Table 2).

``max_t P¹_{Δ,J} ≈ c₁ · D^{c₂}``: for every run take the maximum of
``P_DeltaJ`` (layer 1) over its post-transient snapshots, then fit
``log y = log c₁ + c₂ log D`` by ordinary least squares (statsmodels) over the
runs of one data set × criterion.  ``c₁ = exp(intercept)``; its confidence
interval is the exponentiated interval of the intercept.

The paper does not say whether it fitted the 16 runs of each size ("pooled")
or the per-size means, nor on which scale its coefficient of determination is
computed.  Table 2 therefore has two rows per data set × criterion, ``fit =
pooled`` (every run a point) and ``fit = size_means`` (one point per size: the
geometric mean of its runs' peaks, i.e. the mean of ``log y``), each with
``r_squared`` on the log scale (the one the fit minimises) and
``r_squared_linear``, ``1 − Σ(y − ŷ)² / Σ(y − ȳ)²`` with ``ŷ = c₁D^{c₂}`` on the
original scale.  The two fits have the same slope when every size has the same
number of runs; their R² differ (means remove the seed-to-seed scatter).

Runs: all but the diverged ones (:func:`.aggregate.usable_runs`).  Each row's
``note`` says when a fit is missing or weak because there are fewer than three
sizes (a fit needs three points and two sizes; through two size means it is
not computed, ``nan``), and which runs were left out or did not converge.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .aggregate import RUN_KEYS, metric_series, post_transient, usable_runs

#: Table 2 of the paper.
PAPER_TABLE2 = {
    ("dice", "cross_entropy"): (0.0017, 0.23, 0.84),
    ("cifar10", "cross_entropy"): (0.0004, 0.49, 0.97),
    ("cifar10", "mse"): (0.0004, 0.20, 0.74),
    ("atrial_fibrillation", "cross_entropy"): (0.0026, 0.45, 0.93),
    ("sst", "cross_entropy"): (0.0001, 0.67, 0.98),
}


@dataclass
class PowerLawFit:
    c1: float
    c1_ci_low: float
    c1_ci_high: float
    c2: float
    c2_ci_low: float
    c2_ci_high: float
    r_squared: float
    r_squared_linear: float
    runs: int
    sizes: int


def fit_power_law(D, y, alpha: float = 0.05) -> PowerLawFit:
    """OLS of ``log y`` on ``log D``; needs at least three points and two distinct sizes."""
    D = np.asarray(D, dtype=float)
    y = np.asarray(y, dtype=float)
    if D.shape != y.shape:
        raise ValueError(f"D and y must have the same shape, got {D.shape} and {y.shape}")
    if np.any(D <= 0) or np.any(~np.isfinite(y)) or np.any(y <= 0):
        raise ValueError("a power law needs positive sizes D and positive, finite values y")
    distinct = len(np.unique(D))
    if len(D) < 3 or distinct < 2:
        nan = math.nan
        return PowerLawFit(nan, nan, nan, nan, nan, nan, nan, nan, len(D), distinct)
    model = sm.OLS(np.log(y), sm.add_constant(np.log(D))).fit()
    (a_low, a_high), (b_low, b_high) = model.conf_int(alpha)
    intercept, slope = model.params
    predicted = math.exp(intercept) * D ** slope
    total = float(((y - y.mean()) ** 2).sum())
    r_linear = 1.0 - float(((y - predicted) ** 2).sum()) / total if total > 0 else math.nan
    return PowerLawFit(c1=math.exp(intercept), c1_ci_low=math.exp(a_low), c1_ci_high=math.exp(a_high),
                       c2=float(slope), c2_ci_low=float(b_low), c2_ci_high=float(b_high),
                       r_squared=float(model.rsquared), r_squared_linear=r_linear, runs=len(D), sizes=distinct)


def peak_alignment(frame: pd.DataFrame, transient_iterations: int) -> pd.DataFrame:
    """Per run: ``max_t P¹_{Δ,J}`` over post-transient snapshots."""
    series = post_transient(metric_series(frame, "P_DeltaJ", layer=1), transient_iterations)
    return series.groupby(RUN_KEYS, as_index=False)["value"].max().rename(columns={"value": "peak_P_DeltaJ"})


def table2(frame: pd.DataFrame, transient_iterations: int) -> pd.DataFrame:
    """Table 2: two rows (``fit`` = pooled, size_means) per data set × criterion, the paper's values beside."""
    notes = {}
    kept = []
    for key, combo in frame.groupby(["dataset", "criterion"], sort=False):
        used, notes[key] = usable_runs(combo)
        kept.append(used)
    peaks = peak_alignment(pd.concat(kept) if kept else frame, transient_iterations)
    rows = []
    for (dataset, criterion), group in peaks.groupby(["dataset", "criterion"], sort=False):
        paper = PAPER_TABLE2.get((dataset, criterion), (math.nan,) * 3)
        logs = group.assign(log_peak=np.log(group["peak_P_DeltaJ"]))
        means = logs.groupby("size", as_index=False)["log_peak"].mean()
        fits = {"pooled": fit_power_law(group["size"], group["peak_P_DeltaJ"]),
                "size_means": fit_power_law(means["size"], np.exp(means["log_peak"]))}
        for name, fit in fits.items():
            row = {"dataset": dataset, "criterion": criterion, "fit": name, **asdict(fit),
                   "paper_c1": paper[0], "paper_c2": paper[1], "paper_r_squared": paper[2]}
            if name == "size_means":
                row["runs"] = len(group)  # the runs behind the means
            row["note"] = _fit_note(name, sorted(int(v) for v in group["size"].unique()), len(group),
                                    notes.get((dataset, criterion), ""))
            rows.append(row)
    return pd.DataFrame(rows)


def _fit_note(fit: str, sizes: list[int], runs: int, runs_note: str) -> str:
    parts = []
    listed = ", ".join(map(str, sizes))
    if fit == "size_means" and len(sizes) < 3:
        parts.append(f"not fitted: {len(sizes)} size(s) ({listed}) give {len(sizes)} mean(s), a fit needs 3")
    elif fit == "pooled" and (len(sizes) < 2 or runs < 3):
        parts.append(f"not fitted: {runs} run(s) at {len(sizes)} size(s) ({listed}); a fit needs 3 runs and 2 sizes")
    elif len(sizes) < 3:
        parts.append(f"only {len(sizes)} sizes ({listed}): c2 is the slope between them and its interval and R2 "
                     f"reflect seed scatter only; Table 2 needs at least 3 sizes")
    if runs_note:
        parts.append(runs_note)
    return "; ".join(parts)

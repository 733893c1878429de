"""Power law of the peak layerwise Jacobian alignment in the data-set size (Eq. 9, Table 2).

``max_t P¹_{Δ,J} ≈ c₁ · D^{c₂}``: for every run take the maximum of
``P_DeltaJ`` (layer 1) over its post-transient snapshots, then fit
``log y = log c₁ + c₂ log D`` by ordinary least squares (statsmodels) over all
runs of one data set × criterion.  ``c₁ = exp(intercept)``; its confidence
interval is the exponentiated interval of the intercept.  ``R²`` is that of the
log–log fit (the paper reports a coefficient of determination without saying
on which scale; the log scale is the one the fit minimises).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from .aggregate import RUN_KEYS, metric_series, post_transient

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
        return PowerLawFit(nan, nan, nan, nan, nan, nan, nan, len(D), distinct)
    model = sm.OLS(np.log(y), sm.add_constant(np.log(D))).fit()
    (a_low, a_high), (b_low, b_high) = model.conf_int(alpha)
    intercept, slope = model.params
    return PowerLawFit(c1=math.exp(intercept), c1_ci_low=math.exp(a_low), c1_ci_high=math.exp(a_high),
                       c2=float(slope), c2_ci_low=float(b_low), c2_ci_high=float(b_high),
                       r_squared=float(model.rsquared), runs=len(D), sizes=distinct)


def peak_alignment(frame: pd.DataFrame, transient_iterations: int) -> pd.DataFrame:
    """Per run: ``max_t P¹_{Δ,J}`` over post-transient snapshots."""
    series = post_transient(metric_series(frame, "P_DeltaJ", layer=1), transient_iterations)
    return series.groupby(RUN_KEYS, as_index=False)["value"].max().rename(columns={"value": "peak_P_DeltaJ"})


def table2(frame: pd.DataFrame, transient_iterations: int) -> pd.DataFrame:
    """Table 2: one row per data set × criterion, with the paper's values beside ours."""
    peaks = peak_alignment(frame, transient_iterations)
    rows = []
    for (dataset, criterion), group in peaks.groupby(["dataset", "criterion"], sort=False):
        fit = fit_power_law(group["size"], group["peak_P_DeltaJ"])
        paper = PAPER_TABLE2.get((dataset, criterion), (math.nan,) * 3)
        rows.append({"dataset": dataset, "criterion": criterion, **asdict(fit),
                     "paper_c1": paper[0], "paper_c2": paper[1], "paper_r_squared": paper[2]})
    return pd.DataFrame(rows)

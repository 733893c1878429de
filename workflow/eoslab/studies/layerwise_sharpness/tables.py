"""Tables 4.1 and 4.2 beside the thesis's values, with the spread over Algorithm 2's runs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ...io import atomic_write
from .catalog import ACTIVATION_NAMES, THESIS_TABLES, TABLE_TITLES


def read_points(paths) -> pd.DataFrame:
    """The per-run rows of several max-step points (``eoslab study layerwise_sharpness maxstep`` outputs)."""
    frames = []
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"max-step result {os.fspath(path)!r} does not exist (the maxstep rule writes it)")
        frames.append(pd.read_parquet(path))
    if not frames:
        raise ValueError("no max-step results given")
    return pd.concat(frames, ignore_index=True)


def summarise(frame: pd.DataFrame, by) -> pd.DataFrame:
    """Mean, sample standard deviation, min, max and number of runs of ``max_step_size`` per group."""
    grouped = frame.groupby(by, sort=False)["max_step_size"]
    return pd.DataFrame({"mean": grouped.mean(), "std": grouped.std(ddof=1).fillna(0.0), "min": grouped.min(),
                         "max": grouped.max(), "runs": grouped.size()}).reset_index()


def comparison_table(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per activation (Table 4.1's order): the thesis's value and ours with its spread."""
    thesis = THESIS_TABLES[name]
    summary = summarise(frame, "activation").set_index("activation")
    missing = [a for a in thesis if a not in summary.index]
    if missing:
        raise ValueError(f"{name} needs the activations {missing}, which the results given do not hold")
    rows = []
    for activation, value in thesis.items():
        ours = summary.loc[activation]
        rows.append({"activation": ACTIVATION_NAMES[activation], "thesis": value, "mean": ours["mean"],
                     "std": ours["std"], "min": ours["min"], "max": ours["max"], "runs": int(ours["runs"]),
                     "ratio": ours["mean"] / value,
                     "difference_in_std": (ours["mean"] - value) / ours["std"] if ours["std"] > 0 else np.nan})
    return pd.DataFrame(rows)


def markdown(name: str, table: pd.DataFrame, settings: dict | None = None) -> str:
    lines = [f"**{TABLE_TITLES[name]}**", "",
             "| activation | thesis | ours: mean | std | min | max | runs | mean / thesis | (mean − thesis) / std |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in table.itertuples():
        # std 0: every run diverged at the same grid step (the distance in std is undefined, not NaN)
        distance = "— (std 0)" if np.isnan(row.difference_in_std) else f"{row.difference_in_std:+.2f}"
        lines.append(f"| {row.activation} | {row.thesis:.5f} | {row.mean:.5f} | {row.std:.5f} | {row.min:.5f} | "
                     f"{row.max:.5f} | {row.runs} | {row.ratio:.3f} | {distance} |")
    if settings:
        lines += ["", "Settings: " + ", ".join(f"{k} = {v}" for k, v in settings.items())]
    return "\n".join(lines) + "\n"


def write_table(name: str, paths, stem: str | os.PathLike, settings: dict | None = None) -> list[Path]:
    """``stem.csv`` and ``stem.md`` for Table 4.1 or 4.2 from the max-step results ``paths``."""
    table = comparison_table(name, read_points(paths))
    csv, md = Path(f"{stem}.csv"), Path(f"{stem}.md")
    atomic_write(csv, lambda tmp: table.to_csv(tmp, index=False, float_format="%.8g"))
    text = markdown(name, table, settings)
    atomic_write(md, lambda tmp: Path(tmp).write_text(text))
    return [csv, md]

"""All runs in one tidy table, and the paper's treatment of the initial transient.

:func:`aggregate` concatenates per-run analysis tables (``eoslab analyze``) and,
through each table's JSON card, the runs' training logs (one row per
iteration), tagging both with ``dataset, criterion, size, subset_seed,
init_seed``.  Every input is checked: a missing card, a table whose columns
are not the analysis schema, or a run whose log is gone is an error naming the
file — nothing is skipped.

Section 5: "we observe an initial transient in which sharpness fluctuates
wildly ... we ignored the first ten iterations in our analyses".  Here
:func:`post_transient` keeps snapshots at ``iteration ≥ transient_iterations``
and the *reference* value of a run (the "start" of every "increase by ×c"
claim and of the "change" figures) is its value at the first such snapshot;
the trainer saves a snapshot exactly at the end of the transient
(``transient_snapshot``) so that this reference is iteration 10, not 100.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .analysis import COLUMNS, typed
from ...arrays import DataFileError
from ...io import read_json

RUN_KEYS = ["dataset", "criterion", "size", "subset_seed", "init_seed"]


def read_analysis(path: str | os.PathLike) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for corrupt files
        raise DataFileError(f"cannot read analysis table {path}: {error}") from error
    if list(frame.columns) != COLUMNS:
        raise DataFileError(f"{path} has columns {list(frame.columns)}, expected the analysis schema {COLUMNS}")
    return typed(frame)


def read_training_log(analysis_path: str | os.PathLike) -> pd.DataFrame:
    """The training log of the run an analysis table describes (via its JSON card)."""
    card_file = Path(analysis_path).with_suffix(".json")
    if not card_file.exists():
        raise DataFileError(f"{card_file} (the card written with {analysis_path}) is missing")
    card = read_json(card_file)
    log_file = Path(card["run"]) / "log.parquet"
    if not log_file.exists():
        raise DataFileError(f"the training log {log_file} of {analysis_path} is missing")
    log = pd.read_parquet(log_file)
    for i, key in enumerate(RUN_KEYS):
        log.insert(i, key, card[key])
    return log


def aggregate(paths: Iterable[str | os.PathLike], with_training: bool = True
              ) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Concatenate per-run analysis tables (and their training logs)."""
    paths = list(paths)
    if not paths:
        raise DataFileError("no analysis tables to aggregate")
    analysis = pd.concat([read_analysis(p) for p in paths], ignore_index=True)
    duplicated = analysis.duplicated(RUN_KEYS + ["iteration", "metric", "layer"])
    if duplicated.any():
        first = analysis[duplicated].iloc[0]
        raise DataFileError(f"run {dict(first[RUN_KEYS])} appears in more than one input table")
    training = pd.concat([read_training_log(p) for p in paths], ignore_index=True) if with_training else None
    return analysis, training


def combine(analysis_paths: Iterable[str | os.PathLike], training_paths: Iterable[str | os.PathLike]
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate already aggregated tables (one per data set × criterion)."""
    analysis = pd.concat([typed(pd.read_parquet(p)) for p in analysis_paths], ignore_index=True)
    training = pd.concat([pd.read_parquet(p) for p in training_paths], ignore_index=True)
    return analysis, training


def metric_series(frame: pd.DataFrame, metric: str, layer: int | None = None) -> pd.DataFrame:
    """Rows of one metric (and layer), sorted by run and time."""
    rows = frame[frame["metric"] == metric]
    rows = rows[rows["layer"].isna()] if layer is None else rows[rows["layer"] == layer]
    return rows.sort_values(RUN_KEYS + ["iteration"])


def network_depth(frame: pd.DataFrame) -> int:
    """``L``, the number of linear layers of the analysed networks (``EK2_layer`` has layers 1..L)."""
    layers = frame.loc[frame["metric"] == "EK2_layer", "layer"].dropna()
    if layers.empty:
        raise ValueError("the table has no EK2_layer rows, so the network depth is unknown")
    return int(layers.max())


def post_transient(frame: pd.DataFrame, transient_iterations: int) -> pd.DataFrame:
    """Rows at ``iteration ≥ transient_iterations`` (Section 5)."""
    return frame[frame["iteration"] >= transient_iterations]


def relative_to_reference(series: pd.DataFrame, transient_iterations: int) -> pd.DataFrame:
    """Post-transient rows of one metric with ``value`` divided by each run's first post-transient value."""
    rows = post_transient(series, transient_iterations).sort_values(RUN_KEYS + ["iteration"]).copy()
    reference = rows.groupby(RUN_KEYS, sort=False)["value"].transform("first")
    rows["value"] = rows["value"] / reference
    return rows

"""All runs in one tidy table, and the paper's treatment of the initial transient.

:func:`aggregate` concatenates per-run analysis tables (``eoslab analyze``) and,
through each table's JSON card, the runs' training logs (one row per
iteration), tagging both with ``dataset, criterion, size, subset_seed,
init_seed``.  Every input is checked: a missing card, a table whose columns
are not the analysis schema, or a run whose log is gone is an error naming the
file — nothing is skipped.

Every row of both aggregates carries the run's training ``status`` (column
``status``: ``converged``, ``max_iterations`` or ``diverged``; ``unknown`` for
a table whose card and run predate the column), read from the analysis card
(else the run's ``status.json``).  :func:`usable_runs` chooses from it what the
figures and tables use: every run but the diverged ones, each of which they
name in a note (docs/reliability.md).

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


#: Values of the aggregates' ``status`` column: the training status of the run.
STATUSES = ("converged", "max_iterations", "diverged", "unknown")
#: Statuses the figures and tables leave out (each such run named in their notes).
EXCLUDED_STATUSES = ("diverged",)


def read_analysis(path: str | os.PathLike) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for corrupt files
        raise DataFileError(f"cannot read analysis table {path}: {error}") from error
    if list(frame.columns) not in (COLUMNS, COLUMNS + ["status"]):
        raise DataFileError(f"{path} has columns {list(frame.columns)}, expected the analysis schema {COLUMNS} "
                            f"(+ status)")
    return typed(frame)


def run_status(analysis_path: str | os.PathLike) -> str:
    """The training status of the run an analysis table describes: its card's, else the run's status.json."""
    card_file = Path(analysis_path).with_suffix(".json")
    if not card_file.exists():
        return "unknown"
    card = read_json(card_file)
    if card.get("status"):
        return str(card["status"])
    status_file = Path(card.get("run", "")) / "status.json"
    return str(read_json(status_file).get("status", "unknown")) if status_file.is_file() else "unknown"


def with_status(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``status`` column (``unknown`` if it had none)."""
    if "status" not in frame.columns:
        frame = frame.assign(status="unknown")
    return frame.astype({"status": "string"})


def run_label(run) -> str:
    """``dice/cross_entropy D=32 s0 i0`` for a row or dict with the run keys."""
    return f"{run['dataset']}/{run['criterion']} D={int(run['size'])} s{int(run['subset_seed'])} i{int(run['init_seed'])}"


def usable_runs(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The rows of the runs the figures and tables use (all but diverged ones) and a note saying which
    runs they used and which were left out, and why ("" when every run converged, or when the table
    predates the status column)."""
    frame = with_status(frame)
    runs = frame.drop_duplicates(RUN_KEYS)[RUN_KEYS + ["status"]]
    left_out = runs[runs["status"].isin(EXCLUDED_STATUSES)]
    used = runs[~runs["status"].isin(EXCLUDED_STATUSES)]
    parts = []
    if len(left_out) or (~used["status"].isin(["converged", "unknown"])).any():
        counts = used["status"].value_counts()
        parts.append(f"{len(used)} of {len(runs)} runs used"
                     + (" (" + ", ".join(f"{n} {s}" for s, n in counts.items()) + ")" if len(counts) else ""))
    unconverged = used[used["status"] == "max_iterations"]
    if len(unconverged):
        parts.append(f"{len(unconverged)} stopped at max_iterations without reaching the loss threshold: "
                     + "; ".join(run_label(r) for _, r in unconverged.iterrows()))
    if len(left_out):
        parts.append("left out as diverged: " + "; ".join(run_label(r) for _, r in left_out.iterrows()))
    keep = frame.set_index(RUN_KEYS).index.isin(used.set_index(RUN_KEYS).index)
    return frame[keep], ". ".join(parts)


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
    statuses = [run_status(p) for p in paths]
    analysis = pd.concat([read_analysis(p).assign(status=status) for p, status in zip(paths, statuses)],
                         ignore_index=True)
    analysis = with_status(analysis)
    duplicated = analysis.duplicated(RUN_KEYS + ["iteration", "metric", "layer"])
    if duplicated.any():
        first = analysis[duplicated].iloc[0]
        raise DataFileError(f"run {dict(first[RUN_KEYS])} appears in more than one input table")
    training = (pd.concat([read_training_log(p).assign(status=status) for p, status in zip(paths, statuses)],
                          ignore_index=True) if with_training else None)
    return analysis, training


def combine(analysis_paths: Iterable[str | os.PathLike], training_paths: Iterable[str | os.PathLike]
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Concatenate already aggregated tables (one per data set × criterion)."""
    analysis = pd.concat([with_status(typed(pd.read_parquet(p))) for p in analysis_paths], ignore_index=True)
    training = pd.concat([with_status(pd.read_parquet(p)) for p in training_paths], ignore_index=True)
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

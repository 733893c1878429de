"""All runs of one experiment in one table: every logged step with the run's η, ρ and status.

Columns: ``experiment, data_source, lr, rho, status, diverged_at`` and the log columns of
:data:`eoslab.studies.sam_edge.experiment.LOG_COLUMNS`.  A run that diverged keeps its rows up to
the divergence (status ``diverged``); figures and claims leave those out and say so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ...io import read_json
from .experiment import LOG_COLUMNS, RunPaths, STATUSES_DONE

RUN_COLUMNS = ["experiment", "data_source", "lr", "rho", "status", "diverged_at"]


def read_run(run_dir: str | os.PathLike) -> pd.DataFrame:
    paths = RunPaths(run_dir)
    for path in (paths.run, paths.status, paths.log):
        if not path.exists():
            raise FileNotFoundError(f"run {str(paths.root)!r} lacks {path.name}; train it first "
                                    f"(eoslab study sam_edge train … --out {paths.root})")
    status = read_json(paths.status)
    if status.get("status") not in STATUSES_DONE:
        raise RuntimeError(f"run {str(paths.root)!r} has status {status.get('status')!r}, not one of "
                           f"{list(STATUSES_DONE)}; run its training to the end first")
    run = read_json(paths.run)
    frame = pd.read_parquet(paths.log)
    frame = frame[[c for c in LOG_COLUMNS]].copy()
    frame.insert(0, "diverged_at", status.get("step") if status["status"] == "diverged" else None)
    frame.insert(0, "status", status["status"])
    frame.insert(0, "rho", float(run["rho"]))
    frame.insert(0, "lr", float(run["lr"]))
    frame.insert(0, "data_source", run.get("data_source"))
    frame.insert(0, "experiment", run["experiment"])
    frame["diverged_at"] = frame["diverged_at"].astype("Int64")
    return frame


def aggregate_runs(run_dirs: list[str | os.PathLike]) -> pd.DataFrame:
    if not run_dirs:
        raise ValueError("no runs to aggregate")
    frames = [read_run(d) for d in run_dirs]
    experiments = {f["experiment"].iloc[0] for f in frames if len(f)}
    if len(experiments) > 1:
        raise ValueError(f"runs of several experiments {sorted(experiments)} cannot go into one table")
    return pd.concat(frames, ignore_index=True).sort_values(["lr", "rho", "step"], ignore_index=True)


def read_aggregate(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; build it with `eoslab study sam_edge aggregate`")
    return pd.read_parquet(path)

"""Snapshot analysis: every quantity the paper plots, for every snapshot of one run.

For each snapshot ``snapshots/NNNNNNN.pt`` of a training run (Section 3: "we
then went back and, for each snapshot, calculated ...") over the run's own
training subset:

* ``loss``, ``accuracy``, ``grad_norm`` — the training loss ``L̃(θ)``, accuracy
  and ``‖∇_θ L̃‖``;
* ``sharpness_hessian``, ``sharpness_G``, ``sharpness_H`` — ``λ₁`` of
  ``𝓗_θ L̃``, ``G`` and ``H = 𝓗_θ L̃ − G`` (Eq. 2), algebraically largest (``H``
  is indefinite), from the curvature engine's matrix-free operators and
  :func:`eoslab.eigensolvers.top_eigenpairs`, warm-started from the previous
  snapshot's eigenvectors;
* ``EK2`` = ``E‖K‖²_max`` and ``rho_K`` = ``ρ(K) = λ₁(G)/E‖K‖²`` (Eq. 3);
* per layer ``i`` (column ``layer``): ``EK2_layer`` = ``E‖Kⁱ‖² = E‖Δⁱ‖²``
  (``i = 1..L``, Eq. 4); ``chi2`` = ``E(χⁱ)²``, ``r_chi`` = ``r(χⁱI, Δⁱ/χⁱ)``,
  ``EJ2`` = ``E‖∂x̂^{i+1}/∂x̂ⁱ‖²``, ``r_DeltaJ`` = ``r(Δ^{i+1}, ∂x̂^{i+1}/∂x̂ⁱ)``
  (``i = 1..L−1``, Eqs. 5–6; the row of layer ``i`` is about the Jacobian
  ``∂x̂^{i+1}/∂x̂ⁱ`` — what Figures 38–42 label ``r(Δⁱ, ∂x̂^{i+1}/∂x̂ⁱ)``);
  ``Pi_chi``, ``P_chi``, ``Pi_J``, ``P_DeltaJ`` = ``Π_χᵏ, P_{χ,Δ/χ}ᵏ, Π_Jᵏ,
  P_{Δ,J}ᵏ`` for ``k = 1..L−1`` (Eq. 7, products over ``i = k..L−1``);
* ``EDeltaL2`` = ``E‖Δᴸ‖²``.

The layerwise quantities come from :mod:`eoslab.decomposition` (one forward
pass and one backward recursion per chunk of samples; the ``O × P`` parameter
Jacobian is never formed).  The result is one long ("tidy") table with
columns :data:`COLUMNS`, written atomically as parquet, plus a JSON card with
the configuration, the run's training ``status`` and the solvers' statistics per
snapshot.

Runs that did not converge are results too (docs/reliability.md): a run that
stopped at ``max_iterations`` is analysed like a converged one; a ``diverged``
run is analysed up to its last finite snapshot (the snapshot at which the loss
became non-finite, and any with non-finite weights, are left out and listed in
the card).  The card's ``status`` travels to the aggregate's ``status`` column,
from which the figures and tables choose their runs.  The analysis holds the
run directory's lock while it reads the snapshots (:class:`eoslab.rundir.RunLock`),
so it never reads a run a trainer is still writing; a snapshot that cannot be
read stops it with an error naming the file and the run.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from ... import __version__
from ...arrays import DataFileError, load_arrays
from ...criteria import get_criterion
from ...datasets.pools import card_path
from ...io import read_json, write_json, write_parquet
from ...metrics import TABLE_COLUMNS, MetricSettings, analyze_snapshot, typed_table
from ...rundir import RunPaths
from ...settings import config_from_dict, option
from ...training import FINISHED_STATUSES, load_snapshot, resolve_device

#: Training statuses the analysis accepts without --allow-unfinished: finished runs and diverged ones
#: (analysed up to their last finite snapshot).
ANALYSABLE_STATUSES = FINISHED_STATUSES + ("diverged",)

log = logging.getLogger(__name__)

#: The analysis table is the engine's tidy metrics table (:data:`eoslab.metrics.TABLE_COLUMNS`).
COLUMNS = TABLE_COLUMNS

@dataclass
class AnalysisConfig(MetricSettings):
    """Settings of the snapshot analysis of a run (stored in the output's JSON card)."""

    allow_unfinished: bool = option(False, "also analyse runs whose status is not converged / max_iterations / "
                                    "diverged (e.g. interrupted: the snapshots written so far)")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "AnalysisConfig":
        return config_from_dict(cls, values, "analysis")


def run_metadata(run_dir: str | os.PathLike, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """``dataset, criterion, size, subset_seed, init_seed`` and the data path of a run.

    ``criterion`` and ``init_seed`` come from ``run.json``; ``dataset``, ``size``
    and ``subset_seed`` from the JSON card written next to the run's data file
    by ``eoslab data subset``.  ``overrides`` (non-``None`` values) win.
    """
    paths = RunPaths(run_dir)
    if not paths.run.exists():
        raise DataFileError(f"{paths.run} not found: {run_dir} is not a training run directory "
                            f"(expected run.json, log.parquet, snapshots/ from 'eoslab train')")
    run = read_json(paths.run)
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    data = overrides.get("data", run.get("data"))
    meta = {"criterion": run["criterion"], "init_seed": int(run["init_seed"]), "data": data,
            "dataset": None, "size": int(run.get("num_samples", 0)) or None, "subset_seed": None}
    card = card_path(data) if data else None
    if card is not None and card.exists():
        info = read_json(card)
        meta.update({"dataset": info.get("dataset"), "size": info.get("size", meta["size"]),
                     "subset_seed": info.get("subset_seed")})
    meta.update(overrides)
    missing = [key for key in ("dataset", "size", "subset_seed") if meta.get(key) is None]
    if missing:
        raise DataFileError(f"cannot tell {missing} of run {run_dir}: the data card {card} is missing or lacks "
                            f"them; pass them explicitly (eoslab analyze --dataset/--size/--subset-seed)")
    return meta


PRUNED = "PRUNED.json"


def snapshot_paths(run_dir: str | os.PathLike) -> list[Path]:
    pruned = RunPaths(run_dir).snapshots / PRUNED
    if pruned.exists():
        raise DataFileError(f"the snapshots of {run_dir} were pruned after an earlier analysis ({pruned}); "
                            f"retrain the run (remove {run_dir}) to analyse it again")
    paths = sorted(RunPaths(run_dir).snapshots.glob("*.pt"))
    if not paths:
        raise DataFileError(f"no snapshots in {RunPaths(run_dir).snapshots}; was the run trained with "
                            f"snapshots kept?")
    return paths


def prune_snapshots(run_dir: str | os.PathLike, analysis: str | os.PathLike) -> int:
    """Delete every snapshot but the first and the last (after the analysis is written).

    A ``PRUNED.json`` marker records what was removed and which table holds the
    results, and stops a later analysis from silently using the remaining two.
    """
    with RunPaths(run_dir).lock("prune snapshots"):
        return _prune_locked(run_dir, analysis)


def _prune_locked(run_dir, analysis) -> int:
    paths = snapshot_paths(run_dir)
    doomed = paths[1:-1]
    write_json(RunPaths(run_dir).snapshots / PRUNED, {"analysis": os.path.abspath(analysis),
                                                      "removed": [p.name for p in doomed],
                                                      "kept": [paths[0].name, paths[-1].name]})
    for path in doomed:
        path.unlink()
    return len(doomed)


def frame_from_rows(meta: dict[str, Any], iteration: int, t: float,
                    rows: list[tuple[str, int | None, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["metric", "layer", "value"])
    frame.insert(0, "t", float(t))
    frame.insert(0, "iteration", int(iteration))
    for key in ("init_seed", "subset_seed", "size", "criterion", "dataset"):
        frame.insert(0, key, meta[key])
    return typed(frame)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The analysis schema's column types (:func:`eoslab.metrics.typed_table`)."""
    return typed_table(frame)


def analyze_run(run_dir: str | os.PathLike, out: str | os.PathLike, config: AnalysisConfig | None = None,
                metadata: dict[str, Any] | None = None, progress: bool = True) -> pd.DataFrame:
    """Analyse every snapshot of ``run_dir``; write ``out`` (parquet) and ``out`` with ``.json`` (card).
    Holds the run's lock meanwhile (:class:`eoslab.rundir.RunBusyError` if a trainer has it)."""
    config = config or AnalysisConfig()
    config.validate()
    paths = RunPaths(run_dir)
    meta = run_metadata(run_dir, metadata)
    with paths.lock("analyze"):
        return _analyze_locked(paths, run_dir, out, config, meta, progress)


def _load_snapshot(path: Path, run_dir, device):
    try:
        return load_snapshot(path, device=device)
    except Exception as error:  # truncated zip, bad pickle, missing keys: all mean unreadable
        text = str(error).strip().splitlines()[0][:200] if str(error).strip() else "(no message)"
        raise DataFileError(f"snapshot {path} of run {run_dir} is unreadable ({type(error).__name__}: {text}); "
                            f"retrain the run (remove {run_dir}) or delete that snapshot to analyse the others"
                            ) from error


def _analyze_locked(paths: RunPaths, run_dir, out, config: AnalysisConfig, meta: dict[str, Any],
                    progress: bool) -> pd.DataFrame:
    status = read_json(paths.status) if paths.status.exists() else {"status": "unknown"}
    if status.get("status") not in ANALYSABLE_STATUSES and not config.allow_unfinished:
        raise DataFileError(f"run {run_dir} has status {status.get('status')!r}, not one of {ANALYSABLE_STATUSES}; "
                            f"finish training first (or pass --allow-unfinished)")
    snapshots = snapshot_paths(run_dir)
    if not meta["data"] or not Path(meta["data"]).exists():
        raise DataFileError(f"the training data {meta['data']!r} of run {run_dir} is missing "
                            f"(pass --data to point at a moved file)")
    data = load_arrays(meta["data"])
    device = resolve_device(config.device)
    criterion = get_criterion(meta["criterion"])
    generator = torch.Generator().manual_seed(config.eig_seed)
    out = Path(out)
    partial = PartialResults(out, {"run": os.path.abspath(run_dir), "config": dataclasses.asdict(config),
                                   "meta": {k: meta[k] for k in ("dataset", "criterion", "size", "subset_seed",
                                                                 "init_seed")}})
    frames, cards, skipped, warm = [], [], [], None
    started = time.time()
    X = y = None
    for path in tqdm(snapshots, desc=f"analyze {paths.root.name}", disable=not progress, dynamic_ncols=True):
        done = partial.load(path.stem)
        if done is not None:
            frames.append(done[0])
            cards.append(done[1])
            continue
        model, snapshot = _load_snapshot(path, run_dir, device)
        diverged_here = status.get("status") == "diverged" and int(snapshot["iteration"]) >= int(
            status.get("iteration", 1 << 62))
        if diverged_here or not all(torch.isfinite(p).all() for p in model.parameters()):
            skipped.append({"snapshot": path.name, "iteration": int(snapshot["iteration"]),
                            "reason": "the loss is not finite here (the run diverged)" if diverged_here
                            else "non-finite weights"})
            log.warning("%s: left out (%s)", path.name, skipped[-1]["reason"])
            continue
        if X is None:
            dtype = next(model.parameters()).dtype
            X = torch.as_tensor(data.X, dtype=dtype, device=device)
            y = torch.as_tensor(data.y, device=device)
        tick = time.time()
        rows, warm, diagnostics = analyze_snapshot(model, criterion, X, y, config, warm, generator)
        frames.append(frame_from_rows(meta, snapshot["iteration"], snapshot["t"], rows))
        cards.append({"snapshot": path.name, "iteration": int(snapshot["iteration"]), "t": float(snapshot["t"]),
                      "seconds": time.time() - tick, **diagnostics})
        partial.save(path.stem, frames[-1], cards[-1])
        log.debug("%s: %.1f s", path.name, time.time() - tick)
    if not frames:
        raise DataFileError(f"run {run_dir} has no snapshot with finite weights and loss to analyse")
    frame = pd.concat(frames, ignore_index=True)
    write_json(out.with_suffix(".json"), {
        "run": os.path.abspath(run_dir), **{k: meta[k] for k in ("dataset", "criterion", "size", "subset_seed",
                                                                    "init_seed", "data")},
        "status": status.get("status", "unknown"), "status_message": status.get("message"),
        "final_iteration": status.get("iteration"), "skipped_snapshots": skipped,
        "config": dataclasses.asdict(config), "device": str(device), "eoslab_version": __version__,
        "torch_version": torch.__version__, "seconds": time.time() - started, "snapshots": cards})
    write_parquet(out, frame)
    partial.remove()
    return frame


class PartialResults:
    """Per-snapshot results of an unfinished analysis, so a killed job resumes where it stopped.

    They live in ``OUT.partial/`` (one parquet + JSON per snapshot, written
    atomically), next to — not inside — the declared output, so Snakemake does
    not delete them before a rerun.  ``identity`` (run, configuration, run keys)
    must match, otherwise the directory is discarded.  Resumed snapshots start
    the eigensolvers cold, which changes results only within their tolerances.
    """

    def __init__(self, out: Path, identity: dict[str, Any]):
        self.root = out.with_name(out.name + ".partial")
        marker = self.root / "identity.json"
        if self.root.exists() and (not marker.exists() or read_json(marker) != json.loads(json.dumps(identity))):
            log.warning("discarding %s: it belongs to a different analysis", self.root)
            shutil.rmtree(self.root)
        if not marker.exists():
            write_json(marker, identity)

    def load(self, stem: str) -> tuple[pd.DataFrame, dict] | None:
        table, card = self.root / f"{stem}.parquet", self.root / f"{stem}.json"
        if not (table.exists() and card.exists()):
            return None
        log.info("snapshot %s: reusing %s", stem, table)
        return typed(pd.read_parquet(table)), read_json(card)

    def save(self, stem: str, frame: pd.DataFrame, card: dict) -> None:
        write_parquet(self.root / f"{stem}.parquet", frame)
        write_json(self.root / f"{stem}.json", card)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

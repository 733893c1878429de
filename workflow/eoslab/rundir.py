"""One layout of a run directory, shared by every trainer (the paper's flow trainer, the SAM runs):

    run.json              the resolved settings, data sha256, versions
    log.parquet           one row per iteration / step
    status.json           running / converged / max_iterations / finished / diverged / interrupted / failed
    checkpoint.pt         the state to resume from, while the run is unfinished
    snapshots/NNNNNNN.pt  weights at chosen iterations (the flow trainer)
    final.pt              the last weights (the SAM runs, which keep no snapshots)
    .lock                 the owner's lock (fcntl.flock) and its PID and host, see RunLock

A trainer uses the entries it needs; the names never differ between studies.

One owner per run directory: whoever writes into a run (its trainer, the analysis of it) holds
:class:`RunLock` on ``.lock`` for as long as it works.  The lock is an ``flock`` on an open file,
so the operating system releases it when the process ends in any way (SIGKILL included): there
are no stale locks to clean up.  A second process on the same run stops at once with
:class:`RunBusyError`, naming the run and the holder's PID and host (the workflow then exits 2).
This is what stops a trainer that a SIGKILLed Snakemake left running from sharing its run with
the one a rerun starts (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from .settings import ConfigError


class RunBusyError(ConfigError):
    """Another process holds the run directory's lock (bad input: exit status 2)."""


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``RUN/.lock``, released when closed or when the
    process dies.  The file holds the holder's ``{"pid", "host", "since", "purpose"}`` for messages;
    its content is advisory, the ``flock`` is what excludes.

    Also records whether the previous holder ended without releasing it cleanly (``previous``: the
    content it left, when the file named another process), which a trainer uses to tell that the
    process that wrote ``status: running`` has died."""

    def __init__(self, root: str | os.PathLike, purpose: str = "train"):
        self.root = Path(root)
        self.path = self.root / ".lock"
        self.purpose = purpose
        self.handle = None
        self.previous: dict | None = None

    @staticmethod
    def holder(path: str | os.PathLike) -> dict:
        try:
            return json.loads(Path(path).read_text() or "{}")
        except (OSError, ValueError):
            return {}

    @classmethod
    def held_by(cls, root: str | os.PathLike) -> dict | None:
        """The holder (``{"pid", "host", ...}``) if some process holds the lock of run ``root``, else None.
        Creates nothing."""
        path = Path(root) / ".lock"
        if not path.exists():
            return None
        with open(path) as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return cls.holder(path) or {"pid": "?", "host": "?"}
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return None

    def acquire(self) -> "RunLock":
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self.holder(self.path)
            handle.close()
            who = (f"PID {holder.get('pid', '?')} on host {holder.get('host', '?')}"
                   + (f" ({holder['purpose']} since {holder['since']})" if holder.get("since") else ""))
            raise RunBusyError(
                f"run {self.root} is in use by another process: {who}. One process per run directory: "
                f"wait for it, or end it (a killed Snakemake leaves its jobs running: kill its process group, "
                f"kill -- -PGID, or scancel the SLURM job) and rerun") from None
        self.previous = self.holder(self.path) or None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose,
                                 "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}) + "\n")
        handle.flush()
        self.handle = handle
        return self

    def release(self) -> None:
        if self.handle is not None:
            # Empty the file first: a lock file with content but no holder means its owner died.
            with contextlib.suppress(OSError):
                self.handle.seek(0)
                self.handle.truncate()
                self.handle.flush()
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@dataclass
class RunPaths:
    """The files of one run directory ``root`` (nothing is created)."""

    root: Path
    run: Path = field(init=False)
    log: Path = field(init=False)
    status: Path = field(init=False)
    checkpoint: Path = field(init=False)
    snapshots: Path = field(init=False)
    final: Path = field(init=False)
    lock_file: Path = field(init=False)

    def __post_init__(self):
        self.root = Path(self.root)
        self.run = self.root / "run.json"
        self.log = self.root / "log.parquet"
        self.status = self.root / "status.json"
        self.checkpoint = self.root / "checkpoint.pt"
        self.snapshots = self.root / "snapshots"
        self.final = self.root / "final.pt"
        self.lock_file = self.root / ".lock"

    def snapshot(self, iteration: int) -> Path:
        return self.snapshots / f"{iteration:07d}.pt"

    def lock(self, purpose: str = "train") -> RunLock:
        """The run's :class:`RunLock` (``with paths.lock(): ...``); raises :class:`RunBusyError` if
        another process holds it."""
        return RunLock(self.root, purpose)

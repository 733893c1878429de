"""One layout of a run directory, shared by every trainer (the paper's flow trainer, the SAM runs):

    run.json              the resolved settings, data sha256, versions
    log.parquet           one row per iteration / step
    status.json           running / converged / max_iterations / finished / diverged / interrupted / failed
    checkpoint.pt         the state to resume from, while the run is unfinished
    snapshots/NNNNNNN.pt  weights at chosen iterations (the flow trainer)
    final.pt              the last weights (the SAM runs, which keep no snapshots)

A trainer uses the entries it needs; the names never differ between studies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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

    def __post_init__(self):
        self.root = Path(self.root)
        self.run = self.root / "run.json"
        self.log = self.root / "log.parquet"
        self.status = self.root / "status.json"
        self.checkpoint = self.root / "checkpoint.pt"
        self.snapshots = self.root / "snapshots"
        self.final = self.root / "final.pt"

    def snapshot(self, iteration: int) -> Path:
        return self.snapshots / f"{iteration:07d}.pt"

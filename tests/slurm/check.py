"""Helpers of tests/slurm/run_tests.sh: the test configs, the comparison of a SLURM run with a local
run, and the sacct check.  Each subcommand exits non-zero with a message naming what differs.

  python tests/slurm/check.py study-config SRC STUDY RESULTS OUT   # one study's section of SRC
  python tests/slurm/check.py compare LOCAL SLURM                  # outputs of two runs of a config
  python tests/slurm/check.py sacct SNAKEMAKE_LOG EXPECTED         # each submitted job COMPLETED
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

# Fields of status.json / finished.json / cards that are clocks or processes, not results (the data
# card's generation_seconds and the trainer's pid were the ones that differed in the real run).
VOLATILE_KEYS = {"wall_seconds", "seconds", "generation_seconds", "elapsed", "created", "started", "finished_at",
                 "host", "hostname", "pid"}


def fail(message: str) -> None:
    print(f"check.py: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def study_config(src: str, study: str, results: str, out: str) -> None:
    config = yaml.safe_load(Path(src).read_text())
    if study not in config:
        fail(f"{src} has no section {study!r}")
    write_atomic(Path(out), yaml.safe_dump({"results": results, study: config[study]}, sort_keys=False))


def _strip(value, root_a: str, root_b: str):
    """A JSON value without clock fields, with the two results roots made equal."""
    if isinstance(value, dict):
        stripped = {k: _strip(v, root_a, root_b) for k, v in value.items() if k not in VOLATILE_KEYS}
        if isinstance(stripped.get("threadpools"), list):
            # run.json's BLAS/OpenMP pools come in the order the libraries were loaded, which varied
            # between runs of one job (openblas, openmp / openmp, openblas): compare them as a set.
            stripped["threadpools"] = sorted(stripped["threadpools"], key=lambda pool: json.dumps(pool, sort_keys=True))
        return stripped
    if isinstance(value, list):
        return [_strip(v, root_a, root_b) for v in value]
    if isinstance(value, str):
        return value.replace(root_b, root_a)
    return value


def _first_difference(x, y, path: str = "") -> str:
    """Where two JSON values first differ, as 'path: value != value'."""
    if isinstance(x, dict) and isinstance(y, dict):
        for key in sorted(set(x) | set(y)):
            if key not in x or key not in y:
                return f"{path}/{key}: only in {'the first' if key in x else 'the second'}"
            if x[key] != y[key]:
                return _first_difference(x[key], y[key], f"{path}/{key}")
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for i, (u, v) in enumerate(zip(x, y)):
            if u != v:
                return _first_difference(u, v, f"{path}[{i}]")
    return f"{path or '/'}: {str(x)[:200]} != {str(y)[:200]}"


def compare(local: str, slurm: str) -> None:
    a, b = Path(local), Path(slurm)
    # Logs, benchmarks and the report differ by design (times, paths); everything else must match.
    skip = ("logs", "benchmarks")
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file() and not set(p.relative_to(a).parts) & set(skip))
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file() and not set(p.relative_to(b).parts) & set(skip))
    if files_a != files_b:
        only_a = sorted(set(files_a) - set(files_b))[:10]
        only_b = sorted(set(files_b) - set(files_a))[:10]
        fail(f"different files: only in {a}: {only_a}; only in {b}: {only_b}")
    counts = {"parquet": 0, "csv": 0, "json": 0, "other": 0}
    for rel in files_a:
        pa, pb = a / rel, b / rel
        suffix = rel.suffix
        if suffix == ".parquet":
            fa, fb = pd.read_parquet(pa), pd.read_parquet(pb)
            try:
                pd.testing.assert_frame_equal(fa, fb, check_exact=True)
            except AssertionError as error:
                fail(f"{rel}: frames differ: {error}")
            counts["parquet"] += 1
        elif suffix in (".csv", ".md", ".tex"):
            if pa.read_text() != pb.read_text().replace(str(b), str(a)):
                fail(f"{rel}: tables differ")
            counts["csv"] += 1
        elif suffix == ".json":
            ja = _strip(json.loads(pa.read_text()), str(a), str(b))
            jb = _strip(json.loads(pb.read_text()), str(a), str(b))
            if ja != jb:
                fail(f"{rel}: JSON differs: {_first_difference(ja, jb)}")
            counts["json"] += 1
        else:
            counts["other"] += 1  # figures (PDF/PNG carry timestamps), npz data, checkpoints: presence only
    logs = [rel for rel in files_a if rel.name == "log.parquet"]
    if not logs:
        fail(f"no training log.parquet under {a}")
    print(f"check.py: {a} and {b} agree: {len(files_a)} files, {len(logs)} training logs (log.parquet) "
          f"identical to the last bit, {counts['parquet']} parquet frames exactly equal, {counts['csv']} "
          f"tables identical, {counts['json']} JSON files equal but for clocks, {counts['other']} other files present in both")


def sacct(log: str, expected: str) -> None:
    text = Path(log).read_text()
    ids = re.findall(r"has been submitted with SLURM jobid (\d+)", text)
    if not ids:
        fail(f"{log} shows no SLURM submission")
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", "2000-01-01", "-o", "JobID,State,Partition",
                          "-j", ",".join(ids)], check=True, capture_output=True, text=True).stdout
    states = {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines() if line}
    missing = [i for i in ids if i not in states]
    if missing:
        fail(f"sacct does not list the submitted jobs {missing}")
    bad = {i: states[i][0] for i in ids if states[i][0] != "COMPLETED"}
    if bad:
        fail(f"sacct: jobs not COMPLETED: {bad}")
    if len(set(ids)) != int(expected):
        fail(f"{len(set(ids))} jobs were submitted to SLURM, the dry run says Snakemake runs {expected}")
    partitions = sorted({states[i][1] for i in ids})
    print(f"check.py: sacct lists {len(set(ids))} jobs, one per job Snakemake ran ({expected}), all COMPLETED "
          f"(partitions: {', '.join(partitions)})")


if __name__ == "__main__":
    commands = {"study-config": (study_config, 4), "compare": (compare, 2), "sacct": (sacct, 2)}
    if len(sys.argv) < 2 or sys.argv[1] not in commands or len(sys.argv) - 2 != commands[sys.argv[1]][1]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    commands[sys.argv[1]][0](*sys.argv[2:])

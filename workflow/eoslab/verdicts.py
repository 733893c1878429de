"""One claims table for every study, and the one rule that turns a measured number into a verdict.

A *claim* is one quantitative statement of a paper.  Its row in ``tables/claims.{csv,md}`` holds:

* what the paper says, in its own words (``statement``: "an order of magnitude smaller",
  "as much as ×5.45", "≤ 9.9%") and the paper's number where it gives one (``paper_value``);
* the measured quantity (``quantity``) summarised over runs: ``n``, ``median``, ``min``, ``max``,
  ``mean``, ``sem`` (standard error of the mean, n ≥ 2), and the ``measured`` value the rule reads
  (``statistic``: the median unless the statement is about an extreme, e.g. "as much as" → max);
* the rule written out (``rule``), the configuration (``config``) and the runs (``runs``) the
  numbers came from, and a ``note`` (why runs were left out, what a reading assumes);
* the ``verdict``, computed by :func:`verdict`, never written by hand:

  - ``reproduced``: the measured value satisfies the statement as written
    (``measured ∈ reproduced_if``; with ``every_run``, every run's value does);
  - ``partial``: same direction, magnitude short of the statement (``measured ∈ partial_if``;
    with ``every_run``, the statistic satisfies ``reproduced_if`` but not every run does);
  - ``not reproduced``: contradicts it (neither);
  - ``not run``: the configuration lacks the experiment (no measured value).

An :class:`Interval` is closed; ``at_least(0.9)``, ``at_most(0.1)``, ``between(0.9, 1.1)``.
A claim whose statement has no "same direction" weaker form has ``partial_if=None``.

No Snakemake inside; each study's ``claims`` module builds its :class:`Claim` list and its
measured values, and calls :func:`claims_frame` and :func:`write_claims`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from .io import atomic_write

VERDICTS = ("reproduced", "partial", "not reproduced", "not run")
STATISTICS = ("median", "mean", "min", "max")
CLAIM_COLUMNS = ["study", "claim", "section", "statement", "paper_value", "quantity", "statistic", "measured",
                 "n", "median", "min", "max", "mean", "sem", "rule", "verdict", "config", "runs", "note"]


@dataclass(frozen=True)
class Interval:
    """The closed interval ``[low, high]`` (either end may be infinite)."""

    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self):
        if not self.low <= self.high:
            raise ValueError(f"empty interval [{self.low}, {self.high}]")

    def __contains__(self, value: float) -> bool:
        return value is not None and not math.isnan(value) and self.low <= value <= self.high

    def text(self) -> str:
        if math.isinf(self.low) and math.isinf(self.high):
            return "any value"
        if math.isinf(self.low):
            return f"≤ {self.high:.4g}"
        if math.isinf(self.high):
            return f"≥ {self.low:.4g}"
        return f"in [{self.low:.4g}, {self.high:.4g}]"


def at_least(low: float) -> Interval:
    return Interval(low=low)


def at_most(high: float) -> Interval:
    return Interval(high=high)


def between(low: float, high: float) -> Interval:
    return Interval(low=low, high=high)


@dataclass(frozen=True)
class Claim:
    """One quantitative statement of a paper and the rule that judges a measurement of it."""

    claim: str                      # short id, unique within the study, e.g. "sam_vs_gd_sharpness"
    section: str                    # where the paper says it, e.g. "§4.1, Fig. 2"
    statement: str                  # the paper's words for the quantity
    quantity: str                   # what is measured, with its formula or definition
    reproduced_if: Interval
    partial_if: Interval | None = None
    paper_value: float | None = None
    statistic: str = "median"
    every_run: bool = False         # the statement is about every run ("in all runs ...")

    def __post_init__(self):
        if self.statistic not in STATISTICS:
            raise ValueError(f"claim {self.claim!r}: statistic must be one of {STATISTICS}, got {self.statistic!r}")
        if self.partial_if is not None and not (self.partial_if.low <= self.reproduced_if.low
                                                and self.reproduced_if.high <= self.partial_if.high):
            raise ValueError(f"claim {self.claim!r}: partial_if {self.partial_if} must contain reproduced_if "
                             f"{self.reproduced_if} (a reproduced value is also in the same direction)")

    def rule_text(self) -> str:
        subject = f"every run {self.reproduced_if.text()}" if self.every_run else \
            f"{self.statistic} {self.reproduced_if.text()}"
        text = f"reproduced if {subject}"
        if self.every_run:
            weaker = self.reproduced_if if self.partial_if is None else self.partial_if
            text += f"; partial if the {self.statistic} {weaker.text()}"
        elif self.partial_if is not None:
            text += f"; partial if {self.statistic} {self.partial_if.text()}"
        return text


@dataclass
class Summary:
    """A measured quantity over runs."""

    values: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __post_init__(self):
        values = np.asarray(self.values, dtype=float).ravel()
        self.values = values[~np.isnan(values)]

    @property
    def n(self) -> int:
        return int(self.values.size)

    def statistic(self, name: str) -> float:
        if self.n == 0:
            return math.nan
        return float({"median": np.median, "mean": np.mean, "min": np.min, "max": np.max}[name](self.values))

    @property
    def sem(self) -> float:
        return float(np.std(self.values, ddof=1) / math.sqrt(self.n)) if self.n >= 2 else math.nan


def verdict(claim: Claim, values: Sequence[float] | np.ndarray) -> str:
    """The verdict on ``claim`` for the measured per-run ``values`` (NaNs dropped): see the module text."""
    summary = Summary(values)
    return judge(claim, summary.statistic(claim.statistic), summary.statistic("min"), summary.statistic("max"),
                 summary.n)


def judge(claim: Claim, measured: float, minimum: float, maximum: float, n: int) -> str:
    """The verdict from a summary (the statistic the claim reads, the range over runs and their number):
    what :func:`verdict` computes, and what a stored claims row can be re-judged from (intervals are
    convex, so "every run inside" is "min and max inside")."""
    if n == 0 or measured is None or math.isnan(measured):
        return "not run"
    if claim.every_run:
        if minimum in claim.reproduced_if and maximum in claim.reproduced_if:
            return "reproduced"
        if measured in claim.reproduced_if or (claim.partial_if is not None and measured in claim.partial_if):
            return "partial"
        return "not reproduced"
    if measured in claim.reproduced_if:
        return "reproduced"
    if claim.partial_if is not None and measured in claim.partial_if:
        return "partial"
    return "not reproduced"


def claim_row(study: str, claim: Claim, values: Iterable[float], *, config: str, runs: str = "",
              note: str = "") -> dict:
    """One row of the claims table: the statement, the summary of ``values`` and the computed verdict."""
    summary = Summary(np.fromiter((math.nan if v is None else float(v) for v in values), dtype=float))
    result = verdict(claim, summary.values)
    if result == "not run" and not note:
        note = "no measured value in this configuration"
    return {
        "study": study, "claim": claim.claim, "section": claim.section, "statement": claim.statement,
        "paper_value": math.nan if claim.paper_value is None else float(claim.paper_value),
        "quantity": claim.quantity, "statistic": claim.statistic, "measured": summary.statistic(claim.statistic),
        "n": summary.n, "median": summary.statistic("median"), "min": summary.statistic("min"),
        "max": summary.statistic("max"), "mean": summary.statistic("mean"), "sem": summary.sem,
        "rule": claim.rule_text(), "verdict": result, "config": config, "runs": runs, "note": note,
    }


def claims_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """The claims table in the shared column order (checks the verdicts are the rule's words)."""
    frame = pd.DataFrame(list(rows), columns=CLAIM_COLUMNS)
    bad = set(frame["verdict"]) - set(VERDICTS)
    if bad:
        raise ValueError(f"claims table has verdicts {sorted(bad)}; expected one of {VERDICTS}")
    if frame["claim"].duplicated().any():
        raise ValueError(f"claims table repeats claim ids {sorted(frame.loc[frame['claim'].duplicated(), 'claim'])}")
    return frame


def _number(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.3g}"


def claims_markdown(frame: pd.DataFrame) -> str:
    """The claims table as Markdown: statement, paper, measured (median [min, max], n), verdict, rule, note."""
    lines = ["| claim | paper says | paper | measured (statistic) | median [min, max] | n | verdict | rule | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in frame.to_dict("records"):
        spread = (f"{_number(row['median'])} [{_number(row['min'])}, {_number(row['max'])}]"
                  if row["n"] else "—")
        lines.append(
            f"| `{row['claim']}` ({row['section']}) | {row['statement']} | {_number(row['paper_value'])} "
            f"| {_number(row['measured'])} ({row['statistic']} of {row['quantity']}) | {spread} | {row['n']} "
            f"| **{row['verdict']}** | {row['rule']} | {row['note'] or ''} |")
    counts = frame["verdict"].value_counts()
    lines += ["", "Verdicts: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + "."]
    return "\n".join(lines) + "\n"


def write_claims(frame: pd.DataFrame, csv_path: str | os.PathLike, md_path: str | os.PathLike | None = None,
                 title: str | None = None) -> None:
    """Write ``claims.csv`` (and ``claims.md`` with an optional title line), each atomically."""
    atomic_write(csv_path, lambda tmp: frame.to_csv(tmp, index=False))
    if md_path is not None:
        text = (f"# {title}\n\n" if title else "") + claims_markdown(frame)
        atomic_write(md_path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_claims(path: str | os.PathLike) -> pd.DataFrame:
    """Read a claims CSV back (notes and runs as strings)."""
    frame = pd.read_csv(path, dtype={"note": str, "runs": str, "config": str}, keep_default_na=False,
                        na_values={c: [""] for c in CLAIM_COLUMNS if c not in ("note", "runs", "config")})
    missing = set(CLAIM_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: not a claims table, missing columns {sorted(missing)}")
    return frame[CLAIM_COLUMNS]


#: Each study's docs page, which carries its CPU claims table (docs/claims/README.md).
CLAIMS_PAGES = {"jacobian_alignment": "docs/reproduction.md", "sam_edge": "docs/sam_edge.md",
                "stochastic_eos": "docs/stochastic_eos.md", "layerwise_sharpness": "docs/layerwise_sharpness.md"}


def claims_block_markers(study: str) -> tuple[str, str]:
    """The markers around a docs page's CPU claims table (docs/claims/README.md)."""
    return f"<!-- claims: config/cpu/{study}.yaml -->", "<!-- /claims -->"


def with_claims_block(page: str, study: str, frame: pd.DataFrame) -> str:
    """``page`` with its claims block replaced by ``frame`` rendered by :func:`claims_markdown`.

    A page with the marker ``<!-- claims pending: config/cpu/STUDY.yaml -->`` gets the block in its place;
    a page with neither gets it appended under a heading ``## Claims at CPU scale``; a page with
    a begin marker and no end marker is refused (``ValueError``) rather than guessed at."""
    begin, end = claims_block_markers(study)
    block = f"{begin}\n{claims_markdown(frame)}{end}"
    pending = f"<!-- claims pending: config/cpu/{study}.yaml -->"
    if begin not in page and pending in page:      # the table takes the place the page kept for it
        return page.replace(pending, block, 1)
    if begin not in page:
        return page.rstrip("\n") + f"\n\n## Claims at CPU scale\n\n{block}\n"
    head, rest = page.split(begin, 1)
    if end not in rest:
        raise ValueError(f"the page has {begin} but no {end} after it")
    return head + block + rest.split(end, 1)[1]

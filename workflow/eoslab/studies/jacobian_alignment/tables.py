"""Tables 1–3 and the claims table as CSV, Markdown and (Table 2) LaTeX files."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from .aggregate import RUN_KEYS, with_status
from ...io import atomic_write

#: Table 1 of the paper: (dataset, criterion) → (sizes, number of experiments).
PAPER_TABLE1 = {
    ("dice", "cross_entropy"): ([468, 937, 1875, 3750, 7500], 80),
    ("cifar10", "cross_entropy"): ([390, 781, 1562, 3125, 6250], 80),
    ("cifar10", "mse"): ([390, 781, 1562, 3125], 64),
    ("atrial_fibrillation", "cross_entropy"): ([60, 120, 240, 480, 960], 80),
    ("sst", "cross_entropy"): ([461, 922, 1844, 3689], 64),
}


def table1(frame: pd.DataFrame) -> pd.DataFrame:
    """Configurations actually run (from the aggregated analysis), beside the paper's Table 1."""
    runs = with_status(frame).drop_duplicates(RUN_KEYS)[RUN_KEYS + ["status"]]
    rows = []
    for (dataset, criterion), group in runs.groupby(["dataset", "criterion"], sort=False):
        paper_sizes, paper_runs = PAPER_TABLE1.get((dataset, criterion), ([], 0))
        rows.append({"dataset": dataset, "criterion": criterion,
                     "sizes": " ".join(str(s) for s in sorted(group["size"].unique())),
                     "subset_seeds": group["subset_seed"].nunique(), "init_seeds": group["init_seed"].nunique(),
                     "runs": len(group), "paper_sizes": " ".join(map(str, paper_sizes)), "paper_runs": paper_runs,
                     **{status: int((group["status"] == status).sum())
                        for status in ("converged", "max_iterations", "diverged")}})
    return pd.DataFrame(rows)


def status_notes(frame: pd.DataFrame) -> list[str]:
    """One line per data set × criterion whose runs did not all converge: which were used, which left out."""
    from .aggregate import usable_runs

    notes = []
    for (dataset, criterion), combo in frame.groupby(["dataset", "criterion"], sort=False):
        note = usable_runs(combo)[1]
        if note:
            notes.append(f"{dataset}/{criterion}: {note}")
    return notes


def table3() -> pd.DataFrame:
    """Table 3: the dice generator's parameter ranges (from the generator itself)."""
    from ...datasets.dice import PARAMETER_RANGES

    return pd.DataFrame([{"class": name, "parameter": parameter, "min": low, "max": high}
                         for name, ranges in PARAMETER_RANGES.items() for parameter, (low, high) in ranges.items()])


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _markdown_cell(value) -> str:
    """A cell of a Markdown (GFM) table: ``|`` would end the cell, so it is escaped; line breaks are spaces."""
    return _cell(value).replace("|", r"\|").replace("\n", " ")


def to_markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(_markdown_cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


#: LaTeX's special characters in text mode and what prints them.
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#", "$": r"\$",
                  "{": r"\{", "}": r"\}", "^": r"\textasciicircum{}", "~": r"\textasciitilde{}"}


def latex_escape(text: str) -> str:
    """Plain text → LaTeX text mode (every special character escaped)."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(frame: pd.DataFrame, caption: str = "", caption_latex: str | None = None) -> str:
    """A ``tabular`` in a ``table``; ``caption`` is plain text (escaped), ``caption_latex`` is already LaTeX."""
    escape = latex_escape

    lines = [r"\begin{table}", r"\centering", r"\begin{tabular}{" + "l" * len(frame.columns) + "}", r"\hline",
             " & ".join(escape(str(c)) for c in frame.columns) + r" \\", r"\hline"]
    lines += [" & ".join(escape(_cell(v)) for v in row) + r" \\" for row in frame.itertuples(index=False)]
    lines += [r"\hline", r"\end{tabular}"]
    if caption_latex or caption:
        lines.append(r"\caption{" + (caption_latex or escape(caption)) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_table(frame: pd.DataFrame, stem: str | os.PathLike, latex: bool = False, title: str = "",
                latex_title: str | None = None, notes: list[str] | None = None) -> list[Path]:
    """``stem.csv`` and ``stem.md`` (and ``stem.tex``, captioned by ``latex_title`` if given, else the
    escaped ``title``), each written atomically; ``notes`` (which runs were used and why others were left
    out) follow the Markdown table and end the LaTeX caption."""
    paths = [atomic_write(f"{stem}.csv", lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6g"))]
    markdown = (f"# {title}\n\n" if title else "") + to_markdown(frame)
    if notes:
        markdown += "\n" + "".join(f"Note: {note}\n\n" for note in notes)
        title = f"{title}. " + " ".join(notes) if title else " ".join(notes)
        if latex_title:
            latex_title = f"{latex_title}. " + latex_escape(" ".join(notes))
    paths.append(atomic_write(f"{stem}.md", lambda tmp: Path(tmp).write_text(markdown)))
    if latex:
        tex = to_latex(frame, caption=title, caption_latex=latex_title)
        paths.append(atomic_write(f"{stem}.tex", lambda tmp: Path(tmp).write_text(tex)))
    return paths

"""§4's statements as numbers, per run and per statement.

Per run (``claims.csv``), over the *final window* — the last ``final_fraction`` of the steps at
which the eigenvalues were computed — as medians (robust to the edge-of-stability oscillation):

* ``lambda1``: ``|λ₁|``; ``sam_edge``: ``S(η, ρ, ‖g‖)`` at those steps; ``lambda1_over_sam_edge``:
  the median of ``|λ₁| / S`` step by step (SAM runs; ≈ 1 when SAM is at its edge);
  ``lambda1_over_gd_edge``: the median of ``|λ₁| / (2/η)`` (≈ 1 when GD is at its edge);
* ``lambda1_over_gd_run``: ``lambda1`` of this run over that of the ρ = 0 run with the same η;
* ``lambda3_over_lambda1``: how close the top three are (the paper: "very close" under SAM);
* ``align_gradient`` / ``align_ascent``: medians of ``|cos(∇ℓ(w), v₁)|`` and
  ``|cos(∇ℓ(w + ρĝ), v₁)|``; ``ascent_better_aligned``: the fraction of window steps at which the
  gradient SAM steps along is the better aligned one, and ``better_aligned`` names the winner;
* ``sam_edge_change``: the window's median SAM-edge over that of the first window-sized stretch
  of steps (< 1: the edge fell as the gradients shrank); ``final_loss``: the window's median loss
  and ``loss_over_gd_run`` the same over the GD run's.

Diverged runs get a row with their status and no numbers.  The statements (``claims.md``) put
each of §4's sentences next to the median and range of its number over the runs it concerns.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ...io import atomic_write

EXPERIMENT_TITLES = {"mlp": "MLP (§4.1, MNIST in the paper)", "cnn": "CNN (§4.2, CIFAR-10 in the paper)",
                     "transformer": "character transformer (§4.3, tiny_shakespeare in the paper)"}
EXPERIMENT_ORDER = ("mlp", "cnn", "transformer")
FIRST_FIGURE = {"mlp": 2, "cnn": 7, "transformer": 12}
CLAIM_COLUMNS = ["experiment", "data_source", "lr", "rho", "status", "steps", "final_loss", "lambda1", "sam_edge",
                 "gd_edge", "lambda1_over_sam_edge", "lambda1_over_gd_edge", "lambda1_over_gd_run",
                 "lambda3_over_lambda1", "align_gradient", "align_ascent", "ascent_better_aligned", "better_aligned",
                 "sam_edge_change", "loss_over_gd_run"]


def _window(eig: pd.DataFrame, fraction: float) -> pd.DataFrame:
    count = max(1, int(math.ceil(fraction * len(eig))))
    return eig.iloc[-count:]


def run_claims(run: pd.DataFrame, final_fraction: float) -> dict:
    first = run.iloc[0]
    row = {"experiment": first["experiment"], "data_source": first["data_source"], "lr": float(first["lr"]),
           "rho": float(first["rho"]), "status": first["status"], "steps": int(run["step"].max()) + 1,
           "gd_edge": 2.0 / float(first["lr"])}
    if first["status"] != "finished":
        return row
    eig = run.dropna(subset=["lambda_1"]).sort_values("step")
    window = _window(eig, final_fraction)
    start = eig.iloc[:len(window)]
    lam1 = window["lambda_1"].abs()
    ascent_wins = (window["align_ascent"] > window["align_gradient"]).mean()
    row.update({
        "final_loss": float(window["loss"].median()),
        "lambda1": float(lam1.median()),
        "sam_edge": float(window["sam_edge"].median()),
        "lambda1_over_sam_edge": float((lam1 / window["sam_edge"]).median()),
        "lambda1_over_gd_edge": float((lam1 / window["gd_edge"]).median()),
        "lambda3_over_lambda1": float((window["lambda_3"].abs() / lam1).median()),
        "align_gradient": float(window["align_gradient"].median()),
        "align_ascent": float(window["align_ascent"].median()),
        "sam_edge_change": float(window["sam_edge"].median() / start["sam_edge"].median()),
    })
    if row["rho"] > 0:
        row["ascent_better_aligned"] = float(ascent_wins)
        row["better_aligned"] = "ascent ∇ℓ(w+ρĝ)" if ascent_wins > 0.5 else "iterate ∇ℓ(w)"
    return row


def claims_table(frame: pd.DataFrame, final_fraction: float = 0.25) -> pd.DataFrame:
    if not 0 < final_fraction <= 1:
        raise ValueError(f"final_fraction must be in (0, 1], got {final_fraction!r}")
    rows = [run_claims(run, final_fraction) for _, run in frame.groupby(["experiment", "lr", "rho"], sort=True)]
    table = pd.DataFrame(rows).reindex(columns=CLAIM_COLUMNS)
    table["order"] = table["experiment"].map({e: i for i, e in enumerate(EXPERIMENT_ORDER)})
    table = table.sort_values(["order", "lr", "rho"], kind="stable").drop(columns="order").reset_index(drop=True)
    for (experiment, lr), group in table.groupby(["experiment", "lr"]):
        gd = group[(group["rho"] == 0) & (group["status"] == "finished")]
        if len(gd):
            index = group.index
            table.loc[index, "lambda1_over_gd_run"] = group["lambda1"] / float(gd["lambda1"].iloc[0])
            table.loc[index, "loss_over_gd_run"] = group["final_loss"] / float(gd["final_loss"].iloc[0])
    return table


def _summary(values: pd.Series, digits: int = 3) -> str:
    values = values.dropna()
    if values.empty:
        return "no runs"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}g} (1 run)"
    return (f"median {values.median():.{digits}g}, range {values.min():.{digits}g}–{values.max():.{digits}g} "
            f"({len(values)} runs)")


def statements(table: pd.DataFrame, figure_rho: dict[str, float]) -> list[dict]:
    """§4's statements, one row each: experiment, the paper's sentence, the quantity and its value."""
    out = []
    for experiment in [e for e in EXPERIMENT_ORDER if e in set(table["experiment"])]:
        runs = table[table["experiment"] == experiment]
        f = FIRST_FIGURE[experiment]  # the experiment's figures are f … f + 4
        done = runs[runs["status"] == "finished"]
        gd, sam = done[done["rho"] == 0], done[done["rho"] > 0]
        rho = figure_rho.get(experiment)
        shown = sam[sam["rho"] == rho] if rho is not None else sam
        top_lr = gd[gd["lr"] == gd["lr"].max()] if len(gd) else gd
        diverged = runs[runs["status"] == "diverged"]
        rows = [
            (f"GD: if η is large enough, ‖H‖ stabilises near 2/η (Fig. {f})",
             "|λ₁| / (2/η), GD runs", _summary(gd["lambda1_over_gd_edge"]) +
             (f"; largest η ({top_lr['lr'].iloc[0]:g}): {top_lr['lambda1_over_gd_edge'].iloc[0]:.3g}" if len(top_lr) else "")),
            (f"SAM operates at the SAM-edge: ‖H‖ closely tracks S(η, ρ, ‖g‖) (Fig. {f + 2})",
             "|λ₁| / S, SAM runs", _summary(sam["lambda1_over_sam_edge"])),
            (f"SAM's Hessian is much smaller than GD's at the same η (ρ = {rho:g}: Fig. {f + 1})"
             if rho is not None else "SAM's Hessian is much smaller than GD's at the same η",
             f"|λ₁| SAM / |λ₁| GD, ρ = {rho:g}" if rho is not None else "|λ₁| SAM / |λ₁| GD",
             _summary(shown["lambda1_over_gd_run"])),
            ("SAM's edge is often much smaller than 2/η", "S / (2/η), SAM runs",
             _summary(sam["sam_edge"] / sam["gd_edge"])),
            (f"Under SAM the top three eigenvalues are very close (Fig. {f + 2})", "|λ₃| / |λ₁|: SAM runs; GD runs",
             _summary(sam["lambda3_over_lambda1"]) + "; GD: " + _summary(gd["lambda3_over_lambda1"])),
            (f"The SAM-edge decreases over time as the gradients get smaller (Fig. {f + 2})",
             "S at the end / S at the start, SAM runs", _summary(sam["sam_edge_change"])),
            (f"The gradient SAM uses, at w + ρĝ, is more aligned with v₁ than ∇ℓ(w) (Fig. {f + 4})",
             "fraction of final-window steps where it is; runs where it wins",
             _summary(sam["ascent_better_aligned"]) + f"; wins in {int((sam['ascent_better_aligned'] > 0.5).sum())} "
             f"of {len(sam)} SAM runs"),
            (f"SAM reaches a training loss similar to GD's, with a flatter minimum (Fig. {f + 3})",
             "final loss SAM / GD, same η", _summary(sam["loss_over_gd_run"])),
        ]
        gd_name = "SGD" if experiment == "transformer" else "GD"  # the language model trains on minibatches
        for claim, quantity, value in rows:
            claim, quantity = claim.replace("GD", gd_name), quantity.replace("GD", gd_name)
            out.append({"experiment": experiment, "data": ", ".join(sorted(set(runs["data_source"].dropna()))),
                        "statement": claim, "quantity": quantity, "reproduced": value,
                        "diverged_runs": ", ".join(f"η={r.lr:g} ρ={r.rho:g}" for r in diverged.itertuples()) or "none"})
    return out


def _cell(text: str) -> str:
    """Markdown table cell: a literal | (as in |λ₁|) must be escaped."""
    return str(text).replace("|", "\\|")


def write_claims(table: pd.DataFrame, figure_rho: dict[str, float], csv_path: str | os.PathLike,
                 md_path: str | os.PathLike, final_fraction: float) -> list[Path]:
    atomic_write(csv_path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6g"))
    lines = ["# Study sam_edge: §4's statements reproduced", "",
             f"Numbers are medians over the final {final_fraction:.0%} of the steps at which eigenvalues were "
             "computed (per run, see claims.csv), then summarised over the runs each statement concerns.", ""]
    for experiment, rows in pd.DataFrame(statements(table, figure_rho)).groupby("experiment", sort=False):
        lines += [f"## {EXPERIMENT_TITLES.get(experiment, experiment)} — data: {rows['data'].iloc[0]}", "",
                  f"Diverged runs (left out, as in the paper): {rows['diverged_runs'].iloc[0]}.", "",
                  "| paper's statement | quantity | reproduced |", "|---|---|---|"]
        lines += [f"| {_cell(r.statement)} | {_cell(r.quantity)} | {_cell(r.reproduced)} |" for r in rows.itertuples()]
        lines += ["", "Per run:", "",
                  "| η | ρ | status | final loss | λ₁ | S | λ₁/S | λ₁/(2/η) | λ₁/λ₁(GD) | λ₃/λ₁ | align ∇ℓ(w) | align ∇ℓ(w+ρĝ) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in table[table["experiment"] == experiment].itertuples():
            def f(value):
                return "—" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.3g}"
            lines.append(f"| {r.lr:g} | {r.rho:g} | {r.status} | {f(r.final_loss)} | {f(r.lambda1)} | {f(r.sam_edge)} | "
                         f"{f(r.lambda1_over_sam_edge)} | {f(r.lambda1_over_gd_edge)} | {f(r.lambda1_over_gd_run)} | "
                         f"{f(r.lambda3_over_lambda1)} | {f(r.align_gradient)} | {f(r.align_ascent)} |")
        lines.append("")
    atomic_write(md_path, lambda tmp: Path(tmp).write_text("\n".join(lines)))
    return [Path(csv_path), Path(md_path)]

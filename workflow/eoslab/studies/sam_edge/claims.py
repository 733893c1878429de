"""§4's statements as numbers: per run (``claims_per_run.{csv,md}``) and as the shared claims table
(``claims.{csv,md}``, :mod:`eoslab.verdicts`: one row per quantitative statement of §4 and
experiment, judged by the one verdict rule).

Per run (``claims_per_run.csv``), over the *final window* — the last ``final_fraction`` of the steps at
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

Diverged runs get a row with their status and no numbers.  ``claims_per_run.md`` puts each of
§4's sentences next to the median and range of its number over the runs it concerns (no verdicts).

The claims table (:data:`CLAIMS`, :func:`verdict_rows`) reads those per-run numbers: each
:class:`eoslab.verdicts.Claim` is one sentence of §4 for one experiment, with the interval that
encodes its words (the comment beside each says why), and :data:`SELECTORS` says which runs and
which per-run column it reads.  Diverged runs have no numbers and are named in the row's note.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ...io import atomic_write
from ... import verdicts
from ...verdicts import Claim, at_least, at_most, between

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


def write_per_run(table: pd.DataFrame, figure_rho: dict[str, float], csv_path: str | os.PathLike,
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


# --------------------------------------------------------------------------------------------
# The shared claims table: one row per quantitative statement of §4, per experiment.
# --------------------------------------------------------------------------------------------

STUDY = "sam_edge"
# Statements and quantities write magnitudes with "∣" (U+2223): eoslab.verdicts.claims_markdown does not
# escape "|", which would split a Markdown table cell.
#: "at the edge": within 10% of it (the final-window medians of λ₁/S of runs at their edge lie in
#: 0.95–1.10 at CPU scale); within a factor 2: the same regime, magnitude off.
AT_EDGE, NEAR_EDGE = between(0.9, 1.1), between(0.5, 2.0)
#: "similar loss": a ratio within 0.8–1.25 (symmetric in log); within a factor 2: same direction.
SIMILAR, ROUGHLY = between(0.8, 1.25), between(0.5, 2.0)


def _claim(experiment: str, name: str, section: str, statement: str, quantity: str, **rule) -> Claim:
    return Claim(f"{experiment}_{name}", section, statement, quantity, **rule)


def _edge_claims(experiment: str, section: str, gd_fig: int, sam_fig: int, gd_name: str = "GD") -> list[Claim]:
    return [
        # "if η is large enough … stabilizes near 2/η": the run at the largest ratio (the max over
        # the η grid) must sit within 10% of 2/η; within a factor 2: approaching it.
        _claim(experiment, "gd_at_edge", f"{section}, Fig. {gd_fig}",
               "if the learning rate is large enough, the operator norm of the Hessian stabilizes near 2/η"
               if experiment == "mlp" else "at the larger learning rates, training is reaching the edge of stability",
               f"∣λ₁∣/(2/η) of the {gd_name} runs (ρ = 0)", reproduced_if=AT_EDGE, partial_if=NEAR_EDGE,
               paper_value=1.0, statistic="max"),
        # "closely tracks the SAM edge": the median SAM run within 10% of S; factor 2: partial.
        _claim(experiment, "sam_at_edge", f"{section}, Fig. {sam_fig}",
               "the operator norm closely tracks the SAM edge" if experiment == "mlp" else
               "SAM operating at the edge of stability identified in Section 2",
               "∣λ₁∣/S(η, ρ, ‖g‖) of the SAM runs (every ρ > 0)", reproduced_if=AT_EDGE, partial_if=NEAR_EDGE,
               paper_value=1.0),
    ]


def _aligned_claim(experiment: str, section: str, fig: int, statement: str) -> Claim:
    # "aligned more closely": systematically, i.e. in ≥ 3/4 of the final-window eigenvalue steps of
    # every run; more often than not (median run ≥ 1/2): same direction, weaker.
    return _claim(experiment, "ascent_better_aligned", f"{section}, Fig. {fig}", statement,
                  "fraction of final-window steps with ∣cos(∇ℓ(w+ρĝ), v₁)∣ > ∣cos(∇ℓ(w), v₁)∣, SAM runs at the "
                  "figure's ρ", reproduced_if=at_least(0.75), partial_if=at_least(0.5), every_run=True)


def _wider_range_claim(experiment: str, section: str, fig: int, statement: str) -> Claim:
    # "at the edge for a wider variety of learning rates than GD" / "even at learning rates where GD
    # did not": SAM (figure ρ) at its edge (λ₁/S in [0.9, 1.1]) at ≥ 1 more η than GD at 2/η.
    return _claim(experiment, "sam_edge_more_etas", f"{section}, Fig. {fig}", statement,
                  "(number of η with the SAM run at its edge) − (number of η with the GD run at 2/η); "
                  "at = final-window ratio in [0.9, 1.1]", reproduced_if=at_least(1.0))


CLAIMS: list[Claim] = [
    *_edge_claims("mlp", "§4.1", 2, 4),
    # "an order of magnitude smaller": ratio ≤ 0.1; smaller at all (≤ 1): same direction.
    _claim("mlp", "sam_vs_gd_sharpness", "§4.1, Fig. 3",
           "solutions with Hessians an order of magnitude smaller than those seen with GD",
           "∣λ₁∣ SAM (figure's ρ) / ∣λ₁∣ GD at the same η", reproduced_if=at_most(0.1), partial_if=at_most(1.0),
           paper_value=0.1),
    _wider_range_claim("mlp", "§4.1", 4, "SAM operates at the edge of stability for a wider variety of learning "
                                         "rates than GD"),
    # "the SAM edge decreasing over time": S falls by ≥ 10% from the first to the final window
    # (beyond the window's fluctuation); any fall: same direction.
    _claim("mlp", "sam_edge_decreases", "§4.1, Fig. 4", "the SAM edge decreasing over time, as the gradients get "
                                                         "smaller",
           "S in the final window / S in the first window, SAM runs", reproduced_if=at_most(0.9),
           partial_if=at_most(1.0)),
    # "very close to one another": ∣λ₃∣ within 10% of ∣λ₁∣; within a factor 2: partial.
    _claim("mlp", "top3_close", "§4.1, Fig. 4", "the top three principal components are very close to one another",
           "∣λ₃∣/∣λ₁∣, SAM runs", reproduced_if=at_least(0.9), partial_if=at_least(0.5)),
    # "similar loss": SAM/GD final loss in [0.8, 1.25] (Fig. 5 shows the figure's ρ).
    _claim("mlp", "similar_loss", "§4.1, Fig. 5", "SAM achieves flatter minima with similar loss",
           "final-window loss SAM (figure's ρ) / GD at the same η", reproduced_if=SIMILAR, partial_if=ROUGHLY,
           paper_value=1.0),
    _aligned_claim("mlp", "§4.1", 6, "the gradient used by SAM is aligned more closely [with the principal "
                                     "eigenvector]"),

    *_edge_claims("cnn", "§4.2", 7, 9),
    # "multiple orders of magnitude smaller than 2/η": ≥ two orders (≤ 0.01); below 2/η: partial.
    _claim("cnn", "sam_far_below_gd_edge", "§4.2, Fig. 8",
           "the eigenvalues are multiple orders of magnitude smaller than 2/η",
           "∣λ₁∣/(2/η), SAM runs at the figure's ρ", reproduced_if=at_most(0.01), partial_if=at_most(1.0),
           paper_value=0.01),
    _wider_range_claim("cnn", "§4.2", 9, "SAM operating at the edge of stability … even at learning rates where GD "
                                         "did not"),
    # "wider minima": ∣λ₁∣ at least 10% below GD's; below at all: partial.
    _claim("cnn", "wider_minima", "§4.2, Fig. 10", "SAM achieves wider minima",
           "∣λ₁∣ SAM (figure's ρ) / ∣λ₁∣ GD at the same η", reproduced_if=at_most(0.9), partial_if=at_most(1.0)),
    # "without sacrificing training error": SAM's loss at most 10% above GD's; within ×2: partial.
    _claim("cnn", "loss_not_sacrificed", "§4.2, Fig. 10", "without sacrificing training error",
           "final-window loss SAM (figure's ρ) / GD at the same η", reproduced_if=at_most(1.1),
           partial_if=at_most(2.0), paper_value=1.0),
    _aligned_claim("cnn", "§4.2", 11, "stronger alignment with the principal direction for the gradients "
                                      "evaluated at the uphill location used by SAM"),

    # "to a limited extent": SGD's minibatch ∣λ₁∣ within a factor 2 of 2/η; within ×4: partial.
    _claim("transformer", "sgd_edge_limited", "§4.3, Fig. 12; §5",
           "the edge-of-stability phenomenon can also be seen, to a limited extent, when training with SGD",
           "∣λ₁∣/(2/η) of the SGD runs (ρ = 0; minibatch Hessian)", reproduced_if=between(0.5, 2.0),
           partial_if=between(0.25, 4.0), paper_value=1.0),
    # "significantly less": at most half of SGD's; less at all: partial.
    _claim("transformer", "sam_vs_sgd_sharpness", "§4.3, Fig. 13",
           "the operator norm of the Hessian is significantly less than when SGD is used",
           "∣λ₁∣ SAM (figure's ρ) / ∣λ₁∣ SGD at the same η", reproduced_if=at_most(0.5), partial_if=at_most(1.0)),
    # "closely tracks this edge … despite the noise": as for the full-batch experiments.
    _claim("transformer", "sam_at_edge", "§4.3, Fig. 14; §5",
           "the operator norm of the Hessian closely tracks this edge of stability, despite the noise",
           "∣λ₁∣/S(η, ρ, ‖g‖) of the SAM runs (minibatch estimates)", reproduced_if=AT_EDGE, partial_if=NEAR_EDGE,
           paper_value=1.0),
    _claim("transformer", "similar_loss", "§4.3, Fig. 15", "it ultimately achieves training error similar to SGD",
           "final-window minibatch loss SAM (figure's ρ) / SGD at the same η", reproduced_if=SIMILAR,
           partial_if=ROUGHLY, paper_value=1.0),
    # Fig. 16 at the largest η: SAM's gradient better aligned in ≥ 3/4 of the steps (≥ 1/2: partial) …
    _claim("transformer", "aligned_large_eta", "§4.3, Fig. 16",
           "for the large learning rates … a systematic tendency for the SAM gradients to align more closely",
           "fraction of final-window steps with the ascent gradient better aligned, SAM run at the largest η",
           reproduced_if=at_least(0.75), partial_if=at_least(0.5)),
    # … and at the smallest η the opposite: better aligned in ≤ 1/4 of the steps (≤ 1/2: partial).
    _claim("transformer", "opposite_small_eta", "§4.3, Fig. 16", "for the smallest learning rates, the opposite holds",
           "fraction of final-window steps with the ascent gradient better aligned, SAM run at the smallest η",
           reproduced_if=at_most(0.25), partial_if=at_most(0.5)),
]
_BY_ID = {c.claim: c for c in CLAIMS}


def _etas(runs: pd.DataFrame) -> str:
    return "{" + ", ".join(f"{v:g}" for v in sorted(set(runs["lr"]))) + "}"


def _runs_text(runs: pd.DataFrame, what: str) -> str:
    if runs.empty:
        return ""
    rhos = sorted(set(runs["rho"]))
    return f"{what}: η ∈ {_etas(runs)}, ρ ∈ {{{', '.join(f'{r:g}' for r in rhos)}}} ({len(runs)} runs)"


def _at_edge_count(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].between(AT_EDGE.low, AT_EDGE.high).sum())


def _select(claim_id: str, runs: pd.DataFrame, figure_rho: float | None) -> tuple[list[float], str]:
    """The per-run values a claim reads and a description of the runs."""
    name = claim_id.split("_", 1)[1]
    done = runs[runs["status"] == "finished"]
    gd, sam = done[done["rho"] == 0], done[done["rho"] > 0]
    shown = sam[sam["rho"] == figure_rho] if figure_rho is not None else sam.iloc[0:0]
    if name in ("gd_at_edge", "sgd_edge_limited"):
        return gd["lambda1_over_gd_edge"].tolist(), _runs_text(gd, "ρ = 0")
    if name == "sam_at_edge":
        return sam["lambda1_over_sam_edge"].tolist(), _runs_text(sam, "SAM")
    if name in ("sam_vs_gd_sharpness", "wider_minima", "sam_vs_sgd_sharpness"):
        return shown["lambda1_over_gd_run"].tolist(), _runs_text(shown, "SAM at the figure's ρ")
    if name in ("similar_loss", "loss_not_sacrificed"):
        return shown["loss_over_gd_run"].tolist(), _runs_text(shown, "SAM at the figure's ρ")
    if name == "sam_far_below_gd_edge":
        return shown["lambda1_over_gd_edge"].tolist(), _runs_text(shown, "SAM at the figure's ρ")
    if name == "sam_edge_decreases":
        return sam["sam_edge_change"].tolist(), _runs_text(sam, "SAM")
    if name == "top3_close":
        return sam["lambda3_over_lambda1"].tolist(), _runs_text(sam, "SAM")
    if name == "ascent_better_aligned":
        return shown["ascent_better_aligned"].tolist(), _runs_text(shown, "SAM at the figure's ρ")
    if name == "sam_edge_more_etas":
        both = sorted(set(gd["lr"]) & set(shown["lr"]))
        if not both:
            return [], ""
        g, s = gd[gd["lr"].isin(both)], shown[shown["lr"].isin(both)]
        value = _at_edge_count(s, "lambda1_over_sam_edge") - _at_edge_count(g, "lambda1_over_gd_edge")
        return [float(value)], f"η ∈ {{{', '.join(f'{v:g}' for v in both)}}} with both a GD and a SAM (ρ = " \
                               f"{figure_rho:g}) run"
    if name in ("aligned_large_eta", "opposite_small_eta"):
        if shown.empty:
            return [], ""
        lr = shown["lr"].max() if name == "aligned_large_eta" else shown["lr"].min()
        one = shown[shown["lr"] == lr]
        return one["ascent_better_aligned"].tolist(), f"SAM η = {lr:g}, ρ = {figure_rho:g} (1 run)"
    raise KeyError(claim_id)


def verdict_rows(table: pd.DataFrame, figure_rho: dict[str, float], config: str, final_fraction: float,
                 notes: dict[str, str] | None = None) -> list[dict]:
    """The claims rows (shared format) from the per-run table :func:`claims_table`."""
    rows = []
    for claim in CLAIMS:
        experiment = claim.claim.split("_", 1)[0]
        runs = table[table["experiment"] == experiment]
        rho = figure_rho.get(experiment)
        values, runs_text = _select(claim.claim, runs, None if rho is None else float(rho)) if len(runs) else ([], "")
        note = []
        if len(runs):
            note.append(f"data {', '.join(sorted(set(runs['data_source'].dropna())))}; final window = last "
                        f"{final_fraction:.0%} of the eigenvalue steps")
            diverged = runs[runs["status"] == "diverged"]
            if len(diverged):
                note.append("diverged, left out as in the paper: " +
                            ", ".join(f"η={r.lr:g} ρ={r.rho:g}" for r in diverged.itertuples()))
        else:
            note.append(f"experiment {experiment} is not in this configuration")
        if notes and claim.claim in notes:
            note.append(notes[claim.claim])
        rows.append(verdicts.claim_row(STUDY, claim, values, config=config, runs=runs_text, note="; ".join(note)))
    return rows


#: Readings that a row's number depends on (shown in its note).
READING_NOTES = {
    "mlp_gd_at_edge": "loss = mean over the 10 outputs of the squared error: its Hessian is 1/5 of a "
                      "per-sample ½‖f − e_y‖²'s, so a given η acts as η/5 there; η·λ₁ at initialisation: "
                      "docs/sam_edge.md",
    "cnn_gd_at_edge": "loss = mean over the 10 outputs of the squared error (Hessian 1/5 of a per-sample "
                      "½‖f − e_y‖²'s; docs/sam_edge.md)",
    "transformer_opposite_small_eta": "the smallest η of this config, not the paper's 0.01",
}


def write_claims(table: pd.DataFrame, figure_rho: dict[str, float], stem: str | os.PathLike, final_fraction: float,
                 config: str) -> list[Path]:
    """``stem.csv``/``stem.md`` (the shared claims table) and ``stem_per_run.csv``/``.md``."""
    stem = Path(stem)
    per_run = write_per_run(table, figure_rho, f"{stem}_per_run.csv", f"{stem}_per_run.md", final_fraction)
    frame = verdicts.claims_frame(verdict_rows(table, figure_rho, config, final_fraction, READING_NOTES))
    csv, md = Path(f"{stem}.csv"), Path(f"{stem}.md")
    verdicts.write_claims(frame, csv, md, title=f"sam_edge claims ({config})")
    return [csv, md, *per_run]

"""Study sam_edge: the claims table and the figures, on an aggregate built by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eoslab.sam import sam_edge
from eoslab.studies.sam_edge.claims import CLAIMS, claims_table, statements, verdict_rows, write_claims
from eoslab.verdicts import judge, read_claims
from eoslab.studies.sam_edge.experiment import LOG_COLUMNS
from eoslab.studies.sam_edge.figures import FIGURES, render_figure


def run(lr, rho, steps=100, eig_every=10, lam=None, status="finished", align=(0.4, 0.5)):
    step = np.arange(steps)
    grad_norm = 0.5 * np.exp(-step / 50)
    edge = sam_edge(lr, rho, grad_norm)
    lam1 = edge * 1.02 if lam is None else np.full(steps, lam)
    eig = step % eig_every == 0
    frame = pd.DataFrame({c: np.nan for c in LOG_COLUMNS}, index=step)
    frame["step"], frame["loss"], frame["grad_norm"] = step, 0.1 * np.exp(-step / 40), grad_norm
    frame["sam_edge"], frame["gd_edge"] = edge, 2 / lr
    frame.loc[eig, "lambda_1"] = -lam1[eig]                       # magnitudes are compared
    frame.loc[eig, "lambda_2"] = 0.99 * lam1[eig]
    frame.loc[eig, "lambda_3"] = 0.9 * lam1[eig]
    frame.loc[eig, "align_gradient"], frame.loc[eig, "align_ascent"] = align
    frame.insert(0, "diverged_at", pd.array([50 if status == "diverged" else None] * steps, dtype="Int64"))
    for key, value in (("status", status), ("rho", rho), ("lr", lr), ("data_source", "sklearn_digits"),
                       ("experiment", "mlp")):
        frame.insert(0, key, value)
    return frame


@pytest.fixture
def aggregate():
    return pd.concat([run(0.5, 0.0, lam=3.8), run(0.5, 0.1), run(1.0, 0.0, lam=1.0), run(1.0, 0.1, status="diverged")],
                     ignore_index=True)


def test_claims_per_run(aggregate):
    table = claims_table(aggregate, final_fraction=0.3).set_index(["lr", "rho"])
    gd, sam = table.loc[(0.5, 0.0)], table.loc[(0.5, 0.1)]
    assert gd["lambda1"] == pytest.approx(3.8) and gd["lambda1_over_gd_edge"] == pytest.approx(0.95)
    assert gd["lambda1_over_sam_edge"] == pytest.approx(0.95)       # the SAM-edge of ρ = 0 is 2/η
    assert sam["lambda1_over_sam_edge"] == pytest.approx(1.02)
    window = aggregate[(aggregate["lr"] == 0.5) & (aggregate["rho"] == 0.1)].dropna(subset=["lambda_1"]).iloc[-3:]
    assert sam["lambda1"] == pytest.approx(float(window["lambda_1"].abs().median()))
    assert sam["lambda1_over_gd_run"] == pytest.approx(sam["lambda1"] / 3.8)
    assert sam["lambda3_over_lambda1"] == pytest.approx(0.9)
    assert sam["ascent_better_aligned"] == 1.0 and sam["better_aligned"].startswith("ascent")
    assert sam["sam_edge_change"] < 1                               # the gradients shrink, so does S
    assert table.loc[(1.0, 0.1), "status"] == "diverged" and np.isnan(table.loc[(1.0, 0.1), "lambda1"])
    assert table.loc[(1.0, 0.0), "lambda1_over_gd_edge"] == pytest.approx(0.5)


def test_statements_and_files(aggregate, tmp_path):
    table = claims_table(aggregate)
    rows = {r["statement"][:20]: r for r in statements(table, {"mlp": 0.1})}
    at_edge = next(r for key, r in rows.items() if key.startswith("SAM operates"))
    assert at_edge["reproduced"] == "1.02 (1 run)" and at_edge["diverged_runs"] == "η=1 ρ=0.1"
    csv, md, per_run_csv, per_run_md = write_claims(table, {"mlp": 0.1}, tmp_path / "claims", 0.25, "c.yaml")
    assert pd.read_csv(per_run_csv).shape[0] == 4 and per_run_csv.name == "claims_per_run.csv"
    text = per_run_md.read_text()
    assert "Diverged runs (left out, as in the paper): η=1 ρ=0.1" in text and "\\|λ₁\\|" in text
    shared = read_claims(csv)
    assert len(shared) == len(CLAIMS) and set(shared["config"]) == {"c.yaml"}
    assert md.read_text().startswith("# sam_edge claims (c.yaml)")


def test_verdicts_follow_the_rule(aggregate):
    """Every row's verdict is the rule's on its numbers; experiments the config lacks are "not run"."""
    rows = {r["claim"]: r for r in verdict_rows(claims_table(aggregate), {"mlp": 0.1}, "c.yaml", 0.25)}
    by_id = {c.claim: c for c in CLAIMS}
    for claim_id, row in rows.items():
        assert judge(by_id[claim_id], row["measured"], row["min"], row["max"], row["n"]) == row["verdict"]
    # SAM at η = 0.5 sits at 1.02 × S (the η = 1 SAM run diverged and is named in the note)
    assert rows["mlp_sam_at_edge"]["verdict"] == "reproduced" and rows["mlp_sam_at_edge"]["n"] == 1
    assert "η=1 ρ=0.1" in rows["mlp_sam_at_edge"]["note"]
    # GD at η = 0.5 has λ₁ = 3.8 = 0.95 × 2/η, at η = 1 0.5: the max (0.95) is at the edge
    assert rows["mlp_gd_at_edge"]["verdict"] == "reproduced" and rows["mlp_gd_at_edge"]["measured"] == pytest.approx(0.95)
    # S/(2/η) ≈ 0.27 here, λ₁(SAM)/λ₁(GD) ≈ 0.27: smaller, but not an order of magnitude
    assert rows["mlp_sam_vs_gd_sharpness"]["verdict"] == "partial"
    assert rows["mlp_top3_close"]["verdict"] == "reproduced"            # λ₃ = 0.9 λ₁
    assert rows["cnn_sam_at_edge"]["verdict"] == "not run" and "not in this configuration" in rows["cnn_sam_at_edge"]["note"]
    assert rows["mlp_sam_edge_more_etas"]["verdict"] == "not reproduced"  # both at their edge at η = 0.5: 1 − 1 = 0


@pytest.mark.parametrize("number", ["01", "02", "03", "04", "05", "06"])
def test_figures_are_written(aggregate, tmp_path, number):
    paths = render_figure(number, None if number == "01" else aggregate, 0.1, tmp_path / f"fig{number}")
    assert [p.suffix for p in paths] == [".pdf", ".png"] and all(p.stat().st_size > 1000 for p in paths)


def test_figures_name_what_they_miss(aggregate, tmp_path):
    with pytest.raises(ValueError, match="ρ = 0.3"):
        render_figure("03", aggregate, 0.3, tmp_path / "fig03")
    with pytest.raises(ValueError, match="experiment 'cnn'"):
        render_figure("07", aggregate, 0.1, tmp_path / "fig07")
    assert FIGURES["12"].experiment == "transformer" and FIGURES["16"].kind == "alignment"

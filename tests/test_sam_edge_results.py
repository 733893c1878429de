"""Study sam_edge: the claims table and the figures, on an aggregate built by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eoslab.sam import sam_edge
from eoslab.studies.sam_edge.claims import claims_table, statements, write_claims
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
    csv, md = write_claims(table, {"mlp": 0.1}, tmp_path / "claims.csv", tmp_path / "claims.md", 0.25)
    assert pd.read_csv(csv).shape[0] == 4
    text = md.read_text()
    assert "Diverged runs (left out, as in the paper): η=1 ρ=0.1" in text and "\\|λ₁\\|" in text


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

"""Aggregation, the power-law fit (Table 2), the claims and the 41 data figures."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from eoslab.studies.jacobian_alignment.aggregate import RUN_KEYS, aggregate, relative_to_reference
from eoslab.studies.jacobian_alignment.analysis import COLUMNS, typed
from eoslab.arrays import DataFileError
from eoslab.studies.jacobian_alignment.claims import compute_claims, counterfactual_bound
from eoslab.studies.jacobian_alignment.catalog import FIGURES, GROUP_ORDER, figures_for
from eoslab.studies.jacobian_alignment.figures import draw_figure, panels, render_figure
from eoslab.studies.jacobian_alignment.powerlaw import fit_power_law, table2
from eoslab.studies.jacobian_alignment.tables import table1, table3, write_table

L = 6


def synthetic_table(combos=GROUP_ORDER, sizes=(100, 200, 400), seeds=(0, 1), iterations=(0, 10, 100, 200),
                    depth=L, rng=None) -> pd.DataFrame:
    """Every metric of the analysis schema for a grid of runs, with plausible positive values."""
    rng = rng or np.random.default_rng(0)
    rows = []
    for dataset, criterion in combos:
        for size in sizes:
            for s in seeds:
                for init in seeds:
                    for it in iterations:
                        t = it * 0.1
                        base = dict(dataset=dataset, criterion=criterion, size=size, subset_seed=s, init_seed=init,
                                    iteration=it, t=t)

                        def add(metric, value, layer=None):
                            rows.append({**base, "metric": metric, "layer": layer, "value": float(value)})

                        grow = 1 + it / 100
                        add("loss", 1 / grow)
                        add("accuracy", 0.5)
                        add("grad_norm", 1 / grow)
                        add("sharpness_hessian", 10 * grow)
                        add("sharpness_G", 9.5 * grow)
                        add("sharpness_H", 0.5 + rng.random())
                        add("EK2", 50 * grow)
                        add("rho_K", 0.2)
                        for i in range(1, depth + 1):
                            add("EK2_layer", 40 * grow / i, i)
                        for i in range(1, depth):
                            for m in ("chi2", "r_chi", "EJ2", "r_DeltaJ", "Pi_chi", "P_chi", "Pi_J"):
                                add(m, 1 + 0.1 * rng.random(), i)
                            add("P_DeltaJ", 0.01 * size ** 0.3 * grow, i)
                        add("EDeltaL2", 2.0)
    return typed(pd.DataFrame(rows, columns=COLUMNS))


def test_power_law_fit_recovers_known_coefficients():
    rng = np.random.default_rng(1)
    D = np.repeat([390, 781, 1562, 3125, 6250], 16)
    c1, c2 = 0.0004, 0.49
    y = c1 * D ** c2 * np.exp(rng.normal(0, 0.05, D.size))
    fit = fit_power_law(D, y)
    assert fit.c2 == pytest.approx(c2, abs=0.03)
    assert fit.c1 == pytest.approx(c1, rel=0.2)
    assert fit.c1_ci_low < c1 < fit.c1_ci_high and fit.c2_ci_low < c2 < fit.c2_ci_high
    assert fit.r_squared > 0.95 and fit.runs == 80 and fit.sizes == 5
    exact = fit_power_law([1, 2, 4, 8], [3 * d ** 0.5 for d in (1, 2, 4, 8)])
    assert exact.c1 == pytest.approx(3) and exact.c2 == pytest.approx(0.5) and exact.r_squared == pytest.approx(1)
    assert math.isnan(fit_power_law([5, 5, 5], [1, 2, 3]).c2)  # one size: no fit, no crash
    with pytest.raises(ValueError, match="positive"):
        fit_power_law([1, 2, 3], [1, -1, 2])


def test_table2_fits_every_dataset_criterion():
    frame = synthetic_table()
    table = table2(frame, transient_iterations=10)
    assert len(table) == 10 and set(table["fit"]) == {"pooled", "size_means"}
    # P_DeltaJ^1 peak = 0.01·D^0.3·3 exactly in the synthetic table.
    for _, row in table.iterrows():
        assert row["c2"] == pytest.approx(0.3, abs=1e-9)
        assert row["c1"] == pytest.approx(0.03, rel=1e-9)
        assert row["runs"] == 12
        assert row["sizes"] == 3
    assert set(table["paper_c2"]) == {0.23, 0.49, 0.20, 0.45, 0.67}


def test_pooled_and_size_mean_fits_and_both_r_squared():
    """Pooled OLS and OLS through per-size geometric means: same slope with equal runs per size, higher
    R² for the means; R² on the linear scale against a direct computation."""
    rng = np.random.default_rng(3)
    D = np.repeat([32, 64, 128, 256, 512], 4)
    y = 0.002 * D ** 0.4 * np.exp(rng.normal(0, 0.2, D.size))
    pooled = fit_power_law(D, y)
    logs = pd.DataFrame({"D": D, "ly": np.log(y)}).groupby("D", as_index=False)["ly"].mean()
    means = fit_power_law(logs["D"], np.exp(logs["ly"]))
    assert means.c2 == pytest.approx(pooled.c2, rel=1e-10) and means.c1 == pytest.approx(pooled.c1, rel=1e-10)
    assert means.r_squared > pooled.r_squared
    predicted = pooled.c1 * D ** pooled.c2
    direct = 1 - ((y - predicted) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert pooled.r_squared_linear == pytest.approx(direct, rel=1e-12)
    ly = np.log(y)
    slope, intercept = np.polyfit(np.log(D), ly, 1)
    direct_log = 1 - ((ly - (intercept + slope * np.log(D))) ** 2).sum() / ((ly - ly.mean()) ** 2).sum()
    assert pooled.r_squared == pytest.approx(direct_log, rel=1e-10)


def hand_made_table() -> pd.DataFrame:
    """Two runs, depth 2 (one P_DeltaJ layer), snapshots at iterations 0, 10, 20 (0 is in the transient)."""
    rows = []

    def add(run, it, metric, value, layer=None):
        dataset, criterion, size = run
        rows.append(dict(dataset=dataset, criterion=criterion, size=size, subset_seed=0, init_seed=0,
                         iteration=it, t=float(it), metric=metric, layer=layer, value=value))

    a, b = ("dice", "cross_entropy", 10), ("cifar10", "mse", 20)
    for run, its in ((a, {0: 1, 10: 2, 20: 4}), (b, {0: 9, 10: 3, 20: 6})):
        for it, v in its.items():
            add(run, it, "sharpness_hessian", 10.0 * v)
            add(run, it, "sharpness_G", 9.0 * v)
            add(run, it, "sharpness_H", 1.0 * v)
            add(run, it, "rho_K", 0.5 * v)
            add(run, it, "EDeltaL2", 1.0 * v)
            add(run, it, "EK2_layer", 4.0 * v, 1)
            add(run, it, "EK2_layer", 2.0 * v * v, 2)
            for metric in ("Pi_chi", "P_chi", "Pi_J"):
                add(run, it, metric, 1.0 + v, 1)
            add(run, it, "P_DeltaJ", float(v), 1)
    return typed(pd.DataFrame(rows, columns=COLUMNS))


def test_claims_on_a_hand_made_table():
    frame = hand_made_table()
    # |λ_min| > λ_max (the paper's event) in iterations 3 and 7 of 20; λ₁ itself is never negative.
    lambda_min = [-0.5] * 20
    lambda_min[3] = lambda_min[7] = -3.0
    training = pd.DataFrame({"dataset": "dice", "criterion": "cross_entropy", "size": 10, "subset_seed": 0,
                             "init_seed": 0, "iteration": range(20), "lambda_1": [2.0] * 20,
                             "lambda_2": [1.0] * 20, "lambda_min": lambda_min})
    claims = compute_claims(frame, training, transient=10).set_index("key")
    got = claims["reproduced"]
    # Run a: post-transient values v = 2, 4; run b: v = 3, 6 → every "increase" is ×2.
    assert got["max_increase_sharpness_hessian"] == pytest.approx(2.0)
    assert got["max_sharpness_H"] == pytest.approx(6.0)              # run b, v = 6
    assert got["max_share_H"] == pytest.approx(0.1)
    assert got["max_gap_G"] == pytest.approx(0.1)
    assert got["max_increase_rho_K"] == pytest.approx(2.0)
    # E‖K²‖²/E‖K¹‖² − 1 = 2v²/4v − 1 = v/2 − 1, largest at v = 6: 2.
    assert got["max_excess_EK2_layer"] == pytest.approx(2.0)
    assert got["max_increase_EDeltaL2"] == pytest.approx(2.0)
    assert got["max_increase_Pi_chi"] == pytest.approx(7 / 4)       # run b: (1+6)/(1+3) > run a: (1+4)/(1+2)
    assert got["max_increase_P_DeltaJ"] == pytest.approx(2.0)
    # Counterfactual bound: ρ·[P(t0)/P(t)·E‖K¹‖² + E‖K²‖²] = 0.5v·[v0/v·4v + 2v²] = 0.5v(4v0 + 2v²).
    # Cross-entropy run a: max at v = 4, v0 = 2: 2·(8 + 32) = 80 → η = 2/80.
    assert got["stable_lr_cross_entropy"] == pytest.approx(2 / 80)
    # MSE run b: v = 6, v0 = 3: 3·(12 + 72) = 252 → η = 2/252.
    assert got["stable_lr_mse"] == pytest.approx(2 / 252)
    # The paper's event over all 20 logged iterations: 2 of 20.
    assert got["max_share_negative_top_eigenvalue"] == pytest.approx(0.1)
    assert claims.loc["max_share_negative_top_eigenvalue", "runs"] == 1
    assert claims.loc["max_sharpness_H", "where"].startswith("dataset=cifar10")
    assert claims.loc["max_increase_P_DeltaJ", "paper"] == 28.97
    bound = counterfactual_bound(frame, 10)
    assert len(bound) == 4
    # Without snapshot_every the paper-grid reading repeats the first.
    assert np.allclose(claims["reproduced_paper_grid"].astype(float), got.astype(float), equal_nan=True)
    assert (claims["note"] == "").all()


def test_claims_under_both_references():
    """Snapshots at 0, 10, 100, 200 and a last one at 250; regular grid every 100 (the paper's):
    the first reading starts at iteration 10, the paper-grid reading at 100 and skips 10."""
    rows = []
    values = {0: 5.0, 10: 1.0, 100: 2.0, 200: 8.0, 250: 4.0}
    for it, v in values.items():
        base = dict(dataset="dice", criterion="mse", size=8, subset_seed=0, init_seed=0, iteration=it, t=float(it))
        for metric, value, layer in [("sharpness_hessian", v, None), ("sharpness_G", v, None),
                                     ("sharpness_H", 0.1 * v, None), ("rho_K", 0.5, None), ("EDeltaL2", v, None),
                                     ("EK2_layer", v, 1), ("EK2_layer", v, 2), ("Pi_chi", v, 1), ("P_chi", v, 1),
                                     ("Pi_J", v, 1), ("P_DeltaJ", v, 1)]:
            rows.append({**base, "metric": metric, "layer": layer, "value": value})
    frame = typed(pd.DataFrame(rows, columns=COLUMNS))
    claims = compute_claims(frame, None, transient=10, snapshot_every=100).set_index("key")
    assert claims.loc["max_increase_sharpness_hessian", "reproduced"] == pytest.approx(8.0)             # 8 / 1
    assert claims.loc["max_increase_sharpness_hessian", "reproduced_paper_grid"] == pytest.approx(4.0)  # 8 / 2
    # Counterfactual: B = ρ[P(t0)/P(t)·E‖K¹‖² + E‖K²‖²] = 0.5[v0 + v]; max at v = 8.
    assert claims.loc["stable_lr_mse", "reproduced"] == pytest.approx(2 / (0.5 * (1 + 8)))
    assert claims.loc["stable_lr_mse", "reproduced_paper_grid"] == pytest.approx(2 / (0.5 * (2 + 8)))
    # A value claim does not depend on the reference, only on the snapshots seen (10 is off the grid).
    assert claims.loc["max_sharpness_H", "reproduced"] == pytest.approx(0.8)
    # No data: said, not nan without a reason.
    assert math.isnan(claims.loc["stable_lr_cross_entropy", "reproduced"])
    assert claims.loc["stable_lr_cross_entropy", "note"] == "no cross-entropy runs in this configuration"
    assert "no training logs" in claims.loc["max_share_negative_top_eigenvalue", "note"]
    old_logs = pd.DataFrame({"dataset": "dice", "criterion": "mse", "size": 8, "subset_seed": 0, "init_seed": 0,
                             "iteration": range(3), "lambda_1": [1.0, -1.0, 1.0]})
    claims = compute_claims(frame, old_logs, transient=10, snapshot_every=100).set_index("key")
    assert math.isnan(claims.loc["max_share_negative_top_eigenvalue", "reproduced"])
    assert "no lambda_min" in claims.loc["max_share_negative_top_eigenvalue", "note"]


def test_negative_top_share_counts_magnitude_order_events():
    """The event is |λ_min| > λ_max whichever order the logged eigenvalues are in."""
    from eoslab.studies.jacobian_alignment.claims import negative_top_share

    keys = dict(dataset="dice", criterion="cross_entropy", size=8, subset_seed=0, init_seed=0)
    logs = pd.DataFrame([
        {**keys, "iteration": 0, "lambda_1": 3.0, "lambda_2": 1.0, "lambda_min": -1.0},   # no
        {**keys, "iteration": 1, "lambda_1": -4.0, "lambda_2": 3.0, "lambda_min": -4.0},  # magnitude order: yes
        {**keys, "iteration": 2, "lambda_1": 3.0, "lambda_2": 1.0, "lambda_min": -3.5},   # yes
        {**keys, "iteration": 3, "lambda_1": 3.0, "lambda_2": 1.0, "lambda_min": float("nan")},  # not computed
    ])
    shares, reason = negative_top_share(logs)
    assert reason == "" and len(shares) == 1
    assert shares["share"].iloc[0] == pytest.approx(2 / 3) and shares["iterations"].iloc[0] == 3


@pytest.mark.parametrize("number", [n for n in FIGURES if n != "05"])
def test_every_figure_renders_one_line_per_run(number):
    frame = synthetic_table(sizes=(100, 400), seeds=(0, 1), iterations=(0, 10, 100))
    spec = FIGURES[number]
    fig = draw_figure(number, frame, transient_iterations=10)
    runs = frame[(frame.dataset == spec.dataset) & (frame.criterion == spec.criterion)].groupby(RUN_KEYS).ngroups
    axes = fig.get_axes()
    assert len(axes) == len(panels(spec.kind, L))
    for ax in axes:
        assert len(ax.get_lines()) == runs
        assert all(len(line.get_xdata()) > 0 for line in ax.get_lines())
        assert ax.get_ylabel() and ax.get_xlabel() == "integration time $t$"
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_figure_files_and_missing_data(tmp_path):
    frame = synthetic_table(combos=[("dice", "cross_entropy")], sizes=(50,), seeds=(0,), iterations=(0, 10, 20))
    paths = render_figure("15", frame, tmp_path / "fig15")
    assert [p.suffix for p in paths] == [".pdf", ".png"] and all(p.stat().st_size > 1000 for p in paths)
    with pytest.raises(ValueError, match="cifar10"):
        draw_figure("02", frame)


def test_figures_follow_the_config():
    assert len(figures_for(GROUP_ORDER)) == 42
    assert figures_for([("dice", "cross_entropy")]) == ["05", "06", "10", "15", "19", "24", "29", "34", "39"]
    assert "Table 1 never ran" in FIGURES["07"].caption and FIGURES["07"].dataset == "cifar10"


def test_relative_to_reference_uses_first_post_transient_snapshot():
    frame = hand_made_table()
    series = frame[(frame.metric == "P_DeltaJ")]
    rel = relative_to_reference(series, 10)
    assert sorted(rel["value"]) == [1.0, 1.0, 2.0, 2.0]
    assert rel["iteration"].min() == 10


def test_aggregate_checks_its_inputs(tmp_path):
    frame = hand_made_table()
    run = tmp_path / "run"
    run.mkdir()
    pd.DataFrame({"iteration": [0, 1], "lambda_1": [1.0, 2.0]}).to_parquet(run / "log.parquet")
    one = frame[frame.dataset == "dice"]
    path = tmp_path / "a.parquet"
    one.to_parquet(path)
    with pytest.raises(DataFileError, match="a.json"):
        aggregate([path])
    path.with_suffix(".json").write_text(json.dumps({"run": str(run), "dataset": "dice", "criterion": "cross_entropy",
                                                     "size": 10, "subset_seed": 0, "init_seed": 0}))
    analysis, training = aggregate([path])
    assert len(analysis) == len(one) and list(training.columns[:5]) == RUN_KEYS
    with pytest.raises(DataFileError, match="more than one"):
        aggregate([path, path])
    bad = tmp_path / "bad.parquet"
    one.drop(columns=["layer"]).to_parquet(bad)
    with pytest.raises(DataFileError, match="bad.parquet"):
        aggregate([bad])


def test_tables_are_written(tmp_path):
    frame = synthetic_table(combos=[("dice", "cross_entropy"), ("cifar10", "mse")], sizes=(10, 20), seeds=(0,),
                            iterations=(0, 10))
    t1 = table1(frame)
    assert list(t1["runs"]) == [2, 2] and list(t1["paper_runs"]) == [80, 64]
    t3 = table3()
    assert len(t3) == 3 + 3 + 4 + 4 + 5 + 6
    assert t3[(t3["class"] == "six") & (t3.parameter == "x_shift")][["min", "max"]].values.tolist() == [[0.1, 0.8]]
    paths = write_table(t1, tmp_path / "table1", latex=True, title="Table 1")
    assert [p.suffix for p in paths] == [".csv", ".md", ".tex"]
    assert pd.read_csv(paths[0])["runs"].tolist() == [2, 2]


def markdown_cells(line: str) -> list[str]:
    """The cells of one GFM table row (``\\|`` is a literal bar, not a cell boundary)."""
    import re

    inner = line.strip()
    assert inner.startswith("|") and inner.endswith("|") and not inner.endswith("\\|"), line
    return re.split(r"(?<!\\)\|", inner[1:-1])


def latex_outside_math(tex: str) -> str:
    """``tex`` with every ``$…$`` span removed (escaped ``\\$`` kept out of the pairing)."""
    import re

    text = tex.replace(r"\$", "")
    assert text.count("$") % 2 == 0, "unbalanced $"
    return re.sub(r"\$[^$]*\$", "", text)


def test_markdown_tables_have_a_constant_column_count(tmp_path):
    """The claims' texts contain |…| norms: escaped, every row has the header's column count."""
    frame = compute_claims(hand_made_table(), None, transient=10)
    assert frame["claim"].str.contains("|", regex=False).any()
    write_table(frame, tmp_path / "claims", title="Claims")
    lines = [ln for ln in (tmp_path / "claims.md").read_text().splitlines() if ln.startswith("|")]
    widths = {len(markdown_cells(ln)) for ln in lines}
    assert widths == {len(frame.columns)}
    assert "\\|λ₁(G) − λ₁(𝓗_θL̃)\\|" in (tmp_path / "claims.md").read_text()


def test_table2_latex_keeps_math_in_math_mode(tmp_path):
    import re
    import shutil
    import subprocess

    from eoslab.cli import main

    table = tmp_path / "analysis.parquet"
    synthetic_table(combos=[("dice", "cross_entropy")]).to_parquet(table)
    assert main(["table", "table2", "--analysis", str(table), "--out", str(tmp_path / "table2")]) == 0
    tex = (tmp_path / "table2.tex").read_text()
    assert r"$\max_t P^1_{\Delta,J} = c_1 D^{c_2}$" in tex
    text = latex_outside_math(tex)
    # Outside math mode, ^ and _ must be escaped (\_ or \textasciicircum{}), braces balanced.
    assert not re.search(r"(?<!\\)[_^]", text), text
    assert text.count("{") - text.count(r"\{") == text.count("}") - text.count(r"\}")
    if shutil.which("pdflatex"):  # compile it where LaTeX is installed
        document = tmp_path / "doc.tex"
        document.write_text("\\documentclass{article}\\usepackage[utf8]{inputenc}\\begin{document}\n"
                            + tex + "\\end{document}\n")
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
                       cwd=tmp_path, check=True, capture_output=True)


def test_latex_escape_prints_every_special_character():
    from eoslab.studies.jacobian_alignment.tables import latex_escape

    assert latex_escape("a_b 5% R&D #1 $x$ {y} ^ ~ \\") == (
        r"a\_b 5\% R\&D \#1 \$x\$ \{y\} \textasciicircum{} \textasciitilde{} \textbackslash{}")


def test_variant_figures_for_pairs_the_paper_does_not_show():
    """Dice with MSE (Figure 7's caption) gets the CIFAR-10 MSE group's figures redrawn on its runs."""
    from eoslab.studies.jacobian_alignment.catalog import variants_for

    variants = variants_for([("dice", "cross_entropy"), ("dice", "mse")])
    assert [v.name for v in variants] == [f"{n}_dice_mse" for n in ("07", "11", "16", "20", "25", "30", "35", "40")]
    assert all(v.is_variant and v.criterion == "mse" and v.dataset == "dice" for v in variants)
    assert "caption of Figure 7 names" in variants[0].caption and "dice with MSE" in variants[0].caption
    assert variants_for([("cifar10", "mse")]) == []          # shown by the paper's own figures
    frame = synthetic_table(combos=[("dice", "mse")], sizes=(100, 400), seeds=(0,), iterations=(0, 10, 100))
    fig = draw_figure("07", frame, transient_iterations=10, dataset="dice", criterion="mse")
    assert "dice, MSE" in fig._suptitle.get_text() and "variant" in fig._suptitle.get_text()
    assert all(len(ax.get_lines()) == 2 for ax in fig.get_axes())
    import matplotlib.pyplot as plt
    plt.close(fig)
    with pytest.raises(ValueError, match="needs runs of cifar10 with mse"):
        draw_figure("07", frame, transient_iterations=10)


def test_claims_table_in_the_shared_format_agrees_with_the_readings_and_judges_by_the_rule():
    from eoslab.studies.jacobian_alignment.claims import CLAIMS, claims_table
    from eoslab.verdicts import CLAIM_COLUMNS, judge

    frame = hand_made_table()
    training = pd.DataFrame({"dataset": "dice", "criterion": "cross_entropy", "size": 10, "subset_seed": 0,
                             "init_seed": 0, "iteration": range(20), "lambda_1": [2.0] * 20, "lambda_2": [1.0] * 20,
                             "lambda_min": [-0.5] * 20})
    flat = claims_table(frame, training, transient=10, config="hand-made")
    assert list(flat.columns) == CLAIM_COLUMNS
    table = flat.set_index("claim")
    readings = compute_claims(frame, training, transient=10).set_index("key")
    # The largest per-run value is the readings table's value (which names the attaining run).
    for key in ("max_increase_sharpness_hessian", "max_sharpness_H", "max_share_H", "max_increase_Pi_chi",
                "max_increase_P_DeltaJ"):
        assert table.loc[key, "max"] == pytest.approx(readings.loc[key, "reproduced"])
    assert table.loc["max_increase_Pi_chi", "n"] == 2
    assert table.loc["max_increase_Pi_chi", "min"] == pytest.approx(5 / 3)   # run a: (1+4)/(1+2)
    # ×2 against "as much as ×5.45": same direction, short of 0.8 × 5.45 → partial.
    assert table.loc["max_increase_sharpness_hessian", "verdict"] == "partial"
    # λ₁(H)/λ₁(𝓗) = 0.1 in every run against "never above 9.9%": not every run, and not the median → not reproduced.
    assert table.loc["max_share_H", "verdict"] == "not reproduced"
    # E‖Δᴸ‖² ×2 in both runs against "at most ×2.12": reproduced.
    assert table.loc["max_increase_EDeltaL2", "verdict"] == "reproduced"
    # One cross-entropy run: η = 2/80 = 0.025, more than ×10 the paper's 0.0006 → not reproduced.
    assert table.loc["stable_lr_cross_entropy", "measured"] == pytest.approx(2 / 80)
    assert table.loc["stable_lr_cross_entropy", "verdict"] == "not reproduced"
    assert table.loc["max_share_negative_top_eigenvalue", "verdict"] == "reproduced"   # never happens: share 0
    # Two sizes cannot give a power law; data sets the config lacks are "not run".
    assert table.loc["power_law_c2_dice_cross_entropy", "verdict"] == "not run"
    assert "needs at least three" in table.loc["power_law_c2_dice_cross_entropy", "note"]
    assert table.loc["power_law_c2_sst_cross_entropy", "verdict"] == "not run"
    claims = {claim.claim: claim for claim in CLAIMS}
    for claim, row in table.iterrows():
        assert row["verdict"] == judge(claims[claim], row["measured"], row["min"], row["max"], row["n"])


def test_claims_notes_say_when_runs_did_not_converge():
    from eoslab.studies.jacobian_alignment.claims import claims_table

    frame = hand_made_table()
    status = {("dice", "cross_entropy"): "converged", ("cifar10", "mse"): "max_iterations"}
    frame["status"] = [status[(d, c)] for d, c in zip(frame["dataset"], frame["criterion"])]
    table = claims_table(frame, None, transient=10).set_index("claim")
    assert "1 of 2 runs did not converge (1 max_iterations)" in table.loc["max_share_H", "note"]
    assert "computed only from runs that did not converge" in table.loc["stable_lr_mse", "note"]
    assert "did not converge" not in table.loc["stable_lr_cross_entropy", "note"]


def test_claims_leave_diverged_runs_out():
    from eoslab.studies.jacobian_alignment.claims import claims_table

    frame = hand_made_table()
    status = {("dice", "cross_entropy"): "converged", ("cifar10", "mse"): "diverged"}
    frame["status"] = [status[(d, c)] for d, c in zip(frame["dataset"], frame["criterion"])]
    both = claims_table(hand_made_table(), None, transient=10).set_index("claim")
    table = claims_table(frame, None, transient=10).set_index("claim")
    assert both.loc["max_share_H", "n"] == 2 and table.loc["max_share_H", "n"] == 1
    assert "1 diverged run(s) left out" in table.loc["max_share_H", "note"]
    assert table.loc["stable_lr_mse", "verdict"] == "not run"
    assert table.loc["power_law_c2_cifar10_mse", "note"] == "all 1 cifar10 mse runs diverged"
    assert table.loc["power_law_c2_sst_cross_entropy", "note"] == "no sst cross_entropy runs in this configuration"


def test_claims_readings_leave_diverged_runs_out_like_the_claims_table():
    # Found in docs/reliability.md (c), all runs diverged: claims_readings.md's Note said "0 of 4 runs
    # used" while its negative-top-eigenvalue row was computed from all 4 diverged runs' training logs.
    frame = hand_made_table()
    status = {("dice", "cross_entropy"): "converged", ("cifar10", "mse"): "diverged"}
    frame["status"] = [status[(d, c)] for d, c in zip(frame["dataset"], frame["criterion"])]
    logs = []
    for (dataset, criterion, size), lambda_min in ((("dice", "cross_entropy", 10), -0.5), (("cifar10", "mse", 20), -5.0)):
        logs.append(pd.DataFrame({"dataset": dataset, "criterion": criterion, "size": size, "subset_seed": 0,
                                  "init_seed": 0, "iteration": range(20), "lambda_1": [2.0] * 20,
                                  "lambda_2": [1.0] * 20, "lambda_min": [lambda_min] * 20,
                                  "status": status[(dataset, criterion)]}))
    readings = compute_claims(frame, pd.concat(logs, ignore_index=True), transient=10).set_index("key")
    negative = readings.loc["max_share_negative_top_eigenvalue"]
    assert negative["runs"] == 1 and negative["reproduced"] == 0.0      # the diverged run's share 1.0 is left out
    assert readings.loc["max_sharpness_H", "runs"] == 1


# --- Faults (issue 24): runs that did not converge are results, and the outputs say which runs they used ----


def _with_statuses(frame, statuses):
    """``statuses``: {(size, subset_seed, init_seed): status}; every other run converged."""
    frame = frame.assign(status="converged")
    for (size, s, i), status in statuses.items():
        rows = (frame["size"] == size) & (frame["subset_seed"] == s) & (frame["init_seed"] == i)
        frame.loc[rows, "status"] = status
    return frame.astype({"status": "string"})


def test_table2_leaves_diverged_runs_out_and_notes_fewer_than_three_sizes():
    frame = synthetic_table(combos=[("dice", "cross_entropy")], sizes=(100, 200))
    frame = _with_statuses(frame, {(100, 0, 0): "diverged", (200, 1, 1): "max_iterations"})
    table = table2(frame, transient_iterations=10).set_index("fit")
    assert table.loc["pooled", "runs"] == 7   # 8 runs, one diverged
    assert math.isnan(table.loc["size_means", "c2"])
    assert "not fitted: 2 size(s) (100, 200)" in table.loc["size_means", "note"]
    assert "only 2 sizes" in table.loc["pooled", "note"]
    for note in table["note"]:
        assert "left out as diverged: dice/cross_entropy D=100 s0 i0" in note
        assert "1 stopped at max_iterations" in note and "D=200 s1 i1" in note
    assert (synthetic_table(combos=[("dice", "cross_entropy")]).pipe(table2, 10)["note"] == "").all()


def test_tables_say_which_runs_they_used(tmp_path):
    from eoslab.studies.jacobian_alignment.tables import status_notes

    frame = _with_statuses(synthetic_table(combos=[("dice", "cross_entropy")], sizes=(100,), seeds=(0,)),
                           {(100, 0, 0): "max_iterations"})
    t1 = table1(frame)
    assert t1[["converged", "max_iterations", "diverged"]].values.tolist() == [[0, 1, 0]]
    notes = status_notes(frame)
    assert notes and notes[0].startswith("dice/cross_entropy: 1 of 1 runs used (1 max_iterations)")
    paths = write_table(t1, tmp_path / "table1", latex=True, title="Table 1", notes=notes)
    assert "Note: dice/cross_entropy: 1 of 1 runs used" in paths[1].read_text()
    assert "max\\_iterations" in paths[2].read_text()


def test_figures_name_the_runs_left_out_and_mark_empty_panels():
    frame = synthetic_table(combos=[("dice", "cross_entropy")], sizes=(100, 200), seeds=(0,))
    frame = _with_statuses(frame, {(100, 0, 0): "diverged"})
    fig = draw_figure("06", frame)
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "left out as diverged: dice/cross_entropy D=100 s0 i0" in texts
    assert sum(len(ax.lines) for ax in fig.axes) == 3  # one run per panel: the diverged one is not drawn
    # Figure 19 divides by the value at t0 = iteration 10: runs that stop before it leave its panels empty.
    early = synthetic_table(combos=[("dice", "cross_entropy")], sizes=(100,), seeds=(0,), iterations=(0, 5))
    fig = draw_figure("19", early, transient_iterations=10)
    marked = [ax for ax in fig.axes if any("no data" in t.get_text() for t in ax.texts)]
    assert len(marked) == 5
    everything_diverged = _with_statuses(early, {(100, 0, 0): "diverged"})
    fig = draw_figure("06", everything_diverged)
    assert any("no run of this data set" in t.get_text() for ax in fig.axes for t in ax.texts)

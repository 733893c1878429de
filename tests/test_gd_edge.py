"""The GD-beside-the-flow figures and summary (eoslab.studies.jacobian_alignment.gd) on two tiny runs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from eoslab.cli import main
from eoslab.studies.jacobian_alignment import gd


def test_gd_figures_and_summary_from_a_flow_and_a_gd_run(tmp_path, blob_data):
    data = blob_data(n=24, d=5, c=3)
    data.with_suffix(".json").write_text(json.dumps({"dataset": "blobs", "size": 24, "subset_seed": 0}))
    common = ["--data", str(data), "--depth", "3", "--width", "6", "--no-progress", "--eig-method", "krylov"]
    assert main(["train", *common, "--out", str(tmp_path / "flow"), "--max-iterations", "6",
                 "--snapshot-every", "3"]) == 0
    assert main(["train", *common, "--out", str(tmp_path / "gd"), "--max-iterations", "8", "--snapshot-every", "4",
                 "--integrator", "gradient_descent", "--lr", "0.05", "--eig-every", "2", "--num-eigenpairs", "1",
                 "--lambda-min-every", "0"]) == 0
    for name in ("flow", "gd"):
        assert main(["analyze", str(tmp_path / name), "--out", str(tmp_path / f"{name}.parquet"), "--no-progress",
                     "--eig-method", "krylov"]) == 0
    assert gd.main(["--flow", str(tmp_path / "flow.parquet"), "--gd", str(tmp_path / "gd.parquet"),
                    "--figures", str(tmp_path / "figures"), "--tables", str(tmp_path / "tables")]) == 0
    for stem in ("gd_sharpness", "gd_alignment"):
        assert (tmp_path / "figures" / f"{stem}.png").stat().st_size > 0
    summary = pd.read_csv(tmp_path / "tables" / "gd_summary.csv")
    assert list(summary["method"]) == ["GD η=0.05", "flow"]
    row = summary.set_index("method").loc["GD η=0.05"]
    assert row["two_over_lr"] == 40.0 and row["t_end"] == pytest.approx(0.4) and row["iterations"] == 8
    assert {"P_DeltaJ1_end_over_ref", "EK2_max", "rho_K_ref", "EDeltaL2_end"} <= set(summary.columns)
    assert "reference time t_ref = 0.2" in (tmp_path / "tables" / "gd_summary.md").read_text()
    # the comparison time is GD's end (t = 0.4): GD's ratio there is its end ratio; the flow's is taken
    # at its snapshot nearest t = 0.4, and computed here from the flow's own analysis table
    assert row["t_cmp"] == pytest.approx(0.4) and row["P_DeltaJ1_cmp_over_ref"] == row["P_DeltaJ1_end_over_ref"]
    flow_row = summary.set_index("method").loc["flow"]
    flow = pd.read_parquet(tmp_path / "flow.parquet")
    p = flow[(flow["metric"] == "P_DeltaJ") & (flow["layer"] == 1)].sort_values("t")
    nearest = p.iloc[(p["t"] - 0.4).abs().to_numpy().argmin()]
    at_ref = p[p["t"] >= 0.2 - 1e-12].iloc[0]
    assert flow_row["t_cmp"] == pytest.approx(nearest["t"])
    assert flow_row["P_DeltaJ1_cmp_over_ref"] == pytest.approx(nearest["value"] / at_ref["value"], rel=1e-12)
    paired = gd.paired_with_flow(summary).set_index("factor")
    expected = row["P_DeltaJ1_cmp_over_ref"] / flow_row["P_DeltaJ1_cmp_over_ref"]
    assert paired.loc["P_DeltaJ1", "GD / flow"] == f"{expected:.3g} [{expected:.3g}, {expected:.3g}]"
    assert paired.loc["P_DeltaJ1", "GD below the flow"] == f"{int(expected < 1)} of 1"
    assert "## Paired" in (tmp_path / "tables" / "gd_summary.md").read_text()
    seeds = gd.over_seeds(summary).set_index("method")
    assert seeds.loc["flow", "runs"] == 1 and seeds.loc["GD η=0.05", "lambda1_late_over_2_lr"].count("[") == 1


def test_gd_figures_draw_one_line_per_run_when_a_size_has_several_seeds(monkeypatch):
    """Two seeds of the flow and of one η at one size: four lines per panel, each monotone in t (the
    seeds of a method are not joined into one line), and the legend names each method once."""
    import numpy as np

    import eoslab.plotting as plotting

    figures = []
    monkeypatch.setattr(plotting, "save_and_close", lambda fig, stem: figures.append(fig) or [])
    t = np.linspace(0.0, 1.0, 5)
    logs, analysis = [], []
    for method, lr in (("flow", 1.0), ("GD η=0.01", 0.01)):
        for init_seed in (0, 1):
            run = dict(size=32, method=method, lr=lr, subset_seed=0, init_seed=init_seed)
            logs.append(pd.DataFrame({**run, "t": t, "lambda_1": 100.0 + 10 * init_seed + t, "loss": 1.0 - 0.5 * t}))
            for metric, layer, _label in gd.FACTORS:
                analysis.append(pd.DataFrame({**run, "t": t, "metric": metric, "layer": layer,
                                              "value": 1.0 + init_seed + t}))
    logs, analysis = pd.concat(logs, ignore_index=True), pd.concat(analysis, ignore_index=True)
    analysis["layer"] = analysis["layer"].astype("Int64")
    gd.figure_sharpness(analysis, logs, "unused")
    gd.figure_alignment(analysis, "unused")
    sharpness, alignment = figures
    for ax in (sharpness.axes[0], sharpness.axes[1], alignment.axes[0]):
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]   # not the 2/η lines
        assert len(lines) == 4
        assert all(np.all(np.diff(line.get_xdata()) > 0) for line in lines)
    assert [text.get_text() for text in sharpness.legends[0].get_texts()] == ["flow", "GD η=0.01", "2/η"]
    assert [ax.get_ylabel() for ax in alignment.axes] == [label for _metric, _layer, label in gd.FACTORS]

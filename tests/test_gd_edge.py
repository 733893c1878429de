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

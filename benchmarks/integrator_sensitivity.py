"""Sensitivity of exponential Euler training to the cap η and the eigenpair order (issue 10, item 4).

The paper does not give η (the cap on Δt, ``lr``); the authors' stable-solvers
example uses ``max_step_size = 0.01``; eoslab's default was 1.0.  This script
trains the paper's MLP (depth 6, ELU, Xavier gain √2, float64, cross-entropy,
width ``--width``) on a dice subset for every η × eigenpair order × init seed
with ``eoslab train`` (``lambda_min`` logged every iteration), then summarises:

* ``run``: the training runs, one after another, into ``OUT/runs/lr{η}_{order}_s{seed}``
  (a finished run is not recomputed; an interrupted one resumes);
* ``report``: ``OUT/sensitivity.csv`` (one row per run), a Markdown table on
  stdout, and a figure (loss and λ₁ against integration time t).

Per run: iterations and t at the loss threshold (0.01), the claims' sharpening
ratios — max λ₁ after iteration 10 over λ₁ at iteration 10, and over λ₁ at the
first snapshot ≥ 100 — and how often the paper's power iteration would have
reported a negative top eigenvalue (``|λ_min| > λ_1``, Supplement 7.1).

    python benchmarks/integrator_sensitivity.py run --data n64_s0.npz --out /tmp/sensitivity
    python benchmarks/integrator_sensitivity.py report --out /tmp/sensitivity --figure docs/img/integrator_sensitivity.png
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def run_name(lr: float, order: str, seed: int) -> str:
    return f"lr{lr:g}_{order}_s{seed}"


def run(args) -> None:
    out = Path(args.out) / "runs"
    out.mkdir(parents=True, exist_ok=True)
    for lr, order, seed in itertools.product(args.lrs, args.orders, args.seeds):
        target = out / run_name(lr, order, seed)
        command = [sys.executable, "-m", "eoslab.cli", "--threads", "1", "train", "--data", args.data,
                   "--out", str(target), "--no-progress", "--width", str(args.width), "--depth", str(args.depth),
                   "--lr", str(lr), "--eig-order", order, "--init-seed", str(seed),
                   "--max-iterations", str(args.max_iterations), "--snapshot-every", "100",
                   "--checkpoint-every", "100", *args.extra]
        started = time.time()
        completed = subprocess.run(command, capture_output=True, text=True)
        print(f"{target.name}: exit {completed.returncode} in {time.time() - started:.0f} s: "
              f"{completed.stdout.strip() or completed.stderr.strip()[-300:]}", flush=True)


def summarise(run_dir: Path) -> dict:
    log = pd.read_parquet(run_dir / "log.parquet")
    status = json.loads((run_dir / "status.json").read_text())
    config = json.loads((run_dir / "run.json").read_text())
    lam = log.set_index("iteration")["lambda_1"]
    steps = log.iloc[:-1]                                  # rows that took a step
    after10 = lam.loc[lam.index > 10].max()
    snapshot = next((i for i in range(100, int(lam.index.max()) + 1, 100) if i in lam.index
                     and np.isfinite(lam.loc[i])), None)
    events = int((steps["lambda_min"].abs() > steps["lambda_1"]).sum())
    return {
        "run": run_dir.name, "lr": config["lr"], "order": config["eig_order"], "seed": config["init_seed"],
        "status": status["status"], "iterations": int(status["iteration"]), "t_end": float(status["t"]),
        "final_loss": float(status["loss"]), "wall_s": float(status["wall_seconds"]),
        "dt_capped_fraction": float((steps["dt"] >= config["lr"] * (1 - 1e-12)).mean()),
        "lambda1_at_10": float(lam.loc[10]), "max_lambda1_after_10": float(after10),
        "ratio_max_over_10": float(after10 / lam.loc[10]),
        "snapshot": snapshot, "ratio_max_over_snapshot": float(after10 / lam.loc[snapshot]) if snapshot else np.nan,
        "negative_lambda1": int((steps["lambda_1"] < 0).sum()),
        "lambda_min_events": events, "lambda_min_event_fraction": events / max(len(steps), 1),
        "median_lambda_min": float(steps["lambda_min"].median()),
        "loss_increases": int((np.diff(log["loss"].to_numpy()) > 0).sum()),
    }


def report(args) -> None:
    out = Path(args.out)
    finished = [d for d in sorted((out / "runs").iterdir()) if (d / "status.json").exists()
                and json.loads((d / "status.json").read_text())["status"] in ("converged", "max_iterations")]
    rows = [summarise(d) for d in finished]
    table = pd.DataFrame(rows).sort_values(["order", "lr", "seed"], ascending=[True, False, True])
    table.to_csv(out / "sensitivity.csv", index=False)
    columns = ["order", "lr", "seed", "status", "iterations", "t_end", "dt_capped_fraction", "lambda1_at_10",
               "max_lambda1_after_10", "ratio_max_over_10", "ratio_max_over_snapshot", "loss_increases",
               "negative_lambda1", "lambda_min_events"]
    print(table[columns].to_markdown(index=False, floatfmt=".4g"))
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        orders = sorted(table["order"].unique())
        fig, axes = plt.subplots(2, len(orders), figsize=(4.2 * len(orders), 5.6), sharex=True, squeeze=False)
        colours = {1.0: "tab:blue", 0.1: "tab:orange", 0.01: "tab:green"}
        styles = ["-", "--", ":"]
        for column, order in enumerate(orders):
            for row in table[table["order"] == order].itertuples():
                log = pd.read_parquet(out / "runs" / row.run / "log.parquet")
                style = dict(color=colours.get(row.lr, "k"), ls=styles[int(row.seed) % 3], lw=1)
                label = f"η = {row.lr:g}, seed {row.seed}"
                axes[0, column].plot(log["t"], log["loss"], label=label, **style)
                axes[1, column].plot(log["t"], log["lambda_1"], **style)
            axes[0, column].set_yscale("log")
            axes[0, column].set_title(f"{order} order")
            axes[1, column].set_xlabel("integration time t")
        axes[0, 0].set_ylabel("training loss")
        axes[1, 0].set_ylabel("λ₁ (sharpness)")
        for axis in axes[0]:
            axis.legend(fontsize=7)
        fig.suptitle(f"Exponential Euler on dice (64 images, white background), depth 6, width {args.width}, CE",
                     fontsize=9)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=80)
        print(f"wrote {args.figure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--data", required=True)
    p_run.add_argument("--out", required=True)
    p_run.add_argument("--width", type=int, default=64)
    p_run.add_argument("--depth", type=int, default=6)
    p_run.add_argument("--lrs", type=float, nargs="+", default=[1.0, 0.1, 0.01])
    p_run.add_argument("--orders", nargs="+", default=["algebraic", "magnitude"])
    p_run.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p_run.add_argument("--max-iterations", type=int, default=4000)
    p_run.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="further 'eoslab train' flags")
    p_report = sub.add_parser("report")
    p_report.add_argument("--out", required=True)
    p_report.add_argument("--width", type=int, default=64)
    p_report.add_argument("--figure")
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()

"""Gradient descent at the edge of stability beside the flow: figures and a summary table.

Input: the analysis tables (``eoslab analyze``) of the flow's runs and of the same runs trained by
gradient descent at fixed step sizes η (``jacobian_alignment.gradient_descent`` of a config,
``workflow/rules/jacobian_alignment_gd.smk``); through each table's JSON card, the run directory,
its ``run.json`` (integrator, η) and its training log (λ₁ at every logged iteration).  Time is the
integration time ``t`` (GD: ``t = η · iteration``), so flow and GD share the axis.

* ``gd_sharpness``: per size D, λ₁(𝓗) of the training logs against t — flow (black), GD per η
  (coloured) with its 2/η (dashed) — and below it the training loss;
* ``gd_alignment``: per size D (columns), the factors of the decomposition over t, flow and GD
  side by side: P¹_{Δ,J}, Π¹_J, E‖K‖², ρ(K), E‖Δᴸ‖², λ₁(𝓗) at the snapshots;
* ``gd_summary.{csv,md}``: one row per run, λ₁ against 2/η and each factor at the reference time,
  at the end, its largest value and the ratios (what keeps growing and what gives way).

    python -m eoslab.studies.jacobian_alignment.gd --flow FLOW.parquet ... --gd GD.parquet ... \\
        --figures DIR --tables DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ...io import atomic_write, read_json
from .aggregate import RUN_KEYS, read_analysis

#: The decomposition's factors drawn and summarised (metric, layer, label).
FACTORS = [("P_DeltaJ", 1, r"$P^1_{\Delta,J}$"), ("Pi_J", 1, r"$\Pi^1_J$"),
           ("EK2", None, r"$\mathbb{E}\|K\|^2_{\max}$"), ("rho_K", None, r"$\rho(K)$"),
           ("EDeltaL2", None, r"$\mathbb{E}\|\Delta^L\|^2_{\max}$"),
           ("sharpness_hessian", None, r"$\lambda_1(\mathcal{H})$ (snapshots)")]


def load_runs(paths, kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(analysis rows, training-log rows)`` of the runs, tagged with ``method``, ``lr`` and ``status``."""
    tables, logs = [], []
    for path in paths:
        table = read_analysis(path)
        card = read_json(Path(path).with_suffix(".json"))
        run_dir = Path(card["run"])
        run = read_json(run_dir / "run.json")
        config = run.get("config", run)
        integrator = config.get("integrator", "exponential_euler")
        lr = float(config.get("lr", float("nan")))
        status = read_json(run_dir / "status.json") if (run_dir / "status.json").exists() else {}
        if (kind == "gd") != (integrator == "gradient_descent"):
            raise ValueError(f"{path}: its run {run_dir} was trained by {integrator}, but was passed as --{kind}")
        method = f"GD η={lr:g}" if kind == "gd" else "flow"
        log = pd.read_parquet(run_dir / "log.parquet")
        for frame in (table, log):
            frame["method"], frame["lr"], frame["status"] = method, lr, status.get("status", "unknown")
            frame["run_dir"] = str(run_dir)
        for key in RUN_KEYS:
            log[key] = card[key]
        tables.append(table)
        logs.append(log)
    return pd.concat(tables, ignore_index=True), pd.concat(logs, ignore_index=True)


#: One training run among the logs/analysis rows of one size: its method (flow or GD at an η) and seeds.
LINE_KEYS = ["method", "lr", "subset_seed", "init_seed"]


def series(table: pd.DataFrame, metric: str, layer: int | None) -> pd.DataFrame:
    rows = table[table["metric"] == metric]
    rows = rows[rows["layer"].isna()] if layer is None else rows[rows["layer"] == layer]
    return rows.sort_values("t")


def colours(lrs) -> dict[float, tuple]:
    from ...plotting import sns

    lrs = sorted(set(lrs), reverse=True)
    return dict(zip(lrs, sns.color_palette("plasma", n_colors=max(len(lrs), 2))[:len(lrs)]))


def figure_sharpness(analysis: pd.DataFrame, logs: pd.DataFrame, stem: str | Path) -> list[Path]:
    from ...plotting import apply_style, finish_axes, plt, save_and_close

    apply_style()
    sizes = sorted(logs["size"].unique())
    palette = colours(logs.loc[logs["method"] != "flow", "lr"])
    fig, axes = plt.subplots(2, len(sizes), figsize=(4.2 * len(sizes), 5.6), squeeze=False, sharex="col")
    for column, size in enumerate(sizes):
        ax, ax_loss = axes[0, column], axes[1, column]
        labelled = set()
        # One line per run: every seed of a (method, η) in the same colour, the legend naming it once.
        for (method, lr, *_seeds), run in logs[logs["size"] == size].groupby(LINE_KEYS, sort=False):
            run = run.sort_values("t")
            colour = "black" if method == "flow" else palette[lr]
            legend_label = None if method in labelled else method
            labelled.add(method)
            eig = run.dropna(subset=["lambda_1"])
            ax.plot(eig["t"], eig["lambda_1"], color=colour, lw=0.9 if method == "flow" else 0.7, label=legend_label)
            ax_loss.plot(run["t"], run["loss"], color=colour, lw=0.9, label=legend_label)
            if method != "flow" and legend_label is not None:
                ax.axhline(2.0 / lr, color=colour, ls="--", lw=0.9)
        values = logs.loc[logs["size"] == size, "lambda_1"].dropna().to_numpy(dtype=float)
        finish_axes(ax, r"$\lambda_1(\mathcal{H}_\theta\tilde{\mathcal{L}})$", values, f"D = {size}")
        ax_loss.set_yscale("log")
        ax_loss.set_ylabel("training loss")
        ax_loss.set_xlabel("t (GD: η · iteration)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], color="grey", ls="--"))
    labels.append("2/η")
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle("Sharpness under gradient descent (fixed η) and under the flow, same initial weights and data",
                 fontsize=10)
    fig.tight_layout()
    return save_and_close(fig, stem)


def figure_alignment(analysis: pd.DataFrame, stem: str | Path) -> list[Path]:
    from ...plotting import apply_style, finish_axes, plt, save_and_close

    apply_style()
    sizes = sorted(analysis["size"].unique())
    palette = colours(analysis.loc[analysis["method"] != "flow", "lr"])
    fig, axes = plt.subplots(len(FACTORS), len(sizes), figsize=(4.2 * len(sizes), 2.3 * len(FACTORS)),
                             squeeze=False, sharex="col")
    for column, size in enumerate(sizes):
        rows = analysis[analysis["size"] == size]
        for r, (metric, layer, label) in enumerate(FACTORS):
            ax = axes[r, column]
            values, labelled = [], set()
            for (method, lr, *_seeds), run in rows.groupby(LINE_KEYS, sort=False):
                s = series(run, metric, layer)
                legend_label = None if method in labelled else method
                labelled.add(method)
                ax.plot(s["t"], s["value"], color="black" if method == "flow" else palette[lr], lw=0.9,
                        marker=".", ms=3, label=legend_label)
                values.append(s["value"].to_numpy(dtype=float))
                if metric == "sharpness_hessian" and method != "flow" and legend_label is not None:
                    ax.axhline(2.0 / lr, color=palette[lr], ls="--", lw=0.8)
            finish_axes(ax, label, np.concatenate(values) if values else np.array([]),
                        f"D = {size}" if r == 0 else None)
        axes[-1, column].set_xlabel("t (GD: η · iteration)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.suptitle("The decomposition of Eqs. 3–7 under gradient descent and under the flow", fontsize=10)
    fig.tight_layout()
    return save_and_close(fig, stem)


def _value_at(s: pd.DataFrame, t: float) -> float:
    """The value at the first snapshot with time ≥ t (NaN if none)."""
    later = s[s["t"] >= t - 1e-12]
    return float(later["value"].iloc[0]) if len(later) else float("nan")


def _median_range(values: pd.Series) -> str:
    """"median [min, max]" of the finite values, "—" when there are none."""
    values = values.dropna()
    return f"{values.median():.3g} [{values.min():.3g}, {values.max():.3g}]" if len(values) else "—"


def summary(analysis: pd.DataFrame, logs: pd.DataFrame, t_ref: float, t_cmp: float) -> pd.DataFrame:
    """One row per run: λ₁ against 2/η and each factor at t_ref, at the end, at its largest, and at the
    snapshot nearest t_cmp (the time every GD run reaches: the flow's value there is what GD's end is
    compared with, since the flow runs on to its loss threshold)."""
    out = []
    keys = ["size", "subset_seed", "init_seed", "method", "lr"]
    for key, run in analysis.groupby(keys, sort=True):
        size, subset_seed, init_seed, method, lr = key
        log = logs[(logs["size"] == size) & (logs["subset_seed"] == subset_seed) & (logs["init_seed"] == init_seed)
                   & (logs["method"] == method)]
        if method != "flow":
            log = log[log["lr"] == lr]
        eig = log.dropna(subset=["lambda_1"])
        t_end = float(log["t"].max())
        late = eig[eig["t"] >= t_end / 2]
        row = {"D": int(size), "subset_seed": int(subset_seed), "init_seed": int(init_seed), "method": method,
               "two_over_lr": 2.0 / lr if method != "flow" else float("nan"), "status": run["status"].iloc[0],
               "iterations": int(log["iteration"].max()), "t_end": t_end,
               "loss_end": float(log.sort_values("t")["loss"].iloc[-1]),
               "lambda1_max": float(eig.loc[eig["t"] >= t_ref, "lambda_1"].max()),
               "lambda1_median_late": float(late["lambda_1"].median())}
        if method != "flow":
            threshold = 2.0 / lr
            row["lambda1_late_over_2_lr"] = row["lambda1_median_late"] / threshold
            above = eig[eig["lambda_1"] >= 0.9 * threshold]
            row["t_reach_2_lr"] = float(above["t"].iloc[0]) if len(above) else float("nan")
        # The run's snapshot nearest t_cmp (every metric is analysed at every snapshot).
        times = run["t"].unique()
        row["t_cmp"] = float(times[abs(times - t_cmp).argmin()])
        for metric, layer, _ in FACTORS:
            s = series(run, metric, layer)
            name = metric + (f"{layer}" if layer else "")
            ref, end = _value_at(s, t_ref), float(s["value"].iloc[-1])
            row[f"{name}_ref"], row[f"{name}_end"], row[f"{name}_max"] = ref, end, float(s["value"].max())
            row[f"{name}_end_over_ref"] = end / ref if ref else float("nan")
            row[f"{name}_cmp_over_ref"] = _value_at(s, row["t_cmp"]) / ref if ref else float("nan")
        out.append(row)
    return pd.DataFrame(out)


def over_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """Per size and method (flow, or GD at one η): "median [min, max]" over the seeds of λ₁'s late
    median over 2/η and of each factor's ratio from t_ref to t_cmp, with the number of runs."""
    columns = ["lambda1_late_over_2_lr"] + [c for c in table.columns if c.endswith("_cmp_over_ref")]
    rows = []
    for (size, method), runs in table.groupby(["D", "method"], sort=True):
        row = {"D": int(size), "method": method, "runs": len(runs)}
        for column in columns:
            row[column] = _median_range(runs[column]) if column in runs else "—"
        rows.append(row)
    return pd.DataFrame(rows)


def paired_with_flow(table: pd.DataFrame) -> pd.DataFrame:
    """Each GD run's ``*_cmp_over_ref`` ratio over the flow run's with the same size and seeds, summarised
    per factor: median [min, max] over the GD runs, how many lie below the flow's, and the same per size.
    Seeds spread the ratios more than the methods do in places; the pairing takes that spread out."""
    columns = [c for c in table.columns if c.endswith("_cmp_over_ref")]
    keys = ["D", "subset_seed", "init_seed"]
    flow = table[table["method"] == "flow"].set_index(keys)[columns]
    runs = table[table["method"] != "flow"].set_index(keys)
    runs = runs[runs.index.isin(flow.index)]
    ratios = runs[columns] / flow.loc[runs.index].to_numpy()
    sizes = ratios.index.get_level_values("D")
    rows = []
    for column in columns:
        r = ratios[column].dropna()
        row = {"factor": column.removesuffix("_cmp_over_ref"),
               "GD / flow": _median_range(r),
               "GD below the flow": f"{int((r < 1).sum())} of {len(r)}"}
        for size in sorted(set(sizes)):
            rs = ratios.loc[sizes == size, column].dropna()
            row[f"D = {size}: median, below"] = f"{rs.median():.3g}, {int((rs < 1).sum())} of {len(rs)}" if len(rs) \
                else "—"
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eoslab.studies.jacobian_alignment.gd", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flow", nargs="+", required=True, help="analysis tables of the flow's runs")
    parser.add_argument("--gd", nargs="+", required=True, help="analysis tables of the gradient descent runs")
    parser.add_argument("--figures", required=True, help="directory of gd_sharpness.* and gd_alignment.*")
    parser.add_argument("--tables", required=True, help="directory of gd_summary.{csv,md}")
    parser.add_argument("--transient-iterations", type=int, default=10,
                        help="the flow's transient; the reference time t_ref is the GD runs' first snapshot "
                             "after t = 0 (default: 10)")
    args = parser.parse_args(argv)
    flow, flow_logs = load_runs(args.flow, "flow")
    gd, gd_logs = load_runs(args.gd, "gd")
    analysis = pd.concat([flow, gd], ignore_index=True)
    logs = pd.concat([flow_logs, gd_logs], ignore_index=True)
    # Reference time: GD's first snapshot after t = 0 (the flow's snapshot at the same or the next time).
    t_ref = float(gd.loc[gd["t"] > 0, "t"].min())
    # Comparison time: the end every GD run reaches (t_max, or earlier where one stopped at its threshold).
    t_cmp = float(gd_logs.groupby("run_dir")["t"].max().min())
    figures, tables = Path(args.figures), Path(args.tables)
    figures.mkdir(parents=True, exist_ok=True)
    tables.mkdir(parents=True, exist_ok=True)
    paths = figure_sharpness(analysis, logs, figures / "gd_sharpness")
    paths += figure_alignment(analysis, figures / "gd_alignment")
    table = summary(analysis, logs, t_ref, t_cmp)
    atomic_write(tables / "gd_summary.csv", lambda tmp: table.to_csv(tmp, index=False))
    text = (f"# Gradient descent beside the flow (reference time t_ref = {t_ref:g}, comparison time "
            f"t_cmp = {t_cmp:g})\n\n"
            "## Over seeds: median [min, max] of each run's ratio from t_ref to the snapshot nearest t_cmp\n\n"
            + over_seeds(table).to_markdown(index=False) + "\n\n"
            "## Paired: each GD run's ratio over the same-seed flow run's ratio\n\n"
            + paired_with_flow(table).to_markdown(index=False) + "\n\n## Every run\n\n"
            + table.set_index(["D", "method", "subset_seed", "init_seed"]).T.to_markdown(floatfmt=".4g") + "\n")
    atomic_write(tables / "gd_summary.md", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    print("wrote " + ", ".join(map(str, paths + [tables / "gd_summary.csv", tables / "gd_summary.md"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

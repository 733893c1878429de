"""The study's figures, numbered as in the paper (1–5, 7–10; 6 and 11–16 are the GPU-only
CIFAR-10 / ImageNet experiments, not reproduced).  Each writes ``stem.pdf`` and ``stem.png``.

Inputs: the linear-model sweeps (``linear/<setting>.parquet``, ``…_trajectories.parquet``), the
quadratic-model trajectories (``quadratic/<shape>.parquet``) and the MLP runs
(``mlp/runs.parquet``) written by :mod:`.cli`.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from ...plotting import apply_style, save_figure  # noqa: E402
from . import linear as linear_model  # noqa: E402
from .mlp import final_rows  # noqa: E402
from .quadratic import discrete_derivatives  # noqa: E402

FIGURES = {
    "01": "Linear model (flat Jacobian): SGD loss, stability measures vs η, loss vs K̃",
    "02": "Quadratic regression model: λ_max(Θ̂) under SGD for several batch sizes (flat / shaped Q)",
    "03": "MLP, small batch: training loss and K̃ over training for several learning rates",
    "04": "MLP: final λ_max(Θ̂) vs η (EOS 2/η) and vs η/B",
    "05": "MLP, small batch: final K̃ vs η/B; final loss vs K̃ and vs ηλ_max",
    "07": "Linear model, three Jacobians: λ_max(𝒯), K̃, K̃_HD, K̃_tr and ηλ_max/2 vs η",
    "08": "Linear model, three Jacobians: loss after T steps vs K̃, K̃_HD, K̃_tr",
    "09": "Quadratic regression model: discrete derivatives of λ̂ vs batch size",
    "10": "MLP: trace estimator K̃_tr vs exact K̃",
    "A4": "Linear model, Appendix A.4's failure case: K̃, K̃_HD, K̃_tr at the MC divergence boundary vs localisation",
}
MEASURES = {"radius": r"$\lambda_{max}(\mathcal{T})$", "K": r"$\tilde K$", "K_hd": r"$\tilde K_{HD}$",
            "K_tr": r"$\tilde K_{tr}$", "half_eos": r"$\eta\lambda_{max}/2$"}
MEASURE_COLOURS = dict(zip(MEASURES, sns.color_palette("deep", len(MEASURES))))


def _batch_colours(batch_sizes) -> dict[int, tuple]:
    sizes = sorted(set(int(b) for b in batch_sizes))
    return dict(zip(sizes, sns.color_palette("viridis", max(len(sizes), 1))))


def _lr_colours(lrs) -> dict[float, tuple]:
    lrs = sorted(set(float(v) for v in lrs))
    return dict(zip(lrs, sns.color_palette("rocket_r", max(len(lrs), 1))))


def _finite_loss(values: np.ndarray, cap: float) -> np.ndarray:
    """Diverged losses drawn at ``cap`` (marked separately)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), np.minimum(values, cap), cap)


def _stability_panel(ax, sweep: pd.DataFrame, title: str, measures=("radius", "K", "K_hd", "K_tr", "half_eos")):
    sweep = sweep.sort_values("lr")
    lr = sweep["lr"].to_numpy()
    for name in measures:
        values = sweep["lr_lambda_max"].to_numpy() / 2 if name == "half_eos" else sweep[name].to_numpy()
        ax.plot(lr, np.where(np.isfinite(values), values, np.nan), marker=".", ms=3, lw=1,
                color=MEASURE_COLOURS[name], label=MEASURES[name])
    boundary = linear_model.divergence_boundary(sweep)
    if np.isfinite(boundary):
        ax.axvline(boundary, color="0.3", ls=":", lw=1, label="SGD diverges (MC)")
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"learning rate $\eta$")
    ax.set_title(title)


def _loss_vs_measure(ax, sweeps: list[pd.DataFrame], measure: str, title: str):
    for sweep in sweeps:
        sweep = sweep.sort_values("lr")
        cap = 1e3 * float(sweep["loss_initial"].iloc[0])
        x = sweep[measure].to_numpy()
        y = _finite_loss(sweep["loss_mc_mean"].to_numpy(), cap)
        diverged = ~np.isfinite(sweep["loss_mc_mean"].to_numpy())
        ax.plot(x, y, marker=".", ms=4, lw=1, label=sweep["setting"].iloc[0])
        ax.plot(x[diverged], y[diverged], "x", color="k", ms=4)
    ax.axvline(1.0, color="k", lw=0.6, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(MEASURES[measure])
    ax.set_title(title)


# -- linear model -------------------------------------------------------------------------------
def figure_01(sweep: pd.DataFrame, trajectories: pd.DataFrame, stem) -> list[Path]:
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    lrs = sorted(trajectories["lr"].unique())
    shown = lrs[:: max(1, len(lrs) // 6)]
    colours = _lr_colours(shown)
    for lr in shown:
        part = trajectories[trajectories["lr"] == lr].sort_values("step")
        cap = 1e6 * float(part["loss_mc_mean"].iloc[0])
        axes[0].plot(part["step"], _finite_loss(part["loss_mc_mean"].to_numpy(), cap), color=colours[lr], lw=1,
                     label=f"η = {lr:.2g}")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("SGD step")
    axes[0].set_ylabel("mean loss over runs")
    axes[0].legend(fontsize=6)
    axes[0].set_title("SGD loss (Monte-Carlo mean)")
    _stability_panel(axes[1], sweep, "stability measures", measures=("radius", "K", "half_eos"))
    axes[1].legend(fontsize=6)
    _loss_vs_measure(axes[2], [sweep], "K", "loss after T steps vs K̃")
    axes[2].set_ylabel("mean loss after T steps")
    row = sweep.iloc[0]
    fig.suptitle(f"Figure 1. Linear model, flat Jacobian (D = {row.num_samples}, P = {row.num_parameters}, "
                 f"B = {row.batch_size}, T = {row.steps}, {row.replicas} SGD runs per η)", fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


def figure_07(sweeps: list[pd.DataFrame], stem) -> list[Path]:
    apply_style()
    fig, axes = plt.subplots(1, len(sweeps), figsize=(3.7 * len(sweeps), 3.2), squeeze=False)
    for ax, sweep in zip(axes[0], sweeps):
        _stability_panel(ax, sweep, sweep["setting"].iloc[0])
    axes[0][0].legend(fontsize=6)
    row = sweeps[0].iloc[0]
    fig.suptitle(f"Figure 7. Stability measures vs η: $\\lambda_{{max}}(\\mathcal{{T}})$, K̃ and its approximations (D = {row.num_samples}, "
                 f"P = {row.num_parameters}, B = {row.batch_size})", fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


def figure_08(sweeps: list[pd.DataFrame], stem) -> list[Path]:
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, measure in zip(axes, ("K", "K_hd", "K_tr")):
        _loss_vs_measure(ax, sweeps, measure, f"loss vs {MEASURES[measure]}")
    axes[0].set_ylabel("mean loss after T steps")
    axes[0].legend(fontsize=6)
    row = sweeps[0].iloc[0]
    fig.suptitle(f"Figure 8. Linear model: loss after T = {row.steps} SGD steps (mean of {row.replicas} runs; "
                 f"× = some run diverged) vs the stability measures", fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


# -- quadratic model ----------------------------------------------------------------------------
def figure_02(frames: list[pd.DataFrame], stem) -> list[Path]:
    apply_style()
    fig, axes = plt.subplots(1, len(frames), figsize=(4.2 * len(frames), 3.2), squeeze=False)
    for ax, frame in zip(axes[0], frames):
        colours = _batch_colours(frame["batch_size"])
        mean = frame.groupby(["batch_size", "step"], as_index=False)["lambda_max"].mean()
        for batch_size, part in mean.groupby("batch_size"):
            ax.plot(part["step"], part["lambda_max"], color=colours[int(batch_size)], lw=1.1, label=f"B = {batch_size}")
        ax.set_xlabel("SGD step")
        ax.set_ylabel(r"$\lambda_{max}(\hat\Theta)$ (seed mean)")
        ax.set_title(f"{frame['shape'].iloc[0]} Q")
    axes[0][0].legend(fontsize=6)
    frame = frames[0]
    D = int(frame["batch_size"].max())
    fig.suptitle(f"Figure 2. Quadratic regression model: conservative sharpening (D = {D}, same η for every B, "
                 f"{frame['seed'].nunique()} seed pairs)", fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


def figure_09(frames: list[pd.DataFrame], stem, window: int = 1) -> list[Path]:
    apply_style()
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2))
    modes = sum(1 for c in frames[0].columns if c.startswith("lambda_hat_"))
    for frame, marker in zip(frames, "os"):
        table = discrete_derivatives(frame, modes, window)
        mean = table.groupby("batch_size", as_index=False).mean(numeric_only=True)
        shape = frame["shape"].iloc[0]
        line = axes[0].plot(mean["batch_size"], mean["first_derivative"], marker=marker, lw=1, label=f"{shape}: measured")
        axes[0].plot(mean["batch_size"], mean["first_derivative_theory"], ls="--", color=line[0].get_color(),
                     label=f"{shape}: theory (t = 0)")
        axes[1].plot(mean["batch_size"], mean["second_derivative"], marker=marker, lw=1, label=shape)
    axes[0].set_yscale("log")
    axes[1].axhline(0, color="k", lw=0.6)
    for ax, name in zip(axes, (r"$\Delta\hat\lambda$", r"$\Delta^2\hat\lambda$")):
        ax.set_xscale("log")
        ax.set_xlabel("batch size B")
        ax.set_ylabel(f"{name} at the first step")
        ax.legend(fontsize=6)
    fig.suptitle(f"Figure 9. Quadratic model: discrete derivatives of λ̂ at the start vs batch size (mean over "
                 f"the top {modes} modes and {frames[0]['seed'].nunique()} seed pairs)", fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


# -- MLP ------------------------------------------------------------------------------------------
def figure_03(runs: pd.DataFrame, stem, batch_size: int | None = None) -> list[Path]:
    """Loss and K̃ over epochs, one colour per η, one line style per seed (the rise runs)."""
    apply_style()
    batch_size = int(runs["batch_size"].min()) if batch_size is None else batch_size
    part = runs[runs["batch_size"] == batch_size]
    if part.empty:
        raise ValueError(f"figure 03: no MLP runs with batch size {batch_size}; the runs have "
                         f"{sorted(runs['batch_size'].unique().tolist())}")
    colours = _lr_colours(part["lr"])
    styles = dict(zip(sorted(part["init_seed"].unique()), ["-", "--", ":", "-."] * 4))
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2))
    for (lr, seed), run in part.groupby(["lr", "init_seed"]):
        run = run.sort_values("step")
        epoch = np.maximum(run["epoch"].to_numpy(), 0.5 * batch_size / run["num_examples"].iloc[0])
        label = (f"η/B = {lr / batch_size:.3g}" + (" (diverged)" if (run["status"] == "diverged").any() else "")
                 if seed == min(styles) else None)
        kwargs = dict(color=colours[float(lr)], lw=1, ls=styles[seed])
        axes[0].plot(epoch, _finite_loss(run["loss"].to_numpy(), 1e3), label=label, **kwargs)
        axes[1].plot(epoch, run["K"].replace(np.inf, np.nan), **kwargs)
    axes[1].axhline(1.0, color="k", lw=0.6, ls="--")
    for ax, label in zip(axes, ("training loss", r"$\tilde K$")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=6)
    fig.suptitle(f"Figure 3. MLP, B = {batch_size}: loss and K̃ over training (line style: seed)", fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


def figure_a4(points: pd.DataFrame, stem) -> list[Path]:
    """Left: K̃, K̃_HD, K̃_tr at the MC divergence boundary η* against σ_loc (one point per seed,
    line through the seed means); right: MC loss after T steps over the initial loss against K̃."""
    apply_style()
    summary = points.groupby(["localised_scale", "seed"], as_index=False).first()
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4))
    for measure in ("K", "K_hd", "K_tr"):
        column = f"{measure}_at_boundary"
        colour = MEASURE_COLOURS[measure]
        axes[0].plot(summary["localised_scale"], summary[column], "o", ms=3, color=colour, alpha=0.6)
        mean = summary.groupby("localised_scale")[column].mean()
        axes[0].plot(mean.index, mean.to_numpy(), "-", lw=1, color=colour, label=MEASURES[measure] + " at η*")
    axes[0].axhline(1.0, color="k", lw=0.6, ls="--")
    axes[0].set_xlabel(r"localisation $\sigma_{loc}$ ($J = \sqrt{D}[\mathrm{diag}(v)\,|\,0] + G$, $v_i \sim N(0, \sigma_{loc}^2)$)")
    axes[0].set_ylabel("value at the MC divergence boundary η*")
    axes[0].set_xscale("symlog", linthresh=1.0, linscale=1.5)
    ticks = sorted(summary["localised_scale"].unique())
    axes[0].set_xticks(ticks)
    axes[0].set_xticklabels([f"{t:g}" for t in ticks], fontsize=7)
    axes[0].xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes[0].set_ylim(0, 1.3)
    axes[0].legend(fontsize=6)
    scales = sorted(points["localised_scale"].unique())
    colours = dict(zip(scales, sns.color_palette("viridis", len(scales))))
    for (scale, seed), part in points.groupby(["localised_scale", "seed"]):
        part = part.sort_values("lr")
        ratio = _finite_loss((part["loss_mc_mean"] / part["loss_initial"]).to_numpy(), 1e12)
        axes[1].plot(part["K"], ratio, "-", lw=0.8, color=colours[scale],
                     label=f"σ_loc = {scale:g}" if seed == part["seed"].min() and seed == points["seed"].min() else None)
    axes[1].axhline(1.0, color="k", lw=0.6, ls=":")
    axes[1].axvline(1.0, color="k", lw=0.6, ls="--")
    axes[1].set_yscale("log")
    axes[1].set_xlabel(r"$\tilde K$")
    axes[1].set_ylabel(r"MC mean loss after $T$ steps / initial")
    axes[1].legend(fontsize=6)
    fig.suptitle("Appendix A.4: K̃ and its approximations at the Monte-Carlo divergence boundary η*, "
                 "from delocalised (σ_loc = 0) to localised eigenvectors", fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


def figure_04(runs: pd.DataFrame, stem) -> list[Path]:
    apply_style()
    final = final_rows(runs)
    colours = _batch_colours(final["batch_size"])
    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2))
    for batch_size, part in final.groupby("batch_size"):
        part = part.sort_values("lr")
        stable = part["status"] != "diverged"
        for ax, x in zip(axes, (part["lr"], part["lr"] / batch_size)):
            ax.plot(x[stable], part["lambda_max"][stable], marker="o", ms=3, lw=1, color=colours[int(batch_size)],
                    label=f"B = {batch_size}")
    stable_final = final[final["status"] != "diverged"]
    lr = np.geomspace(stable_final["lr"].min(), stable_final["lr"].max(), 50)
    axes[0].plot(lr, 2 / lr, "k--", lw=0.8, label=r"$2/\eta$ (EOS)")
    axes[0].set_xlabel(r"$\eta$")
    axes[1].set_xlabel(r"$\eta/B$")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel(r"final $\lambda_{max}(\hat\Theta)$")
    axes[0].legend(fontsize=6)
    fig.suptitle("Figure 4. MLP: final largest NTK eigenvalue vs learning rate (runs that did not diverge)",
                 fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


def figure_05(runs: pd.DataFrame, stem, small_batch_sizes=None) -> list[Path]:
    apply_style()
    final = final_rows(runs)
    if small_batch_sizes is not None:
        final = final[final["batch_size"].isin(small_batch_sizes)]
    colours = _batch_colours(final["batch_size"])
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for batch_size, part in final.groupby("batch_size"):
        part = part.sort_values("lr")
        stable = (part["status"] != "diverged").to_numpy()
        colour = colours[int(batch_size)]
        axes[0].plot((part["lr"] / batch_size)[stable], part["K"][stable], marker="o", ms=3, lw=1, color=colour,
                     label=f"B = {batch_size}")
        axes[1].plot(part["K"][stable], part["loss"][stable], "o", ms=3, color=colour)
        axes[2].plot(part["lr_lambda_max"][stable], part["loss"][stable], "o", ms=3, color=colour)
    axes[0].axhline(1.0, color="k", lw=0.6, ls="--")
    axes[1].axvline(1.0, color="k", lw=0.6, ls="--")
    axes[2].axvline(2.0, color="k", lw=0.6, ls="--")
    labels = ((r"$\eta/B$", r"final $\tilde K$"), (r"final $\tilde K$", "final loss"),
              (r"final $\eta\lambda_{max}$", "final loss"))
    for ax, (xlabel, ylabel) in zip(axes, labels):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    axes[0].legend(fontsize=6)
    fig.suptitle("Figure 5. MLP, small batches (stable runs): final K̃ vs η/B, and final loss vs K̃ and vs ηλ_max",
                 fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


def figure_10(runs: pd.DataFrame, stem) -> list[Path]:
    apply_style()
    data = runs[np.isfinite(runs["K"]) & np.isfinite(runs["K_tr"]) & (runs["K"] > 0)]
    colours = _batch_colours(data["batch_size"])
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    for batch_size, part in data.groupby("batch_size"):
        ax.plot(part["K"], part["K_tr"], ".", ms=3, color=colours[int(batch_size)], label=f"B = {batch_size}")
    lo, hi = data["K"].min(), data["K"].max()
    ax.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="equality")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"exact $\tilde K$")
    ax.set_ylabel(r"$\tilde K_{tr}$")
    ax.legend(fontsize=6)
    ax.set_title("Figure 10. MLP: trace estimator vs exact K̃ (every measurement)", fontsize=9)
    fig.tight_layout()
    return _save(fig, stem)


def _save(fig, stem) -> list[Path]:
    for ax in fig.axes:   # no labels on minor ticks of log axes (they overlap on short decades)
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    paths = save_figure(fig, stem)
    plt.close(fig)
    return paths


def render(number: str, stem: str | os.PathLike, *, linear: list[str] = (), trajectories: list[str] = (),
           quadratic: list[str] = (), mlp: str | None = None, small_batch_sizes=None,
           batch_size: int | None = None, localisation: list[str] = ()) -> list[Path]:
    """Draw figure ``number`` from the given input files (which ones each figure needs: :data:`FIGURES`)."""
    number = str(number).zfill(2)
    if number not in FIGURES:
        raise ValueError(f"figure number must be one of {', '.join(FIGURES)}, got {number!r}")
    if number == "A4":
        if not localisation:
            raise ValueError("figure A4 needs --localisation tables")
        return figure_a4(pd.concat([pd.read_parquet(f) for f in localisation], ignore_index=True), stem)
    need = {"01": "linear", "07": "linear", "08": "linear", "02": "quadratic", "09": "quadratic"}.get(number, "mlp")
    if need == "linear" and not linear:
        raise ValueError(f"figure {number} needs --linear sweep tables")
    if need == "quadratic" and not quadratic:
        raise ValueError(f"figure {number} needs --quadratic tables")
    if need == "mlp" and not mlp:
        raise ValueError(f"figure {number} needs --mlp runs.parquet")
    if number == "01":
        sweeps = [pd.read_parquet(f) for f in linear]
        flat = next((s for s in sweeps if s["setting"].iloc[0] == "flat"), sweeps[0])
        if not trajectories:
            raise ValueError("figure 01 needs --trajectories of the flat setting")
        traj = pd.concat([pd.read_parquet(f) for f in trajectories])
        return figure_01(flat, traj[traj["setting"] == flat["setting"].iloc[0]], stem)
    if number in ("07", "08"):
        sweeps = [pd.read_parquet(f) for f in linear]
        return (figure_07 if number == "07" else figure_08)(sweeps, stem)
    if number in ("02", "09"):
        frames = [pd.read_parquet(f) for f in quadratic]
        return (figure_02 if number == "02" else figure_09)(frames, stem)
    runs = pd.read_parquet(mlp)
    if number == "03":
        return figure_03(runs, stem, batch_size)
    if number == "04":
        return figure_04(runs, stem)
    if number == "05":
        return figure_05(runs, stem, small_batch_sizes)
    return figure_10(runs, stem)

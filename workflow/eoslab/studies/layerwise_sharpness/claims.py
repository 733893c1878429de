"""The thesis's quantitative statements (Chapters 3 and 4) judged: ``tables/claims.{csv,md}``.

One :class:`eoslab.verdicts.Claim` per statement (:data:`CLAIMS`), each with a one-line comment on
why its interval is what it is; the verdict is the one rule of :mod:`eoslab.verdicts`.  The numbers
come from the study's run files:

* **trajectories** (Chapter 3, ``runs/trajectory/{run}.parquet``): for a constant-step run the
  *crossing* is the first iteration with ``λ ≥ 2/η``; "after" is from the crossing to the end.
  Per run: whether it crosses; ``mean λ after / (2/η)``; each layer's *growth* ``max_t λᵢ / λᵢ,₀``
  and *peak* ``max_t λᵢ``; the drift of each layer's level after the crossing (mean over the
  second half of the "after" iterations over the mean over the first half); the gradient norm after
  the crossing over the 50 iterations before it, and those 50 over the first iteration.  Scheme runs
  (§3.3): the *final loss*, the median over the last 10% of the iterations.
* **max-step points** (Chapter 4, ``runs/maxstep/{point}.parquet``): Algorithm 2's per-run maximal
  step sizes; a point's value is their mean (the thesis's ``η_avg``).

A statement whose runs the config lacks gets "not run".  Runs that diverged (or stopped with an
undefined step) are left out of the Chapter-3 numbers and named in the row's note.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ... import verdicts
from ...io import read_json
from ...verdicts import Claim, at_least, at_most, between
from .catalog import ACTIVATION_NAMES, ETA_LARGE, ETA_SMALL, THESIS_TABLES, MaxStepPoint, TrajectoryRun

STUDY = "layerwise_sharpness"
BEFORE = 50            # iterations before the crossing that the gradient-norm ratios compare with
FINAL_FRACTION = 0.10  # the final loss of a scheme run: median over this last fraction of the iterations

# "oscillates around 2/η": within 10% of the edge; within a factor 2: the same regime, magnitude off.
AT_EDGE, NEAR_EDGE = between(0.9, 1.1), between(0.5, 2.0)


def _table_claims() -> list[Claim]:
    claims = []
    for name, section in (("table_4_1", "§4.2, Table 4.1"), ("table_4_2", "§4.2, Table 4.2")):
        batch = "full batch" if name == "table_4_1" else "batch size 1"
        for activation, value in THESIS_TABLES[name].items():
            # the thesis's mean of R = 10 runs: within ±10% (≈ 2 standard errors of a 10-run mean for the
            # noisiest rows, whose runs spread by 15–20%) reproduces it; within a factor 2: partial.
            claims.append(Claim(
                f"{name}_{activation}", section, f"{ACTIVATION_NAMES[activation]}: mean maximal step size {value:g}",
                f"Algorithm 2's maximal step size, {batch}, 3 layers × 10 units, 100 examples (mean over runs)",
                reproduced_if=between(0.9 * value, 1.1 * value), partial_if=between(0.5 * value, 2.0 * value),
                paper_value=value, statistic="mean"))
    return claims


CLAIMS: list[Claim] = [
    # §3.2 chooses η = 2/25 "large enough for us to see the EOS in relatively few training iterations"
    # (and A.1–A.5 use 2/10): every constant-step run reaches λ ≥ 2/η; most of them: partial.
    Claim("eos_reached", "§3.2, Figs. 3.1–3.6, A.1–A.5",
          "a step size large enough for us to see the EOS in relatively few training iterations",
          "1 if λ reaches 2/η within the run, else 0 (constant-step runs)", reproduced_if=at_least(1.0),
          every_run=True),
    # §1.4 / §3.2: "the sharpness begins to oscillate around the value 2/η … Gradient descent tends to
    # remain in this phase": every run that crossed sits within 10% of 2/η on average.
    Claim("full_eos_at_edge", "§1.4, §3.2, Figs. 3.1–3.6, A.1–A.5",
          "once the sharpness reaches 2/η it oscillates around the value 2/η",
          "mean λ from the crossing to the end / (2/η), runs that reach 2/η", reproduced_if=AT_EDGE,
          partial_if=NEAR_EDGE, paper_value=1.0, every_run=True),
    # "each individual layer oscillates around its own threshold value": a stationary level, i.e. every
    # layer's mean λᵢ over the second half after the crossing within 20% of that over the first half.
    Claim("layer_own_threshold", "§3.2", "the sharpness of each individual layer oscillates around its own "
                                         "threshold value",
          "max over layers of ∣mean λᵢ (2nd half after the crossing) / mean λᵢ (1st half) − 1∣, runs that reach 2/η",
          reproduced_if=at_most(0.2), partial_if=at_most(0.5), every_run=True),
    # "comparable behavior in the growth": the layers' growth factors within a factor 2 of each other.
    Claim("linear_relu_layers_comparable", "§3.2, Figs. 3.1, A.1",
          "for the linear and ReLU networks, the input, hidden, and output layers have comparable behavior in the "
          "growth of the sharpness", "max/min over layers of the growth max_t λᵢ / λᵢ,₀ (linear and ReLU, 3 × 10)",
          reproduced_if=at_most(2.0), partial_if=at_most(4.0), every_run=True),
    # "much more growth": an order of magnitude more than the output layer's; more at all: partial.
    Claim("sigmoid_output_grows_least", "§3.2, Figs. 3.2, A.1",
          "for the sigmoid activation, the input and hidden layers see much more growth in their sharpness over time "
          "than the output layer", "min(growth input, growth hidden) / growth output (sigmoid, 3 × 10)",
          reproduced_if=at_least(10.0), partial_if=at_least(1.0), every_run=True),
    # "noticeably different": the sorted growth factors at least ×2 apart; ×1.25: partial.
    Claim("tanh_layers_differ", "§3.2, Figs. 3.2, A.1",
          "for the tanh activation, all 3 layers show noticeably different behavior in sharpness growth",
          "smallest ratio between consecutive sorted layer growths (tanh, 3 × 10)", reproduced_if=at_least(2.0),
          partial_if=at_least(1.25), every_run=True),
    # "doesn't change much across widths": each layer's peak within a factor 2 over the widths; ×4 partial.
    Claim("width_little_change", "§3.2, Figs. 3.3, 3.4",
          "the sharpness behavior per layer doesn't change much across different network widths",
          "max/min over widths of a layer's peak max_t λᵢ (tanh, η = 2/25; one value per layer)",
          reproduced_if=at_most(2.0), partial_if=at_most(4.0), every_run=True),
    # "as one increases the network depth … become more similar": the spread of the layers' peaks at
    # the deepest net at most half that of the shallowest; smaller at all: partial.
    Claim("depth_layers_more_similar", "§3.2, Figs. 3.5, 3.6, A.4",
          "as one increases the network depth, the growth of the sharpness of each layer, as well as their points "
          "of oscillation, seem to become more similar",
          "(max/min of the layers' peaks, deepest tanh net) / (same, shallowest), per η",
          reproduced_if=at_most(0.5), partial_if=at_most(1.0)),
    # Appendix A, ReLU widths: "we don't see the input layer having drastically larger sharpness": the
    # input layer's peak at most twice the largest other layer's.
    Claim("relu_width_input_not_dominant", "Appendix A, Fig. A.3",
          "when using ReLU activations … we don't see the input layer having drastically larger sharpness than the "
          "other layers", "input layer's peak / largest other layer's peak (ReLU width sweep)",
          reproduced_if=at_most(2.0), every_run=True),
    # … "unlike the tanh activation experiments": tanh's input layer at least twice the others' peak.
    Claim("tanh_width_input_dominant", "Appendix A (contrast with Figs. 3.3, 3.4, A.2)",
          "unlike the tanh activation experiments [where the input layer has drastically larger sharpness]",
          "input layer's peak / largest other layer's peak (tanh width sweep)", reproduced_if=at_least(2.0),
          partial_if=at_least(1.0), every_run=True),
    # "during the progressive sharpening phase, the gradient norms tend to decrease": the median ‖g‖
    # over the 50 iterations before the crossing ≥ 10% below the first ‖g‖ in the median run.
    Claim("grad_norm_falls_before_eos", "§3.2",
          "during the progressive sharpening phase, the gradient norms tend to decrease over time",
          "median ‖g‖ over the 50 iterations before the crossing / ‖g‖ at iteration 0", reproduced_if=at_most(0.9),
          partial_if=at_most(1.0)),
    # "once the EOS is reached, the gradient norms … rapidly increase": at least doubled in every run.
    Claim("grad_norm_jumps_at_eos", "§3.2",
          "once the EOS is reached, the gradient norms … rapidly increase before stabilizing around some threshold",
          "median ‖g‖ after the crossing / median ‖g‖ over the 50 iterations before it", reproduced_if=at_least(2.0),
          partial_if=at_least(1.0), every_run=True),
    # Fig. 3.7: "1/λₜ leads to very slow convergence compared to 1/λ₀": 1/λₜ's final loss ≥ 1.25 × 1/λ₀'s.
    Claim("inv_t_slower_than_inv_0", "§3.3, Fig. 3.7", "1/λₜ leads to very slow convergence compared to 1/λ₀",
          "final loss with 1/λₜ / final loss with 1/λ₀ (ReLU, 3 × 10)", reproduced_if=at_least(1.25),
          partial_if=at_least(1.0)),
    # "a large constant step size leads to far faster convergence than 1/λₜ": the better constant's final
    # loss ≤ 0.8 × 1/λₜ's.
    Claim("constant_faster_than_inv_t", "§3.3, Fig. 3.7",
          "appropriately choosing a large constant step size leads to far faster convergence than [1/λₜ]",
          "min over η ∈ {2/25, 2/10} of the final loss / final loss with 1/λₜ (ReLU, 3 × 10)",
          reproduced_if=at_most(0.8), partial_if=at_most(1.0)),
    # Fig. 3.8 (A.6): "the layer-wise step size 1/λᵢ,ₜ is clearly too large": its final loss ≥ 1.25 × the
    # better of 1/λₜ and Armijo.
    Claim("layerwise_too_large", "§3.3, Figs. 3.8, A.6",
          "for the synthetic data experiment, the layer-wise step size of 1/λᵢ,ₜ is clearly too large",
          "final loss with 1/λᵢ,ₜ / min(final loss with 1/λₜ, with Armijo) (tanh, sigmoid)",
          reproduced_if=at_least(1.25), partial_if=at_least(1.0), every_run=True),
    # Fig. 3.9 (A.7): c = 2 "leads to significant improvement": final loss ≤ 0.8 × that of 1/λᵢ,ₜ.
    Claim("layerwise_c2_improves", "§3.3, Figs. 3.9, A.7",
          "c = 2 leads to significant improvement in the convergence on the synthetic experiments",
          "final loss with 1/(2λᵢ,ₜ) / final loss with 1/λᵢ,ₜ (tanh, sigmoid)", reproduced_if=at_most(0.8),
          partial_if=at_most(1.0), every_run=True),

    *_table_claims(),
    # "the step sizes leading to divergence can be vastly different between … activation functions"
    # (Table 4.1: 12.58 / 0.384 = 33): the largest mean at least 10× the smallest; ×2: partial.
    Claim("activations_vastly_different", "§4.2, Table 4.1",
          "the step sizes leading to divergence can be vastly different between differing choices of activation "
          "functions", "largest / smallest of Table 4.1's four means", reproduced_if=at_least(10.0),
          partial_if=at_least(2.0), paper_value=12.58223 / 0.38433),
    # Fig. 4.2: linear, ReLU, tanh: "as more layers are added, smaller step sizes must be used": the
    # mean at the largest depth below 16 at least 10% below the smallest depth's.
    Claim("depth_falls", "§4.2, Fig. 4.2",
          "for networks with linear, ReLU, and tanh activations … as more layers are added, smaller step sizes "
          "must be used", "mean at the largest depth < 16 / mean at the smallest depth (linear, ReLU, tanh)",
          reproduced_if=at_most(0.9), partial_if=at_most(1.0), every_run=True),
    # "at some point (in our experiment, a 16 layer network), larger step sizes are again possible": ≥ 10% up.
    Claim("depth_rises_at_16", "§4.2, Fig. 4.2", "at some point (a 16 layer network), larger step sizes are again "
                                                 "possible",
          "mean at 16 layers / mean at 8 layers (linear, ReLU, tanh)", reproduced_if=at_least(1.1),
          partial_if=at_least(1.0), every_run=True),
    # sigmoid: "more layers corresponds to a larger maximal step size, before leveling out after 4 layers".
    Claim("sigmoid_depth_rises", "§4.2, Fig. 4.2", "[sigmoid] more layers corresponds to a larger maximal step size",
          "mean at 4 layers / mean at the smallest depth (sigmoid)", reproduced_if=at_least(1.1),
          partial_if=at_least(1.0)),
    Claim("sigmoid_levels_out", "§4.2, Fig. 4.2", "[sigmoid] … before leveling out after 4 layers",
          "mean at each depth > 4 / mean at 4 layers (sigmoid)", reproduced_if=between(0.95, 1.05),
          partial_if=between(0.8, 1.25), every_run=True),
    # Fig. 4.3: "more hidden units corresponds to a smaller maximal step size … across all types of
    # activation functions" (sigmoid's change is "very minimal": equality is not a contradiction).
    Claim("width_falls", "§4.2, Fig. 4.3",
          "the maximal step size trend is mostly monotonic across all types of activation functions tested, where "
          "more hidden units corresponds to a smaller maximal step size",
          "mean at the largest width / mean at the smallest width (each activation)", reproduced_if=at_most(1.0),
          every_run=True),
    # "less than a difference 0.3 between 1 hidden unit and 100 hidden units" (linear and sigmoid).
    Claim("width_change_small_linear_sigmoid", "§4.2, Fig. 4.3",
          "for linear and sigmoid activations … less than a difference 0.3 between 1 hidden unit and 100 hidden "
          "units", "∣mean at the smallest width − mean at the largest width∣ (linear, sigmoid)",
          reproduced_if=at_most(0.3), partial_if=at_most(0.6), paper_value=0.3, every_run=True),
    # Fig. 4.4: "the training set size seemed to have the least impact … across all our choices of
    # activation functions": the size sweep's max/min below both the depth and the width sweep's.
    Claim("size_least_impact", "§4.2, Fig. 4.4",
          "varying the training set size seemed to have the least impact on the step size … this trend held across "
          "all our choices of activation functions",
          "(max/min of the means over sizes) / min(same over depths, over widths), each activation",
          reproduced_if=at_most(1.0), every_run=True),
    # Figs. 4.5–4.7, Table 4.2: "as expected the maximal step sizes are smaller" with batch size 1: at
    # every point of the sweeps.
    Claim("batch1_smaller", "§4.2, Figs. 4.5–4.7, Table 4.2",
          "as expected the maximal step sizes are smaller [with batch size 1 than with full batch]",
          "mean (batch size 1) / mean (full batch) at the same point, every swept point",
          reproduced_if=at_most(1.0), every_run=True),
    # "We observe similar trends to that of the full batch case": the rank correlation of the batch-1 and
    # full-batch means along each sweep ≥ 0.5 for every activation and sweep.
    Claim("batch1_similar_trends", "§4.2, Figs. 4.5–4.7",
          "we observe similar trends to that of the full batch case",
          "Spearman correlation of the batch-1 and full-batch means along a sweep (activation × sweep)",
          reproduced_if=at_least(0.5), partial_if=at_least(0.0), every_run=True),
]
_BY_ID = {c.claim: c for c in CLAIMS}


# --------------------------------------------------------------------------------------------
# Per-run numbers
# --------------------------------------------------------------------------------------------

def _card(path: Path) -> dict:
    card = path.with_suffix(".json")
    return read_json(card) if card.exists() else {}


def _depth(frame: pd.DataFrame) -> int:
    return sum(1 for c in frame.columns if c.startswith("sharpness_layer"))


def trajectory_summary(run: TrajectoryRun, frame: pd.DataFrame, status: str = "finished") -> dict:
    """Chapter 3's per-run numbers (see the module text) for one trajectory."""
    row = {"run": run.key, "activation": run.activation, "depth": run.depth, "width": run.width,
           "scheme": run.scheme, "status": status, "iterations": int(frame["iteration"].max()),
           "final_loss": float(frame["loss"].iloc[-max(1, int(math.ceil(FINAL_FRACTION * len(frame)))):].median())}
    if not run.scheme.startswith("lr") or status != "finished":
        return row
    lr = float(run.scheme[2:])
    edge = 2.0 / lr
    row["lr"] = lr
    depth = _depth(frame)
    layers = [frame[f"sharpness_layer{i}"] for i in range(1, depth + 1)]
    row["peaks"] = [float(s.max()) for s in layers]
    row["growths"] = [float(s.max() / s.iloc[0]) for s in layers]
    crossed = np.flatnonzero(frame["sharpness"].to_numpy() >= edge)
    row["reached"] = float(crossed.size > 0)
    if crossed.size == 0:
        return row
    t = int(crossed[0])
    after = frame.iloc[t:]
    before = frame.iloc[max(0, t - BEFORE):t]
    row["crossing"] = int(frame["iteration"].iloc[t])
    row["mean_after_over_edge"] = float(after["sharpness"].mean() / edge)
    half = len(after) // 2
    if half >= 2:
        row["layer_drift"] = float(max(abs(after[f"sharpness_layer{i}"].iloc[half:].mean()
                                           / after[f"sharpness_layer{i}"].iloc[:half].mean() - 1)
                                       for i in range(1, depth + 1)))
    if len(before):
        row["grad_before_over_start"] = float(before["grad_norm"].median() / frame["grad_norm"].iloc[0])
        row["grad_after_over_before"] = float(after["grad_norm"].median() / before["grad_norm"].median())
    return row


def read_trajectories(paths) -> pd.DataFrame:
    rows = []
    for path in map(Path, paths):
        run = TrajectoryRun.parse(path.stem)
        if run.dataset != "synthetic":
            continue
        status = _card(path).get("status", "finished")
        rows.append(trajectory_summary(run, pd.read_parquet(path), status))
    return pd.DataFrame(rows)


def read_maxstep(paths) -> pd.DataFrame:
    """One row per max-step point: its parameters, the mean over runs and the per-run values."""
    rows = []
    for path in map(Path, paths):
        point = MaxStepPoint.parse(path.stem)
        if point.dataset != "synthetic":
            continue
        values = pd.read_parquet(path)["max_step_size"].to_numpy(dtype=float)
        rows.append({"point": point.key, "batch": "full" if point.batch_size is None else "b1",
                     "activation": point.activation, "depth": point.depth, "width": point.width,
                     "samples": point.samples, "mean": float(np.mean(values)), "values": values})
    columns = ["point", "batch", "activation", "depth", "width", "samples", "mean", "values"]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------------------------
# Claims rows
# --------------------------------------------------------------------------------------------

def _keys(frame: pd.DataFrame) -> str:
    return ", ".join(frame["run"]) if len(frame) else ""


def _constant(trajectories: pd.DataFrame) -> pd.DataFrame:
    if trajectories.empty:
        return trajectories
    return trajectories[trajectories["scheme"].str.startswith("lr")]


def _base(frame: pd.DataFrame, activation: str | tuple, **shape) -> pd.DataFrame:
    shape = {"depth": 3, "width": 10, **shape}
    chosen = frame["activation"].isin([activation] if isinstance(activation, str) else list(activation))
    for key, value in shape.items():
        chosen &= frame[key] == value
    return frame[chosen]


def _chapter3(trajectories: pd.DataFrame) -> dict[str, tuple[list[float], str, str]]:
    out: dict[str, tuple[list[float], str, str]] = {}
    if trajectories.empty:
        return out
    constant = _constant(trajectories)
    finished = constant[constant["status"] == "finished"]
    failed = constant[constant["status"] != "finished"]
    failed_note = ("left out (" + ", ".join(f"{r.run}: {r.status}" for r in failed.itertuples()) + ")") \
        if len(failed) else ""
    if len(finished):
        reached = finished[finished["reached"] == 1.0]
        never = finished[finished["reached"] != 1.0]
        out["eos_reached"] = (finished["reached"].tolist(), f"{len(finished)} constant-step runs",
                              "; ".join(x for x in (f"never reach 2/η: {_keys(never)}" if len(never) else "",
                                                    failed_note) if x))
        if reached.empty:
            reached = reached.assign(mean_after_over_edge=[])
        far = reached[~reached["mean_after_over_edge"].between(AT_EDGE.low, AT_EDGE.high)]
        out["full_eos_at_edge"] = (
            reached["mean_after_over_edge"].tolist(), f"{len(reached)} runs that reach 2/η",
            "; ".join(x for x in ("outside [0.9, 1.1]: " + ", ".join(f"{r.run} {r.mean_after_over_edge:.2f}"
                                                                     for r in far.itertuples()) if len(far) else "",
                                  "runs that never reach 2/η are in eos_reached" if len(never) else "") if x))
        if "layer_drift" in reached:
            out["layer_own_threshold"] = (reached["layer_drift"].tolist(), f"{len(reached)} runs that reach 2/η", "")
        if "grad_before_over_start" in reached:
            out["grad_norm_falls_before_eos"] = (reached["grad_before_over_start"].tolist(),
                                                 f"{len(reached)} runs that reach 2/η", "")
            out["grad_norm_jumps_at_eos"] = (reached["grad_after_over_before"].tolist(),
                                             f"{len(reached)} runs that reach 2/η", "")
        base = _base(finished, ("linear", "relu"))
        out["linear_relu_layers_comparable"] = ([max(g) / min(g) for g in base["growths"]], _keys(base), "")
        base = _base(finished, "sigmoid")
        out["sigmoid_output_grows_least"] = ([min(g[0], g[1]) / g[-1] for g in base["growths"]], _keys(base), "")
        base = _base(finished, "tanh")
        ratios = []
        for g in base["growths"]:
            s = sorted(g, reverse=True)
            ratios.append(min(a / b for a, b in zip(s, s[1:])))
        out["tanh_layers_differ"] = (ratios, _keys(base), "")
        sweep = finished[(finished["activation"] == "tanh") & (finished["depth"] == 3)
                         & (finished["lr"].sub(ETA_SMALL).abs() < 1e-12)]
        if sweep["width"].nunique() >= 2:
            peaks = np.array(sweep["peaks"].tolist())
            out["width_little_change"] = (list(peaks.max(axis=0) / peaks.min(axis=0)),
                                          "tanh, η = 2/25, widths " + ", ".join(map(str, sorted(sweep["width"]))),
                                          "one value per layer (input, hidden, output)")
        values, text = [], []
        for lr, group in finished[(finished["activation"] == "tanh") & (finished["width"] == 10)].groupby("lr"):
            if group["depth"].nunique() >= 2:
                spread = {r.depth: max(r.peaks) / min(r.peaks) for r in group.itertuples()}
                deep, shallow = max(spread), min(spread)
                values.append(spread[deep] / spread[shallow])
                text.append(f"η = {lr:g}: depth {deep} vs {shallow}")
        out["depth_layers_more_similar"] = (values, "; ".join(text), "tanh")
        for claim, activation in (("relu_width_input_not_dominant", "relu"), ("tanh_width_input_dominant", "tanh")):
            sweep = finished[(finished["activation"] == activation) & (finished["depth"] == 3)]
            sweep = sweep[sweep.groupby("lr")["width"].transform("nunique") >= 2]
            out[claim] = ([p[0] / max(p[1:]) for p in sweep["peaks"]], _keys(sweep), "")
    schemes = {(r.activation, r.scheme): r.final_loss for r in trajectories.itertuples()
               if r.depth == 3 and r.width == 10 and r.status == "finished"}

    def loss(activation, scheme):
        return schemes.get((activation, scheme), math.nan)

    out["inv_t_slower_than_inv_0"] = ([loss("relu", "invt") / loss("relu", "inv0")], "ReLU 3 × 10: 1/λₜ, 1/λ₀", "")
    out["constant_faster_than_inv_t"] = (
        [min(loss("relu", f"lr{ETA_SMALL:g}"), loss("relu", f"lr{ETA_LARGE:g}")) / loss("relu", "invt")],
        "ReLU 3 × 10: η = 2/25, 2/10, 1/λₜ", "")
    too_large, improves = [], []
    for activation in ("tanh", "sigmoid"):
        too_large.append(loss(activation, "layer1") / min(loss(activation, "invt"), loss(activation, "armijo")))
        improves.append(loss(activation, "layer2") / loss(activation, "layer1"))
    out["layerwise_too_large"] = (too_large, "tanh, sigmoid 3 × 10", "")
    out["layerwise_c2_improves"] = (improves, "tanh, sigmoid 3 × 10", "")
    diverged = trajectories[~trajectories["scheme"].str.startswith("lr") & (trajectories["status"] != "finished")]
    if len(diverged):
        note = "stopped: " + ", ".join(f"{r.run} ({r.status})" for r in diverged.itertuples())
        for key in ("inv_t_slower_than_inv_0", "constant_faster_than_inv_t", "layerwise_too_large",
                    "layerwise_c2_improves"):
            values, runs, old = out[key]
            out[key] = (values, runs, "; ".join(x for x in (old, note) if x))
    return out


def _sweep(points: pd.DataFrame, batch: str, activation: str, sweep: str) -> pd.Series:
    """Means along one sweep (the other two at 3 layers, 10 units, 100 examples), indexed by the swept value."""
    shape = {"depth": 3, "width": 10, "samples": 100}
    chosen = (points["batch"] == batch) & (points["activation"] == activation)
    for key, value in shape.items():
        if key != sweep:
            chosen &= points[key] == value
    return points[chosen].set_index(sweep)["mean"].sort_index()


def _chapter4(points: pd.DataFrame) -> dict[str, tuple[list[float], str, str]]:
    out: dict[str, tuple[list[float], str, str]] = {}
    if points.empty:
        return out
    for name in ("table_4_1", "table_4_2"):
        batch = "full" if name == "table_4_1" else "b1"
        for activation in THESIS_TABLES[name]:
            base = points[(points["batch"] == batch) & (points["activation"] == activation) & (points["depth"] == 3)
                          & (points["width"] == 10) & (points["samples"] == 100)]
            if len(base):
                out[f"{name}_{activation}"] = (list(base["values"].iloc[0]), base["point"].iloc[0],
                                               f"{len(base['values'].iloc[0])} runs")
    means = [np.mean(out[f"table_4_1_{a}"][0]) for a in THESIS_TABLES["table_4_1"] if f"table_4_1_{a}" in out]
    if len(means) == 4:
        out["activations_vastly_different"] = ([max(means) / min(means)], "Table 4.1's four points", "")
    falls, rises, text_f, text_r = [], [], [], []
    for activation in ("linear", "relu", "tanh"):
        depth = _sweep(points, "full", activation, "depth")
        below = depth[depth.index < 16]
        if len(below) >= 2:
            falls.append(below.iloc[-1] / below.iloc[0])
            text_f.append(f"{activation} d{below.index[-1]}/d{below.index[0]}")
        if 16 in depth.index and 8 in depth.index:
            rises.append(depth[16] / depth[8])
            text_r.append(activation)
    out["depth_falls"] = (falls, ", ".join(text_f), "")
    out["depth_rises_at_16"] = (rises, ", ".join(text_r), "")
    depth = _sweep(points, "full", "sigmoid", "depth")
    if 4 in depth.index and depth.index.min() < 4:
        out["sigmoid_depth_rises"] = ([depth[4] / depth.iloc[0]], f"sigmoid d4/d{depth.index[0]}", "")
        deeper = depth[depth.index > 4]
        out["sigmoid_levels_out"] = (list(deeper / depth[4]), "sigmoid depths " + ", ".join(map(str, deeper.index)), "")
    widths, small = [], []
    for activation in ACTIVATION_NAMES:
        width = _sweep(points, "full", activation, "width")
        if len(width) >= 2:
            widths.append(width.iloc[-1] / width.iloc[0])
            if activation in ("linear", "sigmoid"):
                small.append(abs(width.iloc[0] - width.iloc[-1]))
    out["width_falls"] = (widths, "full batch, every activation", "")
    out["width_change_small_linear_sigmoid"] = (small, "full batch, linear and sigmoid", "")
    least = []
    for activation in ACTIVATION_NAMES:
        ranges = {s: _sweep(points, "full", activation, s) for s in ("depth", "width", "samples")}
        if all(len(r) >= 2 for r in ranges.values()):
            spread = {s: r.max() / r.min() for s, r in ranges.items()}
            least.append(spread["samples"] / min(spread["depth"], spread["width"]))
    out["size_least_impact"] = (least, "full batch, every activation", "")
    full = points[points["batch"] == "full"].set_index(["activation", "depth", "width", "samples"])["mean"]
    b1 = points[points["batch"] == "b1"].set_index(["activation", "depth", "width", "samples"])["mean"]
    common = full.index.intersection(b1.index)
    larger = [k for k in common if b1[k] > full[k]]
    out["batch1_smaller"] = (list((b1[common] / full[common]).to_numpy()), f"{len(common)} points with both batches",
                             ("larger with batch size 1: " + ", ".join(f"{a} d{d} w{w} n{n}" for a, d, w, n in larger))
                             if larger else "")
    correlations, text = [], []
    for activation in ACTIVATION_NAMES:
        for sweep in ("depth", "width", "samples"):
            a, b = _sweep(points, "full", activation, sweep), _sweep(points, "b1", activation, sweep)
            both = a.index.intersection(b.index)
            if len(both) >= 3:
                value = a[both].rank().corr(b[both].rank())
                correlations.append(value)
                text.append(f"{activation}/{sweep} {value:.2f}" if np.isfinite(value) else
                            f"{activation}/{sweep} undefined (constant)")
    out["batch1_similar_trends"] = (correlations, f"{len(correlations)} activation × sweep pairs", "; ".join(text))
    return out


def claim_rows(trajectories: pd.DataFrame, points: pd.DataFrame, config: str) -> list[dict]:
    values = {**_chapter3(trajectories), **_chapter4(points)}
    rows = []
    for claim in CLAIMS:
        numbers, runs, note = values.get(claim.claim, ([], "", ""))
        numbers = [v for v in numbers if v is not None and np.isfinite(v)]
        rows.append(verdicts.claim_row(STUDY, claim, numbers, config=config, runs=runs,
                                       note=note or ("" if numbers else "the runs this statement needs are not in "
                                                                        "this configuration")))
    return rows


def write(trajectory_paths, maxstep_paths, stem: str | os.PathLike, config: str) -> list[Path]:
    """``stem.csv`` and ``stem.md``: the claims table of the given run files."""
    frame = verdicts.claims_frame(claim_rows(read_trajectories(trajectory_paths), read_maxstep(maxstep_paths), config))
    csv, md = Path(f"{stem}.csv"), Path(f"{stem}.md")
    verdicts.write_claims(frame, csv, md, title=f"layerwise_sharpness claims ({config})")
    return [csv, md]

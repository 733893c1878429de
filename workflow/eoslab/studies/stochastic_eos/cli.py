"""``eoslab study stochastic_eos COMMAND …``: the study's command line (the workflow's rules call it).

Commands:

  linear       η sweep of one linear-model Jacobian (theory + Monte-Carlo SGD)  → sweep + trajectories parquet
  localisation Appendix A.4's failure case at one σ_loc: K̃ at the MC boundary    → parquet
  quadratic    SGD on quadratic regression models of one curvature shape        → trajectories parquet
  mnist-data   the first N images, ZCA, ±1 parity targets                       → .npz + JSON card
  mlp-train    one SGD run of the MLP, K̃ from the exact NTK                     → RUN_DIR/{log.parquet,status.json}
  collect      all MLP runs in one table                                        → runs.parquet
  figure NN    one figure (01–05, 07–10, A4)                                     → NN.pdf / .png
  table        the measured thresholds                                          → .csv / .md
  outcomes     per MLP run: K̃ start/peak/end, crossing 1, ηλ_max/2 vs the EOS   → .csv / .md
  claims       the claims table (eoslab.verdicts format)                         → .csv / .md
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
import pandas as pd

from ...arrays import DataFileError
from ...datasets.download import DownloadError
from ...io import write_json, write_parquet

log = logging.getLogger(__name__)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from error
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eoslab study stochastic_eos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("linear", help="η sweep of one linear-model Jacobian")
    p.add_argument("--setting", required=True, choices=["flat", "dispersed", "localised"])
    p.add_argument("--num-samples", type=_positive_int, default=100, help="D (default 100)")
    p.add_argument("--num-parameters", type=_positive_int, default=200, help="P (default 200)")
    p.add_argument("--batch-size", type=_positive_int, default=2, help="B (default 2)")
    p.add_argument("--localised-scale", type=_positive_float, default=2.0, help="σ_loc of the localised Jacobian")
    p.add_argument("--lr-min", type=_positive_float, default=0.003, help="smallest η in units of 2/λ_max(Θ̂)")
    p.add_argument("--lr-max", type=_positive_float, default=1.0, help="largest η in units of 2/λ_max(Θ̂)")
    p.add_argument("--lr-num", type=_positive_int, default=30, help="number of η (geometric grid)")
    p.add_argument("--steps", type=_positive_int, default=1000, help="T, SGD steps per run")
    p.add_argument("--replicas", type=_positive_int, default=100, help="R, Monte-Carlo SGD runs per η")
    p.add_argument("--trajectory-every", type=_positive_int, default=10, help="record the MC loss every k steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="sweep table (.parquet)")
    p.add_argument("--trajectories", required=True, help="loss trajectories (.parquet)")

    p = commands.add_parser("localisation", help="Appendix A.4's failure case at one σ_loc")
    p.add_argument("--scale", type=float, required=True, help="σ_loc (0: the flat Jacobian)")
    p.add_argument("--num-samples", type=_positive_int, default=100, help="D (default 100)")
    p.add_argument("--num-parameters", type=_positive_int, default=200, help="P (default 200)")
    p.add_argument("--batch-size", type=_positive_int, default=2, help="B (default 2)")
    p.add_argument("--seeds", type=str, default="0,1", help="Jacobian seeds (comma-separated)")
    p.add_argument("--lr-min", type=_positive_float, default=0.7, help="smallest η in units of the root of λ_max(𝒯) = 1")
    p.add_argument("--lr-max", type=_positive_float, default=1.6, help="largest η in the same units")
    p.add_argument("--lr-num", type=_positive_int, default=11)
    p.add_argument("--steps", type=_positive_int, default=1000)
    p.add_argument("--replicas", type=_positive_int, default=100)
    p.add_argument("--out", required=True)

    p = commands.add_parser("quadratic", help="SGD on quadratic regression models of one curvature shape")
    p.add_argument("--shape", required=True, choices=["flat", "shaped"])
    p.add_argument("--num-samples", type=_positive_int, default=100)
    p.add_argument("--num-parameters", type=_positive_int, default=200)
    p.add_argument("--curvature-scale", type=_positive_float, default=3.0, help="ε (module docstring)")
    p.add_argument("--batch-sizes", type=_int_list, default=[1, 4, 16, 100])
    p.add_argument("--lr", type=_positive_float, default=0.015)
    p.add_argument("--steps", type=_positive_int, default=600)
    p.add_argument("--seeds", type=_positive_int, default=20, help="antithetic seed pairs")
    p.add_argument("--top-modes", type=_positive_int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)

    p = commands.add_parser("mnist-data", help="the first N images, ZCA, ±1 parity targets")
    p.add_argument("--source", required=True, choices=["mnist", "sklearn_digits"])
    p.add_argument("--root", default="resources", help="folder holding MNIST/raw (source mnist)")
    p.add_argument("--download", type=_bool, default=False)
    p.add_argument("--num-examples", type=_positive_int, required=True)
    p.add_argument("--zca-regularization", type=float, default=0.1)
    p.add_argument("--out", required=True)

    p = commands.add_parser("mlp-train", help="one SGD run of the MLP")
    p.add_argument("--data", required=True)
    p.add_argument("--batch-size", type=_positive_int, required=True)
    p.add_argument("--lr", type=_positive_float, required=True)
    p.add_argument("--steps", type=_positive_int, required=True)
    p.add_argument("--width", type=_positive_int, default=512)
    p.add_argument("--activation", default="tanh", choices=["tanh", "relu", "elu", "sigmoid"])
    p.add_argument("--init-seed", type=int, default=0)
    p.add_argument("--batch-seed", type=int, default=0)
    p.add_argument("--measurements", type=_positive_int, default=40)
    p.add_argument("--gain", type=_positive_float, default=None, help="Xavier gain (default: the activation's)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--finished", default=None, help="also copy status.json here when the run ends")

    p = commands.add_parser("collect", help="all MLP runs in one table")
    p.add_argument("runs", nargs="+")
    p.add_argument("--out", required=True)

    p = commands.add_parser("figure", help="one figure")
    p.add_argument("number")
    p.add_argument("--linear", nargs="*", default=[])
    p.add_argument("--trajectories", nargs="*", default=[])
    p.add_argument("--quadratic", nargs="*", default=[])
    p.add_argument("--mlp", default=None)
    p.add_argument("--small-batch-sizes", type=_int_list, default=None, help="the runs Figure 5 shows")
    p.add_argument("--batch-size", type=_positive_int, default=None, help="the runs Figure 3 shows (default: smallest)")
    p.add_argument("--localisation", nargs="*", default=[], help="localisation tables (figure A4)")
    p.add_argument("--out", required=True, help="output stem (writes .pdf and .png)")

    p = commands.add_parser("table", help="the measured thresholds")
    p.add_argument("--linear", nargs="*", default=[])
    p.add_argument("--mlp", default=None)
    p.add_argument("--large-batch-min", type=_positive_int, default=64)
    p.add_argument("--localisation", nargs="*", default=[])
    p.add_argument("--out", required=True, help="output stem (writes .csv and .md)")

    p = commands.add_parser("outcomes", help="per MLP run: K̃ and ηλ_max/2 at start, peak and end")
    p.add_argument("runs", nargs="+", help="runs.parquet / rise.parquet tables")
    p.add_argument("--out", required=True, help="output stem (writes .csv and .md)")

    p = commands.add_parser("claims", help="the claims table")
    p.add_argument("--linear", nargs="*", default=[])
    p.add_argument("--localisation", nargs="*", default=[])
    p.add_argument("--mlp", default=None, help="runs.parquet of the sweeps")
    p.add_argument("--rise", default=None, help="rise.parquet of the Figure 3 runs")
    p.add_argument("--small-batch-sizes", type=_int_list, default=[])
    p.add_argument("--large-batch-min", type=_positive_int, default=64)
    p.add_argument("--config", required=True, help="the configuration file the numbers came from")
    p.add_argument("--out", required=True, help="output stem (writes .csv and .md)")
    return parser


def _linear(args) -> int:
    from .linear import LinearConfig, sweep

    if args.lr_min > args.lr_max:
        raise ValueError(f"--lr-min {args.lr_min} exceeds --lr-max {args.lr_max}")
    fractions = tuple(float(f) for f in np.geomspace(args.lr_min, args.lr_max, args.lr_num))
    config = LinearConfig(num_samples=args.num_samples, num_parameters=args.num_parameters, batch_size=args.batch_size,
                          localised_scale=args.localised_scale, lr_fractions=fractions, steps=args.steps,
                          replicas=args.replicas, trajectory_every=args.trajectory_every, seed=args.seed)
    table, trajectories = sweep(args.setting, config)
    write_parquet(args.trajectories, trajectories)
    write_parquet(args.out, table)
    print(f"wrote {args.out} and {args.trajectories}")
    return 0


def _localisation(args) -> int:
    from .linear import LocalisationConfig, localisation_point

    if args.lr_min > args.lr_max:
        raise ValueError(f"--lr-min {args.lr_min} exceeds --lr-max {args.lr_max}")
    if args.scale < 0:
        raise ValueError(f"--scale must be >= 0, got {args.scale}")
    seeds = tuple(int(v) for v in args.seeds.split(",") if v.strip())
    config = LocalisationConfig(num_samples=args.num_samples, num_parameters=args.num_parameters,
                                batch_size=args.batch_size, seeds=seeds,
                                lr_factors=tuple(float(f) for f in np.geomspace(args.lr_min, args.lr_max, args.lr_num)),
                                steps=args.steps, replicas=args.replicas)
    write_parquet(args.out, localisation_point(args.scale, config))
    print(f"wrote {args.out}")
    return 0


def _quadratic(args) -> int:
    from tqdm import tqdm

    from .quadratic import QuadraticConfig, experiment

    config = QuadraticConfig(num_samples=args.num_samples, num_parameters=args.num_parameters,
                             curvature_scale=args.curvature_scale, batch_sizes=tuple(args.batch_sizes), lr=args.lr,
                             steps=args.steps, seeds=args.seeds, top_modes=args.top_modes, seed=args.seed)
    if max(config.batch_sizes) > config.num_samples:
        raise ValueError(f"batch sizes {list(config.batch_sizes)} exceed D = {config.num_samples}")
    with tqdm(total=2 * config.seeds * len(config.batch_sizes), desc=f"quadratic {args.shape}", mininterval=5) as bar:
        frame = experiment(args.shape, config, bar)
    write_parquet(args.out, frame)
    print(f"wrote {args.out}")
    return 0


def _mnist_data(args) -> int:
    from .mlp import prepare_data

    path = prepare_data(args.out, args.source, args.root, args.num_examples, args.zca_regularization, args.download)
    print(f"wrote {path}")
    return 0


def _mlp_train(args) -> int:
    from .mlp import RunConfig, train

    config = RunConfig(batch_size=args.batch_size, lr=args.lr, steps=args.steps, width=args.width,
                       activation=args.activation, init_seed=args.init_seed, batch_seed=args.batch_seed,
                       measurements=args.measurements, gain=args.gain)
    summary = train(args.data, config, args.out)
    if args.finished:
        write_json(args.finished, summary)
    print(f"run {args.out}: {summary['status']} {summary['message']}".rstrip())
    return 0


def _collect(args) -> int:
    from .mlp import collect

    write_parquet(args.out, collect(args.runs))
    print(f"wrote {args.out}")
    return 0


def _figure(args) -> int:
    from .figures import render

    paths = render(args.number, args.out, linear=args.linear, trajectories=args.trajectories,
                   quadratic=args.quadratic, mlp=args.mlp, small_batch_sizes=args.small_batch_sizes,
                   batch_size=args.batch_size, localisation=args.localisation)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _table(args) -> int:
    from .tables import threshold_table, write_table

    runs = pd.read_parquet(args.mlp) if args.mlp else None
    localisation = pd.concat([pd.read_parquet(f) for f in args.localisation]) if args.localisation else None
    frame = threshold_table([pd.read_parquet(f) for f in args.linear], runs, args.large_batch_min, localisation)
    paths = write_table(frame, args.out)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _outcomes(args) -> int:
    from .mlp import run_outcomes
    from .tables import write_outcomes

    frame = run_outcomes(pd.concat([pd.read_parquet(f) for f in args.runs], ignore_index=True))
    paths = write_outcomes(frame, args.out)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _claims(args) -> int:
    from pathlib import Path

    from ...verdicts import write_claims
    from .claims import claims_table
    from .mlp import run_outcomes

    sweeps = {}
    for path in args.linear:
        frame = pd.read_parquet(path)
        sweeps[str(frame["setting"].iloc[0])] = frame
    localisation = pd.concat([pd.read_parquet(f) for f in args.localisation]) if args.localisation else None
    outcomes = run_outcomes(pd.read_parquet(args.mlp)) if args.mlp else None
    rise = run_outcomes(pd.read_parquet(args.rise)) if args.rise else None
    frame = claims_table(sweeps, localisation, outcomes, rise, config=args.config,
                         small_batch_sizes=args.small_batch_sizes, large_batch_min=args.large_batch_min)
    stem = Path(args.out)
    write_claims(frame, stem.with_suffix(".csv"), stem.with_suffix(".md"),
                 title=f"Claims of study stochastic_eos ({args.config})")
    print(f"wrote {stem.with_suffix('.csv')} and {stem.with_suffix('.md')}")
    return 0


COMMANDS = {"linear": _linear, "localisation": _localisation, "quadratic": _quadratic, "mnist-data": _mnist_data,
            "mlp-train": _mlp_train, "collect": _collect, "figure": _figure, "table": _table, "outcomes": _outcomes,
            "claims": _claims}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (DataFileError, DownloadError, ValueError, FileNotFoundError) as error:
        print(f"eoslab study stochastic_eos {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))

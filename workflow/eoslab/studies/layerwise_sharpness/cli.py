"""``eoslab study layerwise_sharpness COMMAND``: the thesis on layerwise sharpness and maximal step sizes.

  trajectory --run KEY --out FILE.parquet    Chapter 3: gradient descent with one step-size scheme,
                                             loss / sharpness (full, per layer) / gradient norms per iteration
  maxstep --point KEY --out FILE.parquet     Chapter 4: Algorithm 2's R runs at one point
  table table_4_1|table_4_2 --inputs ... --out STEM    CSV + Markdown beside the thesis's values
  figure NAME --inputs ... --out STEM                  PDF + PNG (NAME: fig_3_1 … fig_4_7, fig_a_1 … fig_a_10)
  claims --trajectories ... --maxstep ... --config FILE --out STEM    the thesis's statements judged
                                             (STEM.csv + STEM.md, the shared format of eoslab.verdicts)

Run keys are described in eoslab.studies.layerwise_sharpness.catalog (e.g. synthetic_tanh_d3_w10_lr0.08,
synthetic_full_tanh_d3_w10_n100).  Exit status 2: bad input, with a message naming it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ...arrays import DataFileError
from ...io import write_json, write_parquet

PROG = "eoslab study layerwise_sharpness"


def _add_settings(parser, settings_class, skip=()):
    """One --flag per field of a settings dataclass (declared with eoslab.settings.option), with its
    default.  Unlike eoslab.settings.add_dataclass_flags the flags carry the real defaults and booleans
    are --x/--no-x: these commands read no --config file, so a flag never has to defer to one."""
    for field in dataclasses.fields(settings_class):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        text = f"{field.metadata.get('help', '')} (default: {default})"
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
        else:
            kind = field.metadata.get("parse", type(default))  # a parser of its own, or the default's type
            parser.add_argument(flag, type=kind, default=default, help=text)


def _settings(settings_class, args):
    return settings_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(settings_class)})


def _trajectory(args) -> int:
    from .catalog import TrajectoryRun
    from .data import training_set
    from .trajectory import TrajectorySettings, run_trajectory

    run = TrajectoryRun.parse(args.run)
    settings = _settings(TrajectorySettings, args)
    X, Y = training_set(run.dataset, settings.samples, run.input_dim, settings.data_seed, pool=args.cifar10_pool)
    frame, summary = run_trajectory(run, X, Y, settings, progress=args.progress)
    summary["data"] = {"dataset": run.dataset, "samples": settings.samples, "seed": settings.data_seed,
                       "pool": args.cifar10_pool}
    out = Path(args.out)
    write_parquet(out, frame)
    write_json(out.with_suffix(".json"), summary)
    print(f"wrote {out} ({summary['status']}, {summary['iterations_done']} iterations, "
          f"{summary['wall_seconds']} s)")
    return 0


def _maxstep(args) -> int:
    from .catalog import MaxStepPoint
    from .maxstep import MaxStepSettings, run_max_step

    point = MaxStepPoint.parse(args.point)
    settings = _settings(MaxStepSettings, args)
    frame, summary = run_max_step(point, settings, pool=args.cifar10_pool, progress=args.progress)
    out = Path(args.out)
    write_parquet(out, frame)
    write_json(out.with_suffix(".json"), summary)
    print(f"wrote {out}: mean maximal step size {summary['mean']:.5g} ± {summary['std']:.3g} "
          f"over {summary['runs']} runs ({summary['wall_seconds']} s)")
    return 0


def _table(args) -> int:
    from .tables import write_table

    settings = dict(item.split("=", 1) for item in args.setting) if args.setting else None
    paths = write_table(args.name, args.inputs, args.out, settings)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _claims(args) -> int:
    from .claims import write

    paths = write(args.trajectories, args.maxstep, args.out, args.config)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _figure(args) -> int:
    from .figures import render

    paths = render(args.name, args.inputs, args.out)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .catalog import FIGURE_ORDER, TABLES
    from .maxstep import MaxStepSettings
    from .trajectory import TrajectorySettings

    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    trajectory = sub.add_parser("trajectory", help="Chapter 3: one gradient-descent run logged at every iteration")
    trajectory.add_argument("--run", required=True, help="run key, e.g. synthetic_tanh_d3_w10_lr0.08")
    trajectory.add_argument("--out", required=True, help="output .parquet (a .json card is written beside it)")
    trajectory.add_argument("--cifar10-pool", default=None, help="CIFAR-10 pool (eoslab data cifar10) for cifar10 runs")
    trajectory.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    _add_settings(trajectory, TrajectorySettings)
    maxstep = sub.add_parser("maxstep", help="Chapter 4: Algorithm 2 at one point")
    maxstep.add_argument("--point", required=True, help="point key, e.g. synthetic_full_tanh_d3_w10_n100")
    maxstep.add_argument("--out", required=True, help="output .parquet (a .json card is written beside it)")
    maxstep.add_argument("--cifar10-pool", default=None, help="CIFAR-10 pool (eoslab data cifar10) for cifar10 points")
    maxstep.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    _add_settings(maxstep, MaxStepSettings)
    table = sub.add_parser("table", help="Table 4.1 or 4.2 beside the thesis's values")
    table.add_argument("name", choices=TABLES)
    table.add_argument("--inputs", nargs="+", required=True, help="max-step results of the four activations")
    table.add_argument("--out", required=True, help="output stem (writes STEM.csv and STEM.md)")
    table.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                       help="a setting to print under the Markdown table (repeatable)")
    figure = sub.add_parser("figure", help="one of the thesis's figures")
    figure.add_argument("name", choices=FIGURE_ORDER)
    figure.add_argument("--inputs", nargs="+", required=True, help="the run files the figure shows, in catalog order")
    figure.add_argument("--out", required=True, help="output stem (writes STEM.pdf and STEM.png)")
    claims = sub.add_parser("claims", help="the thesis's quantitative statements judged (eoslab.verdicts)")
    claims.add_argument("--trajectories", nargs="*", default=[], help="trajectory run files (Chapter 3)")
    claims.add_argument("--maxstep", nargs="*", default=[], help="max-step point files (Chapter 4)")
    claims.add_argument("--config", default="", help="the config file the runs came from (written in every row)")
    claims.add_argument("--out", required=True, help="output stem (writes STEM.csv and STEM.md)")
    return parser


COMMANDS = {"trajectory": _trajectory, "maxstep": _maxstep, "table": _table, "figure": _figure, "claims": _claims}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (DataFileError, FileNotFoundError, ValueError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"{PROG} {args.command}: failed: {error}", file=sys.stderr)
        return 1

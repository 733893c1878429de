"""``eoslab study sam_edge COMMAND``: data, train, aggregate, claims, figure.

  eoslab study sam_edge data mlp --settings '{"source": "sklearn_digits", "root": "resources",
      "download": false, "train_size": 500}' --out results/x/data/mlp.npz
  eoslab --threads 1 study sam_edge train --experiment mlp --lr 1 --rho 0.1 --steps 600 \\
      --eig-every 20 --settings '{"model": {"depth": 4, "width": 128}}' --data results/x/data/mlp.npz \\
      --out results/x/runs/mlp/lr1_rho0.1
  eoslab study sam_edge aggregate --runs results/x/runs/mlp/* --out results/x/aggregate/mlp.parquet
  eoslab study sam_edge claims --aggregates results/x/aggregate/*.parquet \\
      --figure-rho '{"mlp": 0.1}' --config config/cpu/sam_edge.yaml --out results/x/tables/claims
  eoslab study sam_edge figure 03 --aggregate results/x/aggregate/mlp.parquet --rho 0.1 \\
      --out results/x/figures/fig03

``--settings`` takes inline JSON or the path of a JSON/YAML file.  Errors in the input (a bad
setting, a missing or corrupt file) end with one line naming it and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ...arrays import DataFileError
from ...datasets.download import DownloadError


def _settings(text: str) -> dict:
    path = Path(text)
    if not text.lstrip().startswith("{") and path.exists():
        import yaml

        values = yaml.safe_load(path.read_text())
    else:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as error:
            raise argparse.ArgumentTypeError(f"--settings is neither a file nor JSON ({error})") from error
    if not isinstance(values, dict):
        raise argparse.ArgumentTypeError(f"--settings must hold a mapping, got {type(values).__name__}")
    return values


def _data(args) -> int:
    from .data import prepare

    defaults = {"root": "resources", "download": False}
    if args.experiment == "transformer":
        defaults["held_out_lines"] = 10_000
    else:
        defaults["train_size"] = 1000 if args.experiment == "cnn" else None
    path = prepare(args.experiment, {**defaults, **args.settings}, args.out)
    print(f"wrote {path}")
    return 0


def _train(args) -> int:
    from .experiment import RunSettings, train_run

    values = dict(args.settings)
    for key in ("experiment", "lr", "rho", "steps", "eig_every"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    values.setdefault("model", {})
    status = train_run(RunSettings.from_dict(values), args.data, args.out, progress=not args.no_progress)
    print(f"{args.out}: {status['status']} ({status.get('message', '')})")
    return 0


def _aggregate(args) -> int:
    from ...io import write_parquet
    from .aggregate import aggregate_runs

    frame = aggregate_runs(args.runs)
    write_parquet(args.out, frame)
    print(f"wrote {args.out} ({len(frame)} rows, {frame.groupby(['lr', 'rho']).ngroups} runs)")
    return 0


def _claims(args) -> int:
    import pandas as pd

    from .aggregate import read_aggregate
    from .claims import claims_table, write_claims

    frame = pd.concat([read_aggregate(p) for p in args.aggregates], ignore_index=True)
    table = claims_table(frame, args.final_fraction)
    paths = write_claims(table, args.figure_rho, args.out, args.final_fraction, args.config)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _figure(args) -> int:
    from .aggregate import read_aggregate
    from .figures import FIGURES, render_figure

    number = args.number.zfill(2)
    if number not in FIGURES:
        raise ValueError(f"figure number must be one of 01–16, got {args.number!r}")
    if number != "01" and args.aggregate is None:
        raise ValueError(f"Figure {int(number)} needs --aggregate (the table of experiment "
                         f"{FIGURES[number].experiment!r})")
    frame = read_aggregate(args.aggregate) if args.aggregate else None
    paths = render_figure(number, frame, args.rho, args.out)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eoslab study sam_edge", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    data = commands.add_parser("data", help="prepare an experiment's training data")
    data.add_argument("experiment", choices=["mlp", "cnn", "transformer"])
    data.add_argument("--settings", type=_settings, default={},
                      help="source, root, download and train_size (images) or held_out_lines (text)")
    data.add_argument("--out", required=True, help="output .npz (a JSON card is written beside it)")
    data.set_defaults(run=_data)

    train = commands.add_parser("train", help="one GD/SGD or SAM run with eigenvalue tracking")
    train.add_argument("--data", required=True, help="the experiment's data file (from the data command)")
    train.add_argument("--out", required=True, help="run directory")
    train.add_argument("--experiment", choices=["mlp", "cnn", "transformer"])
    train.add_argument("--lr", type=float, help="step size η")
    train.add_argument("--rho", type=float, help="SAM radius ρ (0: GD/SGD)")
    train.add_argument("--steps", type=int, help="number of steps")
    train.add_argument("--eig-every", dest="eig_every", type=int, help="steps between eigenvalue computations")
    train.add_argument("--settings", type=_settings, default={},
                       help="the other RunSettings fields (eoslab.studies.sam_edge.experiment.RunSettings)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(run=_train)

    aggregate = commands.add_parser("aggregate", help="all runs of one experiment in one table")
    aggregate.add_argument("--runs", nargs="+", required=True, help="run directories")
    aggregate.add_argument("--out", required=True, help="output .parquet")
    aggregate.set_defaults(run=_aggregate)

    claims = commands.add_parser("claims", help="§4's statements judged (claims.csv/.md, the shared format of "
                                                "eoslab.verdicts) and per run (claims_per_run.csv/.md)")
    claims.add_argument("--aggregates", nargs="+", required=True, help="the experiments' aggregate tables")
    claims.add_argument("--figure-rho", dest="figure_rho", type=_settings, default={},
                        help='JSON: experiment -> the ρ its figures show, e.g. {"mlp": 0.1}')
    claims.add_argument("--final-fraction", dest="final_fraction", type=float, default=0.25,
                        help="the final window: this fraction of the eigenvalue steps (default 0.25)")
    claims.add_argument("--config", default="",
                        help="the config file the runs came from (written in every row of the claims table)")
    claims.add_argument("--out", required=True,
                        help="output stem: STEM.csv, STEM.md, STEM_per_run.csv and STEM_per_run.md are written")
    claims.set_defaults(run=_claims)

    figure = commands.add_parser("figure", help="one of Figures 1–16 (.pdf and .png)")
    figure.add_argument("number", help="01 … 16")
    figure.add_argument("--aggregate", help="the experiment's aggregate table (not for Figure 1)")
    figure.add_argument("--rho", type=float, help="the SAM radius the figure shows")
    figure.add_argument("--out", required=True, help="output stem (.pdf and .png are written)")
    figure.set_defaults(run=_figure)
    return parser


def main(argv: list[str]) -> int:
    from .experiment import SettingsError

    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (SettingsError, DataFileError, DownloadError, ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"eoslab study sam_edge {args.command}: error: {error}", file=sys.stderr)
        return 2

"""The commands of study ``jacobian_alignment`` (Lowell & Kastner 2024), reached as
``eoslab study jacobian_alignment COMMAND ...`` and, as the workflow's rules call them, as the
top-level ``eoslab analyze | aggregate | table | figure``.

  analyze RUN_DIR --out FILE.parquet   the paper's metrics for every snapshot of a run
  aggregate TABLES... --out FILE        per-run tables -> one analysis table (+ training logs)
  table table1|table2|table3|claims     Tables 1-3 and the claims table
  figure NN --analysis FILE --out STEM  one of Figures 1-4, 6-42 (Figure 5: eoslab data figure5)
"""

from __future__ import annotations

import argparse
import sys

from ...arrays import DataFileError
from ...settings import ConfigError, add_dataclass_flags, config_values

PROG = "eoslab study jacobian_alignment"

ANALYZE_DESCRIPTION = """Compute the paper's decomposition of the sharpness (Eqs. 2-8) for every
snapshot of a training run and write one tidy table (+ a JSON card beside it).
Settings come from --config (YAML/JSON) overridden by flags."""


def _add_analyze_parser(subparsers) -> None:
    from .analysis import AnalysisConfig

    parser = subparsers.add_parser("analyze", help="compute the paper's decomposition for every snapshot of a run",
                                   description=ANALYZE_DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="training run directory (from eoslab train)")
    parser.add_argument("--out", required=True, help="output parquet file, a JSON card is written beside it "
                                                      "(required)")
    parser.add_argument("--config", help="YAML or JSON file of the analysis settings below (flags override it)")
    parser.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    parser.add_argument("--data", help="the run's training data file, if it moved since training")
    parser.add_argument("--dataset", help="data set name (default: from the data file's card)")
    parser.add_argument("--size", type=int, help="subset size (default: from the card)")
    parser.add_argument("--subset-seed", type=int, help="subset seed (default: from the card)")
    parser.add_argument("--prune-snapshots", action="store_true",
                        help="after writing the table, delete all snapshots but the first and the last")
    add_dataclass_flags(parser.add_argument_group("analysis settings"), AnalysisConfig)


def _analyze(args: argparse.Namespace) -> int:
    from .analysis import AnalysisConfig, analyze_run

    config = AnalysisConfig.from_dict(config_values(args, AnalysisConfig))
    frame = analyze_run(args.run_dir, args.out, config, progress=not args.no_progress,
                        metadata={"data": args.data, "dataset": args.dataset, "size": args.size,
                                  "subset_seed": args.subset_seed})
    print(f"wrote {args.out}: {frame['iteration'].nunique()} snapshots, {len(frame)} rows")
    if args.prune_snapshots:
        from .analysis import prune_snapshots

        removed = prune_snapshots(args.run_dir, args.out)
        print(f"pruned {removed} snapshots of {args.run_dir}")
    return 0


def _add_results_parsers(subparsers) -> None:
    aggregate = subparsers.add_parser("aggregate", help="concatenate per-run analysis tables (and training logs)")
    aggregate.add_argument("tables", nargs="+", help="per-run analysis parquet files (or, with --combine, "
                                                     "aggregated ones)")
    aggregate.add_argument("--out", required=True,
                           help="aggregated analysis table (parquet; one row per run × snapshot × metric × layer, "
                                "with each run's training status in column 'status'; required)")
    aggregate.add_argument("--training-out", required=True, help="aggregated training logs (parquet)")
    aggregate.add_argument("--combine", action="store_true",
                           help="inputs are aggregates; their training tables sit beside them (.training.parquet)")
    table = subparsers.add_parser("table", help="Tables 1–3 and the claims table")
    table.add_argument("which", choices=("table1", "table2", "table3", "claims"))
    table.add_argument("--analysis", help="aggregated analysis table (all but table3)")
    table.add_argument("--training", help="aggregated training logs (claims)")
    table.add_argument("--transient-iterations", type=int, default=10,
                       help="snapshots before this iteration are the initial transient, ignored (Section 5; "
                            "default: 10, the paper's)")
    table.add_argument("--snapshot-every", type=int, default=None,
                       help="claims: the runs' regular snapshot interval, for the paper-grid reading (the paper's "
                            "100); without it that reading repeats the first")
    table.add_argument("--config-name", help="claims: the configuration file named in the table's config column")
    table.add_argument("--out", required=True, help="path without extension (.csv, .md, .tex are written; claims "
                                                    "also writes OUT_readings.csv/.md)")
    figure = subparsers.add_parser("figure", help="draw one of Figures 1–4, 6–42")
    figure.add_argument("number", help="01 … 42 (not 05: see 'eoslab data figure5')")
    figure.add_argument("--analysis", required=True, help="aggregated analysis table")
    figure.add_argument("--transient-iterations", type=int, default=10,
                        help="snapshots before this iteration are the initial transient; the 'change' figures "
                             "divide by each run's value at the first snapshot from it on, t0 (default: 10)")
    figure.add_argument("--dataset", help="draw the figure's panels for this data set instead of the paper's")
    figure.add_argument("--criterion", choices=("cross_entropy", "mse"),
                        help="draw the figure's panels for this criterion instead of the paper's")
    figure.add_argument("--out", required=True, help="path without extension (.pdf and .png are written)")


def _aggregate(args: argparse.Namespace) -> int:
    from .aggregate import RUN_KEYS, aggregate, combine
    from ...io import write_parquet

    if args.combine:
        training = [str(p).removesuffix(".parquet") + ".training.parquet" for p in args.tables]
        analysis, logs = combine(args.tables, training)
    else:
        analysis, logs = aggregate(args.tables)
    write_parquet(args.training_out, logs)
    write_parquet(args.out, analysis)
    print(f"wrote {args.out}: {analysis.groupby(RUN_KEYS).ngroups} runs, {len(analysis)} rows")
    return 0


def _table(args: argparse.Namespace) -> int:
    from . import tables

    latex_title, notes = None, None
    if args.which == "table3":
        frame, title = tables.table3(), "Table 3: dice image generation parameters by class"
    else:
        if not args.analysis:
            raise ConfigError(f"{args.which} needs --analysis")
        from .aggregate import read_analysis

        analysis = read_analysis(args.analysis)
        notes = tables.status_notes(analysis)
        if args.which == "table1":
            frame, title = tables.table1(analysis), "Table 1: configurations of experiments"
        elif args.which == "table2":
            from .powerlaw import table2

            frame = table2(analysis, args.transient_iterations)
            title = "Table 2: power laws max_t P1_DeltaJ = c1 D^c2 (Eq. 9)"
            latex_title = r"Table 2: power laws $\max_t P^1_{\Delta,J} = c_1 D^{c_2}$ (Eq.~9)"
        else:
            import pandas as pd

            from ...verdicts import write_claims
            from .claims import claims_table, compute_claims

            training = pd.read_parquet(args.training) if args.training else None
            readings = compute_claims(analysis, training, args.transient_iterations, args.snapshot_every)
            paths = tables.write_table(readings, f"{args.out}_readings",
                                       title="Claims of Sections 4-5: the largest value under both readings of t0",
                                       notes=notes)
            frame = claims_table(analysis, training, args.transient_iterations, args.snapshot_every,
                                 config=args.config_name or "")
            write_claims(frame, f"{args.out}.csv", f"{args.out}.md",
                         title="jacobian_alignment: claims of Sections 4-5, verdicts by the rule of eoslab.verdicts")
            counts = frame["verdict"].value_counts().to_dict()
            print(f"wrote {args.out}.csv, {args.out}.md ({counts}), " + ", ".join(map(str, paths)))
            return 0
    paths = tables.write_table(frame, args.out, latex=args.which == "table2", title=title, latex_title=latex_title,
                               notes=notes)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


def _figure(args: argparse.Namespace) -> int:
    from .aggregate import read_analysis
    from .catalog import FIGURES
    from .figures import render_figure

    number = args.number.zfill(2)
    if number not in FIGURES or number == "05":
        raise ConfigError(f"figure number must be one of 01-04, 06-42, got {args.number!r}")
    paths = render_figure(number, read_analysis(args.analysis), args.out, args.transient_iterations,
                          dataset=args.dataset, criterion=args.criterion)
    print("wrote " + ", ".join(map(str, paths)))
    return 0


COMMANDS = {"analyze": _analyze, "aggregate": _aggregate, "table": _table, "figure": _figure}


def add_commands(subparsers) -> None:
    """Add this study's commands to ``subparsers`` (the top-level ``eoslab`` or this study's own)."""
    _add_analyze_parser(subparsers)
    _add_results_parsers(subparsers)


def main(argv: list[str] | None = None) -> int:
    from ...cli import configure_logging

    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_commands(subparsers)
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except (DataFileError, ConfigError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2

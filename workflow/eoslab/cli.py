"""The ``eoslab`` command line, which the workflow rules call.

``eoslab train --data FILE.npz --out DIR [--config FILE.yaml] [--KEY VALUE ...]``
trains one network; every :class:`eoslab.training.TrainConfig` field can come
from the YAML/JSON config file and be overridden by a flag of the same name
(underscores or dashes).  Exit status: 0 finished (converged or
max_iterations), 2 bad input, 3 diverged, 143 interrupted by SIGTERM
(rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import typing

import yaml

from .arrays import DataFileError
from .training import ConfigError, TrainConfig, TrainingDiverged, train


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _flag_type(field: dataclasses.Field):
    hint = typing.get_type_hints(TrainConfig)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    base = args[0]
    if base is bool:
        return _parse_bool
    if base in (int, float, str):
        return base
    return str


def _add_train_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train one network (exponential Euler or gradient descent)",
                                   description=TrainConfig.__doc__)
    parser.add_argument("--out", required=True, help="output directory of the run")
    parser.add_argument("--config", help="YAML or JSON file with TrainConfig fields")
    parser.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    for field in dataclasses.fields(TrainConfig):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, dest=field.name, type=_flag_type(field), default=None,
                            help=f"(default: {field.default if field.default is not dataclasses.MISSING else 'required'})")


def _train(args: argparse.Namespace) -> int:
    values: dict = {}
    if args.config:
        with open(args.config) as handle:
            loaded = yaml.safe_load(handle) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {args.config!r} must hold a mapping of TrainConfig fields")
        values.update(loaded)
    for field in dataclasses.fields(TrainConfig):
        value = getattr(args, field.name)
        if value is not None:
            values[field.name] = value
    if "data" not in values:
        raise ConfigError("no data file: pass --data FILE.npz or set 'data' in --config")
    config = TrainConfig.from_dict(values)
    status = train(config, args.out, progress=not args.no_progress)
    print(f"{args.out}: {status['status']} — {status['message']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eoslab", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_train_parser(subparsers)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "train":
            return _train(args)
    except (DataFileError, ConfigError) as error:
        print(f"eoslab {args.command}: error: {error}", file=sys.stderr)
        return 2
    except TrainingDiverged as error:
        print(f"eoslab {args.command}: diverged: {error}", file=sys.stderr)
        return 3
    return 1


if __name__ == "__main__":
    sys.exit(main())

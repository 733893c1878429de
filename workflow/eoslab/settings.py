"""One way to declare a setting: a dataclass field carrying its help text, allowed values and the
meaning of a ``None`` default — the single source of a command's ``--flag`` help, of a config file's
keys and of the workflow schema's defaults (tests/test_cli.py checks the schema against the fields).

Every settings dataclass of the engine and the studies (``TrainConfig``, ``AnalysisConfig``, the
studies' run settings) declares its fields with :func:`option`; the command lines add one flag per
field with :func:`add_dataclass_flags` and read ``--config FILE`` plus flags with
:func:`config_values`; :func:`config_from_dict` builds and validates the dataclass, naming unknown keys.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import field
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration value has the wrong type or range, or a key is unknown."""


def option(default, help: str, *, choices: tuple | None = None, default_text: str | None = None,
           parse: typing.Callable[[str], Any] | None = None):
    """A settings field with its documentation.

    ``default_text`` says what a default of ``None`` means (e.g. "by criterion: ..."); ``choices``
    are the allowed values (argparse enforces them on the command line); ``parse`` turns a flag's text
    into a value where the field's type does not (e.g. "an integer or 'width'");
    ``dataclasses.MISSING`` as the default makes the field required."""
    metadata: dict[str, Any] = {"help": help}
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if default_text is not None:
        metadata["default_text"] = default_text
    if parse is not None:
        metadata["parse"] = parse
    return field(default=default, metadata=metadata)


def config_from_dict(cls, values: dict[str, Any], what: str):
    """Build the settings dataclass ``cls`` from ``values``, rejecting unknown keys, and validate it
    (``validate()`` if the class has one)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise ConfigError(f"unknown {what} config keys {sorted(unknown)}; expected a subset of {sorted(names)}")
    config = cls(**values)
    if hasattr(config, "validate"):
        config.validate()
    return config


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def flag_type(cls, setting: dataclasses.Field):
    """The argparse ``type`` of a field: its ``parse``, else from its annotation (``X | None`` → X)."""
    if "parse" in setting.metadata:
        return setting.metadata["parse"]
    hint = typing.get_type_hints(cls)[setting.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    base = args[0]
    if base is bool:
        return parse_bool
    if base in (int, float, str):
        return base
    return str


def option_help(setting: dataclasses.Field) -> str:
    """A field's help text with its real default (argparse shows the allowed values)."""
    text = setting.metadata.get("help", "")
    if setting.default is dataclasses.MISSING:
        return text
    default = setting.metadata.get("default_text", setting.default)
    return f"{text} (default: {str(default).lower() if isinstance(default, bool) else default})"


def add_dataclass_flags(parser, cls, skip: tuple[str, ...] = ()) -> None:
    """One ``--flag`` per field of ``cls`` (default ``None``: "not given", so a config file's value stays)."""
    for setting in dataclasses.fields(cls):
        if setting.name in skip:
            continue
        flag = "--" + setting.name.replace("_", "-")
        parser.add_argument(flag, dest=setting.name, type=flag_type(cls, setting), default=None,
                            choices=setting.metadata.get("choices"), help=option_help(setting).replace("%", "%%"))


def config_values(args: argparse.Namespace, cls, config_file: str | None = None) -> dict:
    """Fields of ``cls`` from a YAML/JSON ``config_file`` (default ``args.config``), overridden by the
    flags that were given."""
    values: dict = {}
    config_file = config_file if config_file is not None else getattr(args, "config", None)
    if config_file:
        with open(config_file) as handle:
            loaded = yaml.safe_load(handle) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_file!r} must hold a mapping of {cls.__name__} fields")
        values.update(loaded)
    for setting in dataclasses.fields(cls):
        value = getattr(args, setting.name, None)
        if value is not None:
            values[setting.name] = value
    return values

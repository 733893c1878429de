# What every study's rules file gets (the multi-study contract, docs/architecture.md "Adding a study"):
#
#   RESULTS              the output root of this config, e.g. "results/tiny" (no trailing slash);
#   study_config(name)   the validated section of one study, its schema's defaults filled in;
#   STUDY_TARGETS        study -> the paths its `all` builds; each study's rules file adds its entry;
#   cli_flags(values)    a dict as command-line flags (--key value).
#
# Nothing here knows any particular study: the studies are the top-level keys of
# config/schema.yaml other than `results`, each validated against config/schemas/<study>.schema.yaml.
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

WORKFLOW_ROOT = Path(workflow.main_snakefile).resolve().parent
sys.path.insert(0, str(WORKFLOW_ROOT / "workflow"))

TOP_SCHEMA = WORKFLOW_ROOT / "config" / "schema.yaml"
STUDIES = tuple(k for k in yaml.safe_load(TOP_SCHEMA.read_text())["properties"] if k != "results")


def config_source():
    """The config file(s) this run reads, for messages: the --configfile(s), else the default."""
    files = workflow.overwrite_configfiles or workflow.configfiles
    return ", ".join(os.path.relpath(f) if Path(f).resolve().is_relative_to(Path.cwd()) else str(f)
                     for f in files) or "--config"


def _invalid_section(section, schema, where):
    """snakemake.utils.validate (which also fills the defaults); on failure, a short message that
    ends with the offending key (instead of the whole schema), else None."""
    try:
        validate(section, str(schema))
    except WorkflowError as error:
        cause = error.__context__  # the jsonschema ValidationError that validate() wrapped
        if not hasattr(cause, "absolute_path"):
            raise
        key = ".".join([where, *map(str, cause.absolute_path)] if where else map(str, cause.absolute_path))
        allowed = ""
        if cause.validator == "additionalProperties":
            allowed = "; allowed here: " + ", ".join(sorted(cause.schema.get("properties", {})))
        return (f"Invalid configuration {config_source()} (schema {schema.relative_to(WORKFLOW_ROOT)}):\n"
                f"{key or '(top level)'}: {cause.message}{allowed}")
    return None


# Printed, then exit status 1: raising a WorkflowError would print a traceback line after the
# message, and the line naming the offending key should be the last one.
_invalid = _invalid_section(config, TOP_SCHEMA, "")
for _study in STUDIES:
    if _invalid is None and _study in config:
        _invalid = _invalid_section(config[_study], WORKFLOW_ROOT / "config" / "schemas" / f"{_study}.schema.yaml",
                                    _study)
if _invalid is None and not any(study in config for study in STUDIES):
    _invalid = (f"The configuration {config_source()} names no study; "
                f"give at least one top-level section of: {', '.join(STUDIES)}")
if _invalid:
    print(_invalid, file=sys.stderr)
    sys.exit(1)


def results_root():
    """The config's `results:`, else results/<stem of the last --configfile>."""
    if "results" in config:
        return str(config["results"]).rstrip("/")
    files = workflow.overwrite_configfiles or workflow.configfiles
    if not files:
        raise WorkflowError("No config file and no `results:` key: pass --configfile FILE.yaml")
    return f"results/{Path(files[-1]).stem}"


RESULTS = results_root()


def study_config(name):
    """The validated section of study `name` (KeyError if the config does not have it)."""
    if name not in config:
        raise KeyError(f"the configuration {config_source()} has no '{name}' section")
    return config[name]


STUDY_TARGETS = {}


def cli_flags(values):
    """A dict as command-line flags (--key value)."""
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in values.items())

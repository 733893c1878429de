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


def refuse(message):
    """Stop Snakemake with ``message`` alone on stderr and exit status 1 (no traceback): for bad input
    found while the DAG is built (an input function), where a raised exception would come wrapped in
    Snakemake's InputFunctionException and a traceback."""
    print(message, file=sys.stderr)
    sys.stderr.flush()
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

# One Snakemake per output root.  Two of them on one root see each other's unfinished outputs
# (Snakemake then reports a misleading IncompleteFilesException, or both start the same job), so
# the main Snakemake process holds an flock on {RESULTS}/.snakemake-root.lock while it runs; the OS
# releases it when the process ends, however it ends.  Dry runs and the commands that run nothing
# (lint, unlock, report, summaries, graphs) do not take it; jobs on cluster nodes neither.
_NO_RUN_FLAGS = {"-n", "--dry-run", "--dryrun", "--lint", "--unlock", "--report", "--list-rules", "--list",
                 "-l", "--list-target-rules", "--lt", "--summary", "-S", "--detailed-summary", "-D", "--dag",
                 "--rulegraph", "--filegraph", "--d3dag", "--cleanup-metadata", "--cm", "--list-changes", "--lc",
                 "--list-input-changes", "--li", "--list-params-changes", "--lp", "--list-code-changes",
                 "--list-untracked", "--lu", "--delete-all-output", "--delete-temp-output", "--containerize",
                 "--export-cwl", "--conda-create-envs-only", "--conda-cleanup-envs", "--archive", "--help", "-h",
                 "--version", "-v", "--print-compilation", "--debug-dag", "--touch", "-t"}


def _runs_jobs(argv):
    for arg in argv[1:]:
        if arg in _NO_RUN_FLAGS or arg.split("=", 1)[0] in _NO_RUN_FLAGS:
            return False
        if arg.startswith("-") and not arg.startswith("--") and "n" in arg[1:] and arg[1:].isalpha():
            return False  # combined short flags, e.g. -np
    return "snakemake" in Path(argv[0]).as_posix() and workflow.is_main_process


def hold_root_lock(root):
    """Hold ``{root}/.snakemake-root.lock`` (flock) for the life of this process; refuse with one line
    naming the other Snakemake's PID and host if it is held."""
    import fcntl
    import json
    import socket
    import time

    Path(root).mkdir(parents=True, exist_ok=True)
    path = Path(root) / ".snakemake-root.lock"
    handle = open(path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = json.loads(path.read_text() or "{}")
        except ValueError:
            holder = {}
        handle.close()
        refuse(f"Another Snakemake (PID {holder.get('pid', '?')} on host {holder.get('host', '?')}, since "
               f"{holder.get('since', '?')}) is running on the output root {root} ({path}); one Snakemake per "
               f"output root: wait for it to finish, or end it and its jobs (kill -- -PGID of its process group; "
               f"scancel on SLURM) and rerun")
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": " ".join(sys.argv)}) + "\n")
    handle.flush()
    return handle  # kept open (and locked) until the process exits


if _runs_jobs(sys.argv):
    _ROOT_LOCK = hold_root_lock(RESULTS)


def study_config(name):
    """The validated section of study `name` (KeyError if the config does not have it)."""
    if name not in config:
        raise KeyError(f"the configuration {config_source()} has no '{name}' section")
    return config[name]


STUDY_TARGETS = {}


def cli_flags(values):
    """A dict as command-line flags (--key value)."""
    return " ".join(f"--{key.replace('_', '-')} {value}" for key, value in values.items())

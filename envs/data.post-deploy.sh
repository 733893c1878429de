#!/usr/bin/env bash
# Snakemake runs this inside the freshly created environment: install the eoslab
# package from this checkout (dependencies come from the env file, hence --no-deps).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -f "$root/pyproject.toml" ] || root="$PWD"
python -m pip install --no-deps --no-build-isolation -e "$root"

#!/usr/bin/env bash
# Snakemake runs this script (as envs/<env>.post-deploy.sh, symlinks to this one file) inside
# each freshly created environment: install the eoslab package from this checkout
# (dependencies come from the env file, hence --no-deps).
# Snakemake runs a copy of this script from .snakemake/conda/, with the working
# directory of the snakemake command — normally the repository root.
set -euo pipefail
root=""
for candidate in "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" "$PWD" "${EOSLAB_ROOT:-}"; do
    if [ -n "$candidate" ] && grep -qs '^name = "eoslab"' "$candidate/pyproject.toml"; then root="$candidate"; break; fi
done
if [ -z "$root" ]; then
    echo "post-deploy: cannot find the eoslab checkout (pyproject.toml); run snakemake from the repository root or set EOSLAB_ROOT" >&2
    exit 1
fi
python -m pip install --no-deps --no-build-isolation -e "$root"

#!/usr/bin/env bash
# Every gate the project holds itself to: formatters, linters, workflow lint, then the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

ruff check .
ruff format --check .
snakefmt --check Snakefile rules/
snakemake --lint --configfile config/demo.yaml
python -m pytest "$@"

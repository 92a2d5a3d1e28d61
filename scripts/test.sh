#!/usr/bin/env bash
# The test command (README, CI): install what is missing, then lint, type-check, check the
# layer contracts and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff format --check . && ruff check .
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== pytest"; pytest -q -p no:cacheprovider "$@"

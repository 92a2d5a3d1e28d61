#!/usr/bin/env bash
# The test command (README, CI): install what is missing, then lint, type-check, check the
# layer contracts, smoke-test the built wheel installed into a fresh venv, and run the whole
# test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff format --check . && ruff check .
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== the wheel, installed"; bash scripts/smoke_wheel.sh
echo "== pytest"; pytest -q -p no:cacheprovider "$@"

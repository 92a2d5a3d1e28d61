#!/usr/bin/env bash
# The test command (README, CI): install what is missing, then lint, type-check, check the
# layer contracts, smoke-test the built wheel installed into a fresh venv, and run the whole
# test suite (on two workers).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff format --check . && ruff check .
echo "== mypy"; mypy
echo "== import contracts"; lint-imports
echo "== the wheel, installed"; bash scripts/smoke_wheel.sh
# Two workers (CI has two cores; PYTEST_WORKERS=0 runs in one process): each test is
# independent (its own journal, broker port, radio, tmux socket), so the order is free.
echo "== pytest"; pytest -q -p no:cacheprovider -n "${PYTEST_WORKERS:-2}" "$@"

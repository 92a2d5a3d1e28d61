#!/usr/bin/env bash
# The installed-wheel smoke test (scripts/test.sh, so CI): build the sdist and, from it, the
# wheel; check both carry what they must (scripts/check_dist.py); install the wheel into a
# fresh venv with its dependencies from the package index, as a user gets it (pip's download
# cache, ~/.cache/pip, keeps repeated runs fast); then, outside the repository so nothing of
# the source tree can stand in for a missing module: `therapyctl --version`,
# `python -m therapyctl --version`, a `run --sim` session, `history`, `ui` in tmux showing
# and connecting a simulated device, an episode with `next`, pain ratings, `report --json` and
# the FHIR export, and the reference firmware run by `sim serve --firmware`.
# Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PYTHON=${PYTHON:-python3}
started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/therapyctl-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset PYTHONPATH

step() { echo "-- $*"; }
quiet() {  # run a command; show its output only if it fails
  if ! "$@" >"$work/step.log" 2>&1; then
    cat "$work/step.log" >&2
    echo "smoke_wheel: failed: $*" >&2
    return 1
  fi
}

step "build the sdist, and the wheel from it"
quiet .venv/bin/python -m build --outdir "$work/dist" .
.venv/bin/python scripts/check_dist.py "$work/dist"

step "install the wheel into a fresh venv (dependencies from the index)"
quiet "$PYTHON" -m venv "$work/venv"
quiet "$work/venv/bin/python" -m pip install --disable-pip-version-check "$work"/dist/*.whl
bin=$work/venv/bin

step "run it from outside the repository"
cd "$work"
export THERAPYCTL_DB="$work/journal.sqlite3" THERAPYCTL_KEYS="$work/keys"
version=$("$repo/.venv/bin/python" -c \
  'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
  "$repo/pyproject.toml")
for command in "$bin/therapyctl" "$bin/python -m therapyctl"; do
  got=$($command --version)
  if [ "$got" != "therapyctl $version" ]; then
    echo "smoke_wheel: $command --version said '$got', not 'therapyctl $version'" >&2
    exit 1
  fi
done
echo "therapyctl $version (the console script and python -m therapyctl)"
"$bin/therapyctl" run --sim heat-pad --mode heat --minutes 2 --time-scale 120
listed=$("$bin/therapyctl" history --limit 1)  # whole, then searched: `| grep -q` races EPIPE
grep -q "heat-pad .* completed" <<<"$listed" || {
  echo "smoke_wheel: history does not show the completed session" >&2
  exit 1
}
step "therapy over days: an episode, what is next, a rating, the report and the FHIR export"
"$bin/therapyctl" episode start --site lower-back --at "10h ago"
next=$("$bin/therapyctl" next --json)
grep -q '"modality": "cold"' <<<"$next" || {
  echo "smoke_wheel: next does not propose cold 10 h into an episode: $next" >&2
  exit 1
}
"$bin/therapyctl" run --sim thermal-pad --mode cold --minutes 1 --site lower-back \
  --pain-before 6 --pain-after 4 --time-scale 120 >/dev/null
"$bin/therapyctl" pain 3 --site lower-back
"$bin/therapyctl" report --json | grep -q '"caveat"' || {
  echo "smoke_wheel: report --json has no caveat" >&2
  exit 1
}
"$bin/therapyctl" export --format fhir | grep -q '"72514-3"' || {
  echo "smoke_wheel: the FHIR export has no pain observation" >&2
  exit 1
}
# Without the plot extra a figure is one line saying what to install, exit 1, no traceback.
set +e
"$bin/therapyctl" report -o "$work/review.png" 2>"$work/report.err"
status=$?
set -e
if [ "$status" != 1 ] || ! grep -q "plot" "$work/report.err" || grep -q Traceback "$work/report.err"; then
  echo "smoke_wheel: report -o without matplotlib exited $status: $(cat "$work/report.err")" >&2
  exit 1
fi
echo "episode, next, run with pain ratings, pain, report --json, export --format fhir"
"$repo/.venv/bin/python" "$repo/scripts/smoke_ui.py" "$bin/therapyctl" "$work"
"$repo/.venv/bin/python" "$repo/scripts/smoke_firmware.py" "$bin" "$repo"
echo "wheel smoke test passed in $((SECONDS - started)) s"

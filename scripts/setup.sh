#!/usr/bin/env bash
# Installs everything therapyctl and its tests need, into .venv beside this script's repo.
# Idempotent: a second run only checks. Debian, Python >= 3.11, run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# System packages the tests need: mosquitto, the MQTT broker the bridge tests start;
# tmux, the terminal the UI test runs `therapyctl ui` in.
APT_PACKAGES=(mosquitto tmux)

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  fi
}

if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "therapyctl needs Python 3.11 or newer as $PYTHON" >&2
  exit 1
fi
# Debian's own python3 needs python3-venv for venv and pip.
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
  APT_PACKAGES+=(python3-venv)
fi
if [ ${#APT_PACKAGES[@]} -gt 0 ]; then apt_install "${APT_PACKAGES[@]}"; fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.therapyctl-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev,plot]'
  touch "$stamp"
fi
echo "therapyctl is installed: .venv/bin/therapyctl"

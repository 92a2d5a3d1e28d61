"""The reference firmware's tests: its pure modules import under CPython from firmware/;
the end-to-end ones run it on MicroPython's unix port (skipped without the binary)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from simulator.firmware_host import FIRMWARE_DIR, find_micropython

if str(FIRMWARE_DIR) not in sys.path:
    sys.path.insert(0, str(FIRMWARE_DIR))

MICROPYTHON: Path | None = find_micropython()
NO_MICROPYTHON = (
    "no MicroPython unix binary with Bluetooth: set THERAPYCTL_MICROPYTHON or provide"
    " ../shared/micropython/micropython"
)
needs_micropython = pytest.mark.skipif(MICROPYTHON is None, reason=NO_MICROPYTHON)


@pytest.fixture
def micropython() -> Path:
    if MICROPYTHON is None:
        pytest.skip(NO_MICROPYTHON)
    return MICROPYTHON

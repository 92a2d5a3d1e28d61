"""``therapyctl scan`` error handling."""

from __future__ import annotations

import subprocess

import pytest

from tests.simserve import THERAPYCTL


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [THERAPYCTL, *args], check=False, capture_output=True, text=True, timeout=60
    )


def test_scan_without_an_adapter_says_so_in_one_line() -> None:
    """No BlueZ/D-Bus here: one plain line and exit 1, not a traceback."""
    result = run("scan", "--timeout", "0.5")
    if result.returncode == 0:  # pragma: no cover - a machine with a real adapter
        pytest.skip("this machine has a Bluetooth adapter")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("therapyctl: error: no Bluetooth adapter is available")
    assert "--radio" in lines[0]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["scan", "--radio", "tcp-client:127.0.0.1:1", "--timeout", "0.2"], 1, "cannot open radio"),
        (["scan", "--radio", "nonsense:x"], 1, "unknown transport scheme"),
        (["scan", "--timeout", "-1"], 2, "must be greater than 0"),
        (["scan", "--timeout", "soon"], 2, "is not a valid float"),
        (["scan", "--bogus"], 2, "No such option"),
    ],
)
def test_scan_bad_input_is_a_clear_error(args: list[str], code: int, message: str) -> None:
    """Bad radios and bad options: a clear message, a distinct exit code, no traceback."""
    result = run(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr

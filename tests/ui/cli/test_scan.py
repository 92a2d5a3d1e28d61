"""``therapyctl scan``: error handling, and what it lists (JSON and the table)."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
from bleak.backends.device import BLEDevice
from click.testing import CliRunner

import device.link
from device.link import FoundDevice, Radio
from tests.simserve import THERAPYCTL, sim_serve
from ui.cli import cli


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


async def _scan(radio: str, *args: str) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(
        THERAPYCTL,
        "scan",
        "--radio",
        radio,
        "--timeout",
        "1",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


@pytest.mark.slow
async def test_scan_json_includes_the_advertised_battery() -> None:
    """``scan --json`` against sim serve: each fresh device lists battery_pct 100."""
    async with sim_serve("--device", "heat-pad:pad", "--device", "light-belt-800:belt") as serve:
        result = await _scan(serve.radio, "--json")
    assert result.returncode == 0, result.stderr
    listed = {d["name"]: d["battery_pct"] for d in json.loads(result.stdout)}
    assert listed == {"pad": 100, "belt": 100}


@pytest.mark.slow
async def test_scan_table_has_a_battery_column() -> None:
    """The human-readable table has a BATTERY column (``100 %`` for a fresh device) and ends
    in BONDED (``no`` before pairing)."""
    async with sim_serve("--device", "heat-pad:pad") as serve:
        result = await _scan(serve.radio)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.strip().splitlines()
    assert header.split()[-2:] == ["BATTERY", "BONDED"]
    assert row.startswith("pad ")
    assert row.endswith(" 100 %    no")


def test_scan_table_shows_dashes_without_an_advertised_battery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A device that advertises no battery: ``--`` in the BATTERY column (and BONDED, when
    the radio cannot tell)."""

    async def fake_scan(_radio: Radio, _timeout_s: float) -> list[FoundDevice]:
        ble = BLEDevice("C1:22:33:44:55:66", "other", None)
        return [FoundDevice("other", ble.address, "heat-pad", -60, ble)]

    async def no_adapter(_transport: str | None) -> Radio:
        return Radio()  # never used by fake_scan

    monkeypatch.setattr(Radio, "open", no_adapter)
    monkeypatch.setattr(device.link, "scan", fake_scan)
    result = CliRunner().invoke(cli, ["scan"])
    assert result.exit_code == 0, result.output
    header, row = result.output.strip().splitlines()
    assert header.split()[-2:] == ["BATTERY", "BONDED"]
    assert row.split()[-2:] == ["--", "--"]

"""``therapyctl sim serve`` in its own process, reached over its TCP virtual radio."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys

import pytest

from device.link import Radio, TherapyLink, scan
from protocols import Mode, RenewLease, ResultCode, Start, uuids
from simulator import DEVICE_KINDS
from tests.device.link.conformance import exercise
from tests.simserve import THERAPYCTL, sim_serve

pytestmark = pytest.mark.slow

ALL_DEVICES = [arg for kind in DEVICE_KINDS for arg in ("--device", f"{kind}:sim-{kind}")]


async def _run(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout_s)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


async def test_scan_json_finds_every_device_that_sim_serve_runs() -> None:
    """``therapyctl scan --radio ... --json`` lists each simulated device with kind and RSSI."""
    async with sim_serve(*ALL_DEVICES) as serve:
        result = await _run(THERAPYCTL, "scan", "--radio", serve.radio, "--timeout", "1", "--json")
        assert result.returncode == 0, result.stderr
        listed = {(d["name"], d["address"], d["kind"]) for d in json.loads(result.stdout)}
        assert listed == {(d["name"], d["address"], d["kind"]) for d in serve.devices}
        assert all(d["rssi"] < 0 for d in json.loads(result.stdout))


async def test_bleak_client_across_processes_exercises_every_kind() -> None:
    """The same BleakClient checks as in-process, against sim serve over TCP HCI."""
    async with sim_serve(*ALL_DEVICES) as serve, await Radio.open(serve.radio) as radio:
        found = {f.kind: f for f in await scan(radio, timeout_s=1.0)}
        assert sorted(found) == sorted(DEVICE_KINDS)
        for kind in DEVICE_KINDS:
            await exercise(radio, found[kind])


async def test_bumble_gatt_dump_sees_the_standard_services() -> None:
    """A third-party GATT client (bumble-gatt-dump) lists 0x180A, 0x180F and Therapy."""
    tool = shutil.which("bumble-gatt-dump") or str(
        __import__("pathlib").Path(sys.executable).with_name("bumble-gatt-dump")
    )
    async with sim_serve("--device", "heat-pad:pad") as serve:
        result = await _run(tool, serve.radio, serve.address("pad"), timeout_s=60)
    assert result.returncode == 0, result.stderr
    assert "UUID-16:180A (Device Information)" in result.stdout
    assert "UUID-16:180F (Battery)" in result.stdout
    assert uuids.THERAPY_SERVICE.upper() in result.stdout
    assert uuids.CONTROL_POINT.upper() in result.stdout


async def test_fault_given_to_sim_serve_trips_the_cutout() -> None:
    """``--fault overheat:pad@5``: the simulator logs the hard cut-out latching the fault."""
    async with (
        sim_serve("--device", "heat-pad:pad", "--fault", "overheat:pad@5", time_scale=200) as serve,
        await Radio.open(serve.radio) as radio,
    ):
        link = await TherapyLink.connect(radio, (await scan(radio, 0.5))[0])
        await link.pair()  # within the pairing window that opens as sim serve starts
        await link.set_lease(60_000)
        assert (await link.request(Start(Mode.HEAT, 0, 38.0, 1800))).result == ResultCode.SUCCESS
        event = None
        async with asyncio.timeout(20):
            while event is None:
                await link.request(RenewLease())
                await asyncio.sleep(0.05)
                event = next(
                    (e for e in serve.events if e.get("stop_cause") == "over_temperature_cutout"),
                    None,
                )
        assert event["state"] == "fault" and event["output_on"] is False
        assert 300 < event["t_s"] < 1500  # minutes of simulated heating
        await link.disconnect()


async def test_a_killed_client_frees_the_device_for_the_next() -> None:
    """A controller process killed while connected: its link ends, the device advertises again."""
    script = (
        "import asyncio, sys\n"
        "from device.link import Radio, TherapyLink, scan\n"
        "async def main():\n"
        "    radio = await Radio.open(sys.argv[1])\n"
        "    link = await TherapyLink.connect(radio, (await scan(radio, 0.5))[0])\n"
        "    print('connected', flush=True)\n"
        "    await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    async with sim_serve("--device", "heat-pad:pad") as serve:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, serve.radio, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        assert await asyncio.wait_for(child.stdout.readline(), 20) == b"connected\n"
        await serve.wait_for(event="connected", device="pad")
        child.kill()
        await child.wait()
        await serve.wait_for(event="disconnected", device="pad")
        async with await Radio.open(serve.radio) as radio:
            assert [f.name for f in await scan(radio, 0.5)] == ["pad"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "toaster", "--hci", "tcp-server:127.0.0.1:0"], "unknown device kind"),
        (
            ["--device", "heat-pad", "--fault", "overheat@5", "--hci", "tcp-server:127.0.0.1:0"],
            "must name its device",
        ),
        (
            [
                "--device",
                "heat-pad",
                "--fault",
                "melt:heat-pad@5",
                "--hci",
                "tcp-server:127.0.0.1:0",
            ],
            "unknown fault",
        ),
        (
            [
                "--device",
                "heat-pad",
                "--fault",
                "overheat:nobody@5",
                "--hci",
                "tcp-server:127.0.0.1:0",
            ],
            "which no --device runs",
        ),
        (
            ["--device", "heat-pad", "--time-scale", "0", "--hci", "tcp-server:127.0.0.1:0"],
            "greater than 0",
        ),
        (["--device", "heat-pad"], "Missing option '--hci'"),
    ],
)
async def test_bad_sim_serve_arguments_are_usage_errors(args: list[str], message: str) -> None:
    """A wrong argument: exit 2 and a message that names the problem, no traceback."""
    result = await _run(THERAPYCTL, "sim", "serve", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


async def test_unusable_transport_is_one_line_error() -> None:
    """A port that cannot be bound: exit 1 with one line, no traceback."""
    result = await _run(
        THERAPYCTL, "sim", "serve", "--device", "heat-pad", "--hci", "tcp-server:127.0.0.1:70000"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("therapyctl: error: cannot open HCI transport")
    assert "Traceback" not in result.stderr

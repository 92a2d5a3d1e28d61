"""`therapyctl run` against the reference firmware (`sim serve --firmware`: MicroPython's unix
port, NimBLE) in another process: `pair`, a heat session that completes, and a controller
killed mid-session, whose output the firmware's lease turns off."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import pytest

from simulator.firmware_host import find_micropython
from tests.simserve import THERAPYCTL, SimServe, sim_serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        find_micropython() is None,
        reason="no MicroPython unix binary with Bluetooth (THERAPYCTL_MICROPYTHON)",
    ),
]

TIME_SCALE = 20.0  # a 2-minute session takes 6 s


async def start_run(radio: str, minutes: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        THERAPYCTL,
        "run",
        "--device",
        "pad",
        "--radio",
        radio,
        "--mode",
        "heat",
        "--minutes",
        str(minutes),
        "--attended-ack",
        "auto",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def event_after(
    serve: SimServe, index: int, timeout_s: float = 15.0, **match: Any
) -> dict[str, Any]:
    """The first event of device pad logged after ``serve.events[index]`` matching ``match``."""
    async with asyncio.timeout(timeout_s):
        while True:
            for event in serve.events[index + 1 :]:
                if event.get("device") == "pad" and all(
                    event.get(k) == v for k, v in match.items()
                ):
                    return event
            await asyncio.sleep(0.01)  # as SimServe.wait_for: the log is read by another task


async def test_run_completes_a_heat_session_on_the_firmware() -> None:
    """pair, then run 2 minutes of heat at the device's time scale: exit 0, completed, and the
    firmware's own log shows the output on, then off."""
    async with sim_serve("--firmware", "--device", "heat-pad:pad", time_scale=TIME_SCALE) as serve:
        await serve.pair("pad")
        await serve.wait_for(5, device="pad", event="paired")
        process = await start_run(serve.radio, 2)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        summary = json.loads(out)
        assert summary["end_reason"] == "completed"
        assert 1.9 <= summary["actual_minutes"] <= 2.1
        assert summary["max_temperature_c"] > 30
        on = await serve.wait_for(1, device="pad", event="state", state="running", output_on=True)
        off = await event_after(serve, serve.events.index(on), event="state", output_on=False)
        assert (off["state"], off["stop_cause"]) in {
            ("idle", "completed"),
            ("idle", "stop_command"),
        }


async def test_a_killed_controller_leaves_the_firmware_to_turn_its_output_off() -> None:
    """kill -9 of `run` mid-session: nobody renews the lease, and the firmware stops by
    itself (stop cause lease_expired, fault 0x0008) - its log says so."""
    async with sim_serve("--firmware", "--device", "heat-pad:pad", time_scale=TIME_SCALE) as serve:
        await serve.pair("pad")
        process = await start_run(serve.radio, 15)
        running = await serve.wait_for(
            30, device="pad", event="state", state="running", output_on=True
        )
        process.kill()
        await asyncio.wait_for(process.wait(), 10)
        off = await event_after(serve, serve.events.index(running), event="state", output_on=False)
        assert (off["stop_cause"], off["faults"]) == ("lease_expired", 0x0008)


async def test_sigusr1_opens_the_firmwares_pairing_window_for_pair() -> None:
    """`--pairing-window 0`: the firmware takes no bond at boot; SIGUSR1 (the button held)
    opens its window, and `therapyctl pair` bonds."""
    async with sim_serve(
        "--firmware", "--device", "heat-pad:pad", "--pairing-window", "0", time_scale=TIME_SCALE
    ) as serve:
        assert not any(e.get("event") == "pairing_window" for e in serve.events)
        serve.process.send_signal(signal.SIGUSR1)
        await serve.wait_for(5, device="pad", event="pairing_window", open_s=120)
        await serve.pair("pad")
        await serve.wait_for(5, device="pad", event="paired")

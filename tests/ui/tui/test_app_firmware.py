"""The Textual UI against the reference firmware (MicroPython's unix port, NimBLE), driven by
Pilot as tests/ui/tui/test_app.py drives it against the Python simulator."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.widgets import Input

from device.journal import JournalReader, JournalWriter
from device.link import Radio
from device.safety import DEFAULT_LIMITS
from simulator import DeviceSpec
from simulator.firmware_host import FirmwareWorld, find_micropython
from tests.ui.tui.test_app import until
from ui.tui.app import Backend, TherapyApp

MICROPYTHON = find_micropython()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        MICROPYTHON is None,
        reason="no MicroPython unix binary with Bluetooth (THERAPYCTL_MICROPYTHON)",
    ),
]

SCALE = 20.0  # a one-minute session takes 3 s


async def test_a_heat_session_completes_on_the_firmware_device() -> None:
    """Connect from the list (the controller pairs in the firmware's window), start a one-
    minute heat session with s: the chart fills, the firmware's output goes on, and the
    session ends completed - the firmware's own log shows the output off again."""
    assert MICROPYTHON is not None
    world = FirmwareWorld(
        [DeviceSpec("heat-pad", "pad")], micropython=MICROPYTHON, time_scale=SCALE
    )
    db_path = Path(os.environ["THERAPYCTL_DB"])  # a private journal per test (conftest)
    async with world, await Radio.attach(world.controller()) as radio:
        device = world.firmware["pad"]
        journal = await asyncio.to_thread(JournalWriter, db_path)

        @asynccontextmanager
        async def backend() -> AsyncIterator[Backend]:
            yield Backend(radio, journal)

        app = TherapyApp(backend, DEFAULT_LIMITS, time_scale=SCALE, db_path=db_path)
        address = str(device.address).split("/")[0]
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                await until(pilot, lambda: address in app.found)
                panel = await app.connect(address).wait()
                assert panel is not None and panel.driver.connected
                await device.wait_for(5, event="paired")
                panel.query_one("#minutes", Input).value = "1"
                await pilot.press("s")
                on = await device.wait_for(10, event="state", output_on=True)
                await until(pilot, lambda: panel.summaries, 30)
                (summary,) = panel.summaries
                assert summary.end_reason.value == "completed"
                assert 0.9 <= summary.actual_minutes <= 1.1
                assert len(panel.temperatures) > 10
                assert panel.temperatures[-1] > panel.temperatures[0]
                off = await device.wait_for(
                    10, since=device.events.index(on), event="state", output_on=False
                )
                assert off["stop_cause"] in (1, 2)  # completed, or the controller's stop
        finally:
            await asyncio.to_thread(journal.close)
    with JournalReader(db_path) as reader:
        (row,) = reader.sessions()
    assert (row.session_id, row.end_reason) == (summary.session_id, "completed")

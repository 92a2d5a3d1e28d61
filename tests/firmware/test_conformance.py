"""The conformance suite the Python simulator passes (tests/device/link/conformance.py), run
against the reference firmware on NimBLE, every kind, through a controller that pairs and
keeps its bonds as `therapyctl` does (a TCP radio, its bond store on disk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.link import Radio, scan
from simulator import DEVICE_KINDS, DeviceSpec
from simulator.firmware_host import FirmwareWorld
from tests.device.link.conformance import NIMBLE, exercise

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", DEVICE_KINDS)
async def test_the_firmware_passes_the_conformance_suite(micropython: Path, kind: str) -> None:
    """Reads, Feature, Status notifications, the Lease and every control-point command,
    with the firmware's documented differences (NIMBLE: no ATT errors on writes)."""
    world = FirmwareWorld(
        [DeviceSpec(kind, f"fw-{kind}")],
        micropython=micropython,
        time_scale=20.0,
        pairing_window_s=60,
    )
    async with world:
        moniker = await world.offer_hci("tcp-server:127.0.0.1:0")
        async with await Radio.open(moniker) as radio:
            (found,) = await scan(radio, 0.5)
            assert not radio.pairs_automatically  # exercise() pairs, as `therapyctl pair`
            await exercise(radio, found, NIMBLE)
        device = world.firmware[f"fw-{kind}"]
        await device.wait_for(5, event="paired")
        assert not [e for e in device.events if e.get("event") == "write-refused"]

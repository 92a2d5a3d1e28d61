"""The reference firmware on MicroPython's unix port: heap use and the control point's round
trip over NimBLE, next to the Python simulator's (bumble's stack) round trip.

    python bench/firmware_heap.py            # needs ../shared/micropython/micropython

Heap: ``gc.mem_alloc()`` after a collection (what the firmware keeps) and before it (what a
loop iteration had in use), reported by the firmware every 10 device seconds, through a
connection and a heat session: a proxy for the ESP32's budget (about 100 KiB of MicroPython
heap free with Bluetooth on). Round trip: a control-point write until its indication, as
``TherapyLink.request`` sees it (median and worst of N).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from device.link import Radio, TherapyLink, scan
from protocols import Mode, RenewLease, ResultCode, Start, Stop
from simulator import DeviceSpec, SimulatorWorld
from simulator.firmware_host import FirmwareWorld, find_micropython

TIME_SCALE = 20.0
ROUND_TRIPS = 50


async def round_trips(radio: Radio) -> list[float]:
    (found,) = await scan(radio, 0.5)
    link = await TherapyLink.connect(radio, found)
    await link.set_lease(60_000)
    assert (await link.request(Start(Mode.HEAT, 0, 40.0, 600))).result == ResultCode.SUCCESS
    times = []
    for _ in range(ROUND_TRIPS):
        started = time.perf_counter()
        await link.request(RenewLease())
        times.append(time.perf_counter() - started)
    await asyncio.sleep(1.0)  # a few heap reports with the session on
    await link.request(Stop())
    await link.disconnect()
    return times


def describe(label: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    print(
        f"{label}: control-point round trip median {statistics.median(ms):.2f} ms,"
        f" worst {ms[-1]:.2f} ms ({len(ms)} requests)"
    )


async def main() -> None:
    micropython = find_micropython()
    if micropython is None:
        print("no MicroPython binary: set THERAPYCTL_MICROPYTHON")
        return
    world = FirmwareWorld(
        [DeviceSpec("heat-pad", "pad")], micropython=micropython, time_scale=TIME_SCALE
    )
    async with world, await Radio.attach(world.controller()) as radio:
        nimble = await round_trips(radio)
        await asyncio.sleep(0.6)
    heap = [e for e in world.firmware["pad"].events if e.get("event") == "heap"]
    simulated = SimulatorWorld([DeviceSpec("heat-pad", "pad")], time_scale=TIME_SCALE)
    async with simulated, await Radio.attach(simulated.controller()) as radio:
        bumble = await round_trips(radio)
    print(f"firmware heap ({len(heap)} reports, unix port, {micropython}):")
    print(
        f"  kept after gc.collect(): {min(e['alloc'] for e in heap)}"
        f"..{max(e['alloc'] for e in heap)} bytes"
    )
    print(f"  in use before collecting (peak): {max(e['peak'] for e in heap)} bytes")
    print(f"  heap size: {heap[0]['alloc'] + heap[0]['free']} bytes")
    describe("NimBLE (firmware, MicroPython unix port)", nimble)
    describe("bumble (Python simulator)", bumble)


if __name__ == "__main__":
    asyncio.run(main())

"""Safety reaction latency: from the over-limit Status notification arriving to the stop
acknowledged, next to the raw write-and-indicate round trip of the same link; with 1, 8 and
32 simulated devices streaming at once. Prints its figures; run it, it is not a test.

    .venv/bin/python bench/reaction_latency.py [--trials 200]
    .venv/bin/python bench/reaction_latency.py --firmware [--devices 1 4]

Each trial starts a heat session on a pad whose heater is stuck on just under the 43 °C
ceiling (set directly in the simulator), so within a few simulated seconds a notification
reports the crossing and the supervisor stops the output.

``--firmware``: the devices are the reference firmware on MicroPython's unix port (NimBLE as
the peripheral's host stack, simulator/firmware_host.py; the heater stuck through its
control file), next to the same rows for the Python simulator (bumble's stack); the
controller is the same, bleak over bumble, in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from device.link import Clock, DeviceDriver, Radio
from device.safety import DEFAULT_LIMITS, EndReason, SessionRequest
from device.sessions import PlanRunner, SessionListener, Step, TherapyPlan
from protocols import Mode, RenewLease, Status
from simulator import DeviceSpec, SimulatorWorld
from simulator.firmware_host import FirmwareWorld, find_micropython

TIME_SCALE = 10.0  # Status every simulated second: each device streams at 10 Hz
PLAN = TherapyPlan("bench", (Step(SessionRequest(Mode.HEAT, 600, setpoint_c=42.0)),))


class TimedDriver(DeviceDriver):
    """Records when each stop was acknowledged."""

    stop_acked: float | None = None

    async def stop(self):  # type: ignore[no-untyped-def]
        result = await super().stop()
        self.stop_acked = time.perf_counter()
        return result


class OverLimitWatch(SessionListener):
    """Notes the sequence number of the first Status over the ceiling."""

    def __init__(self) -> None:
        self.seqs: list[int] = []

    def on_status(self, runner: object, status: Status) -> None:  # type: ignore[override]
        if status.temperature_c is not None and status.temperature_c > 43.0:
            self.seqs.append(status.seq)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def stick_heater(world: SimulatorWorld, name: str, stuck: bool) -> None:
    """The pad's heater stuck on just under the ceiling (or repaired and cooled, so the
    next trial starts below the ceiling); the firmware's once it has applied it."""
    if isinstance(world, FirmwareWorld):
        device = world.firmware[name]
        mark = len(device.events)
        if stuck:
            device.inject("temperature=42.9")
            device.inject("overheat")
            await device.wait_for(5, since=mark, event="fault", fault="overheat")
        else:
            device.inject("repair")
            device.inject("temperature=38")
            await device.wait_for(5, since=mark, event="repair")
        return
    physics = world.devices[name].firmware.physics
    if stuck:
        physics.true_temperature_c = 42.9
    physics.stuck_on = stuck


async def device_trials(
    world: SimulatorWorld,
    radio: Radio,
    name: str,
    trials: int,
    reactions: list[float],
    raw: list[float],
    raw_per_trial: int,
    scale: float,
) -> None:
    driver = TimedDriver(radio, name, Clock(scale))
    await driver.connect()
    link = driver.link
    arrivals: dict[int, float] = {}

    def on_arrival(status: Status, at: float) -> None:
        arrivals[status.seq] = at

    link.on_status_arrival = on_arrival
    for _ in range(trials):
        for _ in range(raw_per_trial):  # the raw write + indication round trip, same load
            t0 = time.perf_counter()
            await link.request(RenewLease())
            raw.append(time.perf_counter() - t0)
        await stick_heater(world, name, True)
        watch = OverLimitWatch()
        summary = await PlanRunner(driver, PLAN, DEFAULT_LIMITS, listener=watch).run()
        await stick_heater(world, name, False)
        if summary.end_reason != EndReason.OVER_TEMPERATURE or not watch.seqs:
            continue
        arrived = arrivals.get(watch.seqs[0])
        if arrived is not None and driver.stop_acked is not None:
            reactions.append(driver.stop_acked - arrived)
    await driver.close()


async def scenario(
    devices: int, trials: int, scale: float, micropython: Path | None = None
) -> dict[str, float]:
    names = [f"pad{i}" for i in range(devices)]
    specs = [DeviceSpec("heat-pad", n) for n in names]
    world = (
        FirmwareWorld(specs, micropython=micropython, time_scale=scale)
        if micropython is not None
        else SimulatorWorld(specs, time_scale=scale)
    )
    reactions: list[float] = []
    raw: list[float] = []
    per_device = max(1, -(-trials // devices))
    async with world, await Radio.attach(world.controller()) as radio:
        await asyncio.gather(
            *(device_trials(world, radio, n, per_device, reactions, raw, 2, scale) for n in names)
        )
    return {
        "devices": devices,
        "trials": len(reactions),
        "raw_p50_ms": pct(raw, 0.5) * 1000,
        "raw_p99_ms": pct(raw, 0.99) * 1000,
        "reaction_p50_ms": pct(reactions, 0.5) * 1000,
        "reaction_p99_ms": pct(reactions, 0.99) * 1000,
        "reaction_mean_ms": statistics.fmean(reactions) * 1000,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--devices", type=int, nargs="*", default=None)
    parser.add_argument(
        "--firmware",
        action="store_true",
        help="also run the reference firmware (MicroPython unix port, NimBLE) and compare",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=TIME_SCALE,
        help="each device streams Status at this many Hz",
    )
    args = parser.parse_args()
    scale = args.time_scale
    stacks: list[tuple[str, Path | None]] = [("bumble", None)]
    if args.firmware:
        micropython = find_micropython()
        if micropython is None:
            parser.error("no MicroPython unix binary with Bluetooth: set THERAPYCTL_MICROPYTHON")
        stacks.append(("NimBLE", micropython))
    devices_rows = args.devices or ([1, 4] if args.firmware else [1, 8, 32])
    print(
        f"safety reaction latency, {args.trials} trials per row, each device streaming"
        f" Status at {scale:g} Hz (time scale {scale:g}x); controller in-process (bumble);"
        " device stack: bumble = the Python simulator, NimBLE = the reference firmware"
    )
    print(
        f"{'stack':>6} {'devices':>7} {'trials':>6} {'raw p50':>9} {'raw p99':>9}"
        f" {'react p50':>10} {'react p99':>10} {'added p50':>10} {'added p99':>10}"
    )
    for devices in devices_rows:
        for stack, micropython_path in stacks:
            r = await scenario(devices, args.trials, scale, micropython_path)
            print(f"{stack:>6}", end=" ")
            print_row(r)


def print_row(r: dict[str, float]) -> None:
    print(
        f"{r['devices']:>7} {r['trials']:>6}"
        f" {r['raw_p50_ms']:>7.2f}ms {r['raw_p99_ms']:>7.2f}ms"
        f" {r['reaction_p50_ms']:>8.2f}ms {r['reaction_p99_ms']:>8.2f}ms"
        f" {r['reaction_p50_ms'] - r['raw_p50_ms']:>8.2f}ms"
        f" {r['reaction_p99_ms'] - r['raw_p99_ms']:>8.2f}ms",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())

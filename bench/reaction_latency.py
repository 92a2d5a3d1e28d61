"""Safety reaction latency: from the over-limit Status notification arriving to the stop
acknowledged, next to the raw write-and-indicate round trip of the same link; with 1, 8 and
32 simulated devices streaming at once. Prints its figures; run it, it is not a test.

    .venv/bin/python bench/reaction_latency.py [--trials 200]

Each trial starts a heat session on a pad whose heater is stuck on just under the 43 °C
ceiling (set directly in the simulator), so within a few simulated seconds a notification
reports the crossing and the supervisor stops the output.
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
    firmware = world.devices[name].firmware
    for _ in range(trials):
        for _ in range(raw_per_trial):  # the raw write + indication round trip, same load
            t0 = time.perf_counter()
            await link.request(RenewLease())
            raw.append(time.perf_counter() - t0)
        firmware.physics.true_temperature_c = 42.9
        firmware.physics.stuck_on = True
        watch = OverLimitWatch()
        summary = await PlanRunner(driver, PLAN, DEFAULT_LIMITS, listener=watch).run()
        firmware.physics.stuck_on = False
        if summary.end_reason != EndReason.OVER_TEMPERATURE or not watch.seqs:
            continue
        arrived = arrivals.get(watch.seqs[0])
        if arrived is not None and driver.stop_acked is not None:
            reactions.append(driver.stop_acked - arrived)
    await driver.close()


async def scenario(devices: int, trials: int, scale: float) -> dict[str, float]:
    names = [f"pad{i}" for i in range(devices)]
    world = SimulatorWorld([DeviceSpec("heat-pad", n) for n in names], time_scale=scale)
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
    parser.add_argument("--devices", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument(
        "--time-scale",
        type=float,
        default=TIME_SCALE,
        help="each device streams Status at this many Hz",
    )
    args = parser.parse_args()
    scale = args.time_scale
    print(
        f"safety reaction latency, {args.trials} trials per row, each device streaming"
        f" Status at {scale:g} Hz (time scale {scale:g}x); simulator in-process"
    )
    print(
        f"{'devices':>7} {'trials':>6} {'raw p50':>9} {'raw p99':>9} {'react p50':>10}"
        f" {'react p99':>10} {'added p50':>10} {'added p99':>10}"
    )
    for devices in args.devices:
        r = await scenario(devices, args.trials, scale)
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

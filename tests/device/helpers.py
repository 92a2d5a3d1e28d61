"""Building Status messages and supervisors for pure tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from device.safety import DEFAULT_LIMITS, NO_USAGE, Limits, SessionRequest, Supervisor, Usage
from protocols import DeviceKind, Fault, Mode, State, Status, StatusFlag, StopCause
from simulator.belt import belt_feature
from simulator.pad import pad_feature

HEAT_PAD = pad_feature(DeviceKind.HEAT_PAD, 1000)
THERMAL_PAD = pad_feature(DeviceKind.THERMAL_PAD, 1000)
BELT_800 = belt_feature(800, 1000)

BASE = Status(
    seq=1,
    state=State.RUNNING,
    mode=Mode.HEAT,
    level=0,
    setpoint_c=40.0,
    temperature_c=35.0,
    power_mw=10_000,
    flags=StatusFlag.OUTPUT_ON | StatusFlag.SKIN_CONTACT | StatusFlag.LEASE_ACTIVE,
    elapsed_s=0,
    remaining_s=600,
    faults=Fault(0),
    stop_cause=StopCause.NONE,
    battery_pct=90,
)


def status(**changes: Any) -> Status:
    output_on = changes.pop("output_on", None)
    contact = changes.pop("contact", None)
    result = replace(BASE, **changes)
    flags = result.flags
    if output_on is not None:
        flags = flags | StatusFlag.OUTPUT_ON if output_on else flags & ~StatusFlag.OUTPUT_ON
    if contact is not None:
        flags = flags | StatusFlag.SKIN_CONTACT if contact else flags & ~StatusFlag.SKIN_CONTACT
    return replace(result, flags=flags)


def running(
    request: SessionRequest,
    feature=HEAT_PAD,
    limits: Limits = DEFAULT_LIMITS,
    usage: Usage = NO_USAGE,
    now_s: float = 0.0,
) -> Supervisor:
    supervisor = Supervisor(limits, feature, usage)
    plan = supervisor.plan(request, 90)
    assert plan.start is not None, plan.message
    supervisor.started(now_s)
    return supervisor

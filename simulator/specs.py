"""What to simulate, from the command line: device and fault specs (no bumble import, so the
CLI checks its arguments before loading the BLE stack)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from protocols import TherapyctlError
from simulator.belt import BELT_POWERS_MW
from simulator.firmware import FaultKind, ScheduledFault

DEVICE_KINDS: tuple[str, ...] = (
    "heat-pad",
    "thermal-pad",
    *(f"light-belt-{mw}" for mw in BELT_POWERS_MW),
)
FAULT_KINDS: tuple[str, ...] = tuple(kind.value for kind in FaultKind)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,28}$")


class SimulatorError(TherapyctlError):
    """A simulator setup that cannot run: bad device or fault spec, transport failure."""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    kind: str
    name: str


def parse_device_spec(text: str) -> DeviceSpec:
    """``KIND[:NAME]``, e.g. ``heat-pad`` or ``light-belt-800:belt1``."""
    kind, _, name = text.partition(":")
    if kind not in DEVICE_KINDS:
        raise SimulatorError(
            f"unknown device kind {kind!r}; choose one of: {', '.join(DEVICE_KINDS)}"
        )
    name = name or kind
    if not _NAME.match(name):
        raise SimulatorError(f"device name {name!r} must be 1-29 letters, digits, '.', '_' or '-'")
    return DeviceSpec(kind, name)


def parse_fault(text: str) -> ScheduledFault:
    """``FAULT@SECONDS``: simulated seconds after the device's first session started."""
    kind, at, seconds = text.partition("@")
    if not at:
        raise SimulatorError(f"fault {text!r} needs a time: FAULT@SECONDS, e.g. overheat@60")
    if kind not in FAULT_KINDS:
        raise SimulatorError(f"unknown fault {kind!r}; choose one of: {', '.join(FAULT_KINDS)}")
    try:
        at_s = float(seconds)
    except ValueError:
        raise SimulatorError(f"fault time {seconds!r} is not a number of seconds") from None
    if not 0 <= at_s < 1e7:
        raise SimulatorError(f"fault time {seconds!r} must be between 0 and 10,000,000 s")
    return ScheduledFault(FaultKind(kind), at_s)


def parse_device_fault(text: str) -> tuple[str, ScheduledFault]:
    """``FAULT:NAME@SECONDS`` (``sim serve --fault``): the device name and its fault."""
    head, at, seconds = text.partition("@")
    kind, colon, name = head.partition(":")
    if not colon or not name:
        raise SimulatorError(
            f"fault {text!r} must name its device: FAULT:NAME@SECONDS, e.g. overheat:pad1@60"
        )
    return name, parse_fault(f"{kind}{at}{seconds}")

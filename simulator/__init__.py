"""Simulated therapy devices on bumble's real BLE stack: GATT servers, physics, firmware, faults.

The names are loaded on first use (PEP 562), so ``simulator.parse_device_spec`` does not wait
for bumble to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.firmware import FaultKind, ScheduledFault
    from simulator.firmware_host import FirmwareWorld, find_micropython
    from simulator.peripheral import EventLog, SimClock, SimulatedDevice
    from simulator.security import DEFAULT_PAIRING_WINDOW_S, PairingWindow
    from simulator.specs import (
        DEVICE_KINDS,
        FAULT_KINDS,
        DeviceSpec,
        SimulatorError,
        parse_device_fault,
        parse_device_spec,
        parse_fault,
    )
    from simulator.world import SimulatorWorld

_WHERE = {
    "FaultKind": "simulator.firmware",
    "ScheduledFault": "simulator.firmware",
    "FirmwareWorld": "simulator.firmware_host",
    "find_micropython": "simulator.firmware_host",
    "EventLog": "simulator.peripheral",
    "SimClock": "simulator.peripheral",
    "SimulatedDevice": "simulator.peripheral",
    "DEFAULT_PAIRING_WINDOW_S": "simulator.security",
    "PairingWindow": "simulator.security",
    "DEVICE_KINDS": "simulator.specs",
    "FAULT_KINDS": "simulator.specs",
    "DeviceSpec": "simulator.specs",
    "SimulatorError": "simulator.specs",
    "parse_device_fault": "simulator.specs",
    "parse_device_spec": "simulator.specs",
    "parse_fault": "simulator.specs",
    "SimulatorWorld": "simulator.world",
}

__all__ = [
    "DEFAULT_PAIRING_WINDOW_S",
    "DEVICE_KINDS",
    "FAULT_KINDS",
    "DeviceSpec",
    "EventLog",
    "FaultKind",
    "FirmwareWorld",
    "PairingWindow",
    "ScheduledFault",
    "SimClock",
    "SimulatedDevice",
    "SimulatorError",
    "SimulatorWorld",
    "find_micropython",
    "parse_device_fault",
    "parse_device_spec",
    "parse_fault",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'simulator' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

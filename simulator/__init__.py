"""Simulated therapy devices on bumble's real BLE stack: GATT servers, physics, firmware, faults."""

from simulator.firmware import FaultKind, ScheduledFault
from simulator.peripheral import EventLog, SimClock, SimulatedDevice
from simulator.world import (
    DEVICE_KINDS,
    FAULT_KINDS,
    DeviceSpec,
    SimulatorError,
    SimulatorWorld,
    parse_device_fault,
    parse_device_spec,
    parse_fault,
)

__all__ = [
    "DEVICE_KINDS",
    "FAULT_KINDS",
    "DeviceSpec",
    "EventLog",
    "FaultKind",
    "ScheduledFault",
    "SimClock",
    "SimulatedDevice",
    "SimulatorError",
    "SimulatorWorld",
    "parse_device_fault",
    "parse_device_spec",
    "parse_fault",
]

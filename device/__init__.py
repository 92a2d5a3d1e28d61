"""Reaching therapy devices: bleak (system adapter or the bumble backend), and later the
controller, safety supervisor, sessions, journal and MQTT bridge."""

from device.ble import DeviceInfo, FoundDevice, Radio, TherapyLink, find_device, scan
from device.errors import (
    AdapterUnavailableError,
    CommandTimeoutError,
    ConnectionFailedError,
    DeviceError,
    LinkLostError,
)

__all__ = [
    "AdapterUnavailableError",
    "CommandTimeoutError",
    "ConnectionFailedError",
    "DeviceError",
    "DeviceInfo",
    "FoundDevice",
    "LinkLostError",
    "Radio",
    "TherapyLink",
    "find_device",
    "scan",
]

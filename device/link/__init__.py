"""The link: reaching a therapy device over Bluetooth LE.

Scans, the typed GATT link (bleak's ``BleakClient`` behind one small module), the bleak
backend on bumble, the driver (connect, reconnect, lease, commands), the controller's clock
and the link errors. It knows nothing of sessions, the journal or MQTT; it may use
``protocols``, bleak, bleak-retry-connector and (lazily) bumble.
"""

from device.link.bonds import BondStoreError, bonds_dir
from device.link.clock import Clock
from device.link.driver import DeviceDriver, DeviceIdentity
from device.link.errors import (
    AdapterUnavailableError,
    CommandTimeoutError,
    ConnectionFailedError,
    DeviceError,
    LinkLostError,
    NotPairedError,
)
from device.link.gatt import DeviceInfo, TherapyLink
from device.link.radio import FoundDevice, Radio, find_device, scan

__all__ = [
    "AdapterUnavailableError",
    "BondStoreError",
    "Clock",
    "CommandTimeoutError",
    "ConnectionFailedError",
    "DeviceDriver",
    "DeviceError",
    "DeviceIdentity",
    "DeviceInfo",
    "FoundDevice",
    "LinkLostError",
    "NotPairedError",
    "Radio",
    "TherapyLink",
    "bonds_dir",
    "find_device",
    "scan",
]

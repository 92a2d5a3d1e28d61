"""Every UUID of the therapyctl GATT profile (docs/protocol.md lists them with layouts)."""

from __future__ import annotations

from typing import Final


def _sig(uuid16: int) -> str:
    return f"0000{uuid16:04x}-0000-1000-8000-00805f9b34fb"


def _therapy(n: int) -> str:
    return f"7a9e{n:04x}-5d1c-4b8e-9f3a-2c6d8e4b1a70"


# Bluetooth SIG assigned numbers.
DEVICE_INFORMATION_SERVICE: Final = _sig(0x180A)
MANUFACTURER_NAME: Final = _sig(0x2A29)
MODEL_NUMBER: Final = _sig(0x2A24)
SERIAL_NUMBER: Final = _sig(0x2A25)
FIRMWARE_REVISION: Final = _sig(0x2A26)
BATTERY_SERVICE: Final = _sig(0x180F)
BATTERY_LEVEL: Final = _sig(0x2A19)
CLIENT_CHARACTERISTIC_CONFIGURATION: Final = _sig(0x2902)

# The custom Therapy service (128-bit UUIDs, one base).
THERAPY_SERVICE: Final = _therapy(0x0001)
FEATURE: Final = _therapy(0x0002)
CONTROL_POINT: Final = _therapy(0x0003)
STATUS: Final = _therapy(0x0004)
LEASE: Final = _therapy(0x0005)

# Manufacturer-specific advertising data uses the company identifier that the Bluetooth SIG
# reserves for internal use and testing (0xFFFF), as no company id is assigned to us.
COMPANY_ID: Final = 0xFFFF

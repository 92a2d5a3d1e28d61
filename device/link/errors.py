"""Errors of the device layer: connection and device branches of the one family."""

from __future__ import annotations

from protocols import TherapyctlError


class DeviceError(TherapyctlError):
    """A device or connection problem."""


class AdapterUnavailableError(DeviceError):
    """No usable system Bluetooth adapter (no BlueZ, no D-Bus, no controller)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            "no Bluetooth adapter is available on this machine "
            f"({reason}); use --radio TRANSPORT to reach a simulator"
        )


class ConnectionFailedError(DeviceError):
    """Connecting to a device failed (not found, refused, timed out)."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"could not connect to {address}: {reason}")


class LinkLostError(DeviceError):
    """The connection to a device dropped."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"{address}: {reason}")


class NotPairedError(DeviceError):
    """The device takes commands only from a bonded controller, and this is not one."""

    def __init__(self, address: str, name: str, radio: str | None = None) -> None:
        self.address = address
        self.name = name
        self.radio = radio
        hint = f" --radio {radio}" if radio else ""
        super().__init__(
            f"{name} ({address}) is not paired with this controller: open its pairing window"
            f" and run `therapyctl pair {name}{hint}`"
        )


class CommandTimeoutError(DeviceError):
    """A GATT operation got no answer in time."""

    def __init__(self, address: str, what: str, timeout_s: float) -> None:
        self.address = address
        self.what = what
        self.timeout_s = timeout_s
        super().__init__(f"{address}: {what}: no answer within {timeout_s:g} s")

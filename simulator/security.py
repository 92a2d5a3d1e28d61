"""The device's security rules, as a real therapy device must have them (protocol.md,
"Security and pairing"):

- The Control Point and the Lease take writes only over an encrypted link with a bonded
  peer (LE Secure Connections); anything else gets *Insufficient Encryption* or
  *Insufficient Authentication* and changes nothing. Reading Feature, Status and the SIG
  services needs no bond.
- A new bond is accepted only while the pairing window is open: on real hardware a button
  held for 3 s; here the first seconds after ``sim serve`` starts, reopened with SIGUSR1.
  In-process devices (``run --sim``, ``ui --sim``) are yours: their window is always open.
- GATT permissions are enforced (bumble 0.0.236 does not check them): a write to a read-only
  attribute is *Write Not Permitted* and changes nothing; every Write Request gets a
  response or an error, never silence; a Write Command to a characteristic that does not
  offer write-without-response (the Control Point) is ignored and never acted on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bumble import att, gatt
from bumble.device import Connection, Device
from bumble.keys import MemoryKeyStore
from bumble.pairing import PairingConfig, PairingDelegate

logger = logging.getLogger(__name__)

DEFAULT_PAIRING_WINDOW_S = 120.0  # how long `sim serve` accepts new bonds after it starts


class PairingWindow:
    """When a new bond is accepted (wall time: a person holds the button). ``None``: always."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._until = time.monotonic() + seconds if seconds is not None else None
        self.on_change: Callable[[bool], None] | None = None

    @property
    def is_open(self) -> bool:
        return self._until is None or time.monotonic() < self._until

    @property
    def left_s(self) -> float | None:
        return None if self._until is None else max(0.0, self._until - time.monotonic())

    def open(self, seconds: float | None = None) -> None:
        """Open the window (again) for ``seconds`` (default: its configured length)."""
        length = seconds if seconds is not None else self.seconds
        if length is None:
            self._until = None
        else:
            self._until = time.monotonic() + length
        if self.on_change is not None:
            self.on_change(True)

    def close(self) -> None:
        self._until = time.monotonic()
        if self.on_change is not None:
            self.on_change(False)


class _WindowDelegate(PairingDelegate):
    """Just Works (the device has no display or keypad), only while the window is open."""

    def __init__(self, window: PairingWindow, on_refused: Callable[[], None]) -> None:
        super().__init__(io_capability=PairingDelegate.NO_OUTPUT_NO_INPUT)
        self.window = window
        self.on_refused = on_refused

    async def accept(self) -> bool:
        if self.window.is_open:
            return True
        self.on_refused()
        return False


def secure(device: Device, window: PairingWindow, log: Callable[..., None]) -> None:
    """Give ``device`` a key store, a pairing policy and enforced GATT permissions."""
    device.keystore = MemoryKeyStore()

    def refused() -> None:
        log(event="pairing_refused", reason="the pairing window is closed")

    device.pairing_config_factory = lambda _connection: PairingConfig(
        sc=True, mitm=False, bonding=True, delegate=_WindowDelegate(window, refused)
    )
    _enforce_write_permissions(device)


def watch_pairing(connection: Connection, log: Callable[..., None]) -> None:
    """Log a connection's pairing and its failure (for ``sim serve --json``)."""
    connection.on(
        connection.EVENT_PAIRING,
        lambda *_: log(event="paired", peer=str(connection.peer_address)),
    )
    connection.on(
        connection.EVENT_PAIRING_FAILURE,
        lambda reason: log(
            event="pairing_failed", peer=str(connection.peer_address), reason=reason
        ),
    )


async def is_bonded(device: Device, connection: Connection) -> bool:
    """The link is encrypted and the peer is one this device has bonded with."""
    if not connection.is_encrypted or device.keystore is None:
        return False
    return await device.keystore.get(str(connection.peer_address)) is not None


def require_bond(device: Device, handle: int, connection: Connection) -> Any:
    """An awaitable that raises the ATT error a write without a bond gets (or returns)."""

    async def check() -> None:
        if not connection.is_encrypted:
            raise att.ATT_Error(att.ATT_INSUFFICIENT_ENCRYPTION_ERROR, handle)
        if not await is_bonded(device, connection):
            raise att.ATT_Error(att.ATT_INSUFFICIENT_AUTHENTICATION_ERROR, handle)

    return check()


def _enforce_write_permissions(device: Device) -> None:
    server = device.gatt_server
    write_request = server.on_att_write_request
    write_command = server.on_att_write_command

    def on_write_request(bearer: att.Bearer, request: att.ATT_Write_Request) -> Any:
        attribute = server.get_attribute(request.attribute_handle)
        if attribute is not None and not attribute.permissions & att.Attribute.WRITEABLE:
            server.send_response(
                bearer,
                att.ATT_Error_Response(
                    request_opcode_in_error=request.op_code,
                    attribute_handle_in_error=request.attribute_handle,
                    error_code=att.ATT_WRITE_NOT_PERMITTED_ERROR,
                ),
            )
            return None
        return write_request(bearer, request)

    def on_write_command(bearer: att.Bearer, command: att.ATT_Write_Command) -> Any:
        attribute = server.get_attribute(command.attribute_handle)
        if attribute is None or not attribute.permissions & att.Attribute.WRITEABLE:
            return None
        if not isinstance(attribute, gatt.Characteristic) or not (
            attribute.properties & gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE
        ):
            logger.debug("ignoring a Write Command to handle %#06x", command.attribute_handle)
            return None  # a characteristic without that property never acts on one
        return write_command(bearer, command)

    # The GATT server dispatches by attribute name: these take precedence over its methods.
    server.on_att_write_request = on_write_request
    server.on_att_write_command = on_write_command

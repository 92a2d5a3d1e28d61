"""The one error family of therapyctl.

Every layer raises a branch of :class:`TherapyctlError`; library errors are translated at
the boundary with ``raise ... from exc``. Errors carry their data as attributes.
"""

from __future__ import annotations


class TherapyctlError(Exception):
    """Root of every error therapyctl raises on purpose."""


class ProtocolError(TherapyctlError):
    """Bytes that do not decode to a valid message.

    ``message`` names the message type being decoded, ``data`` holds the offending bytes,
    ``reason`` says what is wrong in plain words.
    """

    def __init__(self, message: str, data: bytes, reason: str) -> None:
        self.message = message
        self.data = bytes(data)
        self.reason = reason
        super().__init__(f"malformed {message} ({self.data.hex() or 'empty'}): {reason}")


class UnsupportedOpcodeError(ProtocolError):
    """A control-point request whose opcode this protocol version does not define."""

    def __init__(self, data: bytes, opcode: int) -> None:
        self.opcode = opcode
        super().__init__("control-point request", data, f"unknown opcode 0x{opcode:02x}")

"""IEEE 11073-20601 32-bit FLOAT, as used by the Health Thermometer service (0x1809).

Layout (little-endian uint32): bits 0-23 a signed 24-bit mantissa, bits 24-31 a signed
8-bit base-10 exponent; value = mantissa * 10**exponent. Special values have exponent 0:
NaN 0x007FFFFF, NRes 0x00800000, +INF 0x007FFFFE, -INF 0x00800002, reserved 0x00800001.
"""

from __future__ import annotations

import math
import struct

from protocols.errors import ProtocolError

NAN = 0x007FFFFF
NRES = 0x00800000
POSITIVE_INFINITY = 0x007FFFFE
NEGATIVE_INFINITY = 0x00800002
RESERVED = 0x00800001
_SPECIAL_MANTISSAS = frozenset({NAN, NRES, POSITIVE_INFINITY, NEGATIVE_INFINITY, RESERVED})
_MANTISSA_MAX = 0x7FFFFD  # the largest mantissa that is not a special value
_MANTISSA_MIN = -0x7FFFFD
EXPONENT_MIN = -128  # the exponent is a signed 8-bit integer
EXPONENT_MAX = 127
_STRUCT = struct.Struct("<I")
SIZE = 4


def encode_float(value: float | None, exponent: int = -2) -> bytes:
    """Encode ``value`` (None or NaN give the NaN special value) with the given exponent.

    The exponent is raised until the rounded mantissa fits in 24 bits; infinities map to
    +INF/-INF. Raises :class:`ValueError` (a caller's mistake, not malformed bytes) for an
    ``exponent`` outside -128..127, or a finite value too large for any exponent up to 127
    (about 8.4e133): nothing is wrapped into another value or saturated to infinity.
    """
    if not EXPONENT_MIN <= exponent <= EXPONENT_MAX:
        raise ValueError(
            f"FLOAT exponent {exponent} is outside the signed 8-bit range"
            f" {EXPONENT_MIN}..{EXPONENT_MAX}"
        )
    if value is None or math.isnan(value):
        return _STRUCT.pack(NAN)
    if math.isinf(value):
        return _STRUCT.pack(POSITIVE_INFINITY if value > 0 else NEGATIVE_INFINITY)
    while (mantissa := _mantissa(value, exponent)) is None:
        exponent += 1
        if exponent > EXPONENT_MAX:
            raise ValueError(
                f"{value!r} does not fit a FLOAT: its mantissa needs more than 24 bits"
                f" even with exponent {EXPONENT_MAX}"
            )
    if mantissa == 0:
        exponent = 0 if exponent > 0 else exponent
    return _STRUCT.pack(((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF))


def _mantissa(value: float, exponent: int) -> int | None:
    """``value`` / 10**exponent rounded, or None if that is not a 24-bit non-special value."""
    scaled = value * 10.0 ** (-exponent)
    if math.isinf(scaled):
        return None
    mantissa = round(scaled)
    return mantissa if _MANTISSA_MIN <= mantissa <= _MANTISSA_MAX else None


def decode_float(data: bytes, message: str = "IEEE-11073 FLOAT") -> float | None:
    """Decode 4 bytes; NaN and NRes give None, the infinities give +/-inf.

    Raises :class:`ProtocolError` for a wrong length or the reserved special value.
    """
    if len(data) != SIZE:
        raise ProtocolError(message, data, f"a FLOAT is 4 bytes, got {len(data)}")
    raw: int = _STRUCT.unpack(data)[0]
    exponent = raw >> 24
    mantissa = raw & 0xFFFFFF
    if exponent == 0 and mantissa in _SPECIAL_MANTISSAS:
        if mantissa in (NAN, NRES):
            return None
        if mantissa == POSITIVE_INFINITY:
            return math.inf
        if mantissa == NEGATIVE_INFINITY:
            return -math.inf
        raise ProtocolError(message, data, "reserved FLOAT special value 0x00800001")
    if exponent >= 0x80:
        exponent -= 0x100
    if mantissa >= 0x800000:
        mantissa -= 0x1000000
    # Decimal rounding keeps 43.21 as 43.21 rather than 43.210000000000001.
    return round(float(mantissa * 10.0**exponent), max(0, -exponent))

"""The therapyctl GATT profile's byte layouts (docs/protocol.md), for MicroPython.

A minimal re-implementation of what ``protocols/`` encodes, for the device side: FLOAT
(IEEE 11073-20601, 32-bit), Feature, Status, the control point's requests and responses, the
Lease, and the advertising data. Runs unchanged on MicroPython and CPython (no typing, no
dataclasses); tests/firmware/test_wire.py pins every encoding byte for byte to ``protocols``.
"""

import math
import struct

try:
    from micropython import const
except ImportError:  # CPython (tests)

    def const(value):
        return value


PROTOCOL_VERSION = const(1)
COMPANY_ID = const(0xFFFF)  # Bluetooth SIG: reserved for testing (no company id assigned)
BATTERY_SERVICE_UUID16 = const(0x180F)

# Device kinds, modes, states, flags, faults, stop causes (protocols/therapy.py).
KIND_HEAT_PAD = const(1)
KIND_THERMAL_PAD = const(2)
KIND_LIGHT_BELT = const(3)

MODE_NONE = const(0)
MODE_HEAT = const(1)
MODE_COLD = const(2)
MODE_LIGHT = const(3)
MODE_SUPPORT_BIT = {MODE_HEAT: 0x01, MODE_COLD: 0x02, MODE_LIGHT: 0x04}

STATE_IDLE = const(0)
STATE_RUNNING = const(1)
STATE_PAUSED = const(2)
STATE_FAULT = const(3)

FLAG_OUTPUT_ON = const(0x01)
FLAG_SKIN_CONTACT = const(0x02)
FLAG_LEASE_ACTIVE = const(0x04)
FLAG_CHARGING = const(0x08)

FAULT_OVER_TEMPERATURE = const(0x0001)
FAULT_UNDER_TEMPERATURE = const(0x0002)
FAULT_SENSOR_INVALID = const(0x0004)
FAULT_LEASE_EXPIRED = const(0x0008)
FAULT_BATTERY_CRITICAL = const(0x0010)
FAULT_NO_SKIN_CONTACT = const(0x0020)

STOP_NONE = const(0)
STOP_COMPLETED = const(1)
STOP_COMMAND = const(2)
STOP_LEASE_EXPIRED = const(3)
STOP_OVER_TEMPERATURE = const(4)
STOP_UNDER_TEMPERATURE = const(5)
STOP_SENSOR_INVALID = const(6)
STOP_BATTERY_CRITICAL = const(7)
STOP_CONTACT_LOST = const(8)
STOP_POWER_ON = const(9)

OP_START = const(0x01)
OP_STOP = const(0x02)
OP_PAUSE = const(0x03)
OP_RESUME = const(0x04)
OP_SET_TARGET = const(0x05)
OP_RENEW_LEASE = const(0x06)
OP_RESPONSE = const(0x80)

RESULT_SUCCESS = const(0x01)
RESULT_OPCODE_NOT_SUPPORTED = const(0x02)
RESULT_INVALID_PARAMETER = const(0x03)
RESULT_OPERATION_FAILED = const(0x04)
RESULT_NOT_PERMITTED = const(0x05)

# IEEE 11073-20601 FLOAT special values (exponent 0).
_NAN = const(0x007FFFFF)
_NRES = const(0x00800000)
_POSITIVE_INFINITY = const(0x007FFFFE)
_NEGATIVE_INFINITY = const(0x00800002)
_RESERVED = const(0x00800001)
_MANTISSA_MAX = const(0x7FFFFD)
_EXPONENT_MAX = const(127)
TIME_SCALE_EXPONENT = const(-3)  # Feature's time scale: 0.001 resolution
AREA_EXPONENT = const(-2)  # Feature's emitting area: 0.01 cm2 resolution

INF = float("inf")


class WireError(Exception):
    """Bytes that do not decode; ``opcode`` and ``result`` are the control point's answer."""

    def __init__(self, opcode, result):
        super().__init__(opcode, result)
        self.opcode = opcode
        self.result = result


def encode_float(value, exponent=-2):
    """4 bytes: ``value`` (None or NaN: the NaN special value) with the given exponent,
    raised until the rounded mantissa fits 24 bits (as protocols.ieee11073.encode_float)."""
    if value is None or math.isnan(value):
        return struct.pack("<I", _NAN)
    if value == INF:
        return struct.pack("<I", _POSITIVE_INFINITY)
    if value == -INF:
        return struct.pack("<I", _NEGATIVE_INFINITY)
    while True:
        mantissa = round(value * 10.0 ** (-exponent))
        if -_MANTISSA_MAX <= mantissa <= _MANTISSA_MAX:
            break
        exponent += 1
        if exponent > _EXPONENT_MAX:
            raise ValueError("value does not fit a FLOAT")
    if mantissa == 0 and exponent > 0:
        exponent = 0
    return struct.pack("<I", ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF))


def decode_float(raw):
    """A FLOAT's value: None for NaN, NRes and the infinities (no usable value).

    Raises ValueError for the reserved special value or a wrong length."""
    if len(raw) != 4:
        raise ValueError("a FLOAT is 4 bytes")
    word = struct.unpack("<I", raw)[0]
    exponent = word >> 24
    mantissa = word & 0xFFFFFF
    if exponent == 0 and mantissa in (_NAN, _NRES, _POSITIVE_INFINITY, _NEGATIVE_INFINITY):
        return None
    if exponent == 0 and mantissa == _RESERVED:
        raise ValueError("reserved FLOAT")
    if exponent >= 0x80:
        exponent -= 0x100
    if mantissa >= 0x800000:
        mantissa -= 0x1000000
    return mantissa * 10.0**exponent


def feature_bytes(spec):
    """Feature: 37 bytes, 7 per level, then the time scale unless it is 1 and the emitting
    area (cm2) unless unknown (``spec`` is a kinds.Spec; an area sends the time scale
    before it, 1 included: trailing fields are in a fixed order)."""
    out = bytearray(
        struct.pack(
            "<BB4s4s4s4s4s4sHHHHHB",
            spec.kind,
            spec.modes,
            encode_float(spec.heat_min_c),
            encode_float(spec.heat_max_c),
            encode_float(spec.cold_min_c),
            encode_float(spec.cold_max_c),
            encode_float(spec.cutout_high_c),
            encode_float(spec.cutout_low_c),
            spec.max_session_s,
            spec.status_interval_ms,
            spec.lease_min_ms,
            spec.lease_max_ms,
            spec.max_power_mw,
            len(spec.levels),
        )
    )
    for mode, power_mw, setpoint_c in spec.levels:
        out += struct.pack("<BH4s", mode, power_mw, encode_float(setpoint_c))
    area = spec.emitting_area_cm2
    if spec.time_scale != 1.0 or area:
        out += encode_float(spec.time_scale, TIME_SCALE_EXPONENT)
    if area:
        out += encode_float(area, AREA_EXPONENT)
    return bytes(out)


def status_bytes(
    seq,
    state,
    mode,
    level,
    setpoint_c,
    temperature_c,
    power_mw,
    flags,
    elapsed_s,
    remaining_s,
    faults,
    stop_cause,
    battery_pct,
):
    """Status: 24 bytes."""
    return struct.pack(
        "<HBBB4s4sHBHHHBB",
        seq & 0xFFFF,
        state,
        mode,
        level,
        encode_float(setpoint_c),
        encode_float(temperature_c),
        min(power_mw, 0xFFFF),
        flags,
        min(elapsed_s, 0xFFFF),
        min(remaining_s, 0xFFFF),
        faults,
        stop_cause,
        battery_pct,
    )


def response_bytes(request_opcode, result):
    """The control point's indication: 80 <request opcode> <result>."""
    return bytes((OP_RESPONSE, request_opcode & 0xFF, result))


def lease_bytes(lease_ms):
    return struct.pack("<H", lease_ms)


def decode_lease(data):
    """The lease time written, ms; ValueError for a wrong length."""
    if len(data) != 2:
        raise ValueError("the Lease is 2 bytes")
    return struct.unpack("<H", data)[0]


_REQUEST_LENGTHS = {
    OP_START: 9,
    OP_STOP: 1,
    OP_PAUSE: 1,
    OP_RESUME: 1,
    OP_SET_TARGET: 6,
    OP_RENEW_LEASE: 1,
}


def decode_request(data):
    """A control-point write as a tuple: (opcode,), (START, mode, level, setpoint_c,
    duration_s) or (SET_TARGET, level, setpoint_c).

    Raises WireError carrying the answer: 0x02 for an unknown opcode, 0x03 for a wrong
    length, an unknown mode or a reserved FLOAT (``80 00 03`` for an empty write)."""
    if not data:
        raise WireError(0, RESULT_INVALID_PARAMETER)
    opcode = data[0]
    length = _REQUEST_LENGTHS.get(opcode)
    if length is None:
        raise WireError(opcode, RESULT_OPCODE_NOT_SUPPORTED)
    if len(data) != length:
        raise WireError(opcode, RESULT_INVALID_PARAMETER)
    try:
        if opcode == OP_START:
            mode, level, raw, duration_s = struct.unpack("<BB4sH", data[1:])
            if mode > MODE_LIGHT:
                raise ValueError("unknown mode")
            return (opcode, mode, level, decode_float(raw), duration_s)
        if opcode == OP_SET_TARGET:
            level, raw = struct.unpack("<B4s", data[1:])
            return (opcode, level, decode_float(raw))
    except ValueError:
        raise WireError(opcode, RESULT_INVALID_PARAMETER) from None
    return (opcode,)


def _ad(ad_type, value):
    return bytes((len(value) + 1, ad_type)) + value


THERAPY_SERVICE_LE = bytes(
    reversed(bytes.fromhex("7a9e00015d1c4b8e9f3a2c6d8e4b1a70"))
)  # the Therapy service UUID as advertising data carries it (little-endian)
LEGACY_DATA_MAX = const(31)


def advertising_data(kind, max_power_mw):
    """Legacy advertising data (29 bytes): Flags, the Therapy service, manufacturer data."""
    optical_mw = max_power_mw if kind == KIND_LIGHT_BELT else 0
    manufacturer = struct.pack("<HBBH", COMPANY_ID, PROTOCOL_VERSION, kind, optical_mw)
    return _ad(0x01, b"\x06") + _ad(0x07, THERAPY_SERVICE_LE) + _ad(0xFF, manufacturer)


def scan_response(name, battery_pct):
    """The scan response: the Complete Local Name (Shortened past 29 bytes), then Battery
    Service data when it fits."""
    raw = name.encode()
    room = LEGACY_DATA_MAX - 2
    if len(raw) <= room:
        out = _ad(0x09, raw)
    else:
        cut = raw[:room]
        start = len(cut) - 1  # where the last (maybe cut) UTF-8 character starts
        while start > 0 and (cut[start] & 0xC0) == 0x80:
            start -= 1
        lead = cut[start]
        needed = 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        if len(cut) - start < needed:
            cut = cut[:start]  # as many whole characters as fit
        out = _ad(0x08, cut)
    battery = _ad(0x16, struct.pack("<HB", BATTERY_SERVICE_UUID16, battery_pct))
    if len(out) + len(battery) <= LEGACY_DATA_MAX:
        out += battery
    return out

"""The Therapy service's messages: typed, frozen, sans-IO.

Bytes in, typed messages out; ``encode()`` gives bytes back. Every decoder raises only
:class:`~protocols.errors.ProtocolError` (or its branch ``UnsupportedOpcodeError``) for bad
input. Layouts are little-endian and documented, with a worked hex example each, in
docs/protocol.md; tests pin those examples.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any, ClassVar, TypeVar

from protocols.errors import ProtocolError, UnsupportedOpcodeError
from protocols.ieee11073 import SIZE as FLOAT_SIZE
from protocols.ieee11073 import decode_float, encode_float

PROTOCOL_VERSION = 1

# The Status notification is 24 bytes: the link needs ATT_MTU >= 27 (the default is 23).
MIN_ATT_MTU = 27

# Feature's time_scale: how many device seconds pass per wall second (1 on real hardware; a
# simulator runs faster). Sent with exponent -3 (0.001 resolution); a decoder accepts only
# finite values in this range, so no controller clock runs at 0, backwards or absurdly fast.
TIME_SCALE_DEFAULT = 1.0
TIME_SCALE_MIN = 0.001
TIME_SCALE_MAX = 10_000.0
_TIME_SCALE_EXPONENT = -3
TIME_SCALE_RESOLUTION = 10.0**_TIME_SCALE_EXPONENT  # below 8388.605x; 0.01 above

# Feature's emitting_area_cm2: the light emitter's area, so a controller can give the dose
# as J/cm² (fluence = energy / area). Sent with exponent -2 (0.01 cm², the resolution a
# decoder keeps); 0 or absent means unknown (pads send none). A decoder keeps only finite
# values from 0.01 cm² to the maximum (a 40 x 50 cm pad: no body-worn emitter is larger)
# and reads any other value (NaN, the infinities, negative, too small or too large) as
# unknown, so a dose is never divided by a made-up, zero or absurd area. The area is only
# shown (J/cm²), no limit uses it: an implausible one costs the device nothing else. A
# field cut short is still an error (the Feature's bytes are wrong, not a value).
EMITTING_AREA_MIN_CM2 = 0.01
EMITTING_AREA_MAX_CM2 = 2000.0
_EMITTING_AREA_EXPONENT = -2


class DeviceKind(IntEnum):
    HEAT_PAD = 1
    THERMAL_PAD = 2
    LIGHT_BELT = 3


class Mode(IntEnum):
    NONE = 0
    HEAT = 1
    COLD = 2
    LIGHT = 3


class ModeSupport(IntFlag):
    HEAT = 0x01
    COLD = 0x02
    LIGHT = 0x04


MODE_SUPPORT_BIT: dict[Mode, ModeSupport] = {
    Mode.HEAT: ModeSupport.HEAT,
    Mode.COLD: ModeSupport.COLD,
    Mode.LIGHT: ModeSupport.LIGHT,
}


class State(IntEnum):
    IDLE = 0
    RUNNING = 1
    PAUSED = 2
    FAULT = 3  # latched after a hard cut-out; cleared by STOP once back in range


class StatusFlag(IntFlag):
    OUTPUT_ON = 0x01
    SKIN_CONTACT = 0x02
    LEASE_ACTIVE = 0x04
    CHARGING = 0x08


class Fault(IntFlag):
    OVER_TEMPERATURE_CUTOUT = 0x0001
    UNDER_TEMPERATURE_CUTOUT = 0x0002
    SENSOR_INVALID = 0x0004
    LEASE_EXPIRED = 0x0008
    BATTERY_CRITICAL = 0x0010
    NO_SKIN_CONTACT = 0x0020


class StopCause(IntEnum):
    """Why the device's output last stopped (kept until the next START)."""

    NONE = 0
    COMPLETED = 1  # the device's own session timer ran out
    STOP_COMMAND = 2
    LEASE_EXPIRED = 3
    OVER_TEMPERATURE_CUTOUT = 4
    UNDER_TEMPERATURE_CUTOUT = 5
    SENSOR_INVALID = 6
    BATTERY_CRITICAL = 7
    CONTACT_LOST = 8
    POWER_ON = 9  # the firmware (re)started


class Opcode(IntEnum):
    START = 0x01
    STOP = 0x02
    PAUSE = 0x03
    RESUME = 0x04
    SET_TARGET = 0x05
    RENEW_LEASE = 0x06
    RESPONSE = 0x80


class ResultCode(IntEnum):
    """Control-point result codes, numbered as in the Fitness Machine Control Point."""

    SUCCESS = 0x01
    OPCODE_NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    OPERATION_FAILED = 0x04
    NOT_PERMITTED = 0x05


_E = TypeVar("_E", bound=IntEnum)


def _enum(enum: type[_E], value: int, message: str, data: bytes, what: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise ProtocolError(message, data, f"unknown {what} {value}") from None


def _unpack(layout: struct.Struct, data: bytes, message: str) -> tuple[Any, ...]:
    if len(data) != layout.size:
        raise ProtocolError(message, data, f"expected {layout.size} bytes, got {len(data)}")
    return layout.unpack(data)


def _temperature(raw: bytes, message: str) -> float | None:
    value = decode_float(raw, message)
    if value is not None and abs(value) == float("inf"):
        return None  # a saturated reading is no reading: treated as invalid
    return value


# --------------------------------------------------------------------------- Feature


@dataclass(frozen=True, slots=True)
class Level:
    """One selectable output level: for light the optical power, for pads a setpoint."""

    mode: Mode
    power_mw: int
    setpoint_c: float | None

    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BH4s")


@dataclass(frozen=True, slots=True)
class Feature:
    """What the device can do and its own hard limits (read-only characteristic)."""

    kind: DeviceKind
    modes: ModeSupport
    heat_min_c: float | None
    heat_max_c: float | None
    cold_min_c: float | None
    cold_max_c: float | None
    cutout_high_c: float | None
    cutout_low_c: float | None
    max_session_s: int
    status_interval_ms: int
    lease_min_ms: int
    lease_max_ms: int
    max_power_mw: int
    levels: tuple[Level, ...] = ()
    # Optional trailing fields, after the levels, in this order (a shorter Feature omits
    # them; a decoder ignores bytes after the last field it knows, where later ones go).
    time_scale: float = TIME_SCALE_DEFAULT
    emitting_area_cm2: float | None = None  # the light emitter's area (None: unknown)

    _HEAD: ClassVar[struct.Struct] = struct.Struct("<BB4s4s4s4s4s4sHHHHHB")
    NAME: ClassVar[str] = "Feature"

    def levels_for(self, mode: Mode) -> tuple[Level, ...]:
        """The levels of one mode, in level-number order (level 1 first)."""
        return tuple(level for level in self.levels if level.mode == mode)

    def encode(self) -> bytes:
        head = self._HEAD.pack(
            self.kind,
            self.modes,
            encode_float(self.heat_min_c),
            encode_float(self.heat_max_c),
            encode_float(self.cold_min_c),
            encode_float(self.cold_max_c),
            encode_float(self.cutout_high_c),
            encode_float(self.cutout_low_c),
            self.max_session_s,
            self.status_interval_ms,
            self.lease_min_ms,
            self.lease_max_ms,
            self.max_power_mw,
            len(self.levels),
        )
        body = b"".join(
            Level._LAYOUT.pack(lv.mode, lv.power_mw, encode_float(lv.setpoint_c))
            for lv in self.levels
        )
        # The optional trailing fields as (bytes, at its default); those at their default
        # at the end are left off, so a real device's Feature stays as short as before.
        trailer = [
            (
                encode_float(self.time_scale, _TIME_SCALE_EXPONENT),
                self.time_scale == TIME_SCALE_DEFAULT,
            ),
            (
                encode_float(self.emitting_area_cm2 or 0.0, _EMITTING_AREA_EXPONENT),
                self.emitting_area_cm2 is None,
            ),
        ]
        while trailer and trailer[-1][1]:
            trailer.pop()
        return head + body + b"".join(raw for raw, _default in trailer)

    @classmethod
    def decode(cls, data: bytes) -> Feature:
        data = bytes(data)
        if len(data) < cls._HEAD.size:
            raise ProtocolError(
                cls.NAME, data, f"expected at least {cls._HEAD.size} bytes, got {len(data)}"
            )
        (kind, modes, hmin, hmax, cmin, cmax, chigh, clow, max_s, interval_ms, lmin, lmax,
         max_power, count) = cls._HEAD.unpack_from(data)  # fmt: skip
        levels_size = count * Level._LAYOUT.size
        rest = data[cls._HEAD.size : cls._HEAD.size + levels_size]
        if len(rest) != levels_size:
            raise ProtocolError(
                cls.NAME, data, f"{count} levels need {levels_size} bytes, got {len(rest)}"
            )
        trailer = data[cls._HEAD.size + levels_size :]
        time_scale = _time_scale(trailer[:FLOAT_SIZE], data)
        emitting_area_cm2 = _emitting_area(trailer[FLOAT_SIZE : 2 * FLOAT_SIZE], data)
        levels = []
        for offset in range(0, len(rest), Level._LAYOUT.size):
            mode, power_mw, setpoint = Level._LAYOUT.unpack_from(rest, offset)
            level_mode = _enum(Mode, mode, cls.NAME, data, "level mode")
            if level_mode == Mode.NONE:
                raise ProtocolError(cls.NAME, data, "a level cannot have mode NONE")
            levels.append(Level(level_mode, power_mw, _temperature(setpoint, cls.NAME)))
        if lmin > lmax:
            raise ProtocolError(cls.NAME, data, f"lease range {lmin}..{lmax} ms is empty")
        return cls(
            kind=_enum(DeviceKind, kind, cls.NAME, data, "device kind"),
            modes=ModeSupport(modes),
            heat_min_c=_temperature(hmin, cls.NAME),
            heat_max_c=_temperature(hmax, cls.NAME),
            cold_min_c=_temperature(cmin, cls.NAME),
            cold_max_c=_temperature(cmax, cls.NAME),
            cutout_high_c=_temperature(chigh, cls.NAME),
            cutout_low_c=_temperature(clow, cls.NAME),
            max_session_s=max_s,
            status_interval_ms=interval_ms,
            lease_min_ms=lmin,
            lease_max_ms=lmax,
            max_power_mw=max_power,
            levels=tuple(levels),
            time_scale=time_scale,
            emitting_area_cm2=emitting_area_cm2,
        )


def _time_scale(trailer: bytes, data: bytes) -> float:
    """Feature's optional ``time_scale`` from the bytes after the levels, range-checked."""
    if not trailer:
        return TIME_SCALE_DEFAULT
    if len(trailer) < FLOAT_SIZE:
        raise ProtocolError(
            Feature.NAME, data, f"time scale needs {FLOAT_SIZE} bytes, got {len(trailer)}"
        )
    value = decode_float(trailer[:FLOAT_SIZE], Feature.NAME)
    if value is None or not TIME_SCALE_MIN <= value <= TIME_SCALE_MAX:
        shown = "no value" if value is None else f"{value:g}"
        raise ProtocolError(
            Feature.NAME,
            data,
            f"time scale {shown} is not in {TIME_SCALE_MIN:g}..{TIME_SCALE_MAX:g}",
        )
    return value


def _emitting_area(trailer: bytes, data: bytes) -> float | None:
    """Feature's optional ``emitting_area_cm2`` (its 4 bytes, or none), to 0.01 cm² (so it
    encodes back to the same value): absent, 0 or implausible is unknown (None), the
    Feature staying usable; implausible is NaN, NRes, the infinities, the reserved FLOAT
    value, negative, under 0.01 cm² or over the maximum. Only a field cut short (fewer than
    4 bytes) is an error."""
    if not trailer:
        return None
    if len(trailer) < FLOAT_SIZE:
        raise ProtocolError(
            Feature.NAME, data, f"emitting area needs {FLOAT_SIZE} bytes, got {len(trailer)}"
        )
    try:
        value = decode_float(trailer, Feature.NAME)
    except ProtocolError:  # the reserved special value: no area either
        return None
    if value is None or not EMITTING_AREA_MIN_CM2 <= round(value, 2) <= EMITTING_AREA_MAX_CM2:
        return None  # NaN and the infinities fail the comparison too
    return round(value, 2)


# --------------------------------------------------------------------------- Status


@dataclass(frozen=True, slots=True)
class Status:
    """The device's state, notified periodically and readable (24 bytes)."""

    seq: int
    state: State
    mode: Mode
    level: int
    setpoint_c: float | None
    temperature_c: float | None  # None: the sensor gives no valid reading
    power_mw: int  # optical output for belts, heater/cooler drive for pads
    flags: StatusFlag
    elapsed_s: int
    remaining_s: int
    faults: Fault
    stop_cause: StopCause
    battery_pct: int

    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<HBBB4s4sHBHHHBB")
    NAME: ClassVar[str] = "Status"

    @property
    def output_on(self) -> bool:
        return StatusFlag.OUTPUT_ON in self.flags

    @property
    def skin_contact(self) -> bool:
        return StatusFlag.SKIN_CONTACT in self.flags

    def encode(self) -> bytes:
        return self._LAYOUT.pack(
            self.seq,
            self.state,
            self.mode,
            self.level,
            encode_float(self.setpoint_c),
            encode_float(self.temperature_c),
            self.power_mw,
            self.flags,
            self.elapsed_s,
            self.remaining_s,
            self.faults,
            self.stop_cause,
            self.battery_pct,
        )

    @classmethod
    def decode(cls, data: bytes) -> Status:
        data = bytes(data)
        fields = _unpack(cls._LAYOUT, data, cls.NAME)
        (seq, state, mode, level, setpoint, temperature, power_mw, flags, elapsed_s,
         remaining_s, faults, stop_cause, battery) = fields  # fmt: skip
        if battery > 100:
            raise ProtocolError(cls.NAME, data, f"battery level {battery} % is over 100")
        return cls(
            seq=seq,
            state=_enum(State, state, cls.NAME, data, "state"),
            mode=_enum(Mode, mode, cls.NAME, data, "mode"),
            level=level,
            setpoint_c=_temperature(setpoint, cls.NAME),
            temperature_c=_temperature(temperature, cls.NAME),
            power_mw=power_mw,
            flags=StatusFlag(flags),
            elapsed_s=elapsed_s,
            remaining_s=remaining_s,
            faults=Fault(faults),
            stop_cause=_enum(StopCause, stop_cause, cls.NAME, data, "stop cause"),
            battery_pct=battery,
        )


# --------------------------------------------------------------------------- Lease


@dataclass(frozen=True, slots=True)
class LeaseConfig:
    """The Lease characteristic: writing it sets the lease time and renews the lease."""

    lease_ms: int

    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<H")
    NAME: ClassVar[str] = "Lease"

    def encode(self) -> bytes:
        return self._LAYOUT.pack(self.lease_ms)

    @classmethod
    def decode(cls, data: bytes) -> LeaseConfig:
        (lease_ms,) = _unpack(cls._LAYOUT, bytes(data), cls.NAME)
        return cls(lease_ms)


# --------------------------------------------------------------------------- Control Point


@dataclass(frozen=True, slots=True)
class Start:
    """Start a session. ``level`` 0 means "use ``setpoint_c``" (pads only)."""

    mode: Mode
    level: int
    setpoint_c: float | None
    duration_s: int

    OPCODE: ClassVar[Opcode] = Opcode.START
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BB4sH")

    def encode(self) -> bytes:
        params = self._LAYOUT.pack(
            self.mode, self.level, encode_float(self.setpoint_c), self.duration_s
        )
        return bytes([self.OPCODE]) + params

    @classmethod
    def _decode_params(cls, data: bytes, params: bytes) -> Start:
        mode, level, setpoint, duration_s = _unpack(cls._LAYOUT, params, _REQUEST)
        return cls(
            mode=_enum(Mode, mode, _REQUEST, data, "mode"),
            level=level,
            setpoint_c=_temperature(setpoint, _REQUEST),
            duration_s=duration_s,
        )


@dataclass(frozen=True, slots=True)
class SetTarget:
    """Change the running session's level or setpoint (same rules as :class:`Start`)."""

    level: int
    setpoint_c: float | None

    OPCODE: ClassVar[Opcode] = Opcode.SET_TARGET
    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<B4s")

    def encode(self) -> bytes:
        return bytes([self.OPCODE]) + self._LAYOUT.pack(self.level, encode_float(self.setpoint_c))

    @classmethod
    def _decode_params(cls, data: bytes, params: bytes) -> SetTarget:
        level, setpoint = _unpack(cls._LAYOUT, params, _REQUEST)
        return cls(level=level, setpoint_c=_temperature(setpoint, _REQUEST))


@dataclass(frozen=True, slots=True)
class _NoParams:
    OPCODE: ClassVar[Opcode]

    def encode(self) -> bytes:
        return bytes([self.OPCODE])

    @classmethod
    def _decode_params(cls, data: bytes, params: bytes) -> _NoParams:
        if params:
            raise ProtocolError(_REQUEST, data, f"{cls.OPCODE.name} takes no parameters")
        return cls()


@dataclass(frozen=True, slots=True)
class Stop(_NoParams):
    OPCODE: ClassVar[Opcode] = Opcode.STOP


@dataclass(frozen=True, slots=True)
class Pause(_NoParams):
    OPCODE: ClassVar[Opcode] = Opcode.PAUSE


@dataclass(frozen=True, slots=True)
class Resume(_NoParams):
    OPCODE: ClassVar[Opcode] = Opcode.RESUME


@dataclass(frozen=True, slots=True)
class RenewLease(_NoParams):
    OPCODE: ClassVar[Opcode] = Opcode.RENEW_LEASE


Request = Start | Stop | Pause | Resume | SetTarget | RenewLease

_REQUEST = "control-point request"
_REQUEST_TYPES: dict[int, type[Start | SetTarget | _NoParams]] = {
    cls.OPCODE: cls for cls in (Start, Stop, Pause, Resume, SetTarget, RenewLease)
}


def decode_request(data: bytes) -> Request:
    """Decode a control-point write. Unknown opcodes raise :class:`UnsupportedOpcodeError`."""
    data = bytes(data)
    if not data:
        raise ProtocolError(_REQUEST, data, "empty write")
    request_type = _REQUEST_TYPES.get(data[0])
    if request_type is None:
        raise UnsupportedOpcodeError(data, data[0])
    request = request_type._decode_params(data, data[1:])
    assert isinstance(request, Start | Stop | Pause | Resume | SetTarget | RenewLease)
    return request


@dataclass(frozen=True, slots=True)
class Response:
    """The control point's indication answering one request."""

    request_opcode: int
    result: ResultCode

    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBB")
    NAME: ClassVar[str] = "control-point response"

    def encode(self) -> bytes:
        return self._LAYOUT.pack(Opcode.RESPONSE, self.request_opcode, self.result)

    @classmethod
    def decode(cls, data: bytes) -> Response:
        data = bytes(data)
        opcode, request_opcode, result = _unpack(cls._LAYOUT, data, cls.NAME)
        if opcode != Opcode.RESPONSE:
            raise ProtocolError(cls.NAME, data, f"opcode 0x{opcode:02x} is not RESPONSE (0x80)")
        return cls(request_opcode, _enum(ResultCode, result, cls.NAME, data, "result code"))


# --------------------------------------------------------------------------- Advertising


@dataclass(frozen=True, slots=True)
class Advertisement:
    """Manufacturer-specific advertising data (company 0xFFFF): what a scan shows."""

    kind: DeviceKind
    max_power_mw: int = 0
    version: int = PROTOCOL_VERSION

    _LAYOUT: ClassVar[struct.Struct] = struct.Struct("<BBH")
    NAME: ClassVar[str] = "advertisement"

    @classmethod
    def for_feature(cls, feature: Feature) -> Advertisement:
        """What a device with this Feature advertises. The field is the maximum *optical*
        power: a belt's Feature maximum, 0 for pads (their Feature maximum is the drive of
        the heater or cooler, which is no optical power)."""
        optical_mw = feature.max_power_mw if feature.kind == DeviceKind.LIGHT_BELT else 0
        return cls(feature.kind, optical_mw)

    @property
    def kind_name(self) -> str:
        """The product name of the kind: heat-pad, thermal-pad, light-belt-800, ..."""
        return kind_name(self.kind, self.max_power_mw)

    def encode(self) -> bytes:
        return self._LAYOUT.pack(self.version, self.kind, self.max_power_mw)

    @classmethod
    def decode(cls, data: bytes) -> Advertisement:
        data = bytes(data)
        version, kind, max_power_mw = _unpack(cls._LAYOUT, data, cls.NAME)
        if version != PROTOCOL_VERSION:
            raise ProtocolError(cls.NAME, data, f"protocol version {version} is not supported")
        return cls(_enum(DeviceKind, kind, cls.NAME, data, "device kind"), max_power_mw, version)


def kind_name(kind: DeviceKind, max_power_mw: int = 0) -> str:
    if kind == DeviceKind.LIGHT_BELT:
        return f"light-belt-{max_power_mw}"
    return kind.name.lower().replace("_", "-")

"""Every message: hypothesis round trips, and random bytes that raise only ProtocolError."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import (
    Advertisement,
    DeviceKind,
    Fault,
    Feature,
    LeaseConfig,
    Level,
    Mode,
    ModeSupport,
    Pause,
    ProtocolError,
    RenewLease,
    Response,
    ResultCode,
    Resume,
    SetTarget,
    Start,
    State,
    Status,
    StatusFlag,
    Stop,
    StopCause,
    UnsupportedOpcodeError,
    decode_request,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
# Temperatures the devices send: 0.01 °C resolution, or no value.
temperature = st.none() | st.integers(-8_000_000, 8_000_000).map(lambda c: c / 100)
levels = st.builds(Level, st.sampled_from([Mode.HEAT, Mode.COLD, Mode.LIGHT]), u16, temperature)
features = st.builds(
    Feature,
    kind=st.sampled_from(DeviceKind),
    modes=st.integers(0, 7).map(ModeSupport),
    heat_min_c=temperature,
    heat_max_c=temperature,
    cold_min_c=temperature,
    cold_max_c=temperature,
    cutout_high_c=temperature,
    cutout_low_c=temperature,
    max_session_s=u16,
    status_interval_ms=u16,
    lease_min_ms=st.integers(0, 30000),
    lease_max_ms=st.integers(30000, 0xFFFF),
    max_power_mw=u16,
    levels=st.lists(levels, max_size=12).map(tuple),
    # Time scales a device sends: 0.001 resolution, 0.01 where the mantissa needs it.
    time_scale=st.just(1.0)
    | st.integers(1, 8_388_605).map(lambda m: m / 1000)
    | st.integers(838_861, 1_000_000).map(lambda m: m / 100),
)
statuses = st.builds(
    Status,
    seq=u16,
    state=st.sampled_from(State),
    mode=st.sampled_from(Mode),
    level=u8,
    setpoint_c=temperature,
    temperature_c=temperature,
    power_mw=u16,
    flags=st.integers(0, 0xFF).map(StatusFlag),
    elapsed_s=u16,
    remaining_s=u16,
    faults=u16.map(Fault),
    stop_cause=st.sampled_from(StopCause),
    battery_pct=st.integers(0, 100),
)
requests = st.one_of(
    st.builds(Start, st.sampled_from(Mode), u8, temperature, u16),
    st.builds(SetTarget, u8, temperature),
    st.just(Stop()),
    st.just(Pause()),
    st.just(Resume()),
    st.just(RenewLease()),
)
responses = st.builds(Response, u8, st.sampled_from(ResultCode))
leases = st.builds(LeaseConfig, u16)
adverts = st.builds(Advertisement, st.sampled_from(DeviceKind), u16)

# The heat pad of docs/protocol.md: Feature up to its levels, with no optional fields.
HEAT_PAD_HEX = (
    "0101b80b00fe941100feffff7f00ffff7f005c1200feffff7f000807e803e80360ea983a04"
    "010000740e00fe0100003c0f00fe010000041000fe010000cc1000fe"
)

CASES: list[tuple[str, Any, Callable[[bytes], Any]]] = [
    ("feature", features, Feature.decode),
    ("status", statuses, Status.decode),
    ("request", requests, decode_request),
    ("response", responses, Response.decode),
    ("lease", leases, LeaseConfig.decode),
    ("advertisement", adverts, Advertisement.decode),
]


@pytest.mark.parametrize(("name", "strategy", "decode"), CASES, ids=[c[0] for c in CASES])
def test_round_trip(name: str, strategy: Any, decode: Callable[[bytes], Any]) -> None:
    """decode(encode(message)) == message for every message type."""

    @given(strategy)
    def check(message: Any) -> None:
        assert decode(message.encode()) == message

    check()


@pytest.mark.parametrize(("name", "strategy", "decode"), CASES, ids=[c[0] for c in CASES])
def test_random_bytes_raise_only_protocol_error(
    name: str, strategy: Any, decode: Callable[[bytes], Any]
) -> None:
    """Arbitrary bytes either decode to a message that re-encodes, or raise ProtocolError."""

    @given(st.binary(max_size=80))
    def check(data: bytes) -> None:
        try:
            message = decode(data)
        except ProtocolError as exc:
            assert exc.reason and str(exc)
        else:
            assert decode(message.encode()) == message

    check()


@pytest.mark.parametrize(("name", "strategy", "decode"), CASES, ids=[c[0] for c in CASES])
def test_truncated_and_extended_messages_are_rejected(
    name: str, strategy: Any, decode: Callable[[bytes], Any]
) -> None:
    """A valid message with a byte cut off or added raises ProtocolError naming the length."""

    @given(strategy)
    def check(message: Any) -> None:
        data = message.encode()
        if len(data) > 1:
            with pytest.raises(ProtocolError):
                decode(data[:-1])
        if not isinstance(message, Feature):  # a Feature's levels make its length variable
            with pytest.raises(ProtocolError):
                decode(data + b"\x00")

    check()


def test_unknown_opcode_is_its_own_error_with_the_opcode() -> None:
    """An undefined opcode raises UnsupportedOpcodeError carrying the opcode."""
    with pytest.raises(UnsupportedOpcodeError) as info:
        decode_request(b"\x42\x00")
    assert info.value.opcode == 0x42


@pytest.mark.parametrize(
    ("decode", "hex_bytes", "reason"),
    [
        (Status.decode, "0700090100041000fe0c0f00fe1c25077800380400000057", "unknown state 9"),
        (Status.decode, "0700010100041000fe0c0f00fe1c25077800380400000065", "battery level 101"),
        (Response.decode, "810103", "not RESPONSE"),
        (Response.decode, "800109", "unknown result code 9"),
        (decode_request, "", "empty write"),
        (decode_request, "0201", "takes no parameters"),
        (Advertisement.decode, "02032003", "protocol version 2"),
        (Feature.decode, HEAT_PAD_HEX + "000000fd", "time scale 0 is not in 0.001..10000"),
        (Feature.decode, HEAT_PAD_HEX + "f0ffffff", "time scale -1.6 is not in"),
        (Feature.decode, HEAT_PAD_HEX + "090000fc", "time scale 0.0009 is not in"),
        (Feature.decode, HEAT_PAD_HEX + "0b000003", "time scale 11000 is not in"),
        (Feature.decode, HEAT_PAD_HEX + "ffff7f00", "time scale no value is not in"),
        (Feature.decode, HEAT_PAD_HEX + "feff7f00", "time scale inf is not in"),
        (Feature.decode, HEAT_PAD_HEX + "60ea00", "time scale needs 4 bytes, got 3"),
    ],
)
def test_invalid_fields_are_named_in_the_error(
    decode: Callable[[bytes], Any], hex_bytes: str, reason: str
) -> None:
    """The error message says which field is wrong, in plain words."""
    with pytest.raises(ProtocolError, match=reason):
        decode(bytes.fromhex(hex_bytes))


@pytest.mark.parametrize(
    ("trailer", "time_scale"),
    [
        ("", 1.0),  # absent: a real device, or an older one
        ("60ea00fd", 60.0),
        ("010000fd", 0.001),  # the smallest allowed
        ("01000004", 10_000.0),  # the largest allowed
        ("60ea00fd" + "aabbccdd01", 60.0),  # later optional fields are ignored
    ],
)
def test_feature_time_scale_is_optional_and_later_fields_are_ignored(
    trailer: str, time_scale: float
) -> None:
    """Feature's trailing time scale: absent means 1; bytes after it are left for later fields."""
    feature = Feature.decode(bytes.fromhex(HEAT_PAD_HEX + trailer))
    assert feature.time_scale == time_scale
    assert len(feature.levels) == 4

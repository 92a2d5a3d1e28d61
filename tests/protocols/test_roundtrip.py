"""Every message: hypothesis round trips, and random bytes that raise only ProtocolError."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
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
    # Emitting areas a belt sends: 0.01 cm² resolution up to 2000 cm², or unknown.
    emitting_area_cm2=st.none() | st.integers(1, 200_000).map(lambda m: m / 100),
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
        ("60ea00fd" + "204e00fe" + "aabbccdd01", 60.0),  # later optional fields are ignored
    ],
)
def test_feature_time_scale_is_optional_and_later_fields_are_ignored(
    trailer: str, time_scale: float
) -> None:
    """Feature's trailing time scale: absent means 1; bytes after it are left for later fields."""
    feature = Feature.decode(bytes.fromhex(HEAT_PAD_HEX + trailer))
    assert feature.time_scale == time_scale
    assert len(feature.levels) == 4


@pytest.mark.parametrize(
    ("trailer", "time_scale", "area_cm2"),
    [
        ("", 1.0, None),  # an older device: no trailing fields at all
        ("60ea00fd", 60.0, None),  # a time scale and no area: unknown
        ("e80300fd" + "204e00fe", 1.0, 200.0),  # 20000 x 10^-2 cm²
        ("60ea00fd" + "0f000000", 60.0, 15.0),  # any exponent: 15 x 10^0
        ("e80300fd" + "400d03fe", 1.0, 2000.0),  # the largest allowed (200000 x 10^-2)
        ("e80300fd" + "010000fe", 1.0, 0.01),  # the smallest at this exponent
        ("e80300fd" + "411f00fc", 1.0, 0.80),  # 8001 x 10^-4: kept to 0.01 cm²
        ("e80300fd" + "05000000", 1.0, 5.0),  # exponent 0
        ("e80300fd" + "00000000", 1.0, None),  # 0: unknown
        ("e80300fd" + "000000fe", 1.0, None),  # 0 with another exponent: unknown too
        ("e80300fd" + "204e00fe" + "aabbccdd01", 1.0, 200.0),  # later fields are ignored
    ],
)
def test_feature_emitting_area_is_optional_after_the_time_scale(
    trailer: str, time_scale: float, area_cm2: float | None
) -> None:
    """The emitting area follows the time scale; absent or 0 is unknown (None), a shorter
    Feature from an older device still decodes, and bytes after the area are ignored."""
    feature = Feature.decode(bytes.fromhex(HEAT_PAD_HEX + trailer))
    assert (feature.time_scale, feature.emitting_area_cm2) == (time_scale, area_cm2)
    assert [level.setpoint_c for level in feature.levels] == [37.0, 39.0, 41.0, 43.0]


@pytest.mark.parametrize(
    "area",
    [
        "ffff7f00",  # NaN
        "00008000",  # NRes
        "01008000",  # the reserved FLOAT special value
        "feff7f00",  # +INF
        "02008000",  # -INF
        "0cfefffe",  # -500 x 10^-2: -5 cm²
        "ffffffff",  # -1 x 10^-1
        "410d03fe",  # 200001 x 10^-2: just over the largest
        "010000fd",  # 0.001 cm²: under 0.01 cm²
        "01000080",  # 1e-128, the smallest FLOAT above 0
        "fdff7f7f",  # the largest FLOAT (about 8.4e133, the nearest a FLOAT comes to 1e308)
    ],
)
def test_an_implausible_emitting_area_is_unknown_and_the_feature_stays_usable(area: str) -> None:
    """NaN, NRes, the reserved value, the infinities, a negative area, one under 0.01 cm² or
    over 2000 cm²: the area decodes as unknown (None) and the rest of the Feature as sent, so
    the device stays usable (the area is only shown as J/cm², no limit uses it)."""
    pad = Feature.decode(bytes.fromhex(HEAT_PAD_HEX))
    feature = Feature.decode(bytes.fromhex(HEAT_PAD_HEX + "60ea00fd" + area))
    assert feature.emitting_area_cm2 is None
    assert feature == replace(pad, time_scale=60.0)
    assert Feature.decode(feature.encode()) == feature


@pytest.mark.parametrize("area", ["20", "204e", "204e00"])
def test_an_emitting_area_cut_short_is_still_a_protocol_error(area: str) -> None:
    """1 to 3 bytes where the area's 4 go: the Feature's bytes are wrong (not a value), a
    ProtocolError naming the field, as for any truncated field."""
    data = bytes.fromhex(HEAT_PAD_HEX + "e80300fd" + area)
    with pytest.raises(ProtocolError, match=f"emitting area needs 4 bytes, got {len(area) // 2}"):
        Feature.decode(data)


def test_an_encoder_given_a_hostile_area_never_sends_a_made_up_one() -> None:
    """A Feature built with a NaN, infinite, negative, too small or too large area encodes
    to bytes that decode as the same Feature with its area unknown; one too large for any
    FLOAT (1e308) is refused at encode (ValueError)."""
    pad = Feature.decode(bytes.fromhex(HEAT_PAD_HEX))
    for hostile in (float("nan"), float("inf"), -float("inf"), -5.0, 0.001, 2000.5, 1e30):
        decoded = Feature.decode(replace(pad, emitting_area_cm2=hostile).encode())
        assert decoded == pad, hostile
    with pytest.raises(ValueError, match="does not fit a FLOAT"):
        replace(pad, emitting_area_cm2=1e308).encode()


_SPECIAL = {0x007FFFFF, 0x00800000, 0x007FFFFE, 0x00800002, 0x00800001}  # with exponent 0
# 4 area bytes: any at all, and mantissas at the exponents a belt would use (most random
# exponents are far out of range, so the range's edges need drawing on purpose).
area_bytes = st.binary(min_size=4, max_size=4) | st.builds(
    lambda mantissa, exponent: (((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)).to_bytes(
        4, "little"
    ),
    st.integers(-0x800000, 0x7FFFFF),
    st.integers(-7, 3),
)


@given(area_bytes)
def test_any_four_area_bytes_decode_to_the_area_or_unknown_and_encode_back(raw: bytes) -> None:
    """Whatever 4 bytes a device sends as its area, the Feature decodes: the value (worked
    out here from the FLOAT layout, exactly) kept to 0.01 cm² if it is 0.01 to 2000 cm²,
    otherwise unknown; and the Feature re-encodes to bytes decoding the same."""
    word = int.from_bytes(raw, "little")
    exponent = (word >> 24) - (0x100 if word >> 24 >= 0x80 else 0)
    mantissa = (word & 0xFFFFFF) - (0x1000000 if word & 0x800000 else 0)
    special = word >> 24 == 0 and word & 0xFFFFFF in _SPECIAL
    value = None if special else Fraction(mantissa) * Fraction(10) ** exponent
    half = Fraction(1, 200)  # within half a 0.01 cm² step of a limit, rounding decides

    feature = Feature.decode(bytes.fromhex(HEAT_PAD_HEX + "e80300fd") + raw)
    area = feature.emitting_area_cm2
    if value is None or value < Fraction(1, 100) - half or value > 2000 + half:
        assert area is None
    elif Fraction(1, 100) + half < value < 2000 - half:
        assert area is not None and abs(Fraction(area) - value) <= half + Fraction(1, 10**9)
    else:  # on a limit's rounding edge: either, but never outside the range
        assert area is None or 0.01 <= area <= 2000
    assert area is None or round(area, 2) == area
    assert Feature.decode(feature.encode()) == feature

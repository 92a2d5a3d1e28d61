"""Golden hex fixtures: the worked examples of docs/protocol.md, decoded and re-encoded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from protocols import (
    Advertisement,
    DeviceKind,
    Fault,
    Feature,
    LeaseConfig,
    Level,
    Mode,
    ModeSupport,
    Opcode,
    Pause,
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
    decode_request,
)

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()

HEAT_PAD_FEATURE = Feature(
    kind=DeviceKind.HEAT_PAD,
    modes=ModeSupport.HEAT,
    heat_min_c=30.0,
    heat_max_c=45.0,
    cold_min_c=None,
    cold_max_c=None,
    cutout_high_c=47.0,
    cutout_low_c=None,
    max_session_s=1800,
    status_interval_ms=1000,
    lease_min_ms=1000,
    lease_max_ms=60000,
    max_power_mw=15000,
    levels=tuple(Level(Mode.HEAT, 0, c) for c in (37.0, 39.0, 41.0, 43.0)),
)
BELT_800_FEATURE = Feature(
    kind=DeviceKind.LIGHT_BELT,
    modes=ModeSupport.LIGHT,
    heat_min_c=None,
    heat_max_c=None,
    cold_min_c=None,
    cold_max_c=None,
    cutout_high_c=45.0,
    cutout_low_c=None,
    max_session_s=3600,
    status_interval_ms=1000,
    lease_min_ms=1000,
    lease_max_ms=60000,
    max_power_mw=800,
    levels=tuple(Level(Mode.LIGHT, mw, None) for mw in (200, 400, 600, 800)),
    emitting_area_cm2=200.0,
)

GOLDEN = [
    (
        "0101b80b00fe941100feffff7f00ffff7f005c1200feffff7f000807e803e80360ea983a04"
        "010000740e00fe0100003c0f00fe010000041000fe010000cc1000fe",
        Feature.decode,
        HEAT_PAD_FEATURE,
    ),
    (
        "0304ffff7f00ffff7f00ffff7f00ffff7f00941100feffff7f00100ee803e80360ea200304"
        "03c800ffff7f00039001ffff7f00035802ffff7f00032003ffff7f00e80300fd204e00fe",
        Feature.decode,
        BELT_800_FEATURE,
    ),
    (  # the same belt before the emitting area (a Feature ending with its levels)
        "0304ffff7f00ffff7f00ffff7f00ffff7f00941100feffff7f00100ee803e80360ea200304"
        "03c800ffff7f00039001ffff7f00035802ffff7f00032003ffff7f00",
        Feature.decode,
        replace(BELT_800_FEATURE, emitting_area_cm2=None),
    ),
    (
        "0101b80b00fe941100feffff7f00ffff7f005c1200feffff7f000807e803e80360ea983a04"
        "010000740e00fe0100003c0f00fe010000041000fe010000cc1000fe60ea00fd",
        Feature.decode,
        replace(HEAT_PAD_FEATURE, time_scale=60.0),
    ),
    (
        "0700010100041000fe0c0f00fe1c25077800380400000057",
        Status.decode,
        Status(
            seq=7,
            state=State.RUNNING,
            mode=Mode.HEAT,
            level=0,
            setpoint_c=41.0,
            temperature_c=38.52,
            power_mw=9500,
            flags=StatusFlag.OUTPUT_ON | StatusFlag.SKIN_CONTACT | StatusFlag.LEASE_ACTIVE,
            elapsed_s=120,
            remaining_s=1080,
            faults=Fault(0),
            stop_cause=StopCause.NONE,
            battery_pct=87,
        ),
    ),
    (
        "0102030100cc1000feffff7f000000022c01840305000440",
        Status.decode,
        Status(
            seq=513,
            state=State.FAULT,
            mode=Mode.HEAT,
            level=0,
            setpoint_c=43.0,
            temperature_c=None,
            power_mw=0,
            flags=StatusFlag.SKIN_CONTACT,
            elapsed_s=300,
            remaining_s=900,
            faults=Fault.OVER_TEMPERATURE_CUTOUT | Fault.SENSOR_INVALID,
            stop_cause=StopCause.OVER_TEMPERATURE_CUTOUT,
            battery_pct=64,
        ),
    ),
    ("010100041000feb004", decode_request, Start(Mode.HEAT, 0, 41.0, 1200)),
    ("010304ffff7f000807", decode_request, Start(Mode.LIGHT, 4, None, 1800)),
    ("02", decode_request, Stop()),
    ("03", decode_request, Pause()),
    ("04", decode_request, Resume()),
    ("05006e0f00fe", decode_request, SetTarget(0, 39.5)),
    ("06", decode_request, RenewLease()),
    ("800103", Response.decode, Response(Opcode.START, ResultCode.INVALID_PARAMETER)),
    ("1027", LeaseConfig.decode, LeaseConfig(10000)),
    ("01032003", Advertisement.decode, Advertisement(DeviceKind.LIGHT_BELT, 800)),
    ("01010000", Advertisement.decode, Advertisement(DeviceKind.HEAT_PAD, 0)),
]


@pytest.mark.parametrize(("hex_bytes", "decode", "message"), GOLDEN, ids=lambda v: None)
def test_golden_example_decodes_and_reencodes(hex_bytes, decode, message) -> None:
    """Each documented example decodes to the documented message and encodes back exactly."""
    data = bytes.fromhex(hex_bytes)
    assert decode(data) == message
    assert message.encode() == data


# Documented bytes that decode without encoding back the same: an implausible emitting area
# (-5 cm²) is read as unknown, and an unknown area is not sent.
DECODE_ONLY = [
    (
        "0304ffff7f00ffff7f00ffff7f00ffff7f00941100feffff7f00100ee803e80360ea200304"
        "03c800ffff7f00039001ffff7f00035802ffff7f00032003ffff7f00e80300fd0cfefffe",
        Feature.decode,
        replace(BELT_800_FEATURE, emitting_area_cm2=None),
    ),
]


@pytest.mark.parametrize(("hex_bytes", "decode", "message"), DECODE_ONLY, ids=lambda v: None)
def test_an_implausible_area_example_decodes_with_the_area_unknown(
    hex_bytes, decode, message
) -> None:
    """The belt sending -5 cm² decodes as the belt (usable as sent) with its area unknown;
    re-encoded, the unknown area is left off, and so the time scale 1 before it."""
    data = bytes.fromhex(hex_bytes)
    assert decode(data) == message
    assert message.encode() == data[:-8]


@pytest.mark.parametrize(
    ("hex_bytes", "decode", "message"), GOLDEN + DECODE_ONLY, ids=lambda v: None
)
def test_golden_example_is_in_the_protocol_doc(hex_bytes, decode, message) -> None:
    """Every fixture is written in docs/protocol.md (spaced or not), so the two cannot drift."""
    squashed = "".join(DOC.split()).lower()
    assert hex_bytes in squashed or hex_bytes in DOC


def test_every_documented_uuid_matches_the_code() -> None:
    """The UUID table of the doc names exactly the UUIDs the code uses."""
    from protocols import uuids

    for value in (
        uuids.THERAPY_SERVICE,
        uuids.FEATURE,
        uuids.CONTROL_POINT,
        uuids.STATUS,
        uuids.LEASE,
    ):
        assert f"`{value}`" in DOC
    for short in ("0x180A", "0x2A29", "0x2A24", "0x2A25", "0x2A26", "0x180F", "0x2A19"):
        assert short in DOC
        assert short[2:].lower() in {
            getattr(uuids, n)[4:8] for n in dir(uuids) if n.isupper() and n != "COMPANY_ID"
        }

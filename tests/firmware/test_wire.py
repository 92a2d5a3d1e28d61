"""The firmware's own encodings (firmware/wire.py) are byte for byte those of protocols/."""

from __future__ import annotations

import json
import math
import subprocess
from dataclasses import replace

import kinds
import pytest
import wire
from hypothesis import given
from hypothesis import strategies as st

from protocols import (
    Advertisement,
    DeviceKind,
    Fault,
    Feature,
    LeaseConfig,
    Mode,
    Response,
    ResultCode,
    SetTarget,
    Start,
    State,
    Status,
    StatusFlag,
    StopCause,
)
from protocols.ieee11073 import encode_float
from simulator.belt import BeltFirmware
from simulator.firmware_host import FIRMWARE_DIR, micropython_path
from simulator.pad import PadFirmware
from simulator.peripheral import advertising_payloads

HEAT_PAD_FEATURE = bytes.fromhex(
    "0101b80b00fe941100feffff7f00ffff7f005c1200feffff7f000807e803e80360ea983a04010000740e00fe"
    "0100003c0f00fe010000041000fe010000cc1000fe"
)
BELT_800_FEATURE = bytes.fromhex(
    "0304ffff7f00ffff7f00ffff7f00ffff7f00941100feffff7f00100ee803e80360ea20030403c800ffff7f00"
    "039001ffff7f00035802ffff7f00032003ffff7f00e80300fd204e00fe"
)


def simulator_feature(kind: str, time_scale: float = 1.0) -> bytes:
    if kind.startswith("light-belt-"):
        firmware = BeltFirmware(int(kind.rsplit("-", 1)[1]), 1000, time_scale=time_scale, now_s=0.0)
    else:
        pad_kind = DeviceKind.THERMAL_PAD if kind == "thermal-pad" else DeviceKind.HEAT_PAD
        firmware = PadFirmware(pad_kind, 1000, time_scale=time_scale, now_s=0.0)
    return firmware.feature.encode()


def test_the_documented_features_are_the_firmwares() -> None:
    """docs/protocol.md's heat pad and 800 mW belt Feature hex come out of the firmware."""
    assert wire.feature_bytes(kinds.spec_for("heat-pad")) == HEAT_PAD_FEATURE
    assert wire.feature_bytes(kinds.spec_for("light-belt-800")) == BELT_800_FEATURE


@pytest.mark.parametrize("kind", kinds.KINDS)
@pytest.mark.parametrize("time_scale", [1.0, 20.0, 60.0])
def test_every_kinds_feature_equals_the_simulators(kind: str, time_scale: float) -> None:
    """Each kind's Feature, at each time scale, is the Python simulator's, byte for byte."""
    assert wire.feature_bytes(kinds.spec_for(kind, time_scale)) == simulator_feature(
        kind, time_scale
    )


def test_a_boards_configured_emitting_area_is_sent_after_the_time_scale() -> None:
    """device_config's EMITTING_AREA_CM2 on a belt: sent (time scale 1 before it) and
    decoded by protocols; 0 is unknown and sends no trailing field; a pad sends none."""
    configured = wire.feature_bytes(kinds.spec_for("light-belt-800", 1.0, 123.45))
    assert configured == BELT_800_FEATURE[:-4] + encode_float(123.45, -2)
    assert Feature.decode(configured).emitting_area_cm2 == 123.45
    unknown = wire.feature_bytes(kinds.spec_for("light-belt-800", 1.0, 0))
    assert unknown == BELT_800_FEATURE[:-8]  # ends with its levels, as before the area
    assert Feature.decode(unknown).emitting_area_cm2 is None
    assert wire.feature_bytes(kinds.spec_for("heat-pad", 1.0, 200)) == HEAT_PAD_FEATURE


@pytest.mark.parametrize("area", [-1.0, 2000.5, math.nan, math.inf, -math.inf])
def test_a_bad_configured_emitting_area_stops_the_firmware_at_boot(area: float) -> None:
    """A negative, oversized, NaN or infinite EMITTING_AREA_CM2: ValueError building the
    spec (before any output or advertising), never a Feature that lies."""
    with pytest.raises(ValueError, match="EMITTING_AREA_CM2"):
        kinds.spec_for("light-belt-420", 1.0, area)


@given(st.floats(-1e6, 1e6) | st.sampled_from([math.nan, math.inf, -math.inf]))
def test_float_encoding_equals_protocols(value: float) -> None:
    """Any temperature-sized value encodes to the same 4 bytes as protocols' encoder."""
    assert wire.encode_float(value) == encode_float(value)


@given(st.floats(min_value=0.001, max_value=10_000))
def test_time_scale_encoding_equals_protocols(value: float) -> None:
    """The time scale, with exponent -3, too."""
    assert wire.encode_float(value, -3) == encode_float(value, -3)


status_fields = st.fixed_dictionaries(
    {
        "seq": st.integers(0, 0xFFFF),
        "state": st.sampled_from(State),
        "mode": st.sampled_from(Mode),
        "level": st.integers(0, 255),
        "setpoint_c": st.none() | st.floats(-50, 100).map(lambda v: round(v, 2)),
        "temperature_c": st.none() | st.floats(-50, 100).map(lambda v: round(v, 2)),
        "power_mw": st.integers(0, 0xFFFF),
        "flags": st.integers(0, 15).map(StatusFlag),
        "elapsed_s": st.integers(0, 0xFFFF),
        "remaining_s": st.integers(0, 0xFFFF),
        "faults": st.integers(0, 0x3F).map(Fault),
        "stop_cause": st.sampled_from(StopCause),
        "battery_pct": st.integers(0, 100),
    }
)


@given(status_fields)
def test_status_encoding_equals_protocols(fields: dict) -> None:
    """Any Status the firmware builds is protocols' Status encoding, and decodes back."""
    raw = wire.status_bytes(**{k: int(v) if isinstance(v, int) else v for k, v in fields.items()})
    assert raw == Status(**fields).encode()
    assert Status.decode(raw) == Status(**fields)


def test_the_documented_status_examples() -> None:
    """The two Status examples of docs/protocol.md."""
    running = wire.status_bytes(7, 1, 1, 0, 41.0, 38.52, 9500, 7, 120, 1080, 0, 0, 87)
    assert running.hex() == "0700010100041000fe0c0f00fe1c25077800380400000057"
    fault = wire.status_bytes(513, 3, 1, 0, 43.0, None, 0, 2, 300, 900, 5, 4, 64)
    assert fault.hex() == "0102030100cc1000feffff7f000000022c01840305000440"


@pytest.mark.parametrize(
    "request_",
    [
        Start(Mode.HEAT, 0, 41.0, 1200),
        Start(Mode.LIGHT, 4, None, 1800),
        Start(Mode.COLD, 2, 12.5, 1),
        SetTarget(0, 39.5),
        SetTarget(3, None),
    ],
)
def test_requests_decode_as_protocols_encodes_them(request_: Start | SetTarget) -> None:
    """Start and Set target, encoded by protocols, decode to the same fields."""
    decoded = wire.decode_request(request_.encode())
    if isinstance(request_, Start):
        assert decoded == (
            1,
            request_.mode,
            request_.level,
            request_.setpoint_c,
            request_.duration_s,
        )
    else:
        assert decoded == (5, request_.level, request_.setpoint_c)


@pytest.mark.parametrize(
    ("data", "answer"),
    [
        (b"", (0, 3)),
        (b"\x42", (0x42, 2)),
        (b"\x01\x01", (1, 3)),  # wrong length
        (bytes.fromhex("0104 00 ffff7f00 0807"), (1, 3)),  # unknown mode 4
        (bytes.fromhex("0101 00 01008000 0807"), (1, 3)),  # reserved FLOAT
        (b"\x02\x00", (2, 3)),  # Stop takes no parameters
    ],
)
def test_malformed_requests_carry_their_answer(data: bytes, answer: tuple[int, int]) -> None:
    """Each malformed request raises WireError with the opcode and result to indicate."""
    with pytest.raises(wire.WireError) as raised:
        wire.decode_request(data)
    assert (raised.value.opcode, raised.value.result) == answer


def test_response_and_lease_encodings() -> None:
    """Response and Lease bytes equal protocols'."""
    assert wire.response_bytes(1, 3) == Response(1, ResultCode.INVALID_PARAMETER).encode()
    assert wire.lease_bytes(10_000) == LeaseConfig(10_000).encode() == bytes.fromhex("1027")
    assert wire.decode_lease(bytes.fromhex("1027")) == 10_000


@pytest.mark.parametrize(
    ("name", "kind", "battery"),
    [
        ("heat-pad", "heat-pad", 87),
        ("belt", "light-belt-800", 100),
        ("a" * 24, "thermal-pad", 0),
        ("b" * 25, "light-belt-420", 50),
        ("c" * 29, "heat-pad", 5),
        ("d" * 31, "light-belt-1000", 5),
        (
            "pad-\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
            "heat-pad",
            9,
        ),
    ],
)
def test_advertising_equals_the_simulators(name: str, kind: str, battery: int) -> None:
    """Legacy advertising data and scan response equal the simulator's for the same name,
    kind and battery (shortened names included)."""
    spec = kinds.spec_for(kind)
    feature = wire.feature_bytes(spec)

    expected = advertising_payloads(
        name, Advertisement.for_feature(Feature.decode(feature)), battery
    )
    assert wire.advertising_data(spec.kind, spec.max_power_mw) == expected.legacy_data
    assert wire.scan_response(name, battery) == expected.scan_response


def test_the_documented_advertisement() -> None:
    """docs/protocol.md's heat pad at 87 %: advertising data and scan response."""
    assert wire.advertising_data(1, 15000).hex() == (
        "0201061107701a4b8e6d2c3a9f8e4b1c5d01009e7a07ffffff01010000"
    )
    assert wire.scan_response("heat-pad", 87).hex() == "0909686561742d70616404160f1857"


# The same encodings computed by MicroPython itself: its float arithmetic and round() are
# what run on the device.
_MICROPYTHON_SCRIPT = """
import json, kinds, wire
out = {}
for kind in kinds.KINDS:
    for scale in (1.0, 20.0, 60.0):
        out["feature %s %s" % (kind, scale)] = wire.feature_bytes(kinds.spec_for(kind, scale)).hex()
values = [None, 0.0, 38.52, -3.7, 41.005, 29.015, 1234.567, 8388.605, 1e9, -1e9, 0.001, 45.0]
for v in values:
    out["float %r" % (v,)] = wire.encode_float(v).hex()
    out["scale %r" % (v,)] = wire.encode_float(v, -3).hex() if v is not None else ""
out["area"] = wire.feature_bytes(kinds.spec_for("light-belt-420", 60.0, 123.45)).hex()
out["status"] = wire.status_bytes(7, 1, 1, 0, 41.0, 38.52, 9500, 7, 120, 1080, 0, 0, 87).hex()
out["adv"] = wire.advertising_data(3, 800).hex() + wire.scan_response("heat-pad", 87).hex()
print(json.dumps(out))
"""


def test_micropython_computes_the_same_bytes(micropython) -> None:
    """Run under MicroPython, the firmware's encoders give protocols' bytes."""
    result = subprocess.run(
        [str(micropython), "-c", _MICROPYTHON_SCRIPT],
        env={"MICROPYPATH": micropython_path(micropython)},
        cwd=FIRMWARE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    got = json.loads(result.stdout)
    for kind in kinds.KINDS:
        for scale in (1.0, 20.0, 60.0):
            assert got[f"feature {kind} {scale!r}"] == simulator_feature(kind, scale).hex()
    for key, value in got.items():
        if key.startswith(("float ", "scale ")) and value:
            number = eval(key.split(" ", 1)[1])  # a repr of a float or None, from above
            exponent = -2 if key.startswith("float ") else -3
            expected = (
                encode_float(number, exponent) if number is None or not math.isinf(number) else None
            )
            assert value == expected.hex(), key
    belt = Feature.decode(simulator_feature("light-belt-420", 60.0))
    assert got["area"] == replace(belt, emitting_area_cm2=123.45).encode().hex()
    assert got["status"] == "0700010100041000fe0c0f00fe1c25077800380400000057"
    assert got["adv"] == (
        advertising_payloads("x", Advertisement(DeviceKind.LIGHT_BELT, 800), 0).legacy_data.hex()
        + "0909686561742d70616404160f1857"
    )

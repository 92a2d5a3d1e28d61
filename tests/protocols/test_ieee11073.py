"""IEEE-11073 32-bit FLOAT: values, special values and malformed input."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import ProtocolError
from protocols.ieee11073 import decode_float, encode_float


@pytest.mark.parametrize(
    ("value", "hex_bytes"),
    [(41.0, "041000fe"), (38.52, "0c0f00fe"), (-5.25, "f3fdfffe"), (0.0, "000000fe")],
)
def test_known_values_encode_with_two_decimals(value: float, hex_bytes: str) -> None:
    """Temperatures go out with exponent -2 (0.01 °C) as in the Health Thermometer."""
    assert encode_float(value).hex() == hex_bytes
    assert decode_float(bytes.fromhex(hex_bytes)) == value


def test_nan_and_nres_decode_to_none_and_none_encodes_to_nan() -> None:
    """NaN and NRes mean "no value"; None goes out as NaN."""
    assert encode_float(None).hex() == "ffff7f00"
    assert decode_float(bytes.fromhex("ffff7f00")) is None
    assert decode_float(bytes.fromhex("00008000")) is None


def test_infinities_round_trip_and_reserved_is_an_error() -> None:
    """+/-INF decode to infinities; the reserved special value is a ProtocolError."""
    assert decode_float(encode_float(math.inf)) == math.inf
    assert decode_float(encode_float(-math.inf)) == -math.inf
    with pytest.raises(ProtocolError, match="reserved"):
        decode_float(bytes.fromhex("01008000"))


def test_large_values_raise_the_exponent_instead_of_overflowing() -> None:
    """A value too large for a 24-bit mantissa at 0.01 keeps its magnitude."""
    assert decode_float(encode_float(1_000_000.0)) == pytest.approx(1_000_000.0)


@given(st.integers(min_value=-8_000_000, max_value=8_000_000))
def test_centi_values_round_trip_exactly(centi: int) -> None:
    """Any value with two decimals in the 24-bit range survives a round trip exactly."""
    value = centi / 100
    assert decode_float(encode_float(value)) == value


@given(st.binary(max_size=8))
def test_random_bytes_raise_only_protocol_error(data: bytes) -> None:
    """Wrong lengths and reserved values raise ProtocolError, never anything else."""
    with contextlib.suppress(ProtocolError):
        decode_float(data)

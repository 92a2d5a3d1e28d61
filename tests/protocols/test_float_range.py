"""IEEE-11073 FLOAT encoding: what fits 24 + 8 bits is kept, what does not is refused."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.ieee11073 import EXPONENT_MAX, EXPONENT_MIN, decode_float, encode_float

MANTISSA_MAX = 0x7FFFFD  # the largest mantissa that is not a special value
LARGEST = MANTISSA_MAX * 10.0**EXPONENT_MAX  # about 8.4e133

exponents = st.integers(EXPONENT_MIN, EXPONENT_MAX)
mantissas = st.integers(-MANTISSA_MAX, MANTISSA_MAX).filter(bool)  # 0 has no exponent to keep


def _fields(raw: bytes) -> tuple[int, int]:
    """(mantissa, exponent) of an encoded FLOAT, both signed."""
    (word,) = struct.unpack("<I", raw)
    mantissa, exponent = word & 0xFFFFFF, word >> 24
    return mantissa - (mantissa >= 0x800000) * 0x1000000, exponent - (exponent >= 0x80) * 0x100


@given(mantissas, exponents)
def test_every_representable_value_keeps_its_mantissa_and_exponent(
    mantissa: int, exponent: int
) -> None:
    """Every 24-bit mantissa with every 8-bit exponent encodes to those fields and decodes back."""
    value = mantissa * 10.0**exponent
    raw = encode_float(value, exponent)
    assert _fields(raw) == (mantissa, exponent)
    decoded = decode_float(raw)
    assert decoded is not None
    assert math.isclose(decoded, value, rel_tol=1e-12)


@given(st.floats(allow_nan=False, allow_infinity=False), exponents)
def test_any_finite_value_is_encoded_faithfully_or_refused(value: float, exponent: int) -> None:
    """Any finite value encodes to within half a step, or raises ValueError; it never wraps."""
    try:
        raw = encode_float(value, exponent)
    except ValueError:
        assert abs(value) > LARGEST * (1 - 1e-9)
        return
    mantissa, used = _fields(raw)
    assert used >= exponent or mantissa == 0  # raised to fit, never lowered; 0 carries none
    decoded = decode_float(raw)
    assert decoded is not None
    step = 10.0 ** max(used, exponent)
    assert abs(decoded - value) <= 0.5 * step * (1 + 1e-9) + abs(value) * 1e-12


@given(
    st.one_of(st.integers(max_value=EXPONENT_MIN - 1), st.integers(min_value=EXPONENT_MAX + 1)),
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
)
def test_an_exponent_outside_8_bits_is_refused(exponent: int, value: float | None) -> None:
    """An exponent outside -128..127 raises ValueError whatever the value, never wraps."""
    with pytest.raises(ValueError, match="exponent"):
        encode_float(value, exponent)


def test_minus_129_no_longer_becomes_10_to_the_127() -> None:
    """The reported case: 1 with exponent -129 is refused, not sent as 1e127."""
    with pytest.raises(ValueError, match="-129"):
        encode_float(1e-129, -129)


@given(st.floats(min_value=LARGEST * 1.000001, allow_infinity=False), st.booleans())
def test_values_beyond_the_largest_float_are_refused(magnitude: float, negative: bool) -> None:
    """A value too large for 24 bits at exponent 127 raises ValueError, not infinity."""
    with pytest.raises(ValueError, match="24 bits"):
        encode_float(-magnitude if negative else magnitude)


def test_the_largest_float_and_the_infinities_still_encode() -> None:
    """The edge of the range encodes; real infinities keep their special values."""
    assert _fields(encode_float(LARGEST, EXPONENT_MAX)) == (MANTISSA_MAX, EXPONENT_MAX)
    assert _fields(encode_float(-LARGEST)) == (-MANTISSA_MAX, EXPONENT_MAX)
    assert encode_float(math.inf).hex() == "feff7f00"
    assert encode_float(-math.inf).hex() == "02008000"

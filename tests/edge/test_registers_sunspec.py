"""SunSpec register helpers: int16, uint32, scale factors, signed float32."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.registers import RegisterError
from edge.registers_sunspec import (
    apply_scale_factor,
    float32_words_to_signed_scaled_int,
    sunssf,
    word_to_int16,
    words_to_uint32,
)


@given(st.integers(-0x8000, 0x7FFF))
def test_int16_round_trips(value: int) -> None:
    assert word_to_int16(value & 0xFFFF) == value


def test_words_must_be_16_bit() -> None:
    with pytest.raises(RegisterError):
        word_to_int16(0x10000)
    with pytest.raises(RegisterError):
        words_to_uint32(-1, 0)
    assert words_to_uint32(0x1234, 0x5678) == 0x12345678


def test_sunssf_range() -> None:
    assert sunssf(0xFFFE) == -2
    assert sunssf(3) == 3
    with pytest.raises(RegisterError, match="not implemented"):
        sunssf(0x8000)
    with pytest.raises(RegisterError, match="range"):
        sunssf(11)


@pytest.mark.parametrize(
    ("value", "sf", "scale", "expected"),
    [
        (1234, -1, 1, 123),
        (1235, -1, 1, 124),
        (-1235, -1, 1, -124),
        (7, 2, 1, 700),
        (5, -1, 1000, 500),
    ],
)
def test_apply_scale_factor(value: int, sf: int, scale: int, expected: int) -> None:
    assert apply_scale_factor(value, sf, scale) == expected


@given(st.floats(-1e9, 1e9, width=32))
def test_signed_float32_is_symmetric(value: float) -> None:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    neg_high, neg_low = struct.unpack(">HH", struct.pack(">f", -value))
    assert float32_words_to_signed_scaled_int(high, low, 1) == -float32_words_to_signed_scaled_int(
        neg_high, neg_low, 1
    )
    assert abs(float32_words_to_signed_scaled_int(high, low, 1) - value) <= 0.5

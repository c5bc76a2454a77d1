"""The simulator encodes by the gateway's maps: decoding what it serves gives the values."""

import struct
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_sim.encoding import (
    CLOCK_ADDRESS,
    ILLEGAL_ADDRESS,
    ILLEGAL_FUNCTION,
    layout_for,
    read_block,
)
from device_sim.meter import MeterSnapshot
from edge.registermap import MeterValues, load_map


def _f32_wh(wh: int) -> int:
    value = Fraction(struct.unpack(">f", struct.pack(">f", wh / 1000))[0]) * 1000
    return int(value + Fraction(1, 2))  # exact, half up, as the gateway decodes


def _served_values(map_name: str, snap: MeterSnapshot) -> MeterValues:
    layout = layout_for(load_map(map_name))
    regmap = load_map(map_name)
    words: dict[int, int] = {}
    while (step := regmap.discover(words)).origin is None:
        assert step.next_read is not None
        fc, start, count = step.next_read
        block = read_block(layout, snap, fc, start, count)
        assert isinstance(block, list)
        words.update(zip(range(start, start + count), block, strict=True))
    regmap = regmap.located(step.origin)
    for fc, start, count in regmap.read_blocks():
        block = read_block(layout, snap, fc, start, count)
        assert isinstance(block, list)
        words.update(zip(range(start, start + count), block, strict=True))
    return regmap.decode(words)


counters = st.integers(0, 2**31)
powers = st.integers(-500_000, 500_000)


@given(imp=counters, exp=counters, power=powers)
def test_sunspec_round_trip_is_exact_or_within_scale(imp: int, exp: int, power: int) -> None:
    snap = MeterSnapshot(1, imp, exp, power, 230.1, 50.0)
    values = _served_values("sunspec203", snap)
    assert values.import_wh == imp  # acc32 with scale factor 0 holds 2**31 Wh exactly
    assert values.export_wh == exp
    # W_SF grows from 0 until the int16 fits: the error is half a step at most.
    sf = next(sf for sf in range(11) if abs(power) <= 32767 * 10**sf)
    assert 2 * abs(values.power_w - power) <= 10**sf


@pytest.mark.parametrize("map_name", ["sdm630", "sdm120"])
@given(imp=counters, exp=counters, power=powers)
def test_eastron_round_trip_to_float32_precision(
    map_name: str, imp: int, exp: int, power: int
) -> None:
    snap = MeterSnapshot(1, imp, exp, power, 230.1, 50.0)
    values = _served_values(map_name, snap)
    assert values == MeterValues(_f32_wh(imp), _f32_wh(exp), power)


def test_fixed_values_are_exact_in_every_map() -> None:
    snap = MeterSnapshot(1, 12_345_500, 987_500, -1234, 230.0, 50.0)
    for name in ("sdm630", "sdm120", "sunspec203"):
        assert _served_values(name, snap) == MeterValues(12_345_500, 987_500, -1234)


def test_clock_and_illegal_requests() -> None:
    layout = layout_for(load_map("sdm630"))
    snap = MeterSnapshot(0x12345678, 0, 0, 0, 230.0, 50.0)
    assert read_block(layout, snap, 3, CLOCK_ADDRESS, 2) == [0x1234, 0x5678]
    assert read_block(layout, snap, 3, 0x48, 2) == ILLEGAL_FUNCTION
    assert read_block(layout, snap, 4, 0x0300, 2) == ILLEGAL_ADDRESS
    sunspec = layout_for(load_map("sunspec203"))
    assert read_block(sunspec, snap, 3, 39_990, 4) == ILLEGAL_ADDRESS

"""What the simulated devices answer: the gateway's maps decode it; every published
register holds a consistent value; what the device refuses is refused."""

import struct
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_sim.devices import DEVICE_MODELS, device_model, not_implemented
from device_sim.electrical import measure
from device_sim.encoding import (
    CLOCK_ADDRESS,
    ILLEGAL_ADDRESS,
    ILLEGAL_FUNCTION,
    DeviceLayout,
    layout_for,
    read_block,
)
from device_sim.meter import MeterSnapshot, SimulatedMeter
from edge.registermap import MeterValues, available_maps, load_map
from edge.registers_sunspec import sunssf, word_to_int16, words_to_uint32
from tests.utils.published_maps import (
    SDM120_BLOCKS,
    SDM630_BLOCKS,
    check_sdm120,
    check_sdm630,
)

T0 = 1_700_000_000_000


def _f32_wh(wh: int) -> int:
    value = Fraction(struct.unpack(">f", struct.pack(">f", wh / 1000))[0]) * 1000
    return int(value + Fraction(1, 2))  # exact, half up, as the gateway decodes


def _served_values(map_name: str, snap: MeterSnapshot) -> MeterValues:
    layout = layout_for(map_name)
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
        assert isinstance(block, list), (map_name, fc, start, count, block)
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


# The gateway map's quantities, as `device_sim.electrical` names them.
_QUANTITY = {
    "import_wh": "import_wh",
    "export_wh": "export_wh",
    "power_w": "p",
    "voltage_v": "v1",
    "frequency_hz": "frequency",
}


@pytest.mark.parametrize("map_name", available_maps())
def test_every_gateway_map_names_registers_its_device_publishes(map_name: str) -> None:
    regmap = load_map(map_name)
    device = device_model(map_name)
    published = {
        r.name: r for r in device.input_registers + device.holding_registers + device.sunspec_points
    }
    by_address = {r.address: r for r in published.values()}
    for quantity, point_name in regmap.quantities:
        point = regmap.point(point_name)
        register = by_address[point.address]
        assert register.type == point.type, point_name
        assert register.quantity == _QUANTITY[quantity], point_name
        assert register.divisor == point.multiplier, point_name
        if point.scale_factor is not None:
            assert register.scale_factor == point.scale_factor
            sf = published[point.scale_factor]
            assert sf.address == regmap.point(point.scale_factor).address
    if regmap.sunspec is not None:
        assert device.sunspec_model_id == regmap.sunspec.model_id
        assert device.sunspec_length == regmap.sunspec.model_length
    else:
        assert device.input_registers
        assert regmap.function_code == 4


def _decode_float(words: list[int]) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", *words))[0]
    return value


def _read_eastron(layout: DeviceLayout, snap: MeterSnapshot) -> dict[int, float]:
    """Every published value, read in the blocks a third-party client would use."""
    blocks = SDM630_BLOCKS if layout.device.phases == 3 else SDM120_BLOCKS
    values: dict[int, float] = {}
    for start, count in blocks:
        words = read_block(layout, snap, 4, start, count)
        assert isinstance(words, list), (start, count, words)
        for address in range(start, start + count, 2):
            values[address] = _decode_float(words[address - start : address - start + 2])
    return values


def _prosumer(seed: int) -> SimulatedMeter:
    return SimulatedMeter.prosumer(pv_kwp=15, peak_load_w=20_000, seed=seed, import_wh=10**6)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), hours=st.lists(st.integers(0, 24 * 7), min_size=1, max_size=3))
def test_every_published_eastron_register_is_consistent_with_the_others(
    seed: int, hours: list[int]
) -> None:
    meter = _prosumer(seed)
    for hour in sorted(hours):
        snap = meter.snapshot(T0 + hour * 3_600_000)
        check_sdm630(_read_eastron(layout_for("sdm630"), snap))
        check_sdm120(_read_eastron(layout_for("sdm120"), snap), max_current_a=1000)


@pytest.mark.parametrize("map_name", ["sdm630", "sdm120"])
def test_each_published_eastron_register_answers_alone_with_its_value(map_name: str) -> None:
    device = device_model(map_name)
    layout = layout_for(device)
    snap = _prosumer(3).snapshot(T0 + 12 * 3_600_000)
    values = measure(snap, phases=device.phases)
    for register in device.input_registers:
        words = read_block(layout, snap, 4, register.address, 2)
        assert isinstance(words, list), register.name
        assert register.quantity is not None
        expected = values[register.quantity] / register.divisor
        assert _decode_float(words) == pytest.approx(expected, rel=1e-6, abs=1e-6), register.name


def test_unpublished_eastron_addresses_are_refused_as_the_meter_refuses_them() -> None:
    sdm630, sdm120 = layout_for("sdm630"), layout_for("sdm120")
    snap = _prosumer(1).snapshot(T0)
    for layout, function, address, count in (
        (sdm120, 4, 0x0002, 2),  # phase 2 volts: a single-phase meter has none
        (sdm120, 4, 0x000E, 2),  # phase 2 power
        (sdm120, 4, 0x0034, 2),  # the SDM630's total system power
        (sdm630, 4, 0x002C, 2),  # between two parameters
        (sdm630, 4, 0x0001, 2),  # half of one parameter, half of the next
        (sdm630, 4, 0x0000, 1),  # half a float
        (sdm630, 4, 0x0000, 3),  # one and a half
        (sdm630, 4, 0x017E, 2),  # past the last parameter
        (sdm630, 4, 0x0300, 2),
        (sdm630, 4, 0x0000, 82),  # more than 40 parameters in one request
        (sdm630, 3, 0x0048, 2),  # not a holding register
    ):
        got = read_block(layout, snap, function, address, count)
        assert got == ILLEGAL_ADDRESS, (layout.device.name, function, hex(address), count, got)
    assert read_block(sdm630, snap, 1, 0, 8) == ILLEGAL_FUNCTION
    assert read_block(layout_for("sunspec203"), snap, 4, 40000, 2) == ILLEGAL_FUNCTION
    assert read_block(layout_for("sunspec203"), snap, 3, 39_990, 4) == ILLEGAL_ADDRESS


def test_a_read_spanning_gaps_between_parameters_answers_zero_words_in_them() -> None:
    layout = layout_for("sdm630")
    snap = _prosumer(1).snapshot(T0)
    words = read_block(layout, snap, 4, 0x002A, 8)  # average volts, a gap, average current
    assert isinstance(words, list)
    assert words[2:4] == [0, 0]
    assert _decode_float(words[:2]) == pytest.approx(sum(snap.voltages_v) / 3, rel=1e-6)


def test_each_eastron_unit_has_its_serial_number_and_modbus_address() -> None:
    snap = _prosumer(1).snapshot(T0)
    for name in ("sdm630", "sdm120"):
        for serial, unit in ((19_123_456, 1), (19_123_457, 42)):
            layout = layout_for(name, serial=serial, unit_id=unit)
            assert read_block(layout, snap, 3, 0xFC00, 2) == [serial >> 16, serial & 0xFFFF]
            address = read_block(layout, snap, 3, 0x0014, 2)
            assert isinstance(address, list)
            assert _decode_float(address) == unit


def test_the_clock_extension() -> None:
    snap = MeterSnapshot(0x12345678, 0, 0, 0, 230.0, 50.0)
    for name in available_maps():
        assert read_block(layout_for(name), snap, 3, CLOCK_ADDRESS, 2) == [0x1234, 0x5678]


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("int16", [0x8000]),
        ("uint16", [0xFFFF]),
        ("count", [0]),
        ("acc16", [0]),
        ("enum16", [0xFFFF]),
        ("bitfield16", [0xFFFF]),
        ("pad", [0x8000]),
        ("sunssf", [0x8000]),
        ("int32", [0x8000, 0]),
        ("uint32", [0xFFFF, 0xFFFF]),
        ("acc32", [0, 0]),
        ("enum32", [0xFFFF, 0xFFFF]),
        ("bitfield32", [0xFFFF, 0xFFFF]),
        ("float32", [0x7FC0, 0]),
        ("int64", [0x8000, 0, 0, 0]),
        ("uint64", [0xFFFF] * 4),
        ("acc64", [0, 0, 0, 0]),
    ],
)
def test_sunspec_not_implemented_values_by_type(kind: str, words: list[int]) -> None:
    assert not_implemented(kind) == words


def _sunspec_words(layout: DeviceLayout, snap: MeterSnapshot) -> dict[int, int]:
    bank = layout.banks[3]
    words: dict[int, int] = {}
    for start in range(bank.start, bank.end, 125):
        count = min(125, bank.end - start)
        block = read_block(layout, snap, 3, start, count)
        assert isinstance(block, list)
        words.update(zip(range(start, start + count), block, strict=True))
    return words


def _text(words: list[int]) -> str:
    return b"".join(w.to_bytes(2, "big") for w in words).rstrip(b"\0").decode()


def test_sunspec_common_model_names_each_unit() -> None:
    snap = _prosumer(1).snapshot(T0)
    for serial, unit in ((10_000_001, 1), (10_000_002, 2)):
        words = _sunspec_words(layout_for("sunspec203", serial=serial, unit_id=unit), snap)
        common = [words[40004 + i] for i in range(66)]
        assert [words[40000 + i] for i in range(4)] == [0x5375, 0x6E53, 1, 66]
        assert _text(common[0:16]) == "GridTokenX"
        assert common[32:40] == [0] * 8  # options: a string not implemented
        assert _text(common[56:64]) == ""
        assert _text(common[48:64]) == str(serial)
        assert common[64:66] == [unit, 0x8000]  # device address, pad
        assert [words[40070], words[40071]] == [203, 105]
        assert [words[40070 + 2 + 105], words[40070 + 3 + 105]] == [0xFFFF, 0]


def _scaled(words: dict[int, int], origin: int, offset: int, sf_offset: int) -> float:
    return word_to_int16(words[origin + offset]) * 10.0 ** sunssf(words[origin + sf_offset])


def test_sunspec_model_203_values_are_consistent() -> None:
    meter = _prosumer(9)
    for hour in (3, 12, 40):
        snap = meter.snapshot(T0 + hour * 3_600_000)
        words = _sunspec_words(layout_for("sunspec203"), snap)
        o = 40072  # the model's first point
        currents = [_scaled(words, o, k, 4) for k in (1, 2, 3)]
        volts = [_scaled(words, o, k, 13) for k in (6, 7, 8)]
        watts = [_scaled(words, o, k, 20) for k in (17, 18, 19)]
        vas = [_scaled(words, o, k, 25) for k in (22, 23, 24)]
        vars_ = [_scaled(words, o, k, 30) for k in (27, 28, 29)]
        pfs = [_scaled(words, o, k, 35) / 100 for k in (32, 33, 34)]
        assert _scaled(words, o, 16, 20) == pytest.approx(sum(watts), abs=2)
        assert _scaled(words, o, 0, 4) == pytest.approx(sum(currents), abs=0.03)
        for v, i, p, s, q, pf in zip(volts, currents, watts, vas, vars_, pfs, strict=True):
            assert s == pytest.approx(v * i, rel=2e-3, abs=1)
            assert p == pytest.approx(v * i * pf, rel=2e-3, abs=1)
            assert s**2 == pytest.approx(p**2 + q**2, rel=4e-3, abs=2)
        sf = sunssf(words[o + 52])
        imp = words_to_uint32(words[o + 44], words[o + 45]) * 10**sf
        phases = [words_to_uint32(words[o + a], words[o + a + 1]) * 10**sf for a in (46, 48, 50)]
        assert imp == snap.import_wh
        assert sum(phases) == pytest.approx(imp, abs=2 * 10**sf)
        assert [words[o + 103], words[o + 104]] == [0, 0]  # no events


def test_sunspec_points_a_device_does_not_implement_read_as_not_implemented() -> None:
    model = DEVICE_MODELS["sunspec203"]
    dropped = {"AphA": "int16", "TotWhExpPhA": "acc32", "Evt": "bitfield32"}
    points = tuple(
        replace(p, quantity=None) if p.name in dropped else p for p in model.sunspec_points
    )
    layout = layout_for(replace(model, sunspec_points=points))
    words = _sunspec_words(layout, _prosumer(1).snapshot(T0))
    for point in points:
        if point.name in dropped:
            served = [words[40072 + point.address + i] for i in range(point.width)]
            assert served == not_implemented(dropped[point.name]), point.name

"""Register map files: loading, errors that name the field, blocks, discovery, decoding."""

import copy
import json
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.errors import ConfigError, MeterError
from edge.registermap import (
    MeterValues,
    available_maps,
    discover_sunspec,
    load_map,
    parse_map,
)
from tests.utils.register_words import register_words
from wire.meters import METER_MODELS
from wire.reading import UINT_MAX

_MAPS = Path(__file__).resolve().parents[2] / "edge" / "maps"
SHIPPED = ("sdm120", "sdm630", "sunspec203")


def _valid() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((_MAPS / "sdm630.json").read_text())
    return data


def _f32(value: float) -> tuple[int, int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return high, low


def test_shipped_maps_are_listed_and_load() -> None:
    assert set(SHIPPED) <= set(available_maps())
    for name in SHIPPED:
        assert load_map(name).name == name


def test_shipped_maps_are_exactly_the_wire_contract_models() -> None:
    # The coordinator accepts the models in wire.meters: a map shipped without
    # its name there (or a name without its map) fails here.
    assert available_maps() == list(METER_MODELS)
    assert sorted(METER_MODELS) == list(METER_MODELS)


def test_load_by_path(tmp_path: Path) -> None:
    path = tmp_path / "meter.json"
    path.write_text(json.dumps(_valid()))
    assert load_map(path).function_code == 4
    assert load_map(str(path)).name == "sdm630"


def test_eastron_maps_read_in_one_block() -> None:
    assert load_map("sdm630").read_blocks() == [(4, 0x0034, 24)]
    assert load_map("sdm120").read_blocks() == [(4, 0x000C, 64)]
    assert load_map("sdm120").read_blocks(max_gap=0) == [(4, 0x000C, 2), (4, 0x0048, 4)]


def test_sunspec_map_needs_locating_first() -> None:
    regmap = load_map("sunspec203")
    assert regmap.origin is None
    with pytest.raises(ValueError, match="locate"):
        regmap.read_blocks()
    assert regmap.located(40072).read_blocks() == [(3, 40072 + 16, 37)]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("name"), "name: missing"),
        (lambda d: d.update(format=2), "format"),
        (lambda d: d.update(layout="tree"), "layout"),
        (lambda d: d.update(function_code=5), "function_code"),
        (lambda d: d.update(points=[]), "points"),
        (lambda d: d["points"][1].update(address="0xZZ"), "points[1].address"),
        (lambda d: d["points"][1].update(address=-1), "points[1].address"),
        (lambda d: d["points"][2].update(type="float64"), "points[2].type"),
        (lambda d: d["points"][3].update(unit="BTU"), "points[3].unit"),
        (lambda d: d["points"][4].update(address="0x0048"), "points[4].address"),
        (lambda d: d["points"][0].update(name="Total import kWh"), "points[3].name"),
        (lambda d: d["points"][3].update(scale_factor="x"), "points[3].scale_factor"),
        (lambda d: d["values"].pop("export_wh"), "values.export_wh: missing"),
        (lambda d: d["values"].update(power_w="nope"), "values.power_w"),
        (lambda d: d["values"].update(power_w="Total import kWh"), "values.power_w"),
        (lambda d: d["values"].update(colour="Total import kWh"), "values.colour"),
    ],
)
def test_errors_name_the_field(mutate: Any, field: str) -> None:
    data = _valid()
    mutate(data)
    with pytest.raises(ConfigError, match=r"^test\.json: ") as info:
        parse_map(data, source="test.json")
    assert field in str(info.value)


def test_sunspec_errors_name_the_field() -> None:
    data = json.loads((_MAPS / "sunspec203.json").read_text())
    bad = copy.deepcopy(data)
    bad["sunspec"]["model_id"] = "x"
    with pytest.raises(ConfigError, match=r"sunspec\.model_id"):
        parse_map(bad)
    bad = copy.deepcopy(data)
    bad["points"][0]["address"] = 105
    with pytest.raises(ConfigError, match=r"points\[0\]\.address.*model_length"):
        parse_map(bad)
    bad = copy.deepcopy(data)
    bad["points"][1]["unit"] = "V"
    with pytest.raises(ConfigError, match=r"points\[1\]\.unit"):
        parse_map(bad)


def test_unknown_name_bad_path_bad_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"known: .*sdm630"):
        load_map("sdm999")
    with pytest.raises(ConfigError, match="cannot read"):
        load_map(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_map(broken)
    with pytest.raises(ConfigError, match="top level"):
        parse_map([1, 2])


def _sdm630_words(imp: float, exp: float, power: float) -> dict[int, int]:
    words = {a: 0 for a in range(0x34, 0x34 + 24)}
    for address, value in ((0x34, power), (0x48, imp), (0x4A, exp)):
        words[address], words[address + 1] = _f32(value)
    return words


def _f32_round(value: float, scale: int) -> int:
    exact = Fraction(struct.unpack(">f", struct.pack(">f", value))[0]) * scale
    magnitude = int(abs(exact) + Fraction(1, 2))
    return -magnitude if exact < 0 else magnitude


@given(
    imp=st.floats(0, 1e7, width=32),
    exp=st.floats(0, 1e7, width=32),
    power=st.floats(-1e6, 1e6, width=32),
)
def test_float32_decode_is_exact(imp: float, exp: float, power: float) -> None:
    values = load_map("sdm630").decode(_sdm630_words(imp, exp, power))
    assert values == MeterValues(
        import_wh=_f32_round(imp, 1000),
        export_wh=_f32_round(exp, 1000),
        power_w=_f32_round(power, 1),
    )


def test_decode_names_missing_and_bad_points() -> None:
    regmap = load_map("sdm630")
    words = _sdm630_words(1.0, 2.0, 3.0)
    del words[0x4B]
    with pytest.raises(MeterError, match="Total export kWh: register 75 not read"):
        regmap.decode(words)
    words = _sdm630_words(-1.0, 2.0, 3.0)
    with pytest.raises(MeterError, match="Total import kWh: negative"):
        regmap.decode(words)
    words = _sdm630_words(1.0, 2.0, 3.0)
    words[0x4A], words[0x4B] = 0x7FC0, 0  # NaN
    with pytest.raises(MeterError, match=r"Total export kWh: .*NaN"):
        regmap.decode(words)


# A SunSpec device: marker, common model (66), model 7 (3) in the way, model 203, end.
def _sunspec_device(w: int, w_sf: int, exp: int, imp: int, wh_sf: int) -> dict[int, int]:
    words = [0x5375, 0x6E53, 1, 66] + [0] * 66 + [7, 3, 0, 0, 0, 203, 105]
    model = [0x8000] * 105
    model[16], model[20] = w & 0xFFFF, w_sf & 0xFFFF
    model[36], model[37] = exp >> 16, exp & 0xFFFF
    model[44], model[45] = imp >> 16, imp & 0xFFFF
    model[52] = wh_sf & 0xFFFF
    words += [*model, 0xFFFF, 0]
    return {40000 + i: word for i, word in enumerate(words)}


def _discover(device: dict[int, int]) -> tuple[int, int]:
    regmap = load_map("sunspec203")
    words: dict[int, int] = {}
    reads = 0
    while (step := regmap.discover(words)).origin is None:
        assert step.next_read is not None
        fc, start, count = step.next_read
        assert fc == 3
        words.update({a: device[a] for a in range(start, start + count)})
        reads += 1
    return step.origin, reads


def test_sunspec_discovery_walks_the_header_chain() -> None:
    origin, reads = _discover(_sunspec_device(0, 0, 0, 0, 0))
    assert origin == 40000 + 4 + 66 + 5 + 2
    assert reads == 3  # marker + common header, model 7 header, model 203 header


def test_sunspec_discovery_failures() -> None:
    device = _sunspec_device(0, 0, 0, 0, 0)
    device[40000] = 0
    with pytest.raises(MeterError, match="SunS"):
        discover_sunspec(device, model_id=203)
    with pytest.raises(MeterError, match="model 204 not found"):
        discover_sunspec(_sunspec_device(0, 0, 0, 0, 0), model_id=204)
    with pytest.raises(MeterError, match="length 105 < 200"):
        discover_sunspec(_sunspec_device(0, 0, 0, 0, 0), model_id=203, min_length=200)


@given(
    w=st.integers(-0x7FFF, 0x7FFF),
    w_sf=st.integers(-3, 3),
    exp=st.integers(0, 2**32 - 1),
    imp=st.integers(0, 2**32 - 1),
    wh_sf=st.integers(0, 3),
)
def test_sunspec_decode(w: int, w_sf: int, exp: int, imp: int, wh_sf: int) -> None:
    device = _sunspec_device(w, w_sf, exp, imp, wh_sf)
    origin, _ = _discover(device)
    regmap = load_map("sunspec203").located(origin)
    words = {}
    for _, start, count in regmap.read_blocks():
        words.update({a: device[a] for a in range(start, start + count)})
    power = Fraction(w) * Fraction(10) ** w_sf
    rounded = int(abs(power) + Fraction(1, 2))
    assert regmap.decode(words) == MeterValues(
        import_wh=imp * 10**wh_sf,
        export_wh=exp * 10**wh_sf,
        power_w=-rounded if power < 0 else rounded,
    )


def test_sunspec_not_implemented_values_are_errors() -> None:
    device = _sunspec_device(0x8000, 0, 1, 1, 0)
    regmap = load_map("sunspec203").located(40077)
    with pytest.raises(MeterError, match="W: value not implemented"):
        regmap.decode(device)
    device = _sunspec_device(5, 0, 1, 1, 0)
    device[40077 + 52] = 0x8000
    with pytest.raises(MeterError, match="TotWhImp: scale factor not implemented"):
        regmap.decode(device)


@pytest.mark.parametrize("name", available_maps())
@settings(max_examples=300)
@given(data=st.data())
def test_any_register_words_decode_to_signable_counters_or_a_meter_error(
    name: str, data: st.DataObject
) -> None:
    regmap = load_map(name)
    if regmap.sunspec is not None:
        regmap = regmap.located(regmap.sunspec.base + 4)
    try:
        values = regmap.decode(register_words(regmap, data))
    except MeterError:
        return
    for counter in (values.import_wh, values.export_wh):
        assert 0 <= counter <= UINT_MAX  # a reading can carry it: it can be signed

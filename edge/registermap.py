"""Register maps: which Modbus registers hold a meter's counters, and how to decode them.

A map is a JSON data file in `edge/maps/` (one per meter model, parsed as plain
data so a MicroPython gateway can read the same files). This module parses
one into a frozen `RegisterMap` and does the pure work the poller needs:

    regmap = load_map("sdm630")
    for function_code, start, count in regmap.read_blocks():
        ...read, collect {address: word}...
    values = regmap.decode(words)          # MeterValues, integers only

SunSpec devices place their models wherever they like after the "SunS"
marker, so a SunSpec map starts unlocated and the gateway walks the model
header chain first, one pure step at a time:

    words: dict[int, int] = {}
    while (step := regmap.discover(words)).origin is None:
        function_code, start, count = step.next_read  # read these, add to words
    regmap = regmap.located(step.origin)             # cache this; no walk next time

For flat maps (Eastron) `discover` answers at once and `located` is a no-op.
Point addresses in a SunSpec map are offsets from the first register after
the model's (id, length) header, as in the SunSpec model definitions.
"""

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from edge.errors import ConfigError, MeterError
from edge.registers import RegisterError, float32_words_to_scaled_int
from edge.registers_sunspec import (
    INT16_NOT_IMPLEMENTED,
    SUNSPEC_END_ID,
    SUNSPEC_MARKER,
    UINT16_NOT_IMPLEMENTED,
    apply_scale_factor,
    float32_words_to_signed_scaled_int,
    sunssf,
    word_to_int16,
    words_to_uint32,
)
from wire.reading import UINT_MAX

__all__ = [
    "MAX_READ_COUNT",
    "QUANTITIES",
    "REQUIRED_QUANTITIES",
    "Discovery",
    "MeterValues",
    "Point",
    "RegisterMap",
    "SunSpecModel",
    "available_maps",
    "discover_sunspec",
    "load_map",
    "parse_map",
]

FORMAT_VERSION = 1
# Modbus allows at most 125 registers in one read request.
MAX_READ_COUNT = 125
# Quantity -> its dimension. The first three are what a reading carries.
QUANTITIES = {
    "import_wh": "Wh",
    "export_wh": "Wh",
    "power_w": "W",
    "voltage_v": "V",
    "frequency_hz": "Hz",
}
REQUIRED_QUANTITIES = ("import_wh", "export_wh", "power_w")
# Unit -> (dimension, integer multiplier to the dimension's base unit).
_UNITS = {
    "Wh": ("Wh", 1),
    "kWh": ("Wh", 1000),
    "MWh": ("Wh", 1_000_000),
    "W": ("W", 1),
    "kW": ("W", 1000),
    "V": ("V", 1),
    "Hz": ("Hz", 1),
}
_WIDTHS = {"float32": 2, "int16": 1, "uint16": 1, "acc32": 2, "uint32": 2, "sunssf": 1}
_LAYOUTS = ("flat", "sunspec")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_MAX_MODELS = 64  # a header chain longer than this is a loop or garbage


@dataclass(frozen=True)
class MeterValues:
    """What one poll of a meter yields: cumulative counters in Wh and signed power
    in W (positive = importing from the grid)."""

    import_wh: int
    export_wh: int
    power_w: int


@dataclass(frozen=True)
class Point:
    """One value in a register map."""

    name: str
    address: int  # absolute (flat) or offset into the SunSpec model (sunspec)
    type: str  # float32 | int16 | uint16 | acc32 | uint32 | sunssf
    unit: str | None = None  # None only for sunssf
    scale_factor: str | None = None  # name of the sunssf point scaling this one
    default: int | None = None  # sunssf: the value a device typically reports

    @property
    def width(self) -> int:
        """Registers the point occupies."""
        return _WIDTHS[self.type]

    @property
    def multiplier(self) -> int:
        """Integer factor from the point's unit to its dimension's base unit."""
        return 1 if self.unit is None else _UNITS[self.unit][1]


@dataclass(frozen=True)
class SunSpecModel:
    """Where to look for the model: base address of "SunS", model id and length."""

    base: int
    model_id: int
    model_length: int


@dataclass(frozen=True)
class Discovery:
    """One step of locating a map's registers: either found (`origin`, the absolute
    address of point offset 0) or the block to read next (`next_read`)."""

    origin: int | None
    next_read: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class RegisterMap:
    """A parsed register map. Build with `load_map` or `parse_map`."""

    name: str
    manufacturer: str
    model: str
    layout: str  # flat | sunspec
    function_code: int
    points: tuple[Point, ...]
    quantities: tuple[tuple[str, str], ...]  # (quantity, point name)
    sunspec: SunSpecModel | None = None
    origin: int | None = 0  # None: a SunSpec map not yet located

    def point(self, name: str) -> Point:
        """The point called `name`; KeyError if there is none."""
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)

    def point_for(self, quantity: str) -> Point | None:
        """The point holding `quantity` (see QUANTITIES), or None if the map has none."""
        for q, name in self.quantities:
            if q == quantity:
                return self.point(name)
        return None

    def address_of(self, point: Point) -> int:
        """The absolute register address of `point`."""
        return self._require_origin() + point.address

    def discover(self, words: Mapping[int, int]) -> Discovery:
        """Locate the map's registers from the words read so far (pure)."""
        if self.sunspec is None:
            return Discovery(origin=0)
        return discover_sunspec(
            words,
            base=self.sunspec.base,
            model_id=self.sunspec.model_id,
            min_length=self.sunspec.model_length,
            function_code=self.function_code,
        )

    def located(self, origin: int) -> "RegisterMap":
        """This map with its registers at `origin` (from `discover`)."""
        last = origin + max(p.address + p.width for p in self.points) - 1
        if origin < 0 or last > 0xFFFF:
            raise ValueError("origin puts registers outside 0..65535")
        return replace(self, origin=origin)

    def read_blocks(
        self, *, max_gap: int = 64, max_count: int = MAX_READ_COUNT
    ) -> list[tuple[int, int, int]]:
        """The (function_code, start, count) reads that cover the required
        quantities and their scale factors, merged across gaps of up to `max_gap`
        unused registers while a block stays within `max_count` registers."""
        spans = sorted(
            (self.address_of(p), self.address_of(p) + p.width) for p in self._needed_points()
        )
        blocks: list[list[int]] = []
        for start, end in spans:
            if blocks:
                last = blocks[-1]
                if start - last[1] <= max_gap and max(end, last[1]) - last[0] <= max_count:
                    last[1] = max(end, last[1])
                    continue
            blocks.append([start, end])
        return [(self.function_code, start, end - start) for start, end in blocks]

    def decode(self, words: Mapping[int, int]) -> MeterValues:
        """The meter's values from the words read by `read_blocks` (address -> word).

        Raises MeterError naming the point when a word is missing or
        undecodable, or an energy counter is outside what a reading can carry
        (0..2^63-1 Wh, `wire.reading.UINT_MAX`): whatever the words, the
        counters returned can be signed.
        """
        imp, exp, power = (self._decode_quantity(q, words) for q in REQUIRED_QUANTITIES)
        return MeterValues(import_wh=imp, export_wh=exp, power_w=power)

    def _require_origin(self) -> int:
        if self.origin is None:
            raise ValueError(self.name + ": locate the SunSpec model first (discover, located)")
        return self.origin

    def _needed_points(self) -> list[Point]:
        needed: list[Point] = []
        for quantity in REQUIRED_QUANTITIES:
            point = self.point_for(quantity)
            assert point is not None  # parse_map guarantees the required quantities
            needed.append(point)
            if point.scale_factor is not None:
                needed.append(self.point(point.scale_factor))
        return needed

    def _words_of(self, point: Point, words: Mapping[int, int]) -> list[int]:
        start = self.address_of(point)
        out = []
        for address in range(start, start + point.width):
            word = words.get(address)
            if word is None:
                raise MeterError(f"{self.name}: {point.name}: register {address} not read")
            out.append(word)
        return out

    def _decode_quantity(self, quantity: str, words: Mapping[int, int]) -> int:
        point = self.point_for(quantity)
        assert point is not None
        try:
            value = self._decode_point(point, words, signed=quantity == "power_w")
        except RegisterError as exc:
            raise MeterError(f"{self.name}: {point.name}: {exc}") from exc
        if quantity == "power_w":
            return value
        if value < 0:
            raise MeterError(f"{self.name}: {point.name}: negative energy counter")
        if value > UINT_MAX:
            # A reading carries it in 63 bits; no meter counts that far (a
            # float32 above about 9.2e15 kWh is a corrupt register).
            raise MeterError(f"{self.name}: {point.name}: {value} Wh is beyond 2^63-1 Wh")
        return value

    def _decode_point(self, point: Point, words: Mapping[int, int], *, signed: bool) -> int:
        w = self._words_of(point, words)
        if point.type == "float32":
            if signed:
                return float32_words_to_signed_scaled_int(w[0], w[1], point.multiplier)
            return float32_words_to_scaled_int(w[0], w[1], point.multiplier)
        if point.type == "int16":
            if w[0] == INT16_NOT_IMPLEMENTED:
                raise RegisterError("value not implemented (0x8000)")
            raw = word_to_int16(w[0])
        elif point.type == "uint16":
            if w[0] == UINT16_NOT_IMPLEMENTED:
                raise RegisterError("value not implemented (0xFFFF)")
            raw = w[0]
        else:  # acc32, uint32
            raw = words_to_uint32(w[0], w[1])
        sf = 0
        if point.scale_factor is not None:
            sf_point = self.point(point.scale_factor)
            sf = sunssf(self._words_of(sf_point, words)[0])
        return apply_scale_factor(raw, sf, point.multiplier)


def discover_sunspec(
    words: Mapping[int, int],
    *,
    base: int = 40000,
    model_id: int,
    min_length: int = 0,
    function_code: int = 3,
) -> Discovery:
    """Walk the SunSpec model header chain in `words` (address -> word, pure).

    Returns the data start of model `model_id` as `origin`, or the registers to
    read next. Raises MeterError when the device is not SunSpec, lacks the
    model, or announces it shorter than `min_length`.
    """
    if base not in words or base + 1 not in words:
        return Discovery(origin=None, next_read=(function_code, base, 4))
    if (words[base], words[base + 1]) != SUNSPEC_MARKER:
        raise MeterError(f"no SunSpec marker 'SunS' at register {base}")
    address = base + 2
    for _ in range(_MAX_MODELS):
        if address + 1 > 0xFFFF:
            break
        if address not in words or address + 1 not in words:
            return Discovery(origin=None, next_read=(function_code, address, 2))
        found, length = words[address], words[address + 1]
        if found == SUNSPEC_END_ID:
            raise MeterError(f"SunSpec model {model_id} not found before the end marker")
        if found == model_id:
            if length < min_length:
                raise MeterError(f"SunSpec model {model_id} has length {length} < {min_length}")
            return Discovery(origin=address + 2)
        address += 2 + length
    raise MeterError("SunSpec model header chain runs past the address space or loops")


def available_maps() -> list[str]:
    """Names of the register maps shipped in edge/maps/."""
    folder = resources.files("edge") / "maps"
    return sorted(
        entry.name.removesuffix(".json")
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    )


def load_map(name_or_path: str | os.PathLike[str]) -> RegisterMap:
    """A shipped map by name ("sdm630") or any map file by path.

    Raises ConfigError naming the file and the bad field.
    """
    text_name = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or "/" in text_name or text_name.endswith(".json"):
        path = Path(text_name)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read register map: {exc}") from exc
    else:
        if not _NAME_RE.match(text_name):
            raise ConfigError(f"register map name {text_name!r} is not a valid name")
        resource = resources.files("edge") / "maps" / (text_name + ".json")
        source = text_name + ".json"
        if not resource.is_file():
            known = ", ".join(available_maps())
            raise ConfigError(f"unknown register map {text_name!r} (known: {known})")
        text = resource.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}") from exc
    return parse_map(data, source=source)


def parse_map(data: object, *, source: str = "<map>") -> RegisterMap:
    """A RegisterMap from parsed JSON data. Raises ConfigError naming the bad field."""
    top = _Fields(data, source, "")
    if top.integer("format", 1, 1) != FORMAT_VERSION:
        raise top.error("format", f"unsupported version (expected {FORMAT_VERSION})")
    name = top.text("name")
    if not _NAME_RE.match(name):
        raise top.error("name", "use lowercase letters, digits, '_' and '-'")
    layout = top.text("layout")
    if layout not in _LAYOUTS:
        raise top.error("layout", f"must be one of {', '.join(_LAYOUTS)}")
    function_code = top.integer("function_code", 3, 4)
    sunspec = None
    if layout == "sunspec":
        spec = _Fields(top.get("sunspec"), source, "sunspec.")
        sunspec = SunSpecModel(
            base=spec.integer("base", 0, 0xFFFF),
            model_id=spec.integer("model_id", 1, 0xFFFE),
            model_length=spec.integer("model_length", 0, 0xFFFF),
        )
    raw_points = top.get("points")
    if not isinstance(raw_points, list) or not raw_points:
        raise top.error("points", "must be a non-empty list")
    points = tuple(
        _parse_point(_Fields(raw, source, f"points[{i}]."), layout)
        for i, raw in enumerate(raw_points)
    )
    _check_points(points, sunspec, top)
    quantities = _parse_quantities(top, points)
    return RegisterMap(
        name=name,
        manufacturer=top.text("manufacturer"),
        model=top.text("model"),
        layout=layout,
        function_code=function_code,
        points=points,
        quantities=quantities,
        sunspec=sunspec,
        origin=None if layout == "sunspec" else 0,
    )


class _Fields:
    """Typed access to one JSON object; every error names the field."""

    def __init__(self, data: object, source: str, prefix: str) -> None:
        if not isinstance(data, dict):
            where = prefix.rstrip(".") or "top level"
            raise ConfigError(f"{source}: {where}: must be an object")
        self.data: dict[str, object] = data
        self.source = source
        self.prefix = prefix

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {self.prefix}{key}: {problem}")

    def get(self, key: str) -> object:
        if key not in self.data:
            raise self.error(key, "missing")
        return self.data[key]

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value:
            raise self.error(key, "must be a non-empty string")
        return value

    def optional_text(self, key: str) -> str | None:
        return self.text(key) if key in self.data else None

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.get(key)
        if isinstance(value, str) and value.lower().startswith("0x"):
            try:
                value = int(value, 16)
            except ValueError:
                raise self.error(key, f"bad hexadecimal {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, "must be an integer or a '0x...' string")
        if not low <= value <= high:
            raise self.error(key, f"must be in {low}..{high}")
        return value


def _parse_point(fields: _Fields, layout: str) -> Point:
    kind = fields.text("type")
    if kind not in _WIDTHS:
        raise fields.error("type", f"must be one of {', '.join(sorted(_WIDTHS))}")
    if layout == "flat" and kind == "sunssf":
        raise fields.error("type", "sunssf needs layout 'sunspec'")
    unit = None if kind == "sunssf" else fields.text("unit")
    if unit is not None and unit not in _UNITS:
        raise fields.error("unit", f"must be one of {', '.join(_UNITS)}")
    if kind == "sunssf" and "unit" in fields.data:
        raise fields.error("unit", "a scale factor has no unit")
    scale_factor = fields.optional_text("scale_factor")
    if scale_factor is not None and kind in ("float32", "sunssf"):
        raise fields.error("scale_factor", f"not allowed on type {kind}")
    default = (
        fields.integer("default", -10, 10)
        if kind == "sunssf" and "default" in fields.data
        else None
    )
    return Point(
        name=fields.text("name"),
        address=fields.integer("address", 0, 0xFFFF),
        type=kind,
        unit=unit,
        scale_factor=scale_factor,
        default=default,
    )


def _check_points(points: tuple[Point, ...], sunspec: SunSpecModel | None, top: _Fields) -> None:
    names: dict[str, int] = {}
    used: dict[int, str] = {}
    for i, point in enumerate(points):
        where = f"points[{i}]"
        if point.name in names:
            raise top.error(f"{where}.name", f"duplicate point name {point.name!r}")
        names[point.name] = i
        end = point.address + point.width
        if end > 0x10000:
            raise top.error(f"{where}.address", "point runs past register 65535")
        if sunspec is not None and end > sunspec.model_length:
            raise top.error(f"{where}.address", "point lies beyond sunspec.model_length")
        for address in range(point.address, end):
            if address in used:
                raise top.error(f"{where}.address", f"overlaps point {used[address]!r}")
            used[address] = point.name
    for i, point in enumerate(points):
        if point.scale_factor is None:
            continue
        target = names.get(point.scale_factor)
        if target is None or points[target].type != "sunssf":
            raise top.error(f"points[{i}].scale_factor", "must name a point of type sunssf")


def _parse_quantities(top: _Fields, points: tuple[Point, ...]) -> tuple[tuple[str, str], ...]:
    raw = _Fields(top.get("values"), top.source, "values.")
    by_name = {p.name: p for p in points}
    out = []
    for quantity in raw.data:
        if quantity not in QUANTITIES:
            raise raw.error(quantity, f"unknown quantity (known: {', '.join(QUANTITIES)})")
        point_name = raw.text(quantity)
        point = by_name.get(point_name)
        if point is None:
            raise raw.error(quantity, f"no point named {point_name!r}")
        if point.unit is None or _UNITS[point.unit][0] != QUANTITIES[quantity]:
            raise raw.error(quantity, f"point {point_name!r} is not in {QUANTITIES[quantity]}")
        out.append((quantity, point_name))
    for quantity in REQUIRED_QUANTITIES:
        if quantity not in raw.data:
            raise raw.error(quantity, "missing")
    return tuple(sorted(out))

"""Encoding a meter snapshot into Modbus registers, by the gateway's own map files.

Pure: `layout_for` builds a device's register layout from an
`edge.registermap.RegisterMap` (for SunSpec: the "SunS" marker, a common
model, the meter model and the end marker), and `read_block` answers one read
request from a `MeterSnapshot`. Float32 values go high word first; SunSpec
int16 / acc32 values get the smallest scale factor (from the map's `default`
up) that makes every value sharing it fit.

Simulator extension, not part of any real map: every device serves its own
clock as a uint32 of UTC seconds in holding registers CLOCK_ADDRESS and
CLOCK_ADDRESS + 1 (function code 3), so a gateway in another process can
follow the accelerated simulated time.
"""

import struct
from dataclasses import dataclass
from fractions import Fraction

from device_sim.meter import MeterSnapshot
from edge.registermap import RegisterMap
from edge.registers_sunspec import INT16_NOT_IMPLEMENTED, SUNSPEC_END_ID, SUNSPEC_MARKER

__all__ = [
    "CLOCK_ADDRESS",
    "ILLEGAL_ADDRESS",
    "ILLEGAL_FUNCTION",
    "SUNSPEC_COMMON_LENGTH",
    "DeviceLayout",
    "encode_values",
    "layout_for",
    "read_block",
]

CLOCK_ADDRESS = 0xFF00
SUNSPEC_COMMON_LENGTH = 66
# Modbus exception codes this module answers with.
ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
_FLAT_END = 0x0180  # Eastron input registers end here
_RANGES = {
    "int16": (-0x7FFF, 0x7FFF),  # 0x8000 means "not implemented"
    "uint16": (0, 0xFFFE),
    "acc32": (0, 0xFFFFFFFF),
    "uint32": (0, 0xFFFFFFFF),
}


@dataclass(frozen=True)
class DeviceLayout:
    """Where a simulated device's registers are: the located map, the served
    address range [start, end) and the words that never change."""

    regmap: RegisterMap
    start: int
    end: int
    static: tuple[tuple[int, int], ...]  # (address, word)


def _string_words(text: str, registers: int) -> list[int]:
    raw = text.encode("ascii")[: registers * 2].ljust(registers * 2, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def layout_for(regmap: RegisterMap, *, serial: str = "SIM", unit_id: int = 1) -> DeviceLayout:
    """The register layout of a device speaking `regmap`."""
    if regmap.sunspec is None:
        end = max([_FLAT_END] + [p.address + p.width for p in regmap.points])
        return DeviceLayout(regmap=regmap, start=0, end=end, static=())
    spec = regmap.sunspec
    common = (
        _string_words("GridTokenX", 16)
        + _string_words("SIM-" + str(spec.model_id), 16)
        + _string_words("", 8)  # options
        + _string_words("1.0", 8)  # version
        + _string_words(serial, 16)
        + [unit_id, INT16_NOT_IMPLEMENTED]  # device address, pad
    )
    words = [*SUNSPEC_MARKER, 1, SUNSPEC_COMMON_LENGTH, *common]
    words += [spec.model_id, spec.model_length] + [INT16_NOT_IMPLEMENTED] * spec.model_length
    origin = spec.base + len(words) - spec.model_length
    words += [SUNSPEC_END_ID, 0]
    static = tuple((spec.base + i, w) for i, w in enumerate(words))
    return DeviceLayout(
        regmap=regmap.located(origin), start=spec.base, end=spec.base + len(words), static=static
    )


def _quantity_value(snapshot: MeterSnapshot, quantity: str) -> Fraction:
    value: float = getattr(snapshot, quantity)
    return Fraction(value)


def _round_half_away(x: Fraction) -> int:
    magnitude = int(abs(x) + Fraction(1, 2))
    return -magnitude if x < 0 else magnitude


def encode_values(regmap: RegisterMap, snapshot: MeterSnapshot) -> dict[int, int]:
    """The words of every mapped quantity (and its scale factor) in `snapshot`,
    by absolute address. `regmap` must be located."""
    words: dict[int, int] = {}
    by_sf: dict[str, list[tuple[int, str, Fraction]]] = {}
    for quantity, name in regmap.quantities:
        point = regmap.point(name)
        address = regmap.address_of(point)
        value = _quantity_value(snapshot, quantity) / point.multiplier
        if point.type == "float32":
            high, low = struct.unpack(">HH", struct.pack(">f", float(value)))
            words[address], words[address + 1] = high, low
        else:
            by_sf.setdefault(point.scale_factor or "", []).append((address, point.type, value))
    for sf_name, entries in by_sf.items():
        sf = 0
        if sf_name:
            sf_point = regmap.point(sf_name)
            sf = _fitting_sf(entries, sf_point.default or 0)
            words[regmap.address_of(sf_point)] = sf & 0xFFFF
        for address, kind, value in entries:
            raw = _round_half_away(value / Fraction(10) ** sf)
            if kind in ("acc32", "uint32"):
                words[address], words[address + 1] = raw >> 16, raw & 0xFFFF
            else:
                words[address] = raw & 0xFFFF
    return words


def _fitting_sf(entries: list[tuple[int, str, Fraction]], start: int) -> int:
    for sf in range(start, 11):
        scale = Fraction(10) ** sf
        if all(
            _RANGES[kind][0] <= _round_half_away(value / scale) <= _RANGES[kind][1]
            for _, kind, value in entries
        ):
            return sf
    raise ValueError("value too large for any SunSpec scale factor")


def read_block(
    layout: DeviceLayout, snapshot: MeterSnapshot, function_code: int, address: int, count: int
) -> list[int] | int:
    """The `count` words from `address` a device with `layout` answers while
    showing `snapshot`, or a Modbus exception code."""
    end = address + count
    if function_code == 3 and address >= CLOCK_ADDRESS and end <= CLOCK_ADDRESS + 2:
        clock = snapshot.time_s & 0xFFFFFFFF
        return [clock >> 16, clock & 0xFFFF][address - CLOCK_ADDRESS : end - CLOCK_ADDRESS]
    if function_code != layout.regmap.function_code:
        return ILLEGAL_FUNCTION
    if count < 1 or address < layout.start or end > layout.end:
        return ILLEGAL_ADDRESS
    words = dict(layout.static)
    words.update(encode_values(layout.regmap, snapshot))
    return [words.get(a, 0) for a in range(address, end)]

"""Answering Modbus reads as a simulated device does, from a meter snapshot.

Pure: `layout_for(map_name, serial=..., unit_id=...)` lays out the registers of
the device speaking that map (`device_sim.devices`), and `read_block` answers
one read request from a `MeterSnapshot`, every value derived by
`device_sim.electrical.measure`: the words, or a Modbus exception code.

* Eastron (input registers, function code 4; holding registers, 3): a read
  must start where a published parameter starts and end where one ends, and
  ask for at most 80 registers (40 parameters); otherwise it is refused with
  Illegal Data Address. Registers between parameters inside a read are 0.
  Values are float32, high word first.
* SunSpec (holding registers from 40000): any span of the "SunS" marker, the
  common model (manufacturer, model, serial number, the unit's Modbus
  address), the meter model and the end marker; outside it, Illegal Data
  Address. int16 / acc32 values sharing a scale factor get the smallest one
  (from the model's default up) that makes every one of them fit.
* Any other function code: Illegal Function.

Simulator extension, not part of any real map: every device serves its own
clock as a uint32 of UTC seconds in holding registers CLOCK_ADDRESS and
CLOCK_ADDRESS + 1 (function code 3), so a gateway in another process can
follow the accelerated simulated time.
"""

import struct
from collections.abc import Mapping
from dataclasses import dataclass

from device_sim.devices import (
    SUNSPEC_BASE,
    SUNSPEC_COMMON_LENGTH,
    DeviceModel,
    Register,
    device_model,
    not_implemented,
)
from device_sim.electrical import measure
from device_sim.meter import MeterSnapshot
from edge.registers_sunspec import SUNSPEC_END_ID, SUNSPEC_MARKER

__all__ = [
    "CLOCK_ADDRESS",
    "ILLEGAL_ADDRESS",
    "ILLEGAL_FUNCTION",
    "DeviceLayout",
    "layout_for",
    "read_block",
]

CLOCK_ADDRESS = 0xFF00
# Modbus exception codes this module answers with.
ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
_MODBUS_MAX_READ = 125
_SUNSPEC_COMMON_ID = 1
# The values an implemented SunSpec point may take (the type's "not implemented" excluded).
_RANGES = {
    "int16": (-0x7FFF, 0x7FFF),
    "uint16": (0, 0xFFFE),
    "acc32": (0, 0xFFFF_FFFF),
    "uint32": (0, 0xFFFF_FFFE),
    "bitfield32": (0, 0x7FFF_FFFF),
}


@dataclass(frozen=True)
class _Bank:
    """The registers of one function code: the span served, where a read may
    start and end (None: anywhere), the words that never change and the
    registers encoded from each snapshot, at their absolute addresses."""

    start: int
    end: int
    max_read: int
    bounds: tuple[frozenset[int], frozenset[int]] | None  # (starts, ends)
    static: Mapping[int, int]
    live: tuple[tuple[int, Register], ...]


@dataclass(frozen=True)
class DeviceLayout:
    """Where a simulated device's registers are, by function code."""

    device: DeviceModel
    banks: Mapping[int, _Bank]


def _string_words(text: str, registers: int) -> list[int]:
    raw = text.encode("ascii")[: registers * 2].ljust(registers * 2, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def _float_words(value: float) -> list[int]:
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return [high, low]


def _flat_bank(registers: tuple[Register, ...], max_read: int, static: Mapping[int, int]) -> _Bank:
    return _Bank(
        start=min(r.address for r in registers),
        end=max(r.address + r.width for r in registers),
        max_read=max_read,
        bounds=(
            frozenset(r.address for r in registers),
            frozenset(r.address + r.width for r in registers),
        ),
        static=static,
        live=tuple((r.address, r) for r in registers if r.address not in static),
    )


def _eastron_layout(device: DeviceModel, serial: int, unit_id: int) -> DeviceLayout:
    fixed = {"unit_id": _float_words(float(unit_id)), "serial": [serial >> 16, serial & 0xFFFF]}
    holding: dict[int, int] = {}
    for register in device.holding_registers:
        assert register.quantity is not None
        for i, word in enumerate(fixed[register.quantity]):
            holding[register.address + i] = word
    banks = {
        4: _flat_bank(device.input_registers, device.max_read, {}),
        3: _flat_bank(device.holding_registers, device.max_read, holding),
    }
    return DeviceLayout(device=device, banks=banks)


def _sunspec_layout(device: DeviceModel, serial: int, unit_id: int) -> DeviceLayout:
    assert device.sunspec_model_id is not None
    common = (
        _string_words("GridTokenX", 16)  # Mn
        + _string_words(f"SIM-{device.sunspec_model_id}", 16)  # Md
        + not_implemented("string", 8)  # Opt
        + _string_words("1.0", 8)  # Vr
        + _string_words(str(serial), 16)  # SN
        + [unit_id]  # DA
        + not_implemented("pad")
    )
    words = [*SUNSPEC_MARKER, _SUNSPEC_COMMON_ID, SUNSPEC_COMMON_LENGTH, *common]
    words += [device.sunspec_model_id, device.sunspec_length]
    origin = SUNSPEC_BASE + len(words)
    static = dict(enumerate(words, SUNSPEC_BASE))
    live = []
    for point in device.sunspec_points:
        address = origin + point.address
        # What a point shows until a value (or its group's scale factor) is encoded over it.
        static.update(enumerate(not_implemented(point.type), address))
        if point.quantity is not None or point.type == "sunssf":
            live.append((address, point))
    end = origin + device.sunspec_length
    static.update({end: SUNSPEC_END_ID, end + 1: 0})
    bank = _Bank(
        start=SUNSPEC_BASE,
        end=end + 2,
        max_read=_MODBUS_MAX_READ,
        bounds=None,
        static=static,
        live=tuple(live),
    )
    return DeviceLayout(device=device, banks={3: bank})


def layout_for(device: str | DeviceModel, *, serial: int = 1, unit_id: int = 1) -> DeviceLayout:
    """The register layout of `device` (or of the device speaking that map),
    with serial number `serial` at Modbus address `unit_id`."""
    if not 0 <= serial <= 0xFFFF_FFFE:
        raise ValueError("serial must fit a uint32")
    if isinstance(device, str):
        device = device_model(device)
    if device.sunspec_model_id is not None:
        return _sunspec_layout(device, serial, unit_id)
    return _eastron_layout(device, serial, unit_id)


def _round_half_away(x: float) -> int:
    magnitude = int(abs(x) + 0.5)
    return -magnitude if x < 0 else magnitude


def _fitting_sf(entries: list[tuple[int, Register, float]], start: int) -> int:
    for sf in range(start, 11):
        scale = 10.0**sf
        if all(
            _RANGES[point.type][0] <= _round_half_away(value / scale) <= _RANGES[point.type][1]
            for _, point, value in entries
        ):
            return sf
    raise ValueError("value too large for any SunSpec scale factor")


def _encode(bank: _Bank, values: Mapping[str, float], start: int, end: int) -> dict[int, int]:
    """The words of the live registers of `bank` that [start, end) touches, and
    of every register sharing a scale factor with one of them."""
    words: dict[int, int] = {}
    groups: dict[str, list[tuple[int, Register, float]]] = {}
    sf_registers: dict[str, tuple[int, Register]] = {}
    for address, register in bank.live:
        if register.type == "sunssf":
            sf_registers[register.name] = (address, register)
            continue
        touched = address < end and address + register.width > start
        if register.scale_factor is None and not touched:
            continue
        assert register.quantity is not None
        value = values[register.quantity] / register.divisor
        if register.type == "float32":
            words.update(enumerate(_float_words(value), address))
        else:
            groups.setdefault(register.scale_factor or "", []).append((address, register, value))
    for sf_name, entries in groups.items():
        sf = 0
        if sf_name:
            sf_address, sf_register = sf_registers[sf_name]
            sf = _fitting_sf(entries, sf_register.sf_default)
            words[sf_address] = sf & 0xFFFF
        for address, register, value in entries:
            raw = _round_half_away(value / 10.0**sf) & ((1 << 16 * register.width) - 1)
            for i in range(register.width):
                words[address + i] = (raw >> (16 * (register.width - 1 - i))) & 0xFFFF
    return words


def read_block(
    layout: DeviceLayout, snapshot: MeterSnapshot, function_code: int, address: int, count: int
) -> list[int] | int:
    """The `count` words from `address` a device with `layout` answers while
    showing `snapshot`, or a Modbus exception code."""
    end = address + count
    if function_code == 3 and address >= CLOCK_ADDRESS and end <= CLOCK_ADDRESS + 2:
        clock = snapshot.time_s & 0xFFFFFFFF
        return [clock >> 16, clock & 0xFFFF][address - CLOCK_ADDRESS : end - CLOCK_ADDRESS]
    bank = layout.banks.get(function_code)
    if bank is None:
        return ILLEGAL_FUNCTION
    if not 1 <= count <= bank.max_read or address < bank.start or end > bank.end:
        return ILLEGAL_ADDRESS
    if bank.bounds is not None and (address not in bank.bounds[0] or end not in bank.bounds[1]):
        return ILLEGAL_ADDRESS  # not whole parameters
    words = dict(bank.static)
    if bank.live:
        values = measure(snapshot, phases=layout.device.phases)
        words.update(_encode(bank, values, address, end))
    return [words.get(a, 0) for a in range(address, end)]

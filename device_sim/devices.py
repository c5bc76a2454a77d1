"""The meters the simulator impersonates: their published registers and ratings.

One `DeviceModel` per register map the gateway ships (`edge/maps/`), named
alike. Each lists every register the real device answers, by its published
address and type, and the `device_sim.electrical` quantity it holds, so a
client other than the gateway reads the values it would read from the real
meter; the gateway's maps name a few of these registers, and a test checks
they agree.

* Eastron SDM630 (three-phase, 100 A a phase) and SDM120 (single-phase,
  45 A): the input registers of Eastron's published Modbus maps (function
  code 4), float32 high word first, energy in kWh / kvarh / kVAh; and a few
  holding registers (function code 3): the Modbus address at 0x0014 (a
  float) and the serial number at 0xFC00 (uint32).
* SunSpec model 203 (three-phase wye meter) after the common model (1), from
  register 40000: every point of the model, int16 values with their scale
  factors, acc32 energy counters. A point a device does not implement holds
  SunSpec's "not implemented" value for its type (`not_implemented`).
"""

from dataclasses import dataclass, replace

from edge.registers_sunspec import (
    INT16_NOT_IMPLEMENTED,
    SUNSSF_NOT_IMPLEMENTED,
    UINT16_NOT_IMPLEMENTED,
)

__all__ = [
    "DEVICE_MODELS",
    "SUNSPEC_BASE",
    "SUNSPEC_COMMON_LENGTH",
    "DeviceModel",
    "Register",
    "device_model",
    "not_implemented",
    "type_width",
]

SUNSPEC_BASE = 40000
SUNSPEC_COMMON_LENGTH = 66

# SunSpec types: registers each, and the words of "not implemented".
_WIDTHS = {
    "int16": 1, "uint16": 1, "count": 1, "acc16": 1, "enum16": 1, "bitfield16": 1,
    "pad": 1, "sunssf": 1,
    "int32": 2, "uint32": 2, "acc32": 2, "enum32": 2, "bitfield32": 2, "float32": 2,
    "int64": 4, "uint64": 4, "acc64": 4,
}  # fmt: skip
_NOT_IMPLEMENTED = {
    "int16": INT16_NOT_IMPLEMENTED,
    "uint16": UINT16_NOT_IMPLEMENTED,
    "count": 0,
    "acc16": 0,
    "enum16": 0xFFFF,
    "bitfield16": 0xFFFF,
    "pad": 0x8000,
    "sunssf": SUNSSF_NOT_IMPLEMENTED,
    "int32": 0x8000_0000,
    "uint32": 0xFFFF_FFFF,
    "acc32": 0,
    "enum32": 0xFFFF_FFFF,
    "bitfield32": 0xFFFF_FFFF,
    "float32": 0x7FC0_0000,  # NaN
    "int64": 0x8000_0000_0000_0000,
    "uint64": 0xFFFF_FFFF_FFFF_FFFF,
    "acc64": 0,
}


def type_width(kind: str, length: int = 0) -> int:
    """Registers a value of SunSpec type `kind` occupies (`length` for a string)."""
    return length if kind == "string" else _WIDTHS[kind]


def not_implemented(kind: str, length: int = 0) -> list[int]:
    """The words of SunSpec's "not implemented" for type `kind` (a string: all 0x0000)."""
    if kind == "string":
        return [0] * length
    width = _WIDTHS[kind]
    value = _NOT_IMPLEMENTED[kind]
    return [(value >> (16 * (width - 1 - i))) & 0xFFFF for i in range(width)]


@dataclass(frozen=True)
class Register:
    """One published register (or group of them holding one value)."""

    name: str
    address: int  # absolute (Eastron) or the offset into the SunSpec model
    type: str  # float32, or a SunSpec type
    quantity: str | None  # `device_sim.electrical` name; None: not implemented
    divisor: int = 1  # base unit per register unit: 1000 for kWh
    scale_factor: str | None = None  # SunSpec: the sunssf register scaling this one
    sf_default: int = 0  # a sunssf register: the smallest scale factor it takes

    @property
    def width(self) -> int:
        return type_width(self.type)


@dataclass(frozen=True)
class DeviceModel:
    """A meter model: what it answers and what it is rated for."""

    name: str  # the gateway map it speaks (edge/maps/<name>.json)
    manufacturer: str
    model: str
    phases: int
    max_current_a: float | None  # per phase; None: no limit of its own (CT meters)
    # Eastron: input registers (function code 4) and holding registers (3).
    input_registers: tuple[Register, ...] = ()
    holding_registers: tuple[Register, ...] = ()
    max_read: int = 125  # registers in one request
    # SunSpec: the model after the common model (holding registers from SUNSPEC_BASE).
    sunspec_model_id: int | None = None
    sunspec_points: tuple[Register, ...] = ()
    sunspec_length: int = 0


def _floats(*rows: tuple[int, str, str, int]) -> tuple[Register, ...]:
    return tuple(Register(name, address, "float32", q, d) for address, name, q, d in rows)


_KWH = 1000  # Wh (varh, VAh) in one register unit

_SDM120 = _floats(
    (0x0000, "Voltage", "v1", 1),
    (0x0006, "Current", "i1", 1),
    (0x000C, "Active power", "p", 1),
    (0x0012, "Apparent power", "s", 1),
    (0x0018, "Reactive power", "q", 1),
    (0x001E, "Power factor", "pf", 1),
    (0x0024, "Phase angle", "angle", 1),
    (0x0046, "Frequency", "frequency", 1),
    (0x0048, "Import active energy", "import_wh", _KWH),
    (0x004A, "Export active energy", "export_wh", _KWH),
    (0x004C, "Import reactive energy", "import_varh", _KWH),
    (0x004E, "Export reactive energy", "export_varh", _KWH),
    (0x0054, "Total system power demand", "power_demand", 1),
    (0x0056, "Maximum total system power demand", "max_power_demand", 1),
    (0x0058, "Import system power demand", "import_demand", 1),
    (0x005A, "Maximum import system power demand", "max_import_demand", 1),
    (0x005C, "Export system power demand", "export_demand", 1),
    (0x005E, "Maximum export system power demand", "max_export_demand", 1),
    (0x0102, "Current demand", "current_demand1", 1),
    (0x0108, "Maximum current demand", "max_current_demand1", 1),
    (0x0156, "Total active energy", "total_wh", _KWH),
    (0x0158, "Total reactive energy", "total_varh", _KWH),
)


def _phases(
    start: int, label: str, quantity: str, divisor: int = 1
) -> list[tuple[int, str, str, int]]:
    return [(start + 2 * k, f"{label} L{k + 1}", f"{quantity}{k + 1}", divisor) for k in range(3)]


_SDM630 = _floats(
    *_phases(0x0000, "Line to neutral volts", "v"),
    *_phases(0x0006, "Current", "i"),
    *_phases(0x000C, "Power", "p"),
    *_phases(0x0012, "Volt amps", "s"),
    *_phases(0x0018, "Volt amps reactive", "q"),
    *_phases(0x001E, "Power factor", "pf"),
    *_phases(0x0024, "Phase angle", "angle"),
    (0x002A, "Average line to neutral volts", "v_avg", 1),
    (0x002E, "Average line current", "i_avg", 1),
    (0x0030, "Sum of line currents", "i_sum", 1),
    (0x0034, "Total system power", "p", 1),
    (0x0038, "Total system volt amps", "s", 1),
    (0x003C, "Total system VAr", "q", 1),
    (0x003E, "Total system power factor", "pf", 1),
    (0x0042, "Total system phase angle", "angle", 1),
    (0x0046, "Frequency of supply voltages", "frequency", 1),
    (0x0048, "Total import kWh", "import_wh", _KWH),
    (0x004A, "Total export kWh", "export_wh", _KWH),
    (0x004C, "Total import kVArh", "import_varh", _KWH),
    (0x004E, "Total export kVArh", "export_varh", _KWH),
    (0x0050, "Total VAh", "total_vah", _KWH),
    (0x0054, "Total system power demand", "power_demand", 1),
    (0x0056, "Maximum total system power demand", "max_power_demand", 1),
    (0x0064, "Total system VA demand", "va_demand", 1),
    (0x0066, "Maximum total system VA demand", "max_va_demand", 1),
    (0x0068, "Neutral current demand", "neutral_demand", 1),
    (0x006A, "Maximum neutral current demand", "max_neutral_demand", 1),
    (0x00C8, "Line 1 to line 2 volts", "v12", 1),
    (0x00CA, "Line 2 to line 3 volts", "v23", 1),
    (0x00CC, "Line 3 to line 1 volts", "v31", 1),
    (0x00CE, "Average line to line volts", "v_ll_avg", 1),
    (0x00E0, "Neutral current", "i_n", 1),
    *_phases(0x00EA, "Line to neutral volts THD", "thd_v"),
    *_phases(0x00F0, "Current THD", "thd_i"),
    (0x00F8, "Average line to neutral volts THD", "thd_v_avg", 1),
    (0x00FA, "Average line current THD", "thd_i_avg", 1),
    *_phases(0x0102, "Current demand", "current_demand"),
    *_phases(0x0108, "Maximum current demand", "max_current_demand"),
    (0x014E, "Line 1 to line 2 volts THD", "thd_v12", 1),
    (0x0150, "Line 2 to line 3 volts THD", "thd_v23", 1),
    (0x0152, "Line 3 to line 1 volts THD", "thd_v31", 1),
    (0x0154, "Average line to line volts THD", "thd_v_ll_avg", 1),
    (0x0156, "Total kWh", "total_wh", _KWH),
    (0x0158, "Total kVArh", "total_varh", _KWH),
    *_phases(0x015A, "Import kWh", "import_wh", _KWH),
    *_phases(0x0160, "Export kWh", "export_wh", _KWH),
    *_phases(0x0166, "Total kWh", "total_wh", _KWH),
    *_phases(0x016C, "Import kVArh", "import_varh", _KWH),
    *_phases(0x0172, "Export kVArh", "export_varh", _KWH),
    *_phases(0x0178, "Total kVArh", "total_varh", _KWH),
)

# The holding registers both Eastron models answer here. "unit_id" and "serial"
# are filled in per device by the layout.
_EASTRON_HOLDING = (
    Register("Modbus address", 0x0014, "float32", "unit_id"),
    Register("Serial number", 0xFC00, "uint32", "serial"),
)
# Eastron: "each request for data must be restricted to 40 parameters or less".
_EASTRON_MAX_READ = 80


def _point(
    name: str, kind: str, quantity: str | None = None, sf: str | None = None, default: int = 0
) -> Register:
    return Register(name, 0, kind, quantity, scale_factor=sf, sf_default=default)


def _abc(name: str, kind: str, quantity: str, sf: str, infix: str = "ph") -> list[Register]:
    return [_point(f"{name}{infix}{p}", kind, f"{quantity}{k}", sf) for k, p in enumerate("ABC", 1)]


def _model(*points: Register) -> tuple[Register, ...]:
    """`points` in order, each at the offset where the one before it ends."""
    placed = []
    offset = 0
    for point in points:
        placed.append(replace(point, address=offset))
        offset += point.width
    return tuple(placed)


# Model 203, wye-connect three-phase meter. Its power factors are in percent.
_MODEL_203 = _model(
    _point("A", "int16", "i_sum", "A_SF"),
    *_abc("A", "int16", "i", "A_SF"),
    _point("A_SF", "sunssf", default=-2),
    _point("PhV", "int16", "v_avg", "V_SF"),
    *_abc("PhV", "int16", "v", "V_SF"),
    _point("PPV", "int16", "v_ll_avg", "V_SF"),
    _point("PPVphAB", "int16", "v12", "V_SF"),
    _point("PPVphBC", "int16", "v23", "V_SF"),
    _point("PPVphCA", "int16", "v31", "V_SF"),
    _point("V_SF", "sunssf", default=-1),
    _point("Hz", "int16", "frequency", "Hz_SF"),
    _point("Hz_SF", "sunssf", default=-2),
    _point("W", "int16", "p", "W_SF"),
    *_abc("W", "int16", "p", "W_SF"),
    _point("W_SF", "sunssf"),
    _point("VA", "int16", "s", "VA_SF"),
    *_abc("VA", "int16", "s", "VA_SF"),
    _point("VA_SF", "sunssf"),
    _point("VAR", "int16", "q", "VAR_SF"),
    *_abc("VAR", "int16", "q", "VAR_SF"),
    _point("VAR_SF", "sunssf"),
    _point("PF", "int16", "pf_pct", "PF_SF"),
    *_abc("PF", "int16", "pf_pct", "PF_SF"),
    _point("PF_SF", "sunssf", default=-1),
    _point("TotWhExp", "acc32", "export_wh", "TotWh_SF"),
    *_abc("TotWhExp", "acc32", "export_wh", "TotWh_SF", "Ph"),
    _point("TotWhImp", "acc32", "import_wh", "TotWh_SF"),
    *_abc("TotWhImp", "acc32", "import_wh", "TotWh_SF", "Ph"),
    _point("TotWh_SF", "sunssf"),
    _point("TotVAhExp", "acc32", "export_vah", "TotVAh_SF"),
    *_abc("TotVAhExp", "acc32", "export_vah", "TotVAh_SF", "Ph"),
    _point("TotVAhImp", "acc32", "import_vah", "TotVAh_SF"),
    *_abc("TotVAhImp", "acc32", "import_vah", "TotVAh_SF", "Ph"),
    _point("TotVAh_SF", "sunssf"),
    # Reactive energy by quadrant: importing is quadrant 1 here, exporting 3.
    _point("TotVArhImpQ1", "acc32", "import_varh", "TotVArh_SF"),
    *_abc("TotVArhImpQ1", "acc32", "import_varh", "TotVArh_SF", "Ph"),
    _point("TotVArhImpQ2", "acc32", "zero", "TotVArh_SF"),
    *_abc("TotVArhImpQ2", "acc32", "zero", "TotVArh_SF", "Ph"),
    _point("TotVArhExpQ3", "acc32", "export_varh", "TotVArh_SF"),
    *_abc("TotVArhExpQ3", "acc32", "export_varh", "TotVArh_SF", "Ph"),
    _point("TotVArhExpQ4", "acc32", "zero", "TotVArh_SF"),
    *_abc("TotVArhExpQ4", "acc32", "zero", "TotVArh_SF", "Ph"),
    _point("TotVArh_SF", "sunssf"),
    _point("Evt", "bitfield32", "zero"),  # no events
)

DEVICE_MODELS = {
    model.name: model
    for model in (
        DeviceModel(
            name="sdm630",
            manufacturer="Eastron",
            model="SDM630 three-phase meter",
            phases=3,
            max_current_a=100.0,
            input_registers=_SDM630,
            holding_registers=_EASTRON_HOLDING,
            max_read=_EASTRON_MAX_READ,
        ),
        DeviceModel(
            name="sdm120",
            manufacturer="Eastron",
            model="SDM120 single-phase meter",
            phases=1,
            max_current_a=45.0,
            input_registers=_SDM120,
            holding_registers=_EASTRON_HOLDING,
            max_read=_EASTRON_MAX_READ,
        ),
        DeviceModel(
            name="sunspec203",
            manufacturer="SunSpec",
            model="SunSpec model 203 three-phase wye meter",
            phases=3,
            max_current_a=None,
            sunspec_model_id=203,
            sunspec_points=_MODEL_203,
            sunspec_length=105,
        ),
    )
}


def device_model(name: str) -> DeviceModel:
    """The simulated device speaking map `name`; ValueError if there is none."""
    try:
        return DEVICE_MODELS[name]
    except KeyError:
        known = ", ".join(sorted(DEVICE_MODELS))
        raise ValueError(f"no simulated device for map {name!r} (known: {known})") from None

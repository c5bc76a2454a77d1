"""Published register addresses of the meters the simulator impersonates, and
the physics a reader can check between them.

Stated here from the manufacturers' maps, independently of `device_sim`, so a
test reading the simulator at these addresses checks its tables too. Eastron
addresses are 0-based (PDU) input registers, each a float32 in two registers.
"""

import cmath
import math
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "SDM120",
    "SDM120_BLOCKS",
    "SDM630",
    "SDM630_BLOCKS",
    "Published",
    "check_sdm120",
    "check_sdm630",
    "close",
]


@dataclass(frozen=True)
class Published:
    """A meter's published addresses: one per quantity, or one per phase."""

    one: Mapping[str, int]
    each: Mapping[str, tuple[int, ...]]


SDM630 = Published(
    each={
        "v": (0x00, 0x02, 0x04),
        "i": (0x06, 0x08, 0x0A),
        "p": (0x0C, 0x0E, 0x10),
        "s": (0x12, 0x14, 0x16),
        "q": (0x18, 0x1A, 0x1C),
        "pf": (0x1E, 0x20, 0x22),
        "angle": (0x24, 0x26, 0x28),
        "v_ll": (0xC8, 0xCA, 0xCC),
        "thd_v": (0xEA, 0xEC, 0xEE),
        "thd_i": (0xF0, 0xF2, 0xF4),
        "current_demand": (0x102, 0x104, 0x106),
        "max_current_demand": (0x108, 0x10A, 0x10C),
        "thd_v_ll": (0x14E, 0x150, 0x152),
        "import_kwh_l": (0x15A, 0x15C, 0x15E),
        "export_kwh_l": (0x160, 0x162, 0x164),
        "total_kwh_l": (0x166, 0x168, 0x16A),
        "import_kvarh_l": (0x16C, 0x16E, 0x170),
        "export_kvarh_l": (0x172, 0x174, 0x176),
        "total_kvarh_l": (0x178, 0x17A, 0x17C),
    },
    one={
        "v_avg": 0x2A,
        "i_avg": 0x2E,
        "i_sum": 0x30,
        "p_total": 0x34,
        "s_total": 0x38,
        "q_total": 0x3C,
        "pf_total": 0x3E,
        "angle_total": 0x42,
        "hz": 0x46,
        "import_kwh": 0x48,
        "export_kwh": 0x4A,
        "import_kvarh": 0x4C,
        "export_kvarh": 0x4E,
        "kvah": 0x50,
        "power_demand": 0x54,
        "max_power_demand": 0x56,
        "va_demand": 0x64,
        "max_va_demand": 0x66,
        "neutral_demand": 0x68,
        "max_neutral_demand": 0x6A,
        "v_ll_avg": 0xCE,
        "i_n": 0xE0,
        "thd_v_avg": 0xF8,
        "thd_i_avg": 0xFA,
        "thd_v_ll_avg": 0x154,
        "total_kwh": 0x156,
        "total_kvarh": 0x158,
    },
)
# Reads covering all of them, each starting and ending on a parameter, <= 80 registers.
SDM630_BLOCKS = ((0x00, 80), (0x50, 28), (0xC8, 70), (0x14E, 48))

SDM120 = Published(
    each={
        "v": (0x00,),
        "i": (0x06,),
        "p": (0x0C,),
        "s": (0x12,),
        "q": (0x18,),
        "pf": (0x1E,),
        "angle": (0x24,),
        "current_demand": (0x102,),
        "max_current_demand": (0x108,),
    },
    one={
        "hz": 0x46,
        "import_kwh": 0x48,
        "export_kwh": 0x4A,
        "import_kvarh": 0x4C,
        "export_kvarh": 0x4E,
        "power_demand": 0x54,
        "max_power_demand": 0x56,
        "import_demand": 0x58,
        "max_import_demand": 0x5A,
        "export_demand": 0x5C,
        "max_export_demand": 0x5E,
        "total_kwh": 0x156,
        "total_kvarh": 0x158,
    },
)
SDM120_BLOCKS = ((0x00, 80), (0x54, 12), (0x102, 8), (0x156, 4))

# Relative tolerance: float32 carries ~7 digits, mbpoll prints 6.
_REL = 1e-4
_ABS = 1e-3


def close(a: float, b: float, *, rel: float = _REL, abs_tol: float = _ABS) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)


class _Reading:
    """Values read (address -> value), looked up by published name."""

    def __init__(self, values: Mapping[int, float], table: Published) -> None:
        self._values = values
        self._table = table

    def one(self, name: str) -> float:
        return self._values[self._table.one[name]]

    def each(self, name: str) -> list[float]:
        return [self._values[a] for a in self._table.each[name]]


def _phase_checks(read: _Reading, k: int, max_current_a: float) -> None:
    v, i, p, s, q, pf, angle = (read.each(n)[k] for n in ("v", "i", "p", "s", "q", "pf", "angle"))
    where = f"phase {k + 1}: V={v} I={i} P={p} S={s} Q={q} PF={pf} angle={angle}"
    assert 200 < v < 260, where
    assert 0 <= i <= max_current_a, where  # within the device's rating
    assert close(p, v * i * pf, abs_tol=0.05), where
    assert close(s, v * i, abs_tol=0.05), where
    assert close(s, math.hypot(p, q), abs_tol=0.05), where
    assert -1 <= pf <= 1, where
    assert p * pf >= 0, where  # the sign of the power factor is the direction
    if s > 1:
        assert close(math.cos(math.radians(angle)), pf, abs_tol=1e-4), where


def _check_common(read: _Reading) -> None:
    assert 45 < read.one("hz") < 65
    imp, exp = read.one("import_kwh"), read.one("export_kwh")
    imp_var, exp_var = read.one("import_kvarh"), read.one("export_kvarh")
    assert min(imp, exp, imp_var, exp_var) >= 0
    assert close(read.one("total_kwh"), imp + exp)
    assert close(read.one("total_kvarh"), imp_var + exp_var)
    p, q = sum(read.each("p")), sum(read.each("q"))
    if imp + exp > 0 and abs(p) > 1:
        # Reactive energy follows active energy at the power's tan(phi).
        assert close(imp_var + exp_var, (imp + exp) * abs(q / p), rel=1e-3)
    assert read.one("max_power_demand") >= read.one("power_demand") - _ABS
    maxima, now = read.each("max_current_demand"), read.each("current_demand")
    assert all(m >= c - _ABS for m, c in zip(maxima, now, strict=True))


def check_sdm630(values: Mapping[int, float], *, max_current_a: float = 100.0) -> None:
    """Assert the physics between every published SDM630 value (address -> value)."""
    read = _Reading(values, SDM630)
    for k in range(3):
        _phase_checks(read, k, max_current_a)
    _check_common(read)
    one, each = read.one, read.each
    v, i = each("v"), each("i")
    assert close(one("p_total"), sum(each("p")), abs_tol=0.05)
    assert close(one("q_total"), sum(each("q")), abs_tol=0.05)
    assert close(one("s_total"), sum(each("s")), abs_tol=0.05)
    assert close(one("s_total"), math.hypot(one("p_total"), one("q_total")), abs_tol=0.05)
    if one("s_total") > 1:
        assert close(one("pf_total"), one("p_total") / one("s_total"))
        assert close(math.cos(math.radians(one("angle_total"))), one("pf_total"), abs_tol=1e-4)
    assert close(one("v_avg"), sum(v) / 3)
    assert close(one("i_sum"), sum(i), abs_tol=0.01)
    assert close(one("i_avg"), sum(i) / 3, abs_tol=0.01)
    for (a, b), v_ll in zip(((0, 1), (1, 2), (2, 0)), each("v_ll"), strict=True):
        # Phase voltages 120 degrees apart.
        assert close(v_ll, math.sqrt(v[a] ** 2 + v[b] ** 2 + v[a] * v[b])), (a, b, v_ll)
    assert close(one("v_ll_avg"), sum(each("v_ll")) / 3)
    # The neutral current: the phasor sum of the phase currents, each lagging
    # its voltage (0, -120, +120 degrees) by the phase angle.
    phasors = [
        cmath.rect(current, math.radians(base - angle))
        for current, base, angle in zip(i, (0, -120, 120), each("angle"), strict=True)
    ]
    assert close(one("i_n"), abs(sum(phasors)), abs_tol=0.01)
    for name in ("import_kwh", "export_kwh", "total_kwh", "import_kvarh", "export_kvarh"):
        assert close(sum(each(name + "_l")), one(name), abs_tol=0.01), name
    assert close(sum(each("total_kvarh_l")), one("total_kvarh"), abs_tol=0.01)
    assert close(one("kvah"), math.hypot(one("total_kwh"), one("total_kvarh")), rel=1e-3)
    assert one("max_va_demand") >= one("va_demand") - _ABS
    assert one("max_neutral_demand") >= one("neutral_demand") - _ABS
    for name in ("thd_v", "thd_i", "thd_v_ll"):
        assert all(0 <= x < 100 for x in each(name)), name
    assert close(one("thd_v_avg"), sum(each("thd_v")) / 3)
    assert close(one("thd_i_avg"), sum(each("thd_i")) / 3)


def check_sdm120(values: Mapping[int, float], *, max_current_a: float = 45.0) -> None:
    """Assert the physics between every published SDM120 value (address -> value)."""
    read = _Reading(values, SDM120)
    _phase_checks(read, 0, max_current_a)
    _check_common(read)
    imp, exp = read.one("import_demand"), read.one("export_demand")
    assert min(imp, exp) >= 0
    assert close(read.one("power_demand"), imp - exp, abs_tol=0.05)  # net demand
    assert read.one("max_import_demand") >= imp - _ABS
    assert read.one("max_export_demand") >= exp - _ABS

"""Every electrical quantity a meter's registers hold, derived from one snapshot.

Pure: `measure(snapshot, phases=3)` gives a dict of quantity name -> value in
base units (V, A, W, VA, var, Wh, varh, VAh, Hz, degrees, percent; power
factors as fractions, and in percent as `pf_pct` for SunSpec). A name ending
in 1, 2 or 3 is that phase's; `zero` is a point that is implemented and 0.
The relations a third-party client can check hold by construction, on every
phase and in total:

    P = V * I * PF        S = V * I        S**2 = P**2 + Q**2
    Q = P * tan(phi)      angle = atan2(Q, P) in degrees, so cos(angle) = PF
    totals are the sums of the phases (power, energy); averages their means

The power factor carries the direction of the current, as on Eastron
meters: positive importing, negative exporting. Every phase has the same
angle between current and voltage, the voltages stand 120 degrees apart,
and the neutral current is the phasor sum of the phase currents. Reactive
energy is active energy times tan(phi), imported while importing and
exported while exporting; apparent energy is active energy over the power
factor.

A single-phase meter (`phases=1`) has only the phase-1 quantities and the
totals, which equal them. Demand quantities convert power to current at the
nominal voltage (`NOMINAL_VOLTAGE_V`). Line-to-line voltage THD is the mean
of the two phases' THD: a simulator's stand-in, consistent with nothing else.
"""

import cmath
import math

from device_sim.meter import MeterSnapshot

__all__ = ["NOMINAL_VOLTAGE_V", "QUANTITY_NAMES", "measure"]

NOMINAL_VOLTAGE_V = 230.0
_PHASE_ANGLES = (0.0, -2 * math.pi / 3, 2 * math.pi / 3)  # of the voltages, L1 L2 L3
_LINES = ((0, 1, "12"), (1, 2, "23"), (2, 0, "31"))

_PER_PHASE = (
    "v", "i", "p", "q", "s", "pf", "pf_pct", "angle", "thd_v", "thd_i",
    "import_wh", "export_wh", "total_wh", "import_varh", "export_varh", "total_varh",
    "import_vah", "export_vah", "current_demand", "max_current_demand", "zero",
)  # fmt: skip
_TOTALS = (
    "p", "q", "s", "pf", "pf_pct", "angle", "frequency", "v_avg", "i_avg", "i_sum",
    "import_wh", "export_wh", "total_wh", "import_varh", "export_varh", "total_varh",
    "import_vah", "export_vah", "total_vah", "thd_v_avg", "thd_i_avg", "zero",
    "power_demand", "max_power_demand", "import_demand", "max_import_demand",
    "export_demand", "max_export_demand", "va_demand", "max_va_demand",
)  # fmt: skip
_THREE_PHASE = (
    "v12", "v23", "v31", "v_ll_avg", "thd_v12", "thd_v23", "thd_v31", "thd_v_ll_avg",
    "i_n", "neutral_demand", "max_neutral_demand",
)  # fmt: skip
QUANTITY_NAMES = frozenset(
    [f"{name}{k}" for name in _PER_PHASE for k in (1, 2, 3)] + list(_TOTALS) + list(_THREE_PHASE)
)


def _angle_deg(q: float, p: float) -> float:
    return math.degrees(math.atan2(q, p)) if p or q else 0.0


def _phase(
    out: dict[str, float], snapshot: MeterSnapshot, k: int, share: float, volts: float
) -> complex:
    """Phase `k`'s quantities into `out`; its current as a phasor."""
    cos_phi = snapshot.power_factor
    tan_phi = math.sqrt(1.0 - cos_phi * cos_phi) / cos_phi
    imp, exp = snapshot.import_wh * share, snapshot.export_wh * share
    n = str(k + 1)
    p = snapshot.power_w * share
    q = p * tan_phi
    s = abs(p) / cos_phi
    pf = p / s if s else 1.0
    per_amp = share / (NOMINAL_VOLTAGE_V * cos_phi)  # demand W -> A at the nominal voltage
    values = {
        "v": volts,
        "i": s / volts,
        "p": p,
        "q": q,
        "s": s,
        "pf": pf,
        "pf_pct": 100 * pf,
        "angle": _angle_deg(q, p),
        "thd_v": snapshot.voltage_thd_pct[k],
        "thd_i": snapshot.current_thd_pct[k],
        "import_wh": imp,
        "export_wh": exp,
        "total_wh": imp + exp,
        "import_varh": imp * tan_phi,
        "export_varh": exp * tan_phi,
        "total_varh": (imp + exp) * tan_phi,
        "import_vah": imp / cos_phi,
        "export_vah": exp / cos_phi,
        "current_demand": snapshot.demand.gross_w * per_amp,
        "max_current_demand": snapshot.demand.max_gross_w * per_amp,
        "zero": 0.0,
    }
    out.update((name + n, value) for name, value in values.items())
    return cmath.rect(s / volts, _PHASE_ANGLES[k] - math.atan2(q, p))


def _totals(out: dict[str, float], snapshot: MeterSnapshot, phases: int) -> None:
    cos_phi = snapshot.power_factor
    tan_phi = math.sqrt(1.0 - cos_phi * cos_phi) / cos_phi
    power = float(snapshot.power_w)
    imp, exp = float(snapshot.import_wh), float(snapshot.export_wh)
    demand = snapshot.demand
    q = power * tan_phi
    s = abs(power) / cos_phi
    pf = power / s if s else 1.0
    i_sum = sum(out[f"i{k}"] for k in range(1, phases + 1))
    out.update(
        p=power,
        q=q,
        s=s,
        pf=pf,
        pf_pct=100 * pf,
        angle=_angle_deg(q, power),
        frequency=snapshot.frequency_hz,
        v_avg=sum(snapshot.voltages_v[:phases]) / phases,
        i_sum=i_sum,
        i_avg=i_sum / phases,
        import_wh=imp,
        export_wh=exp,
        total_wh=imp + exp,
        import_varh=imp * tan_phi,
        export_varh=exp * tan_phi,
        total_varh=(imp + exp) * tan_phi,
        import_vah=imp / cos_phi,
        export_vah=exp / cos_phi,
        total_vah=(imp + exp) / cos_phi,
        thd_v_avg=sum(snapshot.voltage_thd_pct[:phases]) / phases,
        thd_i_avg=sum(snapshot.current_thd_pct[:phases]) / phases,
        zero=0.0,
        power_demand=demand.net_w,
        max_power_demand=demand.max_net_w,
        import_demand=demand.import_w,
        max_import_demand=demand.max_import_w,
        export_demand=demand.export_w,
        max_export_demand=demand.max_export_w,
        va_demand=demand.gross_w / cos_phi,
        max_va_demand=demand.max_gross_w / cos_phi,
    )


def _between_phases(
    out: dict[str, float], snapshot: MeterSnapshot, currents: list[complex]
) -> None:
    voltages, thd = snapshot.voltages_v, snapshot.voltage_thd_pct
    for a, b, name in _LINES:
        va, vb = voltages[a], voltages[b]
        out["v" + name] = math.sqrt(va * va + vb * vb + va * vb)  # |Va - Vb|, 120 degrees apart
        out["thd_v" + name] = (thd[a] + thd[b]) / 2
    out["v_ll_avg"] = (out["v12"] + out["v23"] + out["v31"]) / 3
    out["thd_v_ll_avg"] = (out["thd_v12"] + out["thd_v23"] + out["thd_v31"]) / 3
    out["i_n"] = abs(sum(currents))
    # The neutral current per watt of demand, at the nominal voltage.
    per_watt = abs(
        sum(
            cmath.rect(share / (NOMINAL_VOLTAGE_V * snapshot.power_factor), angle)
            for share, angle in zip(snapshot.phase_shares, _PHASE_ANGLES, strict=True)
        )
    )
    out["neutral_demand"] = snapshot.demand.gross_w * per_watt
    out["max_neutral_demand"] = snapshot.demand.max_gross_w * per_watt


def measure(snapshot: MeterSnapshot, *, phases: int = 3) -> dict[str, float]:
    """The quantities of a `phases`-phase meter (1 or 3) showing `snapshot`."""
    if phases not in (1, 3):
        raise ValueError("a meter has 1 or 3 phases")
    shares = (1.0,) if phases == 1 else snapshot.phase_shares
    out: dict[str, float] = {}
    currents = [
        _phase(out, snapshot, k, share, volts)
        for k, (share, volts) in enumerate(zip(shares, snapshot.voltages_v, strict=False))
    ]
    _totals(out, snapshot, phases)
    if phases == 3:
        _between_phases(out, snapshot, currents)
    return out

"""A simulated AMI meter: cumulative import / export counters driven by a power profile.

Net power (load minus PV, positive = importing) is constant over each profile
step (`step_s`), so the counters are its exact integral: energy is kept in
integer watt-milliseconds and reported in whole Wh, rounded down, so the
counters only ever increase. `integrate` is the pure core; `SimulatedMeter`
is the small stateful shell that remembers how far it has integrated and
holds the meter-side faults (replacement, stuck counters, clock drift).

Besides the counters a meter shows what the electrical quantities of its
registers are derived from (`device_sim.electrical`): a voltage per phase
(228..232 V, changing every 10 s), one displacement power factor (0.93..0.99,
fixed per meter, lagging when importing), how its power splits over three
phases (each phase weighing 1 +- 8 %, normalised), harmonic distortion figures, and
the demand: mean power over a sliding 60-minute window updated each whole
minute (Eastron's default demand period), with its maxima since the meter
started or was replaced.
"""

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from device_sim.profiles import LOAD_KINDS, load_power_w, pv_power_w, unit_noise

__all__ = [
    "DEMAND_PERIOD_MS",
    "MAX_PHASE_SHARE",
    "METER_KINDS",
    "MIN_POWER_FACTOR",
    "MIN_VOLTAGE_V",
    "NO_DEMAND",
    "Demand",
    "MeterSnapshot",
    "NetPowerProfile",
    "SimulatedMeter",
    "integrate",
]

METER_KINDS = ("fixed", "constant", "consumer", "producer", "prosumer")
WMS_PER_WH = 3_600_000  # watt-milliseconds in one watt-hour
DEMAND_PERIOD_MS = 3_600_000  # the demand window: 60 minutes ...
_DEMAND_STEP_MS = 60_000  # ... sliding by whole minutes
_DEMAND_STEPS = DEMAND_PERIOD_MS // _DEMAND_STEP_MS
# The ranges of what `SimulatedMeter` shows; device ratings are checked against them.
MIN_VOLTAGE_V = 228.0
_VOLTAGE_SPREAD_V = 4.0
MIN_POWER_FACTOR = 0.93
_POWER_FACTOR_SPREAD = 0.06
_SHARE_SPREAD = 0.08  # each phase weighs 1 +- 8 % before the weights are normalised
MAX_PHASE_SHARE = (1 + _SHARE_SPREAD) / (3 - _SHARE_SPREAD)


@dataclass(frozen=True)
class NetPowerProfile:
    """Net power at the meter over time: load minus PV, plus a constant, in W."""

    pv_peak_w: int = 0
    load_kind: str | None = None
    load_peak_w: int = 0
    constant_w: int = 0
    seed: int = 0
    utc_offset_s: int = 0
    step_s: int = 60

    def __post_init__(self) -> None:
        if self.step_s < 1:
            raise ValueError("step_s must be at least 1")
        if self.pv_peak_w < 0 or self.load_peak_w < 0:
            raise ValueError("peak powers must not be negative")
        if self.load_kind is not None and self.load_kind not in LOAD_KINDS:
            raise ValueError(f"unknown load kind {self.load_kind!r}")

    def power_w(self, t_ms: int) -> int:
        """Net power during the step holding `t_ms` (evaluated at the step start)."""
        step_ms = self.step_s * 1000
        start = t_ms - t_ms % step_ms
        power = self.constant_w
        if self.pv_peak_w:
            power -= pv_power_w(
                start, peak_w=self.pv_peak_w, seed=self.seed, utc_offset_s=self.utc_offset_s
            )
        if self.load_kind is not None:
            power += load_power_w(
                start,
                kind=self.load_kind,
                peak_w=self.load_peak_w,
                seed=self.seed,
                utc_offset_s=self.utc_offset_s,
            )
        return power

    @property
    def rated_power_w(self) -> int:
        """An upper bound of |net power|, as a meter's rating would be."""
        return abs(self.constant_w) + self.pv_peak_w + (self.load_peak_w * 3) // 2


def integrate(profile: NetPowerProfile, start_ms: int, end_ms: int) -> tuple[int, int]:
    """(imported, exported) energy in watt-milliseconds from `start_ms` to `end_ms`."""
    if end_ms < start_ms:
        raise ValueError("end_ms before start_ms")
    step_ms = profile.step_s * 1000
    imported = exported = 0
    t = start_ms
    while t < end_ms:
        boundary = min(end_ms, t - t % step_ms + step_ms)
        energy = profile.power_w(t) * (boundary - t)
        if energy > 0:
            imported += energy
        else:
            exported -= energy
        t = boundary
    return imported, exported


@dataclass(frozen=True)
class Demand:
    """Mean power over the last demand period (60 minutes ending at the last whole
    minute), import and export apart (both >= 0, in W), and the largest such
    means since the meter started or was replaced."""

    import_w: float
    export_w: float
    max_import_w: float
    max_export_w: float
    max_net_w: float  # the largest import - export
    max_gross_w: float  # the largest import + export (the mean of |power|)

    @property
    def net_w(self) -> float:
        """Import minus export: Eastron's "total system power demand"."""
        return self.import_w - self.export_w

    @property
    def gross_w(self) -> float:
        """The mean of |power| over the period."""
        return self.import_w + self.export_w


NO_DEMAND = Demand(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class MeterSnapshot:
    """What a meter shows at one instant; the simulated devices derive every
    register from this (`device_sim.electrical`)."""

    time_s: int  # the meter's own clock (UTC seconds, including any drift)
    import_wh: int
    export_wh: int
    power_w: int  # positive = importing
    voltage_v: float  # phase 1 (the only phase of a single-phase meter)
    frequency_hz: float
    # Phases 2 and 3 of a three-phase meter; None: the same as phase 1.
    other_voltages_v: tuple[float, float] | None = None
    power_factor: float = 1.0  # |cos phi|, the same on every phase
    phase_shares: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)  # of a three-phase meter
    voltage_thd_pct: tuple[float, float, float] = (0.0, 0.0, 0.0)
    current_thd_pct: tuple[float, float, float] = (0.0, 0.0, 0.0)
    demand: Demand = NO_DEMAND

    def __post_init__(self) -> None:
        if not 0.0 < self.power_factor <= 1.0:
            raise ValueError("power_factor must be in (0, 1]")
        if min(self.phase_shares) < 0 or not math.isclose(sum(self.phase_shares), 1.0):
            raise ValueError("phase_shares must be non-negative and sum to 1")

    @property
    def voltages_v(self) -> tuple[float, float, float]:
        """The three phase-to-neutral voltages, phase 1 first."""
        if self.other_voltages_v is None:
            return self.voltage_v, self.voltage_v, self.voltage_v
        return self.voltage_v, *self.other_voltages_v


def _per_phase(value: Callable[[int], float]) -> tuple[float, float, float]:
    return value(0), value(1), value(2)


class _DemandWindow:
    """Energy in watt-milliseconds over the last DEMAND_PERIOD_MS, minute by minute,
    and the largest window means seen since it was made."""

    def __init__(self, profile: NetPowerProfile, minute: int) -> None:
        self._profile = profile
        self._minute = minute  # the window covers minutes [minute - 60, minute)
        self._steps: deque[tuple[int, int]] = deque(
            self._energy(m) for m in range(minute - _DEMAND_STEPS, minute)
        )
        self._import = sum(imported for imported, _ in self._steps)
        self._export = sum(exported for _, exported in self._steps)
        self._max = (
            self._import,
            self._export,
            self._import - self._export,
            self._import + self._export,
        )

    def _energy(self, minute: int) -> tuple[int, int]:
        start = minute * _DEMAND_STEP_MS
        return integrate(self._profile, start, start + _DEMAND_STEP_MS)

    def advance(self, minute: int) -> list[tuple[int, int]]:
        """Slide the window to end at `minute`, through every minute in between;
        the (import, export) energy of each minute it passed, in order."""
        passed = []
        max_imp, max_exp, max_net, max_gross = self._max
        while self._minute < minute:
            imported, exported = self._energy(self._minute)
            passed.append((imported, exported))
            gone_imp, gone_exp = self._steps.popleft()
            self._steps.append((imported, exported))
            self._import += imported - gone_imp
            self._export += exported - gone_exp
            self._minute += 1
            max_imp = max(max_imp, self._import)
            max_exp = max(max_exp, self._export)
            max_net = max(max_net, self._import - self._export)
            max_gross = max(max_gross, self._import + self._export)
        self._max = (max_imp, max_exp, max_net, max_gross)
        return passed

    def demand(self) -> Demand:
        """The window's means in W."""
        max_imp, max_exp, max_net, max_gross = self._max
        period = DEMAND_PERIOD_MS
        return Demand(
            import_w=self._import / period,
            export_w=self._export / period,
            max_import_w=max_imp / period,
            max_export_w=max_exp / period,
            max_net_w=max_net / period,
            max_gross_w=max_gross / period,
        )


class SimulatedMeter:
    """One meter. Counters start at the given bases at the first instant it is read
    (or `start_ms`) and integrate the profile from there."""

    def __init__(
        self,
        profile: NetPowerProfile,
        *,
        kind: str,
        import_wh: int = 0,
        export_wh: int = 0,
        start_ms: int | None = None,
        frozen: bool = False,
    ) -> None:
        if kind not in METER_KINDS:
            raise ValueError(f"unknown meter kind {kind!r}")
        if import_wh < 0 or export_wh < 0:
            raise ValueError("counters must not be negative")
        self.profile = profile
        self.kind = kind
        self._frozen = frozen  # counters never move (fixed test meters)
        self._anchor_ms = start_ms
        self._import_wms = import_wh * WMS_PER_WH
        self._export_wms = export_wh * WMS_PER_WH
        self._stuck: tuple[int, int] | None = None
        self._clock_offset_s = 0
        self._demand: _DemandWindow | None = None
        seed = profile.seed
        self.power_factor = round(MIN_POWER_FACTOR + _POWER_FACTOR_SPREAD * unit_noise(seed, 20), 3)
        w1, w2, w3 = _per_phase(lambda k: 1 + _SHARE_SPREAD * (2 * unit_noise(seed, 21, k) - 1))
        total = w1 + w2 + w3
        self.phase_shares = (w1 / total, w2 / total, w3 / total)
        self._voltage_thd = _per_phase(lambda k: round(1.0 + 2.0 * unit_noise(seed, 22, k), 2))
        self._current_thd = _per_phase(lambda k: round(3.0 + 9.0 * unit_noise(seed, 23, k), 2))

    @classmethod
    def fixed(cls, *, import_wh: int, export_wh: int, power_w: int = 0) -> "SimulatedMeter":
        """A meter that always shows the same counters and power (for tests)."""
        profile = NetPowerProfile(constant_w=power_w)
        return cls(profile, kind="fixed", import_wh=import_wh, export_wh=export_wh, frozen=True)

    @classmethod
    def constant_power(
        cls, power_w: int, *, import_wh: int = 0, export_wh: int = 0
    ) -> "SimulatedMeter":
        """Constant net power, integrated into the counters."""
        profile = NetPowerProfile(constant_w=power_w)
        return cls(profile, kind="constant", import_wh=import_wh, export_wh=export_wh)

    @classmethod
    def consumer(
        cls,
        *,
        load: str = "campus",
        peak_load_w: int = 20_000,
        seed: int = 0,
        utc_offset_s: int = 0,
        import_wh: int = 0,
    ) -> "SimulatedMeter":
        """A building that only consumes."""
        profile = NetPowerProfile(
            load_kind=load, load_peak_w=peak_load_w, seed=seed, utc_offset_s=utc_offset_s
        )
        return cls(profile, kind="consumer", import_wh=import_wh)

    @classmethod
    def producer(
        cls, *, pv_kwp: float, seed: int = 0, utc_offset_s: int = 0, export_wh: int = 0
    ) -> "SimulatedMeter":
        """A PV array metered on its own."""
        profile = NetPowerProfile(
            pv_peak_w=round(pv_kwp * 1000), seed=seed, utc_offset_s=utc_offset_s
        )
        return cls(profile, kind="producer", export_wh=export_wh)

    @classmethod
    def prosumer(
        cls,
        *,
        pv_kwp: float,
        load: str = "campus",
        peak_load_w: int = 20_000,
        seed: int = 0,
        utc_offset_s: int = 0,
        import_wh: int = 0,
        export_wh: int = 0,
    ) -> "SimulatedMeter":
        """PV behind the meter with a load: the net flow goes to import or export."""
        profile = NetPowerProfile(
            pv_peak_w=round(pv_kwp * 1000),
            load_kind=load,
            load_peak_w=peak_load_w,
            seed=seed,
            utc_offset_s=utc_offset_s,
        )
        return cls(profile, kind="prosumer", import_wh=import_wh, export_wh=export_wh)

    @property
    def rated_power_w(self) -> int:
        """An upper bound of |power| this meter will show."""
        return self.profile.rated_power_w

    def snapshot(self, t_ms: int) -> MeterSnapshot:
        """The meter's display at simulated time `t_ms`. Times before the last one
        read show the last one's counters: a meter never runs backwards."""
        self._advance(t_ms)
        if self._stuck is not None:
            import_wh, export_wh = self._stuck
        else:
            import_wh, export_wh = self._counters_wh()
        power = self.profile.power_w(t_ms)
        second = t_ms // 1000
        seed = self.profile.seed
        v1, v2, v3 = (
            round(MIN_VOLTAGE_V + _VOLTAGE_SPREAD_V * unit_noise(seed, key, second // 10), 1)
            for key in (10, 12, 13)
        )
        return MeterSnapshot(
            time_s=second + self._clock_offset_s,
            import_wh=import_wh,
            export_wh=export_wh,
            power_w=power,
            voltage_v=v1,
            frequency_hz=round(49.95 + 0.1 * unit_noise(seed, 11, second // 10), 2),
            other_voltages_v=(v2, v3),
            power_factor=self.power_factor,
            phase_shares=self.phase_shares,
            voltage_thd_pct=self._voltage_thd,
            current_thd_pct=self._current_thd,
            demand=self._demand.demand() if self._demand is not None else NO_DEMAND,
        )

    def replace(self, t_ms: int, *, import_wh: int = 0, export_wh: int = 0) -> None:
        """The meter was swapped at `t_ms`: counters restart from new bases."""
        self._advance(t_ms)
        self._import_wms = import_wh * WMS_PER_WH
        self._export_wms = export_wh * WMS_PER_WH
        self._stuck = None
        self._demand = None  # a new meter: its maximum demands start afresh

    def stick(self, t_ms: int) -> None:
        """Freeze the displayed counters at their value at `t_ms`; energy still flows."""
        self._advance(t_ms)
        self._stuck = self._counters_wh()

    def unstick(self) -> None:
        """Show the true counters again."""
        self._stuck = None

    def set_clock_drift(self, offset_s: int) -> None:
        """Make the meter's own clock run `offset_s` ahead (negative: behind)."""
        self._clock_offset_s = offset_s

    def _counters_wh(self) -> tuple[int, int]:
        return self._import_wms // WMS_PER_WH, self._export_wms // WMS_PER_WH

    def _advance(self, t_ms: int) -> None:
        if self._anchor_ms is None:
            self._anchor_ms = t_ms
        if self._demand is None:
            self._demand = _DemandWindow(self.profile, self._anchor_ms // _DEMAND_STEP_MS)
        if t_ms <= self._anchor_ms:
            return
        first, last = self._anchor_ms // _DEMAND_STEP_MS, t_ms // _DEMAND_STEP_MS
        # The demand window integrates the whole minutes; the counters reuse them.
        minutes = self._demand.advance(last)
        if not self._frozen:
            if first == last:
                imported, exported = integrate(self.profile, self._anchor_ms, t_ms)
            else:
                head = integrate(self.profile, self._anchor_ms, (first + 1) * _DEMAND_STEP_MS)
                tail = integrate(self.profile, last * _DEMAND_STEP_MS, t_ms)
                imported = head[0] + tail[0] + sum(energy[0] for energy in minutes[1:])
                exported = head[1] + tail[1] + sum(energy[1] for energy in minutes[1:])
            self._import_wms += imported
            self._export_wms += exported
        self._anchor_ms = t_ms

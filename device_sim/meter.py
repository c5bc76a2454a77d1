"""A simulated AMI meter: cumulative import / export counters driven by a power profile.

Net power (load minus PV, positive = importing) is constant over each profile
step (`step_s`), so the counters are its exact integral: energy is kept in
integer watt-milliseconds and reported in whole Wh, rounded down, so the
counters only ever increase. `integrate` is the pure core; `SimulatedMeter`
is the small stateful shell that remembers how far it has integrated and
holds the meter-side faults (replacement, stuck counters, clock drift).
"""

from dataclasses import dataclass

from device_sim.profiles import LOAD_KINDS, load_power_w, pv_power_w, unit_noise

__all__ = [
    "METER_KINDS",
    "MeterSnapshot",
    "NetPowerProfile",
    "SimulatedMeter",
    "integrate",
]

METER_KINDS = ("fixed", "constant", "consumer", "producer", "prosumer")
WMS_PER_WH = 3_600_000  # watt-milliseconds in one watt-hour


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
class MeterSnapshot:
    """What a meter shows at one instant; the server encodes this into registers."""

    time_s: int  # the meter's own clock (UTC seconds, including any drift)
    import_wh: int
    export_wh: int
    power_w: int  # positive = importing
    voltage_v: float
    frequency_hz: float


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
        return MeterSnapshot(
            time_s=second + self._clock_offset_s,
            import_wh=import_wh,
            export_wh=export_wh,
            power_w=power,
            voltage_v=round(228.0 + 4.0 * unit_noise(seed, 10, second // 10), 1),
            frequency_hz=round(49.95 + 0.1 * unit_noise(seed, 11, second // 10), 2),
        )

    def replace(self, t_ms: int, *, import_wh: int = 0, export_wh: int = 0) -> None:
        """The meter was swapped at `t_ms`: counters restart from new bases."""
        self._advance(t_ms)
        self._import_wms = import_wh * WMS_PER_WH
        self._export_wms = export_wh * WMS_PER_WH
        self._stuck = None

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
        if t_ms <= self._anchor_ms:
            return
        if not self._frozen:
            imported, exported = integrate(self.profile, self._anchor_ms, t_ms)
            self._import_wms += imported
            self._export_wms += exported
        self._anchor_ms = t_ms

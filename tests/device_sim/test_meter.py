"""The meter model: counters only increase and are the integral of power."""

from hypothesis import given, settings
from hypothesis import strategies as st

from device_sim.clock import SimClock
from device_sim.meter import WMS_PER_WH, NetPowerProfile, SimulatedMeter, integrate
from device_sim.profiles import load_power_w, pv_power_w

DAY_MS = 86_400_000
T0 = 19_500 * DAY_MS  # a Monday? any day: profiles are defined for all times


def test_fixed_meter_never_moves() -> None:
    meter = SimulatedMeter.fixed(import_wh=12_345_500, export_wh=987_500, power_w=0)
    for t in (T0, T0 + DAY_MS, T0 + 30 * DAY_MS):
        snap = meter.snapshot(t)
        assert (snap.import_wh, snap.export_wh, snap.power_w) == (12_345_500, 987_500, 0)


def test_constant_power_integrates_exactly() -> None:
    meter = SimulatedMeter.constant_power(3600, import_wh=10)
    meter.snapshot(T0)
    assert meter.snapshot(T0 + 3_600_000).import_wh == 10 + 3600
    exporting = SimulatedMeter.constant_power(-1800)
    exporting.snapshot(T0)
    snap = exporting.snapshot(T0 + 7_200_000)
    assert (snap.import_wh, snap.export_wh, snap.power_w) == (0, 3600, -1800)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    offsets=st.lists(st.integers(0, 4 * 3_600_000), min_size=1, max_size=8),
    start=st.integers(0, 6 * DAY_MS),
)
def test_counters_monotonic_and_consistent_with_power(
    seed: int, offsets: list[int], start: int
) -> None:
    profile = NetPowerProfile(
        pv_peak_w=30_000, load_kind="campus", load_peak_w=20_000, seed=seed, step_s=60
    )
    meter = SimulatedMeter(profile, kind="prosumer", import_wh=1000, export_wh=500)
    t_start = T0 + start
    first = meter.snapshot(t_start)
    last = first
    for t in sorted(t_start + o for o in offsets):
        snap = meter.snapshot(t)
        assert snap.import_wh >= last.import_wh
        assert snap.export_wh >= last.export_wh
        last = snap
    # The counters are the integral of the reported power, minute by minute.
    end = sorted(t_start + o for o in offsets)[-1]
    imported = exported = 0
    t = t_start
    while t < end:
        nxt = min(end, t - t % 60_000 + 60_000)
        power = meter.profile.power_w(t)
        imported += max(power, 0) * (nxt - t)
        exported += max(-power, 0) * (nxt - t)
        t = nxt
    assert last.import_wh == (1000 * WMS_PER_WH + imported) // WMS_PER_WH
    assert last.export_wh == (500 * WMS_PER_WH + exported) // WMS_PER_WH


@given(a=st.integers(0, DAY_MS), b=st.integers(0, DAY_MS), c=st.integers(0, DAY_MS))
@settings(max_examples=30, deadline=None)
def test_integration_is_additive(a: int, b: int, c: int) -> None:
    lo, mid, hi = sorted((a, b, c))
    profile = NetPowerProfile(pv_peak_w=5000, load_kind="dormitory", load_peak_w=8000, seed=7)
    first, second = integrate(profile, T0 + lo, T0 + mid), integrate(profile, T0 + mid, T0 + hi)
    whole = integrate(profile, T0 + lo, T0 + hi)
    assert whole == (first[0] + second[0], first[1] + second[1])


def test_profiles_are_deterministic_and_dark_at_night() -> None:
    night = T0 + 2 * 3_600_000
    noon = T0 + 12 * 3_600_000
    assert pv_power_w(night, peak_w=10_000, seed=1) == 0
    assert 0 < pv_power_w(noon, peak_w=10_000, seed=1) <= 10_000
    assert pv_power_w(noon, peak_w=10_000, seed=1) == pv_power_w(noon, peak_w=10_000, seed=1)
    assert load_power_w(noon, kind="campus", peak_w=10_000, seed=3) > 0
    daily = [pv_power_w(T0 + h * 3_600_000, peak_w=10_000, seed=s) for s in range(5) for h in (12,)]
    assert len(set(daily)) > 1  # clouds differ between seeds


def test_replace_stick_and_drift() -> None:
    meter = SimulatedMeter.constant_power(1000, import_wh=50_000)
    meter.snapshot(T0)
    meter.replace(T0 + 3_600_000, import_wh=7)
    assert meter.snapshot(T0 + 3_600_000).import_wh == 7
    meter.stick(T0 + 7_200_000)
    assert meter.snapshot(T0 + 10_800_000).import_wh == 1007
    meter.unstick()
    assert meter.snapshot(T0 + 10_800_000).import_wh == 2007
    meter.set_clock_drift(-90)
    assert meter.snapshot(T0 + 10_800_000).time_s == (T0 + 10_800_000) // 1000 - 90


def test_clock_accelerates() -> None:
    now = [100.0]
    clock = SimClock(start_s=1_700_000_000, accel=1440, time_source=lambda: now[0])
    assert clock.now() == 1_700_000_000
    now[0] += 60
    assert clock.now() == 1_700_000_000 + 86_400

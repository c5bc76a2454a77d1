"""The electrical quantities behind the registers: physics, demand, ratings."""

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_sim.devices import DEVICE_MODELS, device_model
from device_sim.electrical import NOMINAL_VOLTAGE_V, QUANTITY_NAMES, measure
from device_sim.encoding import layout_for, read_block
from device_sim.fleet import build_fleet, power_limit_w
from device_sim.meter import (
    DEMAND_PERIOD_MS,
    MAX_PHASE_SHARE,
    MIN_POWER_FACTOR,
    MIN_VOLTAGE_V,
    Demand,
    MeterSnapshot,
    NetPowerProfile,
    SimulatedMeter,
    integrate,
)
from tests.utils.published_maps import SDM630_BLOCKS, check_sdm630

T0 = 1_700_000_000_000
MINUTE_MS = 60_000


def test_every_register_of_every_device_names_a_quantity() -> None:
    snap = MeterSnapshot(1, 1000, 0, 500, 230.0, 50.0)
    for device in DEVICE_MODELS.values():
        values = measure(snap, phases=device.phases)
        assert set(values) <= QUANTITY_NAMES
        for register in device.input_registers + device.sunspec_points:
            if register.quantity is not None:
                assert register.quantity in values, (device.name, register.name)


voltages = st.floats(207.0, 253.0)
shares = st.tuples(*[st.floats(0.2, 1.0)] * 3)


@settings(max_examples=200, deadline=None)
@given(
    power=st.integers(-60_000, 60_000),
    counters=st.tuples(st.integers(0, 10**9), st.integers(0, 10**9)),
    pf=st.floats(0.5, 1.0),
    volts=st.tuples(voltages, voltages, voltages),
    weights=shares,
    demand=st.tuples(*[st.floats(0, 50_000)] * 2),
)
def test_three_phase_physics_holds_for_any_snapshot(
    power: int,
    counters: tuple[int, int],
    pf: float,
    volts: tuple[float, float, float],
    weights: tuple[float, float, float],
    demand: tuple[float, float],
) -> None:
    total = sum(weights)
    imp_d, exp_d = demand
    snap = MeterSnapshot(
        time_s=1,
        import_wh=counters[0],
        export_wh=counters[1],
        power_w=power,
        voltage_v=volts[0],
        frequency_hz=50.0,
        other_voltages_v=volts[1:],
        power_factor=pf,
        phase_shares=(weights[0] / total, weights[1] / total, weights[2] / total),
        demand=Demand(imp_d, exp_d, imp_d, exp_d, max(imp_d - exp_d, 0), imp_d + exp_d),
    )
    layout = layout_for("sdm630")
    values: dict[int, float] = {}
    for start, count in SDM630_BLOCKS:
        words = read_block(layout, snap, 4, start, count)
        assert isinstance(words, list)
        for a in range(0, count, 2):
            values[start + a] = _f32(words[a], words[a + 1])
    check_sdm630(values, max_current_a=math.inf)


def _f32(high: int, low: int) -> float:
    value: float = struct.unpack(">f", struct.pack(">HH", high, low))[0]
    return value


def test_demand_of_a_constant_power_is_that_power() -> None:
    meter = SimulatedMeter.constant_power(3600)
    meter.snapshot(T0)
    snap = meter.snapshot(T0 + 2 * DEMAND_PERIOD_MS)
    assert snap.demand.net_w == pytest.approx(3600)
    assert snap.demand.max_net_w == pytest.approx(3600)
    assert snap.demand.export_w == 0
    values = measure(snap)
    assert values["va_demand"] == pytest.approx(3600 / snap.power_factor)
    for k in (1, 2, 3):
        expected = 3600 * snap.phase_shares[k - 1] / (NOMINAL_VOLTAGE_V * snap.power_factor)
        assert values[f"current_demand{k}"] == pytest.approx(expected)


def _window_means(profile: NetPowerProfile, first: int, last: int) -> list[tuple[float, float]]:
    """(import, export) demand of each window ending at minutes first..last, brute force."""
    means = []
    for minute in range(first, last + 1):
        end = minute * MINUTE_MS
        imported, exported = integrate(profile, end - DEMAND_PERIOD_MS, end)
        means.append((imported / DEMAND_PERIOD_MS, exported / DEMAND_PERIOD_MS))
    return means


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    start=st.integers(0, 86_400_000),
    reads=st.lists(st.integers(0, 4 * 3_600_000), min_size=1, max_size=6),
)
def test_demand_and_its_maxima_do_not_depend_on_when_the_meter_is_read(
    seed: int, start: int, reads: list[int]
) -> None:
    profile = NetPowerProfile(pv_peak_w=9000, load_kind="dormitory", load_peak_w=6000, seed=seed)
    meter = SimulatedMeter(profile, kind="prosumer")
    t_start = T0 + start
    meter.snapshot(t_start)
    times = sorted(t_start + r for r in reads)
    for t in times:
        snap = meter.snapshot(t)
    means = _window_means(profile, t_start // MINUTE_MS, times[-1] // MINUTE_MS)
    last_imp, last_exp = means[-1]
    demand = snap.demand
    assert demand.import_w == pytest.approx(last_imp)
    assert demand.export_w == pytest.approx(last_exp)
    assert demand.max_import_w == pytest.approx(max(i for i, _ in means))
    assert demand.max_export_w == pytest.approx(max(e for _, e in means))
    assert demand.max_net_w == pytest.approx(max(i - e for i, e in means))
    assert demand.max_gross_w == pytest.approx(max(i + e for i, e in means))


def test_a_replaced_meter_starts_its_maximum_demand_afresh() -> None:
    profile = NetPowerProfile(load_kind="campus", load_peak_w=10_000, seed=1)
    meter = SimulatedMeter(profile, kind="consumer")
    day = T0 - T0 % 86_400_000 + 4 * 86_400_000  # a Monday 00:00 UTC
    meter.snapshot(day + 13 * 3_600_000)  # the afternoon peak
    meter.snapshot(day + 23 * 3_600_000)
    peak = meter.snapshot(day + 23 * 3_600_000).demand.max_import_w
    meter.replace(day + 23 * 3_600_000)
    after = meter.snapshot(day + 23 * 3_600_000 + MINUTE_MS).demand
    assert after.max_import_w < peak
    assert after.max_import_w == pytest.approx(max(after.import_w, after.max_import_w))


@pytest.mark.parametrize("name", ["sdm630", "sdm120"])
def test_the_power_limit_keeps_the_worst_phase_within_the_rating(name: str) -> None:
    device = device_model(name)
    limit = power_limit_w(device)
    assert limit is not None
    assert device.max_current_a is not None
    share = MAX_PHASE_SHARE if device.phases == 3 else 1.0
    rest = (1 - share) / 2
    worst = MeterSnapshot(
        time_s=1,
        import_wh=0,
        export_wh=0,
        power_w=-limit,
        voltage_v=MIN_VOLTAGE_V,
        frequency_hz=50.0,
        other_voltages_v=(MIN_VOLTAGE_V, MIN_VOLTAGE_V),
        power_factor=MIN_POWER_FACTOR,
        phase_shares=(share, rest, rest),
    )
    current = measure(worst, phases=device.phases)["i1"]
    assert 0.999 * device.max_current_a <= current <= device.max_current_a


def test_an_sdm120_stays_under_ten_kilowatts_and_an_sdm630_under_100_amps() -> None:
    sdm120 = power_limit_w(device_model("sdm120"))
    assert sdm120 is not None
    assert 9_000 < sdm120 < 10_000
    fleet = build_fleet(120, seed=3)
    for member in fleet:
        limit = power_limit_w(device_model(member.map_name))
        if limit is not None:
            assert member.meter.rated_power_w <= limit, member


def test_fleet_meters_never_draw_more_than_their_rating_over_a_week() -> None:
    for member in build_fleet(45, seed=11):
        device = device_model(member.map_name)
        if device.max_current_a is None:
            continue
        profile, meter = member.meter.profile, member.meter
        peak = max(abs(profile.power_w(T0 + step * 15 * MINUTE_MS)) for step in range(7 * 24 * 4))
        assert peak > 0
        snap = MeterSnapshot(
            time_s=1,
            import_wh=0,
            export_wh=0,
            power_w=peak,
            voltage_v=MIN_VOLTAGE_V,
            frequency_hz=50.0,
            other_voltages_v=(MIN_VOLTAGE_V, MIN_VOLTAGE_V),
            power_factor=meter.power_factor,
            phase_shares=meter.phase_shares,
        )
        values = measure(snap, phases=device.phases)
        worst = max(values[f"i{k}"] for k in range(1, device.phases + 1))
        assert worst <= device.max_current_a, (member.map_name, peak, worst)


def test_serial_numbers_are_unique_in_a_fleet() -> None:
    fleet = build_fleet(600, seed=2)
    assert len({m.serial for m in fleet}) == 600

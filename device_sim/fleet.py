"""A campus fleet of simulated meters: a deterministic mix of kinds and map models.

Pure: `build_fleet(count, seed=...)` gives the same fleet every time, split
into groups of at most 247 unit ids (one Modbus TCP port each). Each meter
has its own serial number, and a profile sized within its device's rating
(`power_limit_w`): an SDM120 (45 A, one phase) stays under about 9.5 kW, an
SDM630 (100 A a phase) under about 57 kW.
"""

from dataclasses import dataclass

from device_sim.devices import DeviceModel, device_model
from device_sim.meter import MAX_PHASE_SHARE, MIN_POWER_FACTOR, MIN_VOLTAGE_V, SimulatedMeter
from device_sim.profiles import unit_noise

__all__ = ["SERIAL_BASE", "FleetMember", "build_fleet", "power_limit_w"]

_MAPS = ("sdm630", "sdm120", "sunspec203")
UNITS_PER_PORT = 247
SERIAL_BASE = 10_000_001  # the first meter's serial number; the rest follow


@dataclass(frozen=True)
class FleetMember:
    """One meter of the fleet and where it is served."""

    group: int  # port offset
    unit_id: int
    map_name: str
    serial: int
    meter: SimulatedMeter


def power_limit_w(device: DeviceModel) -> int | None:
    """The largest |power| a simulated meter may reach on `device` without any
    phase current passing the device's rating (at the lowest voltage, power
    factor and the largest phase share a simulated meter shows); None: no limit."""
    if device.max_current_a is None:
        return None
    share = 1.0 if device.phases == 1 else MAX_PHASE_SHARE
    return int(device.max_current_a * MIN_VOLTAGE_V * MIN_POWER_FACTOR / share)


def _meter(index: int, seed: int, utc_offset_s: int, limit_w: int | None) -> SimulatedMeter:
    u = unit_noise(seed, 100, index)
    s = seed * 1_000_003 + index
    size = 0.5 + unit_noise(seed, 101, index)  # building size factor
    base_import = int(unit_noise(seed, 102, index) * 50_000_000)
    if u < 0.4:
        kind, load, pv_w, load_w = "prosumer", "campus", 20_000 * size, 30_000 * size
    elif u < 0.6:
        kind, load, pv_w, load_w = "prosumer", "dormitory", 10_000 * size, 15_000 * size
    elif u < 0.75:
        kind, load, pv_w, load_w = "producer", "", 50_000 * size, 0.0
    else:
        kind, load, pv_w, load_w = (
            "consumer",
            "campus" if u < 0.9 else "dormitory",
            0.0,
            25_000 * size,
        )
    rated = pv_w + 1.5 * load_w  # as SimulatedMeter.rated_power_w bounds it
    scale = 1.0 if limit_w is None else min(1.0, limit_w / rated)
    pv_kwp = int(pv_w * scale / 100) / 10  # rounded down to 0.1 kWp
    peak_load_w = int(load_w * scale)
    if kind == "producer":
        return SimulatedMeter.producer(pv_kwp=pv_kwp, seed=s, utc_offset_s=utc_offset_s)
    if kind == "consumer":
        return SimulatedMeter.consumer(
            load=load,
            peak_load_w=peak_load_w,
            seed=s,
            utc_offset_s=utc_offset_s,
            import_wh=base_import,
        )
    return SimulatedMeter.prosumer(
        pv_kwp=pv_kwp,
        load=load,
        peak_load_w=peak_load_w,
        seed=s,
        utc_offset_s=utc_offset_s,
        import_wh=base_import,
    )


def build_fleet(
    count: int, *, seed: int = 0, utc_offset_s: int = 0, map_name: str | None = None
) -> list[FleetMember]:
    """`count` meters, unit ids 1..247 per group; `map_name` None mixes the models."""
    if count < 1:
        raise ValueError("count must be at least 1")
    members = []
    for index in range(count):
        group, offset = divmod(index, UNITS_PER_PORT)
        name = map_name if map_name is not None else _MAPS[index % len(_MAPS)]
        limit = power_limit_w(device_model(name))
        members.append(
            FleetMember(
                group=group,
                unit_id=offset + 1,
                map_name=name,
                serial=SERIAL_BASE + index,
                meter=_meter(index, seed, utc_offset_s, limit),
            )
        )
    return members

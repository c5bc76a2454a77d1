"""A campus fleet of simulated meters: a deterministic mix of kinds and map models.

Pure: `build_fleet(count, seed=...)` gives the same fleet every time, split
into groups of at most 247 unit ids (one Modbus TCP port each).
"""

from dataclasses import dataclass

from device_sim.meter import SimulatedMeter
from device_sim.profiles import unit_noise

__all__ = ["FleetMember", "build_fleet"]

_MAPS = ("sdm630", "sdm120", "sunspec203")
UNITS_PER_PORT = 247


@dataclass(frozen=True)
class FleetMember:
    """One meter of the fleet and where it is served."""

    group: int  # port offset
    unit_id: int
    map_name: str
    meter: SimulatedMeter


def _meter(index: int, seed: int, utc_offset_s: int) -> SimulatedMeter:
    u = unit_noise(seed, 100, index)
    s = seed * 1_000_003 + index
    size = 0.5 + unit_noise(seed, 101, index)  # building size factor
    base_import = int(unit_noise(seed, 102, index) * 50_000_000)
    if u < 0.4:
        return SimulatedMeter.prosumer(
            pv_kwp=round(20 * size, 1),
            load="campus",
            peak_load_w=int(30_000 * size),
            seed=s,
            utc_offset_s=utc_offset_s,
            import_wh=base_import,
        )
    if u < 0.6:
        return SimulatedMeter.prosumer(
            pv_kwp=round(10 * size, 1),
            load="dormitory",
            peak_load_w=int(15_000 * size),
            seed=s,
            utc_offset_s=utc_offset_s,
            import_wh=base_import,
        )
    if u < 0.75:
        return SimulatedMeter.producer(
            pv_kwp=round(50 * size, 1), seed=s, utc_offset_s=utc_offset_s
        )
    load = "campus" if u < 0.9 else "dormitory"
    return SimulatedMeter.consumer(
        load=load,
        peak_load_w=int(25_000 * size),
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
        members.append(
            FleetMember(
                group=group,
                unit_id=offset + 1,
                map_name=name,
                meter=_meter(index, seed, utc_offset_s),
            )
        )
    return members

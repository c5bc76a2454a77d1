"""The simulated campus of the demo: gateways, their meters, and who owns them.

Pure and seeded: the same seed always gives the same campus.
"""

import random
from dataclasses import dataclass

__all__ = ["MeterPlan", "campus_plan"]


@dataclass(frozen=True, slots=True)
class MeterPlan:
    gateway: int  # index of the gateway the meter sits behind
    unit_id: int  # Modbus unit id on that gateway's bus
    meter_id: str
    kind: str  # "prosumer" (PV + load) or "consumer"
    pv_kwp: float
    load: str  # "campus" or "dormitory"
    peak_load_w: int
    seed: int


def campus_plan(gateways: int = 3, meters_per_gateway: int = 10, seed: int = 7) -> list[MeterPlan]:
    """About half of the meters are prosumers with 10-80 kWp of PV."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
    plan = []
    for g in range(gateways):
        for unit in range(1, meters_per_gateway + 1):
            prosumer = rng.random() < 0.5
            load = rng.choice(("campus", "dormitory"))
            plan.append(
                MeterPlan(
                    gateway=g,
                    unit_id=unit,
                    meter_id=f"{'pv' if prosumer else 'bldg'}-{g + 1}-{unit:02d}",
                    kind="prosumer" if prosumer else "consumer",
                    pv_kwp=float(rng.randrange(10, 81, 5)) if prosumer else 0.0,
                    load=load,
                    peak_load_w=rng.randrange(5_000, 30_001, 1_000),
                    seed=rng.randrange(1 << 30),
                )
            )
    return plan

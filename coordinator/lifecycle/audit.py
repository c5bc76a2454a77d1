"""Provenance checked: every token minted is held in a lot or retired in a certificate,
meter by meter and epoch by epoch. `compare` is pure; `provenance` reads the records.

For each (meter, production epoch) whose mint is applied to the lots, its verified
export equals what holders still hold of it plus what certificates retired of it
(retired, or planned while the burn is in flight): so minted = held + retired, and
every retired unit traces to exactly one meter's export in one epoch, and (by the
certificate) to one consumption epoch.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from coordinator.db.models import Certificate, EnergyLot, LotSource, Meter, MeterEpochEnergyRow
from coordinator.readings.oracle import wh_to_base_units

__all__ = ["Provenance", "compare", "provenance"]

Key = tuple[str, int]  # (meter, production epoch)


def compare(
    exported: Mapping[Key, int], held: Mapping[Key, int], certified: Mapping[Key, int]
) -> list[str]:
    """A line per (meter, epoch) where export != held + certified."""
    problems = []
    for meter, epoch in sorted(
        set(exported) | set(held) | set(certified), key=lambda k: (k[1], k[0])
    ):
        out = exported.get((meter, epoch), 0)
        kept, retired = held.get((meter, epoch), 0), certified.get((meter, epoch), 0)
        if out != kept + retired:
            problems.append(
                f"meter {meter} epoch {epoch}: exported {out} base units, held {kept} + "
                f"retired {retired}"
            )
    return problems


@dataclass(frozen=True, slots=True)
class Provenance:
    minted: int  # applied to the lots
    held: int
    retired: int  # certificates retired
    retiring: int  # certificates planned, burn in flight
    retired_by_holder: dict[str, int]
    retiring_by_holder: dict[str, int]
    certificates: int
    problems: tuple[str, ...]


def provenance(engine: Engine) -> Provenance:
    with engine.connect() as conn:
        applied = {
            tuple(key.split(":")[1:3])
            for key in conn.execute(select(LotSource.key).where(LotSource.kind == "mint")).scalars()
        }
        exported: dict[Key, int] = {}
        for epoch, owner, gw, meter, wh in conn.execute(
            select(
                MeterEpochEnergyRow.epoch, Meter.owner, MeterEpochEnergyRow.gateway_id,
                MeterEpochEnergyRow.meter_id, MeterEpochEnergyRow.export_wh,
            )
            .join(Meter, (Meter.gateway_id == MeterEpochEnergyRow.gateway_id)
                  & (Meter.meter_id == MeterEpochEnergyRow.meter_id))
            .where(MeterEpochEnergyRow.export_wh > 0)
        ):  # fmt: skip
            if (str(epoch), owner) in applied:
                exported[(f"{gw}/{meter}", int(epoch))] = wh_to_base_units(int(wh))
        held = {
            (m, int(e)): int(u)
            for m, e, u in conn.execute(
                select(EnergyLot.meter, EnergyLot.production_epoch, func.sum(EnergyLot.base_units))
                .group_by(EnergyLot.meter, EnergyLot.production_epoch)
            )
        }  # fmt: skip
        certified: dict[Key, int] = {}
        by_holder: dict[str, dict[str, int]] = {"retired": {}, "planned": {}}
        count = 0
        for m, e, holder, status, units in conn.execute(
            select(Certificate.meter, Certificate.production_epoch, Certificate.holder,
                   Certificate.status, Certificate.base_units)
            .where(Certificate.status.in_(("retired", "planned")))
        ):  # fmt: skip
            certified[(m, int(e))] = certified.get((m, int(e)), 0) + int(units)
            bucket = by_holder[status]
            bucket[holder] = bucket.get(holder, 0) + int(units)
            count += status == "retired"
    retired = sum(by_holder["retired"].values())
    retiring = sum(by_holder["planned"].values())
    return Provenance(
        sum(exported.values()), sum(held.values()), retired, retiring, by_holder["retired"],
        by_holder["planned"], count, tuple(compare(exported, held, certified)),
    )  # fmt: skip

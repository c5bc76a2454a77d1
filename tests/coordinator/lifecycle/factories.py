"""Metered, traded and retired epochs written straight to the database, for bills'
tests."""

import datetime as dt

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from coordinator.db.models import (
    Device,
    EpochRecord,
    MatchRow,
    Meter,
    MeterEpochEnergyRow,
    RetirementRow,
)
from provisioning.keys import Signer


def meter_of(engine: Engine, owner: str) -> tuple[str, str]:
    """A gateway with one meter owned by `owner`."""
    gw = Signer.generate()
    with engine.begin() as conn:
        conn.execute(insert(Device).values(gateway_id=gw.address, public_key=gw.public_key))
        conn.execute(insert(Meter).values(gateway_id=gw.address, meter_id="m1", model="sdm630",
                                          rated_power_w=63_000, owner=owner))  # fmt: skip
    return gw.address, "m1"


def metered(
    engine: Engine, meter: tuple[str, str], epoch: int, import_wh: int, export_wh: int
) -> None:
    with engine.begin() as conn:
        conn.execute(insert(MeterEpochEnergyRow).values(
            epoch=epoch, gateway_id=meter[0], meter_id=meter[1], import_wh=import_wh,
            export_wh=export_wh))  # fmt: skip


def closed(engine: Engine, epoch: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(EpochRecord).values(
            epoch=epoch, length_s=900, closed_at=dt.datetime.now(dt.UTC), reading_count=0,
            total_import_wh=0, total_export_wh=0, mint_base_units=0, merkle_root=b"\0" * 32,
            summary_json="{}"))  # fmt: skip


def traded(
    engine: Engine, epoch: int, idx: int, buyer: str, seller: str, quantity: int, price: int,
    status: str = "settled",
) -> None:  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(MatchRow).values(
            epoch=epoch, idx=idx, buy_order_id=f"b{idx}", sell_order_id=f"s{idx}", buyer=buyer,
            seller=seller, quantity=quantity, price=price, payment=quantity * price // 10**9,
            status=status))  # fmt: skip


def retired(
    engine: Engine, epoch: int, holder: str, import_wh: int, matched_wh: int,
    status: str = "retired",
) -> None:  # fmt: skip
    """`holder`'s retirement of `epoch`: `matched_wh` of the import met by their tokens."""
    wh = 10**6
    with engine.begin() as conn:
        conn.execute(insert(RetirementRow).values(
            epoch=epoch, holder=holder, import_base_units=import_wh * wh,
            eligible_base_units=matched_wh * wh, approved_base_units=matched_wh * wh,
            matched_base_units=matched_wh * wh, status=status))  # fmt: skip

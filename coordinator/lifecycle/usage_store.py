"""What was metered and traded per user and epoch, read from the database: the input
of bills (`coordinator.lifecycle.bills.Usage`).

Metered energy is the oracle's per-epoch energy per meter, summed over the meters a
user owns, for closed epochs only (an open epoch's readings are still coming). Trades
count once settled: an unsettled match moved no energy and no money. The store
reads, it never decides.
"""

from typing import Protocol

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Engine

from coordinator.db.models import EpochRecord, MatchRow, Meter, MeterEpochEnergyRow
from coordinator.lifecycle.bills import Usage

__all__ = ["MemoryUsage", "SqlUsage", "UsageSource"]

Key = tuple[str, int]
SETTLED = "settled"


class UsageSource(Protocol):
    def usage(self, *, since: int, until: int, owner: str | None = None) -> dict[Key, Usage]:
        """Usage per (wallet, epoch) of closed epochs in since..until (inclusive), of
        `owner` only when given, of every user with a meter or a trade otherwise."""
        ...


class SqlUsage:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def usage(self, *, since: int, until: int, owner: str | None = None) -> dict[Key, Usage]:
        e, m, mt = MeterEpochEnergyRow, Meter, MatchRow
        closed = select(EpochRecord.epoch).where(EpochRecord.epoch.between(since, until))
        metered = (
            select(m.owner, e.epoch, func.sum(e.import_wh), func.sum(e.export_wh))
            .join(m, and_(m.gateway_id == e.gateway_id, m.meter_id == e.meter_id))
            .where(m.owner.is_not(None), e.epoch.in_(closed))
            .group_by(m.owner, e.epoch)
        )  # fmt: skip
        traded = select(mt.buyer, mt.seller, mt.epoch, mt.quantity, mt.payment).where(
            mt.status == SETTLED, mt.epoch.in_(closed)
        )
        if owner is not None:
            metered = metered.where(m.owner == owner)
            traded = traded.where(or_(mt.buyer == owner, mt.seller == owner))
        with self._engine.connect() as conn:
            meter_rows = conn.execute(metered).all()
            trade_rows = conn.execute(traded).all()
        parts: dict[Key, list[int]] = {}
        for wallet, epoch, imported, exported in meter_rows:
            parts[(str(wallet), int(epoch))] = [int(imported), int(exported), 0, 0, 0, 0]
        for buyer, seller, epoch, quantity, payment in trade_rows:
            if owner is None or buyer == owner:
                p = parts.setdefault((buyer, int(epoch)), [0] * 6)
                p[2] += int(quantity)
                p[4] += int(payment)
            if owner is None or seller == owner:
                p = parts.setdefault((seller, int(epoch)), [0] * 6)
                p[3] += int(quantity)
                p[5] += int(payment)
        return {key: Usage(*p) for key, p in parts.items()}


class MemoryUsage:
    """The fake: usage set directly by tests."""

    def __init__(self, usages: dict[Key, Usage] | None = None) -> None:
        self.usages = dict(usages or {})

    def usage(self, *, since: int, until: int, owner: str | None = None) -> dict[Key, Usage]:
        return {
            (w, e): u
            for (w, e), u in self.usages.items()
            if since <= e <= until and (owner is None or w == owner)
        }

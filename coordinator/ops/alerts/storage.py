"""The database as an `AlertSource`: the rules' inputs, read with index-backed queries."""

import datetime as dt
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from coordinator.db.models import (
    ClearingAttestationJob,
    ClearingRecord,
    Device,
    DeviceStatus,
    EpochOnchain,
    EpochRecord,
    GatewayState,
    MarketOrder,
    MatchRow,
    Meter,
    MeterEpochEnergyRow,
    MintGrant,
    Reading,
    ReadingSeq,
    RejectedReading,
    SettlementJob,
)
from coordinator.market.rules.surveillance import (
    ClearedEpoch,
    EpochFigures,
    QuotedOrder,
    Trade,
)
from coordinator.ops.alerts.rules import (
    EpochRows,
    GatewaySeen,
    LedgerFailure,
    MarketWindow,
    Progress,
    WithheldMint,
    estimate_poll_interval,
)
from programs.ledger.store import chain_jobs

__all__ = ["SqlAlertSource"]


def _ts(value: dt.datetime) -> int:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())


def _at(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class SqlAlertSource:
    """Reads the rules' inputs with index-backed queries only (no scans of readings)."""

    # Recent readings per gateway the poll interval is estimated from.
    RECENT_SEQS = 64

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def gateways(self, default_poll_interval_s: int) -> list[GatewaySeen]:
        seen = []
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(Device.gateway_id, Device.created_at, GatewayState.highest_seq)
                .join(GatewayState, GatewayState.gateway_id == Device.gateway_id, isouter=True)
                .where(Device.status == DeviceStatus.ACTIVE)
            ).all()
            for gateway_id, created_at, highest in rows:
                last = _ts(created_at)
                points: list[tuple[str, int]] = []
                if highest is not None:
                    recent = conn.execute(
                        select(Reading.meter_id, Reading.meter_ts, Reading.received_at)
                        .select_from(ReadingSeq)
                        .join(
                            Reading,
                            and_(
                                Reading.gateway_id == ReadingSeq.gateway_id,
                                Reading.seq == ReadingSeq.seq,
                                Reading.meter_time == ReadingSeq.meter_time,
                            ),
                        )
                        .where(
                            ReadingSeq.gateway_id == gateway_id,
                            ReadingSeq.seq > highest - self.RECENT_SEQS,
                        )
                    ).all()
                    for meter_id, meter_ts, received_at in recent:
                        points.append((meter_id, int(meter_ts)))
                        last = max(last, _ts(received_at))
                interval = estimate_poll_interval(points, default_poll_interval_s)
                seen.append(GatewaySeen(gateway_id, last, interval))
        return seen

    def rejections(self, since_s: int, until_s: int) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(RejectedReading.reason, func.count())
                .where(
                    RejectedReading.received_at >= _at(since_s),
                    RejectedReading.received_at < _at(until_s),
                )
                .group_by(RejectedReading.reason)
            ).all()
        return {str(reason): int(n) for reason, n in rows}

    def ledger_failures(self, since_s: int) -> list[LedgerFailure]:
        since = _at(since_s)
        failures = []
        with self._engine.connect() as conn:
            for source, table in (
                ("chain_jobs", chain_jobs),
                ("settlements", SettlementJob.__table__),
                ("clearing_attestations", ClearingAttestationJob.__table__),
            ):
                c = table.c
                epoch_col = c.get("epoch")
                cols = [c.job_key, c.error] + ([epoch_col] if epoch_col is not None else [])
                for row in conn.execute(
                    select(*cols).where(c.status == "failed", c.updated_at >= since)
                ):
                    epoch = int(row[2]) if len(row) > 2 and row[2] is not None else None
                    failures.append(LedgerFailure(source, row[0], epoch, row[1] or "failed"))
            for epoch, error in conn.execute(
                select(EpochOnchain.epoch, EpochOnchain.error).where(
                    EpochOnchain.error.is_not(None), EpochOnchain.done_at >= since
                )
            ):
                failures.append(LedgerFailure("epoch_onchain", str(epoch), int(epoch), error or ""))
        return failures

    def epochs(self, lo: int, hi: int) -> EpochRows:
        with self._engine.connect() as conn:
            closed = conn.execute(
                select(EpochRecord.epoch).where(EpochRecord.epoch.between(lo, hi))
            ).scalars()
            cleared = conn.execute(
                select(ClearingRecord.epoch).where(ClearingRecord.epoch.between(lo, hi))
            ).scalars()
            firsts = [
                conn.execute(select(func.min(EpochRecord.epoch))).scalar_one_or_none(),
                conn.execute(select(func.min(MeterEpochEnergyRow.epoch))).scalar_one_or_none(),
            ]
            first_cleared = conn.execute(select(func.min(ClearingRecord.epoch))).scalar()
            known = [int(f) for f in firsts if f is not None]
            return EpochRows(
                frozenset(int(e) for e in closed),
                frozenset(int(e) for e in cleared),
                min(known) if known else None,
                None if first_cleared is None else int(first_cleared),
            )

    def withheld_mints(self) -> list[WithheldMint]:
        """Withheld grants per owner and reason code (index on status, epoch)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(
                    MintGrant.owner, MintGrant.reason, func.count(),
                    func.sum(MintGrant.base_units), func.min(MintGrant.epoch),
                )
                .where(MintGrant.status == "withheld")
                .group_by(MintGrant.owner, MintGrant.reason)
            ).all()  # fmt: skip
        merged: dict[tuple[str, str], WithheldMint] = {}
        for owner, reason, epochs, units, since in rows:
            code, _, detail = (reason or "").partition(": ")
            w = WithheldMint(owner, code, int(epochs), int(units or 0), int(since), detail)
            was = merged.get((owner, code))
            if was is not None:  # mint_failed with different errors
                w = WithheldMint(
                    owner, code, w.epochs + was.epochs, w.base_units + was.base_units,
                    min(w.since_epoch, was.since_epoch), detail,
                )  # fmt: skip
            merged[(owner, code)] = w
        return list(merged.values())

    def market(self, window: int, trailing: int, after: int | None) -> MarketWindow:
        """The newest `window` cleared epochs after `after` (None: any) with their
        matches and orders, the `trailing` clearings before them, and the gateways of
        the wallets that traded."""
        with self._engine.connect() as conn:
            query = select(ClearingRecord.epoch).order_by(ClearingRecord.epoch.desc())
            if after is not None:
                query = query.where(ClearingRecord.epoch > after)
            newest = [int(e) for e in conn.execute(query.limit(window)).scalars()]
            if not newest:
                return MarketWindow((), (), {})
            lo, hi = min(newest), max(newest)
            history = tuple(
                EpochFigures(int(e), None if p is None else int(p), int(v))
                for e, p, v in conn.execute(
                    select(ClearingRecord.epoch, ClearingRecord.clearing_price,
                           ClearingRecord.volume)
                    .where(ClearingRecord.epoch < lo)
                    .order_by(ClearingRecord.epoch.desc())
                    .limit(trailing)
                )
            )  # fmt: skip
            trades: dict[int, list[Trade]] = {e: [] for e in newest}
            for e, buyer, seller, quantity, price in conn.execute(
                select(MatchRow.epoch, MatchRow.buyer, MatchRow.seller, MatchRow.quantity,
                       MatchRow.price)
                .where(MatchRow.epoch.between(lo, hi))
                .order_by(MatchRow.epoch, MatchRow.idx)
            ):  # fmt: skip
                trades[int(e)].append(Trade(buyer, seller, int(quantity), int(price)))
            orders: dict[int, list[QuotedOrder]] = {e: [] for e in newest}
            # The orders the clearing read: those it decided (excluded ones included).
            decided = ("filled", "partial", "unfilled", "excluded")
            for e, order_id, owner, side, limit in conn.execute(
                select(MarketOrder.epoch, MarketOrder.order_id, MarketOrder.owner,
                       MarketOrder.side, MarketOrder.limit_price)
                .where(MarketOrder.epoch.between(lo, hi), MarketOrder.status.in_(decided))
            ):  # fmt: skip
                if int(e) in orders:
                    orders[int(e)].append(QuotedOrder(order_id, owner, side, int(limit)))
            wallets = {p for ts in trades.values() for t in ts for p in (t.buyer, t.seller)}
            gateways: dict[str, set[str]] = {}
            if wallets:
                for holder, gateway_id in conn.execute(
                    select(Meter.owner, Meter.gateway_id).where(Meter.owner.in_(wallets))
                ):
                    if holder is not None:
                        gateways.setdefault(holder, set()).add(gateway_id)
        epochs = tuple(ClearedEpoch(e, tuple(trades[e]), tuple(orders[e])) for e in sorted(newest))
        return MarketWindow(epochs, history, {w: frozenset(g) for w, g in gateways.items()})

    def progress(self) -> Progress:
        """The newest epoch through each stage, and the oldest ledger job in flight."""
        with self._engine.connect() as conn:

            def newest(column: Any, *where: Any) -> int | None:
                value = conn.execute(select(func.max(column)).where(*where)).scalar()
                return None if value is None else int(value)

            oldest = []
            for table in (chain_jobs, SettlementJob.__table__, ClearingAttestationJob.__table__):
                at = conn.execute(
                    select(func.min(table.c.created_at)).where(
                        table.c.status.in_(("planned", "sent"))
                    )
                ).scalar()
                if at is not None:
                    oldest.append(_ts(at))
            return Progress(
                closed=newest(EpochRecord.epoch),
                cleared=newest(ClearingRecord.epoch),
                minted=newest(EpochOnchain.epoch),
                settled=newest(ClearingRecord.epoch, ClearingRecord.settled_at.is_not(None)),
                oldest_pending_s=min(oldest) if oldest else None,
            )

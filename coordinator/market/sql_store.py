"""The market store in PostgreSQL (or SQLite): orders, clearings, matches and the
settlement / attestation jobs, in the tables of `coordinator.db.models`.

`SqlMarketStore` is the `coordinator.market.store.MarketStore` over an engine.
Synchronous SQLAlchemy: the async services call it through `asyncio.to_thread`.
"""

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from solders.signature import Signature
from sqlalchemy import Table, bindparam, case, func, insert, or_, select, union_all, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coordinator.db.models import (
    ClearingAttestationJob,
    ClearingRecord,
    MarketOrder,
    MatchRow,
    ParkedTrade,
    SettlementJob,
)
from coordinator.market.escrow import EscrowNeed
from coordinator.market.records import (
    LIVE_STATUSES,
    ClearingView,
    MatchOutcome,
    MatchStatus,
    MatchToSettle,
    MatchView,
    OrderStatus,
    OrderView,
    SettlementStatus,
    SettlementView,
    status_of_fill,
)
from coordinator.market.rules import ClearingResult, Order, Side
from programs.jobs import JobStore
from programs.jobstore import SqlJobStore

__all__ = ["SqlMarketJobStore", "SqlMarketStore"]


def _order_view(row: MarketOrder) -> OrderView:
    return OrderView(
        order_id=row.order_id,
        owner=row.owner,
        side=Side(row.side),
        epoch=row.epoch,
        quantity=row.quantity,
        limit_price=row.limit_price,
        seq=row.seq,
        status=OrderStatus(row.status),
        reason=row.reason,
        eligible=row.eligible,
        filled=row.filled,
        payment=row.payment,
        settled=row.settled,
        settlement_status=(
            None if row.settlement_status is None else SettlementStatus(row.settlement_status)
        ),
        settlement_error=row.settlement_error,
        expires_at=row.expires_at,
        created_at=row.created_at,
    )


def _b58(raw: bytes | None) -> str | None:
    return None if raw is None else str(Signature.from_bytes(raw))


def _match_view(row: Any) -> MatchView:  # an ORM MatchRow or a Core row of matches
    return MatchView(
        epoch=row.epoch,
        idx=row.idx,
        buy_order_id=row.buy_order_id,
        sell_order_id=row.sell_order_id,
        buyer=row.buyer,
        seller=row.seller,
        quantity=row.quantity,
        price=row.price,
        payment=row.payment,
        status=MatchStatus(row.status),
        signature=_b58(row.signature),
        error=row.error,
    )


def _end(
    conn: Connection, reasons: Mapping[str, str], status: OrderStatus, now: dt.datetime
) -> None:
    for order_id, reason in reasons.items():
        conn.execute(
            update(MarketOrder)
            .where(MarketOrder.order_id == order_id, MarketOrder.status.in_(LIVE_STATUSES))
            .values(status=status.value, reason=reason, updated_at=now)
        )


def _clearing_view(row: ClearingRecord, attestation: bytes | None) -> ClearingView:
    return ClearingView(
        epoch=row.epoch,
        inputs_hash=row.inputs_hash,
        result_hash=row.result_hash,
        pricing=row.pricing,
        clearing_price=row.clearing_price,
        volume=row.volume,
        turnover=row.turnover,
        order_count=row.order_count,
        match_count=row.match_count,
        cleared_at=row.cleared_at,
        published_at=row.published_at,
        attestation_signature=_b58(attestation),
    )


def _park(conn: Connection, epoch: int, outcomes: Sequence[MatchOutcome]) -> None:
    # In the outcomes' own transaction: a parked trade is never lost to a crash.
    idxs = [o.idx for o in outcomes if o.parked]
    if not idxs:
        return
    known = set(
        conn.execute(
            select(ParkedTrade.idx).where(ParkedTrade.epoch == epoch, ParkedTrade.idx.in_(idxs))
        ).scalars()
    )
    now = dt.datetime.now(dt.UTC)
    fresh = [{"epoch": epoch, "idx": i, "parked_at": now} for i in idxs if i not in known]
    if fresh:
        conn.execute(insert(ParkedTrade), fresh)


def _write_match_outcomes(conn: Connection, epoch: int, outcomes: Sequence[MatchOutcome]) -> None:
    if not outcomes:
        return
    _park(conn, epoch, outcomes)
    matches = cast(Table, MatchRow.__table__)
    # One executemany (psycopg pipelines it) with one statement per run of
    # neighbouring matches that settled alike (a transaction carries many): thousands
    # of matches settle per epoch.
    conn.execute(
        update(matches)
        .where(
            matches.c.epoch == epoch,
            matches.c.idx.between(bindparam("b_lo"), bindparam("b_hi")),
        )
        .values(
            status=bindparam("b_status"),
            settlement_key=bindparam("b_key"),
            signature=bindparam("b_signature"),
            error=bindparam("b_error"),
        ),
        [
            {
                "b_lo": lo,
                "b_hi": hi,
                "b_status": o.status.value,
                "b_key": o.settlement_key,
                "b_signature": None if o.signature is None else bytes(o.signature),
                "b_error": o.error,
            }
            for lo, hi, o in _runs(outcomes)
        ],
    )


def _mark_settled(conn: Connection, epoch: int, now: dt.datetime) -> None:
    """The epoch is done once none of its matches is pending (no index on the status:
    the epoch's matches are read by primary key)."""
    matches = cast(Table, MatchRow.__table__)
    clearings = cast(Table, ClearingRecord.__table__)
    pending = select(matches.c.idx).where(
        matches.c.epoch == epoch, matches.c.status == MatchStatus.PENDING.value
    )
    conn.execute(
        update(clearings)
        .where(clearings.c.epoch == epoch, clearings.c.settled_at.is_(None), ~pending.exists())
        .values(settled_at=now)
    )


def _roll_up_orders(conn: Connection, epoch: int, now: dt.datetime) -> None:
    """Each matched order's settled quantity and settlement status from all of the
    epoch's matches: failed if any of its matches failed (with the first such match's
    error), else pending if any is pending, else settled. Set-based (one UPDATE ...
    FROM for every order), as an epoch may match thousands of orders."""
    matches = cast(Table, MatchRow.__table__)
    orders = cast(Table, MarketOrder.__table__)
    in_epoch = matches.c.epoch == epoch
    columns = (matches.c.idx, matches.c.quantity, matches.c.status, matches.c.error)
    legs = union_all(
        select(matches.c.buy_order_id.label("order_id"), *columns).where(in_epoch),
        select(matches.c.sell_order_id.label("order_id"), *columns).where(in_epoch),
    ).subquery("legs")
    settled_value = MatchStatus.SETTLED.value
    rank = case(
        (legs.c.status == MatchStatus.FAILED.value, 2),
        (legs.c.status == MatchStatus.PENDING.value, 1),
        else_=0,
    )
    per_order = (
        select(
            legs.c.order_id,
            func.sum(case((legs.c.status == settled_value, legs.c.quantity), else_=0)).label(
                "settled"
            ),
            func.max(rank).label("worst"),
        )
        .group_by(legs.c.order_id)
        .subquery("per_order")
    )
    conn.execute(
        update(orders)
        .where(orders.c.order_id == per_order.c.order_id)
        .values(
            settled=per_order.c.settled,
            settlement_status=case(
                (per_order.c.worst == 2, SettlementStatus.FAILED.value),
                (per_order.c.worst == 1, SettlementStatus.PENDING.value),
                else_=SettlementStatus.SETTLED.value,
            ),
            settlement_error=None,
            updated_at=now,
        )
    )
    # Errors are few (failed matches only): the first one of each order, by match index.
    errors: dict[str, str] = {}
    failed = conn.execute(
        select(legs.c.order_id, legs.c.error).where(legs.c.error.is_not(None)).order_by(legs.c.idx)
    )
    for order_id, error in failed:
        errors.setdefault(order_id, error)
    if errors:
        conn.execute(
            update(orders)
            .where(orders.c.order_id == bindparam("b_order_id"))
            .values(settlement_error=bindparam("b_error")),
            [{"b_order_id": k, "b_error": v} for k, v in errors.items()],
        )


def _runs(outcomes: Sequence[MatchOutcome]) -> list[tuple[int, int, MatchOutcome]]:
    """(first idx, last idx, outcome) of each run of consecutive indices whose outcomes
    are equal but for the index."""
    runs: list[tuple[int, int, MatchOutcome]] = []
    for o in sorted(outcomes, key=lambda o: o.idx):
        if runs:
            lo, hi, first = runs[-1]
            if o.idx == hi + 1 and o[1:] == first[1:]:  # all fields but the index
                runs[-1] = (lo, o.idx, first)
                continue
        runs.append((o.idx, o.idx, o))
    return runs


class SqlMarketStore:
    """The `MarketStore` in the tables of `coordinator.db.models` (PostgreSQL or SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def insert_order(
        self,
        order: Order,
        *,
        status: OrderStatus,
        expires_at: dt.datetime | None,
        now: dt.datetime,
    ) -> OrderView:
        with Session(self._engine) as session, session.begin():
            row = MarketOrder(
                order_id=order.order_id,
                owner=order.owner,
                side=order.side.value,
                epoch=order.epoch,
                quantity=order.quantity,
                limit_price=order.limit_price,
                status=status.value,
                eligible=0,
                filled=0,
                payment=0,
                settled=0,
                expires_at=expires_at,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            session.flush()
            return _order_view(row)

    def get_order(self, order_id: str) -> OrderView | None:
        with Session(self._engine) as session:
            row = session.scalars(
                select(MarketOrder).where(MarketOrder.order_id == order_id)
            ).first()
            return None if row is None else _order_view(row)

    def list_orders(
        self,
        *,
        owner: str | None = None,
        epoch: int | None = None,
        statuses: Sequence[OrderStatus] | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[OrderView]:
        """Newest first; page with `before_seq` (the last seq of the previous page)."""
        query = select(MarketOrder).order_by(MarketOrder.seq.desc()).limit(limit)
        if owner is not None:
            query = query.where(MarketOrder.owner == owner)
        if epoch is not None:
            query = query.where(MarketOrder.epoch == epoch)
        if statuses is not None:
            query = query.where(MarketOrder.status.in_([s.value for s in statuses]))
        if before_seq is not None:
            query = query.where(MarketOrder.seq < before_seq)
        with Session(self._engine) as session:
            return [_order_view(row) for row in session.scalars(query)]

    def live_orders(self, owner: str) -> list[OrderView]:
        """The owner's pending and open orders, oldest first."""
        query = (
            select(MarketOrder)
            .where(MarketOrder.owner == owner, MarketOrder.status.in_(LIVE_STATUSES))
            .order_by(MarketOrder.seq)
        )
        with Session(self._engine) as session:
            return [_order_view(row) for row in session.scalars(query)]

    def set_open(self, order_ids: Sequence[str], now: dt.datetime) -> int:
        """Pending -> open for `order_ids` (once their escrow is verified)."""
        if not order_ids:
            return 0
        with self._engine.begin() as conn:
            result = conn.execute(
                update(MarketOrder)
                .where(
                    MarketOrder.order_id.in_(order_ids),
                    MarketOrder.status == OrderStatus.PENDING.value,
                )
                .values(status=OrderStatus.OPEN.value, updated_at=now)
            )
            return int(result.rowcount)

    def cancel_order(self, order_id: str, owner: str, now: dt.datetime) -> OrderView | None:
        """Cancel if live; returns the order as it is afterwards (None if not the owner's)."""
        with Session(self._engine) as session, session.begin():
            row = session.scalars(
                select(MarketOrder)
                .where(MarketOrder.order_id == order_id, MarketOrder.owner == owner)
                .with_for_update()
            ).first()
            if row is None:
                return None
            if row.status in LIVE_STATUSES:
                row.status = OrderStatus.CANCELLED.value
                row.updated_at = now
            return _order_view(row)

    def open_orders_for(self, epoch: int) -> list[OrderView]:
        """Live orders of `epoch`, by seq."""
        query = (
            select(MarketOrder)
            .where(MarketOrder.epoch == epoch, MarketOrder.status.in_(LIVE_STATUSES))
            .order_by(MarketOrder.seq)
        )
        with Session(self._engine) as session:
            return [_order_view(row) for row in session.scalars(query)]

    def owed(self, owner: str) -> EscrowNeed:
        """What `owner` still owes on matched, unsettled trades (their approval must keep it)."""
        with self._engine.connect() as conn:
            energy = conn.execute(
                select(func.coalesce(func.sum(MatchRow.quantity), 0)).where(
                    MatchRow.seller == owner, MatchRow.status == MatchStatus.PENDING.value
                )
            ).scalar_one()
            payment = conn.execute(
                select(func.coalesce(func.sum(MatchRow.payment), 0)).where(
                    MatchRow.buyer == owner, MatchRow.status == MatchStatus.PENDING.value
                )
            ).scalar_one()
        return EscrowNeed(int(energy), int(payment))

    def owed_by_owner(self, owners: Iterable[str]) -> dict[str, EscrowNeed]:
        """`owed` for many owners at once."""
        wanted = list(set(owners))
        energy: dict[str, int] = defaultdict(int)
        payment: dict[str, int] = defaultdict(int)
        if wanted:
            query = select(
                MatchRow.seller, MatchRow.buyer, MatchRow.quantity, MatchRow.payment
            ).where(
                MatchRow.status == MatchStatus.PENDING.value,
                or_(MatchRow.seller.in_(wanted), MatchRow.buyer.in_(wanted)),
            )
            with self._engine.connect() as conn:
                for seller, buyer, quantity, paid in conn.execute(query):
                    energy[seller] += quantity
                    payment[buyer] += paid
        return {o: EscrowNeed(energy[o], payment[o]) for o in wanted}

    def is_cleared(self, epoch: int) -> bool:
        with self._engine.connect() as conn:
            found = conn.execute(
                select(ClearingRecord.epoch).where(ClearingRecord.epoch == epoch)
            ).first()
        return found is not None

    def save_clearing(
        self,
        result: ClearingResult,
        inputs_bytes: bytes,
        result_bytes: bytes,
        now: dt.datetime,
        expired: Mapping[str, str] | None = None,
        excluded: Mapping[str, str] | None = None,
    ) -> bool:
        """Store a clearing with its matches and every order's outcome, and end the live
        orders that did not take part (id -> reason; `expired` as expired, `excluded` as
        excluded), in one transaction. False (and nothing written) if the epoch was
        cleared already, e.g. by another instance."""
        try:
            with self._engine.begin() as conn:
                _end(conn, expired or {}, OrderStatus.EXPIRED, now)
                _end(conn, excluded or {}, OrderStatus.EXCLUDED, now)
                conn.execute(
                    insert(ClearingRecord).values(
                        epoch=result.epoch,
                        inputs=inputs_bytes,
                        result=result_bytes,
                        inputs_hash=result.inputs_hash,
                        result_hash=result.result_hash,
                        pricing=result.pricing.value,
                        clearing_price=result.clearing_price,
                        volume=result.volume,
                        turnover=result.turnover,
                        order_count=len(result.outcomes),
                        match_count=len(result.matches),
                        cleared_at=now,
                    )
                )
                if result.matches:
                    conn.execute(
                        insert(MatchRow),
                        [
                            {
                                "epoch": result.epoch,
                                "idx": idx,
                                "buy_order_id": m.buy_order_id,
                                "sell_order_id": m.sell_order_id,
                                "buyer": m.buyer,
                                "seller": m.seller,
                                "quantity": m.quantity,
                                "price": m.price,
                                "payment": m.payment,
                                "status": MatchStatus.PENDING.value,
                            }
                            for idx, m in enumerate(result.matches)
                        ],
                    )
                matched = {m.buy_order_id for m in result.matches} | {
                    m.sell_order_id for m in result.matches
                }
                if result.outcomes:
                    # executemany: one round trip for the whole book, not one per order.
                    orders = cast(Table, MarketOrder.__table__)
                    conn.execute(
                        update(orders)
                        .where(orders.c.order_id == bindparam("b_order_id"))
                        .values(
                            status=bindparam("b_status"),
                            reason=bindparam("b_reason"),
                            eligible=bindparam("b_eligible"),
                            filled=bindparam("b_filled"),
                            payment=bindparam("b_payment"),
                            settlement_status=bindparam("b_settlement"),
                            updated_at=now,
                        ),
                        [
                            {
                                "b_order_id": o.order_id,
                                "b_status": status_of_fill(o.status).value,
                                "b_reason": o.reason,
                                "b_eligible": o.eligible,
                                "b_filled": o.filled,
                                "b_payment": o.payment,
                                "b_settlement": (
                                    SettlementStatus.PENDING.value
                                    if o.order_id in matched
                                    else None
                                ),
                            }
                            for o in result.outcomes
                        ],
                    )
        except IntegrityError:
            return False
        return True

    def get_clearing(self, epoch: int) -> ClearingView | None:
        with Session(self._engine) as session:
            row = session.get(ClearingRecord, epoch)
            if row is None:
                return None
            attestation = session.scalars(
                select(ClearingAttestationJob.signature).where(
                    ClearingAttestationJob.epoch == epoch,
                    ClearingAttestationJob.status == "confirmed",
                )
            ).first()
            return _clearing_view(row, attestation)

    def get_clearing_bytes(self, epoch: int) -> tuple[bytes, bytes] | None:
        """(inputs, result) canonical bytes as stored."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(ClearingRecord.inputs, ClearingRecord.result).where(
                    ClearingRecord.epoch == epoch
                )
            ).first()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def mark_published(self, epoch: int, now: dt.datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(ClearingRecord).where(ClearingRecord.epoch == epoch).values(published_at=now)
            )

    def unpublished_epochs(self, limit: int = 100) -> list[int]:
        query = (
            select(ClearingRecord.epoch)
            .where(ClearingRecord.published_at.is_(None))
            .order_by(ClearingRecord.epoch)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def matches_to_settle(self, epoch: int) -> list[MatchToSettle]:
        """The epoch's matches, only what settlement needs of them, in order."""
        table = cast(Table, MatchRow.__table__)
        c = table.c
        query = (
            select(c.idx, c.seller, c.buyer, c.quantity, c.payment)
            .where(c.epoch == epoch)
            .order_by(c.idx)
        )
        with self._engine.connect() as conn:
            return [MatchToSettle(*row) for row in conn.execute(query)]

    def list_matches(
        self, *, owner: str | None = None, epoch: int | None = None, limit: int = 100
    ) -> list[MatchView]:
        """Trades, newest epoch first; `owner` as buyer or seller."""
        query = select(MatchRow).order_by(MatchRow.epoch.desc(), MatchRow.idx).limit(limit)
        if owner is not None:
            query = query.where(or_(MatchRow.buyer == owner, MatchRow.seller == owner))
        if epoch is not None:
            query = query.where(MatchRow.epoch == epoch)
        with Session(self._engine) as session:
            return [_match_view(row) for row in session.scalars(query)]

    def unsettled_epochs(self) -> list[int]:
        """Epochs with matches not yet settled nor failed (to resume after a restart)."""
        query = (
            select(ClearingRecord.epoch)
            .where(ClearingRecord.match_count > 0, ClearingRecord.settled_at.is_(None))
            .order_by(ClearingRecord.epoch)
        )
        with self._engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def uncleared_epochs(self, before: int) -> list[int]:
        cleared = select(ClearingRecord.epoch).where(ClearingRecord.epoch == MarketOrder.epoch)
        query = (
            select(MarketOrder.epoch)
            .where(
                MarketOrder.epoch < before,
                MarketOrder.status.in_(LIVE_STATUSES),
                ~cleared.exists(),
            )
            .distinct()
            .order_by(MarketOrder.epoch)
        )
        with self._engine.connect() as conn:
            return [int(e) for e in conn.execute(query).scalars()]

    def record_settlement(
        self, epoch: int, outcomes: Sequence[MatchOutcome], now: dt.datetime
    ) -> None:
        """Write the matches' outcomes and, from all of the epoch's matches, each matched
        order's settled quantity and settlement status, in one transaction (idempotent)."""
        with self._engine.begin() as conn:
            _write_match_outcomes(conn, epoch, outcomes)
            _roll_up_orders(conn, epoch, now)
            _mark_settled(conn, epoch, now)

    def parked_matches(self, limit: int = 1000) -> list[tuple[int, MatchToSettle, str]]:
        """(epoch, match, key of its last settlement job) of each parked trade, oldest first."""
        m = MatchRow
        query = (
            select(m.epoch, m.idx, m.seller, m.buyer, m.quantity, m.payment, m.settlement_key)
            .join(ParkedTrade, (ParkedTrade.epoch == m.epoch) & (ParkedTrade.idx == m.idx))
            .where(ParkedTrade.resolved_at.is_(None), m.status == MatchStatus.FAILED.value)
            .order_by(m.epoch, m.idx)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [
                (int(e), MatchToSettle(i, s, b, q, p), key or "")
                for e, i, s, b, q, p, key in conn.execute(query)
            ]

    def resolve_parked(self, epoch: int, idx: int, now: dt.datetime) -> None:
        """The parked trade settled, or failed for good."""
        with self._engine.begin() as conn:
            conn.execute(
                update(ParkedTrade)
                .where(ParkedTrade.epoch == epoch, ParkedTrade.idx == idx)
                .values(resolved_at=now)
            )

    def record_match_outcomes(self, epoch: int, outcomes: Sequence[MatchOutcome]) -> None:
        """Write these matches' outcomes only (idempotent): settlement records each wave's
        while the next is under way; `record_settlement` then rolls the orders up."""
        with self._engine.begin() as conn:
            _write_match_outcomes(conn, epoch, outcomes)

    def list_settlements(self, epoch: int) -> list[SettlementView]:
        query = (
            select(SettlementJob)
            .where(SettlementJob.epoch == epoch)
            .order_by(SettlementJob.job_key)
        )
        with Session(self._engine) as session:
            return [
                SettlementView(
                    key=row.job_key,
                    epoch=row.epoch,
                    status=row.status,
                    signature=_b58(row.signature),
                    slot=row.slot,
                    error=row.error,
                    match_indices=tuple(int(t[0]) for t in json.loads(row.payload)["trades"]),
                )
                for row in session.scalars(query)
            ]

    def settlement_jobs(self, clock: Callable[[], dt.datetime] | None = None) -> JobStore:
        return SqlMarketJobStore(self._engine, SettlementJob, clock)

    def attestation_jobs(self, clock: Callable[[], dt.datetime] | None = None) -> JobStore:
        return SqlMarketJobStore(self._engine, ClearingAttestationJob, clock)

    def lookup_table_jobs(self) -> JobStore:
        return SqlJobStore(self._engine)


_JobModel = type[SettlementJob] | type[ClearingAttestationJob]


class SqlMarketJobStore(SqlJobStore):
    """A `programs.jobs.JobStore` over the `settlements` or `clearing_attestations` table;
    every payload carries its epoch (``{"epoch": E, ...}``), kept in its own column."""

    def __init__(
        self,
        engine: Engine,
        model: _JobModel,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        super().__init__(
            engine,
            clock,
            table=cast(Table, model.__table__),
            extra=lambda job: {"epoch": int(json.loads(job.payload)["epoch"])},
        )

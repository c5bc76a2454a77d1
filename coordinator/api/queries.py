"""The API's reads: meters, readings, epochs, energy, the order book, trades, admin views
(an owner's orders are read through the market store, `coordinator.market`).

Each function is one short read on the engine, returns frozen rows, and pages
by keyset (`after` / `before` keys the routes carry in cursors).
"""

import datetime as dt
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.engine import Engine

from coordinator.api.reads import Reads, Statement
from coordinator.db.models import (
    ClearingRecord,
    Device,
    EnrolmentToken,
    EpochOnchain,
    EpochRecord,
    KeyRotation,
    MarketOrder,
    MatchRow,
    Meter,
    MeterEpochEnergyRow,
    MeterStateRow,
    MintGrant,
    Reading,
    RejectedReading,
)
from coordinator.db.partitions import meter_time
from coordinator.db.session import read_connection
from coordinator.readings.epoch_close import reading_window
from coordinator.readings.oracle import EpochCalendar, Epochs, epoch_start, wh_to_base_units
from wire.base58 import b58encode
from wire.reading import Reading as WireReading
from wire.reading import SignedReading

__all__ = [
    "CampusEpochRow",
    "ClearingRow",
    "EpochRow",
    "GatewayRow",
    "HourRow",
    "MeterRow",
    "MintRow",
    "MyEpochEnergy",
    "ReadingRow",
    "RejectedRow",
    "TokenRow",
    "TradeRow",
    "campus_energy",
    "campus_hours",
    "clearings",
    "epoch",
    "epoch_readings",
    "epochs",
    "gateway_keys",
    "gateways",
    "latest_clearing",
    "meter_owner",
    "mints",
    "my_energy",
    "my_hours",
    "my_meters",
    "order_book",
    "reading",
    "rejected",
    "rejected_by_reason",
    "tokens",
    "trades",
]


@dataclass(frozen=True, slots=True)
class MeterRow:
    gateway_id: str
    meter_id: str
    model: str
    rated_power_w: int
    gateway_status: str
    last_reading_ts: int | None


@dataclass(frozen=True, slots=True)
class ReadingRow:
    gateway_id: str
    meter_id: str
    seq: int
    meter_ts: int
    import_wh: int
    export_wh: int
    epoch: int
    flags: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class EpochRow:
    epoch: int
    start: int
    length_s: int
    closed_at: dt.datetime
    reading_count: int
    total_import_wh: int
    total_export_wh: int
    mint_base_units: int
    merkle_root: bytes
    clearing_price: int | None
    volume: int | None
    turnover: int | None
    inputs_hash: str | None
    result_hash: str | None
    attestation_signature: str | None = None


@dataclass(frozen=True, slots=True)
class MyEpochEnergy:
    epoch: int
    import_wh: int
    export_wh: int
    closed: bool
    minted_base_units: int  # what the mint records say was minted (0 until then)
    withheld_base_units: int = 0
    withheld_reason: str | None = None
    pending_base_units: int = 0  # closed, not yet minted nor withheld


@dataclass(frozen=True, slots=True)
class MintRow:
    epoch: int
    owner: str
    base_units: int
    status: str
    reason: str | None
    attempts: int
    signature: str | None
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class GatewayRow:
    gateway_id: str
    status: str
    created_at: dt.datetime
    meter_count: int
    last_seen_ts: int | None


@dataclass(frozen=True, slots=True)
class RejectedRow:
    id: int
    received_at: dt.datetime
    gateway_id: str | None
    reason: str
    detail: str
    topic: str


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    owner: str
    note: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None
    used_by: str | None


@dataclass(frozen=True, slots=True)
class TradeRow:
    epoch: int
    idx: int
    side: str  # the caller's side: buy or sell
    counterparty: str
    quantity: int
    price: int
    payment: int
    status: str
    signature: str | None
    error: str | None
    cleared_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ClearingRow:
    """One epoch's market outcome (public: no owners)."""

    epoch: int
    clearing_price: int | None
    volume: int
    turnover: int
    order_count: int
    match_count: int
    cleared_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CampusEpochRow:
    """A closed epoch's campus-wide energy (public)."""

    epoch: int
    start: int
    length_s: int
    reading_count: int
    total_import_wh: int
    total_export_wh: int
    mint_base_units: int


@dataclass(frozen=True, slots=True)
class HourRow:
    """Energy (and, campus-wide, trade) totals of one UTC hour."""

    start: int
    import_wh: int
    export_wh: int
    volume: int
    turnover: int


HOUR_S = 3600


def my_meters(engine: Engine, owner: str) -> list[MeterRow]:
    query = (
        select(Meter.gateway_id, Meter.meter_id, Meter.model, Meter.rated_power_w,
               Device.status, MeterStateRow.meter_ts)
        .join(Device, Device.gateway_id == Meter.gateway_id)
        .outerjoin(MeterStateRow, and_(MeterStateRow.gateway_id == Meter.gateway_id,
                                       MeterStateRow.meter_id == Meter.meter_id))
        .where(Meter.owner == owner)
        .order_by(Meter.gateway_id, Meter.meter_id)
    )  # fmt: skip
    with engine.connect() as conn:
        return [MeterRow(g, m, mo, p, str(s), ts) for g, m, mo, p, s, ts in conn.execute(query)]


def meter_owner(engine: Engine, gateway_id: str, meter_id: str) -> str | None:
    """The meter's owner; '' for a meter with none; None for an unknown meter."""
    with read_connection(engine) as conn:
        rows = conn.execute(_OWNER, {"gateway_id": gateway_id, "meter_id": meter_id}).all()
    return _owner_of(rows)


_OWNER = select(Meter.owner).where(
    Meter.gateway_id == bindparam("gateway_id", type_=String),
    Meter.meter_id == bindparam("meter_id", type_=String),
)


def _owner_of(rows: Sequence[Sequence[Any]]) -> str | None:
    return None if not rows else (rows[0][0] or "")


def _reading_row(r: Sequence[object]) -> ReadingRow:
    g, m, seq, ts, imp, exp, ep, flags, sig = r
    return ReadingRow(str(g), str(m), int(seq), int(ts), int(imp), int(exp), int(ep),  # type: ignore[call-overload]
                      str(flags), bytes(sig))  # type: ignore[call-overload]  # fmt: skip


_READING_COLS = (Reading.gateway_id, Reading.meter_id, Reading.seq, Reading.meter_ts,
                 Reading.import_wh, Reading.export_wh, Reading.epoch, Reading.flags,
                 Reading.signature)  # fmt: skip


async def owned_readings(
    reads: Reads,
    gateway_id: str,
    meter_id: str,
    *,
    since: int | None,
    until: int | None,
    epoch: int | None,
    after: tuple[int, int] | None,
    limit: int,
) -> tuple[str | None, list[ReadingRow]]:
    """`meter_owner` and the meter's readings in meter-time order, `since <= meter_ts <
    until` (the caller decides from the owner whether they may be shown; none are read
    for an unknown meter)."""
    owner = _owner_of(await reads.all(_OWNER, {"gateway_id": gateway_id, "meter_id": meter_id}))
    if owner is None:
        return None, []
    statement, params = _readings_query(gateway_id, meter_id, since=since, until=until,
                                        epoch=epoch, after=after, limit=limit)  # fmt: skip
    return owner, [_reading_row(r) for r in await reads.all(statement, params)]


def _readings_query(
    gateway_id: str,
    meter_id: str,
    *,
    since: int | None,
    until: int | None,
    epoch: int | None,
    after: tuple[int, int] | None,
    limit: int,
) -> tuple[Statement, dict[str, Any]]:
    params: dict[str, Any] = {"gateway_id": gateway_id, "meter_id": meter_id, "limit": limit}
    if since is not None:
        params["since"] = meter_time(since)
    if until is not None:
        params["until"] = meter_time(until)
    if epoch is not None:
        params["epoch"] = epoch
    if after is not None:
        params["after_time"], params["after_seq"] = meter_time(after[0]), after[1]
    statement = _readings_statement(
        since is not None, until is not None, epoch is not None, after is not None
    )
    return statement, params


@functools.cache
def _readings_statement(since: bool, until: bool, epoch: bool, after: bool) -> Statement:
    """One statement object per shape, so that `Reads` compiles each once."""
    query = (
        select(*_READING_COLS)
        .where(Reading.gateway_id == bindparam("gateway_id", type_=String),
               Reading.meter_id == bindparam("meter_id", type_=String))
        .order_by(Reading.meter_time, Reading.seq)
        .limit(bindparam("limit", type_=Integer))
    )  # fmt: skip
    if since:
        query = query.where(Reading.meter_time >= bindparam("since", type_=Reading.meter_time.type))
    if until:
        query = query.where(Reading.meter_time < bindparam("until", type_=Reading.meter_time.type))
    if epoch:
        query = query.where(Reading.epoch == bindparam("epoch", type_=Reading.epoch.type))
    if after:
        query = query.where(
            tuple_(Reading.meter_time, Reading.seq)
            > tuple_(bindparam("after_time", type_=Reading.meter_time.type),
                     bindparam("after_seq", type_=Reading.seq.type))
        )  # fmt: skip
    return query


def reading(engine: Engine, gateway_id: str, seq: int) -> ReadingRow | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(*_READING_COLS).where(Reading.gateway_id == gateway_id, Reading.seq == seq)
        ).first()
    return None if row is None else _reading_row(row)


def gateway_keys(engine: Engine, gateway_id: str) -> list[bytes]:
    """The keys on record for the gateway: its current key, then each key it rotated
    from or to, in order, once each (its id is its first key)."""
    with engine.connect() as conn:
        current = conn.execute(
            select(Device.public_key).where(Device.gateway_id == gateway_id)
        ).scalar_one_or_none()
        rotations = conn.execute(
            select(KeyRotation.old_key, KeyRotation.new_key)
            .where(KeyRotation.gateway_id == gateway_id)
            .order_by(KeyRotation.id)
        ).all()
    keys: list[bytes] = []
    for key in [current, *(k for pair in rotations for k in pair)]:
        if key is not None and bytes(key) not in keys:
            keys.append(bytes(key))
    return keys


def epoch_readings(
    engine: Engine, epoch: int, epochs: Epochs, lateness_s: int
) -> list[SignedReading]:
    """The readings in an epoch's Merkle tree (the window the epoch close uses)."""
    low, high = reading_window(epoch, epochs, lateness_s)
    query = select(*_READING_COLS).where(
        Reading.epoch == epoch,
        Reading.meter_time >= meter_time(low),
        Reading.meter_time < meter_time(high),
    )
    with engine.connect() as conn:
        rows = [_reading_row(r) for r in conn.execute(query)]
    return [
        SignedReading(
            WireReading(r.gateway_id, r.meter_id, r.seq, r.meter_ts, r.import_wh, r.export_wh),
            r.signature,
        )
        for r in rows
    ]


def _epoch_query() -> Select[*tuple[Any, ...]]:
    return select(
        EpochRecord.epoch, EpochRecord.length_s, EpochRecord.closed_at, EpochRecord.reading_count,
        EpochRecord.total_import_wh, EpochRecord.total_export_wh, EpochRecord.mint_base_units,
        EpochRecord.merkle_root, ClearingRecord.clearing_price, ClearingRecord.volume,
        ClearingRecord.turnover, ClearingRecord.inputs_hash, ClearingRecord.result_hash,
        EpochOnchain.attestation_signature, EpochRecord.summary_json,
    ).outerjoin(ClearingRecord, ClearingRecord.epoch == EpochRecord.epoch).outerjoin(
        EpochOnchain, EpochOnchain.epoch == EpochRecord.epoch
    )  # fmt: skip


def _start(epoch: Any, length: Any, summary: Any) -> int:
    """When a closed epoch started: as its close recorded it (the governed epoch length
    can have changed since), else by its length."""
    try:
        start = json.loads(summary)["start"]
    except (TypeError, ValueError, KeyError):
        start = None
    return start if isinstance(start, int) else epoch_start(int(epoch), int(length))


def _epoch_row(r: Sequence[object]) -> EpochRow:
    e, length, closed, count, imp, exp, mint, root, price, vol, turn, ih, rh, att, body = r
    return EpochRow(
        e, _start(e, length, body), length, closed, count, imp, exp, mint,  # type: ignore[arg-type]
        bytes(root), price, vol, turn, ih, rh, att,  # type: ignore[call-overload, arg-type]
    )  # fmt: skip


def epochs(engine: Engine, *, before: int | None, limit: int) -> list[EpochRow]:
    """Closed epochs, newest first, with their clearing where there was one."""
    query = _epoch_query().order_by(EpochRecord.epoch.desc()).limit(limit)
    if before is not None:
        query = query.where(EpochRecord.epoch < before)
    with engine.connect() as conn:
        return [_epoch_row(r) for r in conn.execute(query)]


def epoch(engine: Engine, number: int) -> EpochRow | None:
    with engine.connect() as conn:
        row = conn.execute(_epoch_query().where(EpochRecord.epoch == number)).first()
    return None if row is None else _epoch_row(row)


async def my_energy(
    reads: Reads, owner: str, *, before: int | None, since: int | None, limit: int
) -> list[MyEpochEnergy]:
    """The owner's energy per epoch over all their meters, newest first (open
    epochs included; minted only once closed)."""
    params: dict[str, Any] = {"owner": owner, "limit": limit}
    if before is not None:
        params["before"] = before
    if since is not None:
        params["since"] = since
    rows = await reads.all(_my_energy_statement(before is not None, since is not None), params)
    result = []
    for e, imp, exp, closed, granted, granted_status, granted_reason in rows:
        if granted_status is None:
            # Closed and not planned yet: all of it is still to mint.
            units, status, reason = (wh_to_base_units(int(exp)), "pending" if closed else "", None)
        else:
            units, status, reason = int(granted), granted_status, granted_reason
        result.append(
            MyEpochEnergy(
                int(e), int(imp), int(exp), closed > 0,
                minted_base_units=units if status == "minted" else 0,
                withheld_base_units=units if status == "withheld" else 0,
                withheld_reason=reason if status == "withheld" else None,
                pending_base_units=units if status == "pending" else 0,
            )
        )  # fmt: skip
    return result


@functools.cache
def _my_energy_statement(before: bool, since: bool) -> Statement:
    owner = bindparam("owner", type_=String)
    mine = select(Meter.gateway_id, Meter.meter_id).where(Meter.owner == owner)
    # One statement: the owner's grant of an epoch is one row (its key is epoch and
    # owner), joined to each of their meters' rows of that epoch, hence max().
    query = (
        # The sums cast back to integers: PostgreSQL sums bigints as numeric, which
        # psycopg reads as Decimal, slowly.
        select(MeterEpochEnergyRow.epoch,
               cast(func.sum(MeterEpochEnergyRow.import_wh), BigInteger),
               cast(func.sum(MeterEpochEnergyRow.export_wh), BigInteger),
               func.count(EpochRecord.epoch), func.max(MintGrant.base_units),
               func.max(MintGrant.status), func.max(MintGrant.reason))
        .where(tuple_(MeterEpochEnergyRow.gateway_id, MeterEpochEnergyRow.meter_id).in_(mine))
        .outerjoin(EpochRecord, EpochRecord.epoch == MeterEpochEnergyRow.epoch)
        .outerjoin(MintGrant, and_(MintGrant.epoch == MeterEpochEnergyRow.epoch,
                                   MintGrant.owner == owner))
        .group_by(MeterEpochEnergyRow.epoch)
        .order_by(MeterEpochEnergyRow.epoch.desc())
        .limit(bindparam("limit", type_=Integer))
    )  # fmt: skip
    epoch_type = MeterEpochEnergyRow.epoch.type
    if before:
        query = query.where(MeterEpochEnergyRow.epoch < bindparam("before", type_=epoch_type))
    if since:
        query = query.where(MeterEpochEnergyRow.epoch >= bindparam("since", type_=epoch_type))
    return query


def mints(
    engine: Engine,
    *,
    status: str | None,
    epoch: int | None,
    owner: str | None,
    before: tuple[int, str] | None,
    limit: int,
) -> list[MintRow]:
    """Each owner's energy of each closed epoch and what became of it, newest first."""
    query = (
        select(MintGrant.epoch, MintGrant.owner, MintGrant.base_units, MintGrant.status,
               MintGrant.reason, MintGrant.attempts, MintGrant.signature, MintGrant.updated_at)
        .order_by(MintGrant.epoch.desc(), MintGrant.owner.desc())
        .limit(limit)
    )  # fmt: skip
    if status is not None:
        query = query.where(MintGrant.status == status)
    if epoch is not None:
        query = query.where(MintGrant.epoch == epoch)
    if owner is not None:
        query = query.where(MintGrant.owner == owner)
    if before is not None:
        query = query.where(tuple_(MintGrant.epoch, MintGrant.owner) < tuple_(*before))
    with engine.connect() as conn:
        return [
            MintRow(int(e), o, int(u), s, r, int(a), sig, at)
            for e, o, u, s, r, a, sig, at in conn.execute(query)
        ]


def gateways(
    engine: Engine, *, after: str | None, limit: int, owner: str | None = None
) -> list[GatewayRow]:
    """Gateways by id with their meter count and the newest meter time reported."""
    meters = select(Meter.gateway_id, func.count().label("n")).group_by(Meter.gateway_id).subquery()
    seen = (
        select(MeterStateRow.gateway_id, func.max(MeterStateRow.meter_ts).label("ts"))
        .group_by(MeterStateRow.gateway_id)
        .subquery()
    )
    query = (
        select(Device.gateway_id, Device.status, Device.created_at, meters.c.n, seen.c.ts)
        .outerjoin(meters, meters.c.gateway_id == Device.gateway_id)
        .outerjoin(seen, seen.c.gateway_id == Device.gateway_id)
        .order_by(Device.gateway_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Device.gateway_id > after)
    if owner is not None:
        query = query.where(
            Device.gateway_id.in_(select(Meter.gateway_id).where(Meter.owner == owner))
        )
    with engine.connect() as conn:
        return [
            GatewayRow(g, str(s), c, int(n or 0), None if ts is None else int(ts))
            for g, s, c, n, ts in conn.execute(query)
        ]


def rejected_by_reason(engine: Engine, since: dt.datetime | None) -> dict[str, int]:
    query = select(RejectedReading.reason, func.count()).group_by(RejectedReading.reason)
    if since is not None:
        query = query.where(RejectedReading.received_at >= since)
    with engine.connect() as conn:
        return {reason: int(n) for reason, n in conn.execute(query)}


def rejected(
    engine: Engine, *, reason: str | None, before: int | None, limit: int
) -> list[RejectedRow]:
    query = (
        select(RejectedReading.id, RejectedReading.received_at, RejectedReading.gateway_id,
               RejectedReading.reason, RejectedReading.detail, RejectedReading.topic)
        .order_by(RejectedReading.id.desc())
        .limit(limit)
    )  # fmt: skip
    if reason is not None:
        query = query.where(RejectedReading.reason == reason)
    if before is not None:
        query = query.where(RejectedReading.id < before)
    with engine.connect() as conn:
        return [RejectedRow(*r) for r in conn.execute(query)]


def tokens(engine: Engine, *, before: int | None, limit: int) -> list[TokenRow]:
    """Issued enrolment tokens, newest first (their hashes only ever stored)."""
    query = (
        select(EnrolmentToken.id, EnrolmentToken.owner, EnrolmentToken.note,
               EnrolmentToken.created_at, EnrolmentToken.expires_at, EnrolmentToken.used_at,
               EnrolmentToken.used_by)
        .order_by(EnrolmentToken.id.desc())
        .limit(limit)
    )  # fmt: skip
    if before is not None:
        query = query.where(EnrolmentToken.id < before)
    with engine.connect() as conn:
        return [TokenRow(*r) for r in conn.execute(query)]


def order_book(engine: Engine, epoch: int) -> list[tuple[str, int, int, int]]:
    """(side, limit price, total quantity, order count) of the epoch's live orders."""
    query = (
        select(MarketOrder.side, MarketOrder.limit_price, func.sum(MarketOrder.quantity),
               func.count())
        .where(MarketOrder.epoch == epoch, MarketOrder.status.in_(("pending", "open")))
        .group_by(MarketOrder.side, MarketOrder.limit_price)
        .order_by(MarketOrder.side, MarketOrder.limit_price.desc())
    )  # fmt: skip
    with engine.connect() as conn:
        return [(str(s), int(p), int(q), int(n)) for s, p, q, n in conn.execute(query)]


async def trades(
    reads: Reads, owner: str, *, before: tuple[int, int] | None, limit: int
) -> list[TradeRow]:
    """The owner's matches (as buyer or seller), newest first, with settlement."""
    params: dict[str, Any] = {"owner": owner, "limit": limit}
    if before is not None:
        params["before_epoch"], params["before_idx"] = before
    rows = await reads.all(_trades_statement(before is not None), params)
    return [
        TradeRow(e, i, "buy" if buyer == owner else "sell", seller if buyer == owner else buyer,
                 q, p, pay, st, None if sig is None else b58encode(bytes(sig)), err, at)
        for e, i, buyer, seller, q, p, pay, st, sig, err, at in rows
    ]  # fmt: skip


@functools.cache
def _trades_statement(before: bool) -> Statement:
    owner = bindparam("owner", type_=String)
    query = (
        select(MatchRow.epoch, MatchRow.idx, MatchRow.buyer, MatchRow.seller, MatchRow.quantity,
               MatchRow.price, MatchRow.payment, MatchRow.status, MatchRow.signature,
               MatchRow.error, ClearingRecord.cleared_at)
        .outerjoin(ClearingRecord, ClearingRecord.epoch == MatchRow.epoch)
        .where(or_(MatchRow.buyer == owner, MatchRow.seller == owner))
        .order_by(MatchRow.epoch.desc(), MatchRow.idx.desc())
        .limit(bindparam("limit", type_=Integer))
    )  # fmt: skip
    if before:
        query = query.where(
            tuple_(MatchRow.epoch, MatchRow.idx)
            < tuple_(bindparam("before_epoch", type_=MatchRow.epoch.type),
                     bindparam("before_idx", type_=MatchRow.idx.type))
        )  # fmt: skip
    return query


# --- the public market: prices, volumes, campus energy (no owners) ----------------------


_CLEARING_COLS = (
    ClearingRecord.epoch, ClearingRecord.clearing_price, ClearingRecord.volume,
    ClearingRecord.turnover, ClearingRecord.order_count, ClearingRecord.match_count,
    ClearingRecord.cleared_at,
)  # fmt: skip


def clearings(engine: Engine, *, before: int | None, limit: int) -> list[ClearingRow]:
    """Cleared epochs (those with no order too), newest first."""
    query = select(*_CLEARING_COLS).order_by(ClearingRecord.epoch.desc()).limit(limit)
    if before is not None:
        query = query.where(ClearingRecord.epoch < before)
    with engine.connect() as conn:
        return [ClearingRow(*r) for r in conn.execute(query)]


def latest_clearing(engine: Engine) -> ClearingRow | None:
    """The newest clearing that traded anything."""
    query = (
        select(*_CLEARING_COLS)
        .where(ClearingRecord.clearing_price.is_not(None))
        .order_by(ClearingRecord.epoch.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else ClearingRow(*row)


def campus_energy(engine: Engine, *, before: int | None, limit: int) -> list[CampusEpochRow]:
    """Closed epochs' campus-wide import and export, newest first."""
    query = (
        select(EpochRecord.epoch, EpochRecord.length_s, EpochRecord.reading_count,
               EpochRecord.total_import_wh, EpochRecord.total_export_wh,
               EpochRecord.mint_base_units, EpochRecord.summary_json)
        .order_by(EpochRecord.epoch.desc())
        .limit(limit)
    )  # fmt: skip
    if before is not None:
        query = query.where(EpochRecord.epoch < before)
    with engine.connect() as conn:
        return [
            CampusEpochRow(e, _start(e, length, body), length, n, imp, exp, mint)
            for e, length, n, imp, exp, mint, body in conn.execute(query)
        ]


def _hours(energy: dict[int, tuple[int, int]], trade: dict[int, tuple[int, int]]) -> list[HourRow]:
    return [
        HourRow(h * HOUR_S, *energy.get(h, (0, 0)), *trade.get(h, (0, 0)))
        for h in sorted(energy.keys() | trade.keys())
    ]


def _start_sql(epoch: Any, epochs: EpochCalendar) -> Any:
    """SQL for the start of `epoch` (a column) by the calendar, one branch per segment."""
    first, *later = epochs.segments
    start = first.start + (epoch - first.first_epoch) * first.length_s
    if not later:
        return start
    return case(
        *((epoch >= s.first_epoch, s.start + (epoch - s.first_epoch) * s.length_s)
          for s in reversed(later)),
        else_=start,
    )  # fmt: skip


def campus_hours(engine: Engine, *, since: int, epochs: EpochCalendar) -> list[HourRow]:
    """Campus-wide energy of the closed epochs and the traded volume and turnover of
    the cleared ones, per UTC hour from `since` (Unix seconds), oldest first."""
    energy_hour = _start_sql(EpochRecord.epoch, epochs) // HOUR_S
    energy_query = (
        select(energy_hour, func.sum(EpochRecord.total_import_wh),
               func.sum(EpochRecord.total_export_wh))
        .where(EpochRecord.epoch >= epochs.epoch_of(since))
        .group_by(energy_hour)
    )  # fmt: skip
    trade_hour = _start_sql(ClearingRecord.epoch, epochs) // HOUR_S
    trade_query = (
        select(trade_hour, func.sum(ClearingRecord.volume), func.sum(ClearingRecord.turnover))
        .where(ClearingRecord.epoch >= epochs.epoch_of(since))
        .group_by(trade_hour)
    )
    with engine.connect() as conn:
        energy = {int(h): (int(i), int(e)) for h, i, e in conn.execute(energy_query)}
        trade = {int(h): (int(v), int(t)) for h, v, t in conn.execute(trade_query)}
    return _hours(energy, trade)


def my_hours(engine: Engine, owner: str, *, since: int, epochs: EpochCalendar) -> list[HourRow]:
    """The owner's import and export over all their meters per UTC hour from `since`
    (open epochs included), oldest first; volume and turnover are not counted here."""
    mine = select(Meter.gateway_id, Meter.meter_id).where(Meter.owner == owner)
    hour = _start_sql(MeterEpochEnergyRow.epoch, epochs) // HOUR_S
    query = (
        select(hour, func.sum(MeterEpochEnergyRow.import_wh),
               func.sum(MeterEpochEnergyRow.export_wh))
        .where(tuple_(MeterEpochEnergyRow.gateway_id, MeterEpochEnergyRow.meter_id).in_(mine))
        .where(MeterEpochEnergyRow.epoch >= epochs.epoch_of(since))
        .group_by(hour)
    )  # fmt: skip
    with engine.connect() as conn:
        energy = {int(h): (int(i), int(e)) for h, i, e in conn.execute(query)}
    return _hours(energy, {})

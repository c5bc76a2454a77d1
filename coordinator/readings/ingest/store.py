"""Where batches go: the `ReadingStore` interface, and its adapter on PostgreSQL
(or SQLite) that keeps a batch in one transaction.

The store loads and writes; the ingest service decides
(`coordinator.readings.ingest.commit`). A batch's unit of work, in one
transaction:

1. on opening, (PostgreSQL) takes the epoch lock *shared* (the epoch closer
   takes it exclusive, so no batch adds energy to an epoch while it closes) and
   a transaction advisory lock per gateway of the batch, in sorted order
   (`coordinator.db.locks`). Two coordinator instances holding readings of one
   gateway (a redelivery after a reconnect can land on another instance) are
   serialized there, so the state each reads is what the other committed;
2. `load`: the oracle state for the batch's gateways from small tables
   (`meter_state`, `gateway_state`, `reading_seqs` joined to `readings`, the
   lowest open epoch): no in-process cache, so any number of instances stay
   exact;
3. `write`: accepted readings and their dedup keys, the upserted state and the
   epoch energy added, a statement each (on PostgreSQL with columns as
   arrays); rejections with COPY;
4. `commit`. Leaving the unit of work without it rolls everything back.

A reading counts as accepted once this commits.
"""

import contextlib
import datetime as dt
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy import BigInteger, String, any_, bindparam, func, insert, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, RootTransaction
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from coordinator.db.locks import EPOCH_LOCK, GATEWAY_LOCK_CLASS, gateway_lock_key
from coordinator.db.models import (
    Device,
    DeviceStatus,
    EpochRecord,
    GatewayState,
    KeyRotation,
    Meter,
    MeterEpochEnergyRow,
    MeterStateRow,
    Reading,
    ReadingSeq,
    RejectedReading,
)
from coordinator.db.partitions import meter_time
from coordinator.readings.ingest.decide import BatchDecision, BatchState
from coordinator.readings.ingest.screen import Parsed, Rejected
from coordinator.readings.oracle import DeviceRecord, MeterKey, MeterState
from coordinator.readings.oracle.records import RetiredKey
from wire.reading import Reading as WireReading

__all__ = ["ReadingStore", "ReadingUnitOfWork", "SqlReadingStore"]


class ReadingUnitOfWork(Protocol):
    """One batch's transaction, holding its gateways' locks (module doc)."""

    def load(
        self, parsed: Sequence[Parsed], devices: Mapping[str, DeviceRecord] | None = None
    ) -> BatchState:
        """The state `parsed` is decided against. `devices`, when given, are the
        records its signatures were verified against (one snapshot for the whole
        batch, not read a second time); otherwise they are read under the locks.
        Every reading's gateway must be one the unit of work was opened for."""
        ...

    def write(self, decision: BatchDecision, screened: Sequence[Rejected]) -> None:
        """Store `decision`, and its rejections together with `screened` (the
        messages refused before the oracle saw them), in arrival order."""
        ...

    def commit(self) -> None: ...


class ReadingStore(Protocol):
    def devices(self, gateway_ids: Iterable[str]) -> dict[str, DeviceRecord]:
        """The records of these gateways (outside any batch's transaction)."""
        ...

    def unit_of_work(self, gateway_ids: Iterable[str]) -> AbstractContextManager[ReadingUnitOfWork]:
        """`with store.unit_of_work(gateways) as uow:` load, write, commit."""
        ...


class SqlReadingStore:
    """ReadingStore on PostgreSQL or SQLite through SQLAlchemy Core (+ psycopg COPY)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        if self._dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"unsupported database dialect {self._dialect!r}")
        self._pg = self._dialect == "postgresql"

    def devices(self, gateway_ids: Iterable[str]) -> dict[str, DeviceRecord]:
        with self._engine.connect() as conn:
            return _load_devices(conn, sorted(set(gateway_ids)))

    @contextlib.contextmanager
    def unit_of_work(self, gateway_ids: Iterable[str]) -> Iterator["SqlUnitOfWork"]:
        gateways = sorted(set(gateway_ids))
        with self._engine.connect() as conn:
            tx = conn.begin()
            try:
                if self._pg:
                    _lock(conn, gateways)
                yield SqlUnitOfWork(conn, tx, gateways)
            finally:
                if tx.is_active:
                    tx.rollback()


def _lock(conn: Connection, gateways: Sequence[str]) -> None:
    """The epoch lock shared, then each gateway's lock in sorted key order."""
    conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": EPOCH_LOCK})
    keys = sorted({gateway_lock_key(gw) for gw in gateways})
    if keys:
        conn.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(:c, k)) FROM "
                "(SELECT k FROM unnest(CAST(:keys AS int4[])) AS k ORDER BY k "
                "OFFSET 0) AS s"
            ),
            {"c": GATEWAY_LOCK_CLASS, "keys": keys},
        )


class SqlUnitOfWork:
    """ReadingUnitOfWork on one connection and its transaction."""

    def __init__(self, conn: Connection, tx: RootTransaction, gateways: Sequence[str]) -> None:
        self._conn = conn
        self._tx = tx
        self._gateways = gateways
        self._locked = frozenset(gateways)

    def load(
        self, parsed: Sequence[Parsed], devices: Mapping[str, DeviceRecord] | None = None
    ) -> BatchState:
        unlocked = {p.signed.reading.gateway_id for p in parsed} - self._locked
        if unlocked:
            raise ValueError(f"gateways not locked by this unit of work: {sorted(unlocked)}")
        return _load_state(self._conn, parsed, self._gateways, devices)

    def write(self, decision: BatchDecision, screened: Sequence[Rejected]) -> None:
        rejected = sorted([*screened, *decision.rejected], key=lambda r: r.incoming.received_at)
        rejects = [
            (r.incoming.received_at, r.incoming.topic, r.incoming.payload, r.reason, r.detail,
             r.gateway_id)
            for r in rejected  # arrival order
        ]  # fmt: skip
        if self._conn.dialect.name == "postgresql":
            _write_columns(self._conn, decision, rejects)
        else:
            _write_rows(self._conn, decision, rejects)

    def commit(self) -> None:
        self._tx.commit()


# Accepted readings and state as columns: one statement per table, each column
# one binary array (`%b`). psycopg dumps a list in binary at ~0.2 us an element and
# the server inserts or upserts the whole batch in one statement; COPY row by row
# and executemany of the upserts cost the worker 20 us a reading more and the
# server a tenth more (docs/performance.md, "Ingest";
# tests/coordinator/readings/test_store.py holds the rows equal to the SQLite path's).
_INSERT_READINGS = """
WITH r AS (
  INSERT INTO readings (gateway_id, seq, meter_time, meter_id, meter_ts, import_wh, export_wh,
                        signature, received_at, flags, epoch, first_open_epoch)
  SELECT *, %(first_open_epoch)b::int8 FROM unnest(
    %(gateway_id)b::text[], %(seq)b::int8[], %(meter_time)b::timestamptz[], %(meter_id)b::text[],
    %(meter_ts)b::int8[], %(import_wh)b::int8[], %(export_wh)b::int8[], %(signature)b::bytea[],
    %(received_at)b::timestamptz[], %(flags)b::text[], %(epoch)b::int8[])
  RETURNING gateway_id, seq, meter_time)
INSERT INTO reading_seqs (gateway_id, seq, meter_time) SELECT gateway_id, seq, meter_time FROM r
"""
_UPSERT_METERS = """
INSERT INTO meter_state (gateway_id, meter_id, seq, meter_ts, import_wh, export_wh)
SELECT * FROM unnest(%b::text[], %b::text[], %b::int8[], %b::int8[], %b::int8[], %b::int8[])
ON CONFLICT (gateway_id, meter_id) DO UPDATE SET seq = excluded.seq,
  meter_ts = excluded.meter_ts, import_wh = excluded.import_wh, export_wh = excluded.export_wh
"""
_UPSERT_GATEWAYS = """
INSERT INTO gateway_state (gateway_id, highest_seq) SELECT * FROM unnest(%b::text[], %b::int8[])
ON CONFLICT (gateway_id) DO UPDATE SET highest_seq = excluded.highest_seq
"""
_ADD_ENERGY = """
INSERT INTO meter_epoch_energy AS e (epoch, gateway_id, meter_id, import_wh, export_wh)
SELECT * FROM unnest(%b::int8[], %b::text[], %b::text[], %b::int8[], %b::int8[])
ON CONFLICT (epoch, gateway_id, meter_id) DO UPDATE SET
  import_wh = e.import_wh + excluded.import_wh, export_wh = e.export_wh + excluded.export_wh
"""


# A rejected message: (received_at, topic, payload, reason, detail, gateway_id).
Reject = tuple[dt.datetime, str, bytes, str, str, str | None]
_REJECT_COLS = ("received_at", "topic", "payload", "reason", "detail", "gateway_id")
_COPY_REJECTS = f"COPY rejected_readings ({', '.join(_REJECT_COLS)}) FROM STDIN"


def _write_columns(conn: Connection, d: BatchDecision, rejects: Sequence[Reject]) -> None:
    """PostgreSQL: the rejections (COPY), then the batch's accepted readings, state
    and energy (see above)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    meters, gateways, energy = _state_columns(d)
    with raw.cursor() as cur:
        if rejects:
            with cur.copy(_COPY_REJECTS) as copy:
                for row in rejects:
                    copy.write_row(row)
        if d.accepted:
            # first_open_epoch: one for the whole batch, read under the lock.
            params = {**_reading_columns(d), "first_open_epoch": d.first_open_epoch}
            cur.execute(_INSERT_READINGS, params)
        if d.meters:
            cur.execute(_UPSERT_METERS, list(meters.values()))
        if d.gateways:
            cur.execute(_UPSERT_GATEWAYS, list(gateways.values()))
        if d.energy:
            cur.execute(_ADD_ENERGY, list(energy.values()))


def _write_rows(conn: Connection, d: BatchDecision, rejects: Sequence[Reject]) -> None:
    """SQLite: the same through SQLAlchemy, row by row."""
    if rejects:
        conn.execute(
            insert(RejectedReading), [dict(zip(_REJECT_COLS, r, strict=True)) for r in rejects]
        )
    if d.accepted:
        columns = _reading_columns(d)
        seqs = {c: columns[c] for c in ("gateway_id", "seq", "meter_time")}
        columns["first_open_epoch"] = [d.first_open_epoch] * len(d.accepted)
        conn.execute(insert(Reading), _rows(columns))
        conn.execute(insert(ReadingSeq), _rows(seqs))
    meters, gateways, energy = _state_columns(d)
    if d.meters:
        stmt = sqlite.insert(MeterStateRow)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["gateway_id", "meter_id"],
                set_={c: stmt.excluded[c] for c in ("seq", "meter_ts", "import_wh", "export_wh")},
            ),
            _rows(meters),
        )
    if d.gateways:
        stmt_g = sqlite.insert(GatewayState)
        conn.execute(
            stmt_g.on_conflict_do_update(
                index_elements=["gateway_id"], set_={"highest_seq": stmt_g.excluded.highest_seq}
            ),
            _rows(gateways),
        )
    if d.energy:
        stmt_e = sqlite.insert(MeterEpochEnergyRow)
        table = MeterEpochEnergyRow.__table__
        conn.execute(
            stmt_e.on_conflict_do_update(
                index_elements=["epoch", "gateway_id", "meter_id"],
                set_={
                    "import_wh": table.c.import_wh + stmt_e.excluded.import_wh,
                    "export_wh": table.c.export_wh + stmt_e.excluded.export_wh,
                },
            ),
            _rows(energy),
        )


Columns = dict[str, list[Any]]


def _reading_columns(d: BatchDecision) -> Columns:
    """The `readings` columns of the accepted readings (all but first_open_epoch),
    in the table's order."""
    readings = [a.signed.reading for a in d.accepted]
    return {
        "gateway_id": [r.gateway_id for r in readings],
        "seq": [r.seq for r in readings],
        "meter_time": [meter_time(r.ts) for r in readings],
        "meter_id": [r.meter_id for r in readings],
        "meter_ts": [r.ts for r in readings],
        "import_wh": [r.import_wh for r in readings],
        "export_wh": [r.export_wh for r in readings],
        "signature": [a.signed.signature for a in d.accepted],
        "received_at": [a.incoming.received_at for a in d.accepted],
        "flags": [",".join(sorted(a.flags)) for a in d.accepted],
        "epoch": [a.epoch for a in d.accepted],
    }


def _state_columns(d: BatchDecision) -> tuple[Columns, Columns, Columns]:
    """The `meter_state`, `gateway_state` and `meter_epoch_energy` rows to write, as
    columns in each table's order (energy sorted by key)."""
    meters = [(m, seq, s) for m, (seq, s) in d.meters.items()]
    energy = sorted(d.energy.items())
    return (
        {
            "gateway_id": [m.gateway_id for m, _, _ in meters],
            "meter_id": [m.meter_id for m, _, _ in meters],
            "seq": [seq for _, seq, _ in meters],
            "meter_ts": [s.ts for _, _, s in meters],
            "import_wh": [s.import_wh for _, _, s in meters],
            "export_wh": [s.export_wh for _, _, s in meters],
        },
        {"gateway_id": list(d.gateways), "highest_seq": list(d.gateways.values())},
        {
            "epoch": [epoch for (epoch, _), _ in energy],
            "gateway_id": [m.gateway_id for (_, m), _ in energy],
            "meter_id": [m.meter_id for (_, m), _ in energy],
            "import_wh": [imp for _, (imp, _) in energy],
            "export_wh": [exp for _, (_, exp) in energy],
        },
    )


def _rows(columns: Columns) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


# Reads.


def _one_of(
    conn: Connection, column: QueryableAttribute[str], values: Sequence[str]
) -> ColumnElement[bool]:
    """`column IN values`. On PostgreSQL `= ANY(array)`: one parameter, so the SQL text
    is the same for every batch and psycopg need not parse it again (an expanded IN
    of 2,000 values made that a tenth of ingest's CPU)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(String)))
    return column.in_(values)


def _pair_in(
    conn: Connection,
    first: QueryableAttribute[str],
    second: QueryableAttribute[int],
    pairs: Sequence[tuple[str, int]],
) -> ColumnElement[bool]:
    """`(first, second) IN pairs`, on PostgreSQL as two arrays unnested side by side."""
    if conn.dialect.name == "postgresql":
        gws = bindparam(None, [p[0] for p in pairs], type_=postgresql.ARRAY(String))
        seqs = bindparam(None, [p[1] for p in pairs], type_=postgresql.ARRAY(BigInteger))
        return tuple_(first, second).in_(select(func.unnest(gws), func.unnest(seqs)))
    return tuple_(first, second).in_(pairs)


def _load_devices(conn: Connection, gateway_ids: Sequence[str]) -> dict[str, DeviceRecord]:
    if not gateway_ids:
        return {}
    rows = conn.execute(
        select(Device.gateway_id, Device.public_key, Device.status, Meter.meter_id,
               Meter.rated_power_w)
        .outerjoin(Meter, Meter.gateway_id == Device.gateway_id)
        .where(_one_of(conn, Device.gateway_id, gateway_ids))
    ).all()  # fmt: skip
    keys: dict[str, tuple[bytes, bool]] = {}
    rated: dict[str, dict[str, int]] = {}
    for gw, key, status, meter_id, watts in rows:
        keys[gw] = (bytes(key), status == DeviceStatus.ACTIVE)
        meters = rated.setdefault(gw, {})
        if meter_id is not None:
            meters[meter_id] = int(watts)
    # Every rotation of these gateways (a handful each): the oracle judges
    # which retired key was still within its overlap when a reading arrived.
    retired: dict[str, list[RetiredKey]] = {}
    for gw, old_key, until in conn.execute(
        select(KeyRotation.gateway_id, KeyRotation.old_key, KeyRotation.old_valid_until)
        .where(_one_of(conn, KeyRotation.gateway_id, gateway_ids))
        .order_by(KeyRotation.id.desc())
    ):
        retired.setdefault(gw, []).append(RetiredKey(bytes(old_key), _unix(until)))
    return {
        gw: DeviceRecord(
            public_key=key,
            active=active,
            rated_power_w=rated[gw],
            retired_keys=tuple(retired.get(gw, ())),
        )
        for gw, (key, active) in keys.items()
    }


def _unix(at: dt.datetime) -> int:
    # SQLite hands timestamps back naive; they were stored as UTC. Rounded
    # down: an overlap is never longer than the one granted (issue 4).
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return math.floor(at.timestamp())


def _load_state(
    conn: Connection,
    parsed: Sequence[Parsed],
    gateways: Sequence[str],
    devices: Mapping[str, DeviceRecord] | None,
) -> BatchState:
    if devices is None:
        devices = _load_devices(conn, gateways)
    previous: dict[MeterKey, MeterState] = {}
    highest: dict[str, int] = {}
    stored: dict[tuple[str, int], WireReading] = {}
    if gateways:
        m = MeterStateRow
        for gw, meter_id, ts, imp, exp in conn.execute(
            select(m.gateway_id, m.meter_id, m.meter_ts, m.import_wh, m.export_wh).where(
                _one_of(conn, m.gateway_id, gateways)
            )
        ):
            previous[MeterKey(gw, meter_id)] = MeterState(ts, imp, exp)
        highest = {
            gw: int(seq)
            for gw, seq in conn.execute(
                select(GatewayState.gateway_id, GatewayState.highest_seq).where(
                    _one_of(conn, GatewayState.gateway_id, gateways)
                )
            )
        }
        # Only a seq at or below its gateway's highest accepted one can be stored
        # already: in the usual stream (each reading newer) nothing is looked up.
        pairs = sorted(
            {
                (r.gateway_id, r.seq)
                for r in (p.signed.reading for p in parsed)
                if r.seq <= highest.get(r.gateway_id, -1)
            }
        )
        query = (
            select(Reading.gateway_id, Reading.meter_id, Reading.seq, Reading.meter_ts,
                   Reading.import_wh, Reading.export_wh)
            .join(ReadingSeq, (ReadingSeq.gateway_id == Reading.gateway_id)
                  & (ReadingSeq.seq == Reading.seq)
                  & (ReadingSeq.meter_time == Reading.meter_time))
            .where(_pair_in(conn, ReadingSeq.gateway_id, ReadingSeq.seq, pairs))
        )  # fmt: skip
        if pairs:
            for gw, meter_id, seq, ts, imp, exp in conn.execute(query):
                stored[(gw, seq)] = WireReading(gw, meter_id, seq, ts, imp, exp)
    closed = conn.execute(select(EpochRecord.epoch).order_by(EpochRecord.epoch.desc()).limit(1))
    last = closed.scalar_one_or_none()
    return BatchState(
        devices=devices,
        previous=previous,
        highest_seq=highest,
        stored=stored,
        first_open_epoch=None if last is None else last + 1,
    )

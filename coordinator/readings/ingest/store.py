"""Where batches go: one transaction per batch on PostgreSQL (or SQLite).

`SqlReadingStore.commit_batch` takes verified-but-undecided readings and, in
one transaction:

1. (PostgreSQL) takes the epoch lock *shared* (the epoch closer takes it
   exclusive, so no batch adds energy to an epoch while it closes) and a
   transaction advisory lock per gateway of the batch, in sorted order. Two
   coordinator instances holding readings of one gateway (a redelivery after a
   reconnect can land on another instance) are serialized there, so the state
   each reads is what the other committed.
2. loads the oracle state for the batch's gateways from small tables
   (`meter_state`, `gateway_state`, `reading_seqs` joined to `readings`, the
   lowest open epoch): no in-process cache, so any number of instances
   stay exact;
3. runs `decide_batch` (pure);
4. writes accepted readings and their dedup keys, upserts the state and adds
   the epoch energy, a statement each (on PostgreSQL with columns as arrays);
   rejections with COPY.

A reading counts as accepted once this commits.
"""

import datetime as dt
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any, Protocol

from sqlalchemy import BigInteger, String, any_, bindparam, func, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

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
from coordinator.readings.ingest.decide import BatchDecision, BatchState, Verified, decide_batch
from coordinator.readings.ingest.screen import Parsed, Rejected
from coordinator.readings.oracle import DeviceRecord, MeterKey, MeterState, OracleConfig
from coordinator.readings.oracle.records import RetiredKey
from programs.bulk import bulk_insert
from wire.reading import Reading as WireReading

__all__ = [
    "EPOCH_LOCK",
    "GATEWAY_LOCK_CLASS",
    "ReadingStore",
    "SqlReadingStore",
    "meter_time",
]

# Advisory lock keys. The single-bigint and the two-int4 key spaces do not overlap.
EPOCH_LOCK = 0x6774_7801  # "gtx" 01
GATEWAY_LOCK_CLASS = 0x6774_7802


def meter_time(ts: int) -> dt.datetime:
    """The partition key of a reading: its meter timestamp as a UTC instant."""
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def _gateway_lock_key(gateway_id: str) -> int:
    return zlib.crc32(gateway_id.encode()) - (1 << 31)  # into int4 range


class ReadingStore(Protocol):
    def devices(self, gateway_ids: Iterable[str]) -> dict[str, DeviceRecord]: ...

    def commit_batch(
        self,
        parsed: Sequence[Parsed],
        rejected: Sequence[Rejected],
        *,
        verified: Verified,
        now: int,
        config: OracleConfig,
        length_s: int,
        devices: Mapping[str, DeviceRecord] | None = None,
    ) -> BatchDecision: ...


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

    def commit_batch(
        self,
        parsed: Sequence[Parsed],
        rejected: Sequence[Rejected],
        *,
        verified: Verified,
        now: int,
        config: OracleConfig,
        length_s: int,
        devices: Mapping[str, DeviceRecord] | None = None,
    ) -> BatchDecision:
        """Decide and write the batch in one transaction. `devices`, when given, are
        the records its signatures were verified against (one snapshot for the whole
        batch, not read a second time); otherwise they are read under the locks."""
        gateways = sorted({p.signed.reading.gateway_id for p in parsed})
        with self._engine.begin() as conn:
            if self._pg:
                conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": EPOCH_LOCK})
                keys = sorted({_gateway_lock_key(gw) for gw in gateways})
                if keys:
                    conn.execute(
                        text(
                            "SELECT count(pg_advisory_xact_lock(:c, k)) FROM "
                            "(SELECT k FROM unnest(CAST(:keys AS int4[])) AS k ORDER BY k "
                            "OFFSET 0) AS s"
                        ),
                        {"c": GATEWAY_LOCK_CLASS, "keys": keys},
                    )
            state = _load_state(conn, parsed, gateways, devices)
            decision = decide_batch(
                parsed, state, now=now, config=config, length_s=length_s, verified=verified
            )
            self._write(conn, decision, [*rejected, *decision.rejected])
        return decision

    # Writes.

    def _write(self, conn: Connection, d: BatchDecision, rejected: Sequence[Rejected]) -> None:
        rejects = [
            (r.incoming.received_at, r.incoming.topic, r.incoming.payload, r.reason, r.detail,
             r.gateway_id)
            for r in sorted(rejected, key=lambda r: r.incoming.received_at)  # arrival order
        ]  # fmt: skip
        bulk_insert(conn, RejectedReading.__table__, _REJECT_COLS, rejects)  # type: ignore[arg-type]
        if self._pg:
            _write_columns(conn, d)
        else:
            _write_rows(conn, d)


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


def _write_columns(conn: Connection, d: BatchDecision) -> None:
    """PostgreSQL: the batch's accepted readings, state and energy (see above)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    meters, gateways, energy = _state_columns(d)
    with raw.cursor() as cur:
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


def _write_rows(conn: Connection, d: BatchDecision) -> None:
    """SQLite: the same columns through SQLAlchemy, row by row."""
    columns = _reading_columns(d)
    readings = list(zip(*columns.values(), repeat(d.first_open_epoch)))
    seqs = list(zip(columns["gateway_id"], columns["seq"], columns["meter_time"], strict=True))
    names = (*columns, "first_open_epoch")
    bulk_insert(conn, Reading.__table__, names, readings)  # type: ignore[arg-type]
    bulk_insert(conn, ReadingSeq.__table__, ("gateway_id", "seq", "meter_time"), seqs)  # type: ignore[arg-type]
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


_REJECT_COLS = ("received_at", "topic", "payload", "reason", "detail", "gateway_id")


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

"""Closing epochs exactly once, and reproducing an epoch's numbers on demand.

`close_due` closes, in order, every epoch whose end plus the grace period
has passed. Each close is one transaction under the epoch advisory lock taken
*exclusive* (ingest batches take it shared, so no batch adds energy to an
epoch while it closes, and of several coordinator instances one closes while
the others wait and then find the epoch closed). Inside: the per-meter energy
already accumulated in `meter_epoch_energy` is totalled (`summarize_epoch`),
the Merkle root of the readings whose accounting epoch it is is built
(`epoch_root`) and an `epochs` row is written. A crash before commit leaves
nothing; a crash after it leaves a closed epoch. Closing is idempotent and
nothing is counted twice. Publishing the summary on its retained MQTT topic
happens after commit (`publish_pending`), until the broker acknowledges.
`close_due` blocks (callers run it in a thread: `asyncio.to_thread`);
`publish_pending` is async and runs its SQL in worker threads.

`recompute_epoch` derives the same numbers from the stored readings alone
(`meter_epoch_energy` of the oracle over each meter's accepted readings, with
the `first_open_epoch` each was accepted under): `gtx-coordinator epoch
recompute N`, with the epoch length the data was made with (`recorded_length`:
each close stores its length), not the one configured now.

Window of readings an epoch's tree needs: a reading counts in epoch N when
its own epoch is N, or when it is older but was accepted while N was the
lowest open epoch; it was then at most `lateness_window_s` old, and N-1 had
closed (after N began), so `meter_time` is in [start(N) - lateness, end(N)).
"""

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from coordinator.db.locks import EPOCH_LOCK
from coordinator.db.models import EpochRecord, MeterEpochEnergyRow, MeterStateRow, Reading
from coordinator.db.partitions import meter_time
from coordinator.ops import metrics
from coordinator.readings.oracle import (
    AcceptedPoint,
    EpochEnergy,
    EpochSummary,
    Flag,
    MeterKey,
    MeterState,
    epoch_root,
    epoch_start,
    meter_epoch_energy,
    summarize_epoch,
)
from wire.reading import Reading as WireReading
from wire.reading import SignedReading

__all__ = ["ClosedEpoch", "EpochCloser", "recompute_epoch", "recorded_length", "summary_json"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClosedEpoch:
    summary: EpochSummary
    merkle_root: bytes
    reading_count: int


def summary_json(closed: ClosedEpoch, length_s: int) -> str:
    """The retained MQTT summary (and the stored copy): stable keys, integers only."""
    s = closed.summary
    return json.dumps(
        {
            "epoch": s.epoch,
            "start": epoch_start(s.epoch, length_s),
            "length_s": length_s,
            "readings": closed.reading_count,
            "merkle_root": closed.merkle_root.hex(),
            "total_import_wh": s.total_import_wh,
            "total_export_wh": s.total_export_wh,
            "mint_base_units": s.mint_base_units,
            "meters": [
                {
                    "gateway_id": m.meter.gateway_id,
                    "meter_id": m.meter.meter_id,
                    "import_wh": m.import_wh,
                    "export_wh": m.export_wh,
                    "mint_base_units": m.mint_base_units,
                }
                for m in s.meters
            ],
        },
        separators=(",", ":"),
    )


def _epoch_readings(
    conn: Connection, epoch: int, length_s: int, lateness_s: int
) -> list[SignedReading]:
    start = epoch_start(epoch, length_s)
    rows = conn.execute(
        select(Reading.gateway_id, Reading.meter_id, Reading.seq, Reading.meter_ts,
               Reading.import_wh, Reading.export_wh, Reading.signature)
        .where(Reading.epoch == epoch,
               Reading.meter_time >= meter_time(max(start - lateness_s - length_s, 0)),
               Reading.meter_time < meter_time(start + length_s))
    )  # fmt: skip
    return [
        SignedReading(WireReading(gw, m, seq, ts, imp, exp), bytes(sig))
        for gw, m, seq, ts, imp, exp, sig in rows
    ]


def _close_one(conn: Connection, epoch: int, length_s: int, lateness_s: int) -> ClosedEpoch:
    energies = {
        MeterKey(gw, m): EpochEnergy(epoch, imp, exp)
        for gw, m, imp, exp in conn.execute(
            select(
                MeterEpochEnergyRow.gateway_id,
                MeterEpochEnergyRow.meter_id,
                MeterEpochEnergyRow.import_wh,
                MeterEpochEnergyRow.export_wh,
            ).where(MeterEpochEnergyRow.epoch == epoch)
        )
    }
    readings = _epoch_readings(conn, epoch, length_s, lateness_s)
    return ClosedEpoch(summarize_epoch(epoch, energies), epoch_root(readings), len(readings))


class EpochCloser:
    def __init__(
        self,
        engine: Engine,
        *,
        length_s: int,
        grace_s: int,
        lateness_s: int | Callable[[int], int],
    ) -> None:
        """`lateness_s`: the lateness window, or the one in force at a given epoch
        (a governed parameter), which bounds where its readings are looked for."""
        self._engine = engine
        self._length_s = length_s
        self._grace_s = grace_s
        self._lateness_s = lateness_s
        self._pg = engine.dialect.name == "postgresql"

    def _next_epoch(self, conn: Connection) -> int | None:
        last = conn.execute(select(func.max(EpochRecord.epoch))).scalar_one_or_none()
        if last is not None:
            return int(last) + 1
        # Nothing closed yet: start at the first epoch anything was counted in.
        firsts = [
            conn.execute(select(func.min(MeterEpochEnergyRow.epoch))).scalar_one_or_none(),
            conn.execute(select(func.min(Reading.epoch))).scalar_one_or_none(),
        ]
        known = [int(f) for f in firsts if f is not None]
        return min(known) if known else None

    def close_due(self, now: int, limit: int = 1000) -> list[ClosedEpoch]:
        """Close every epoch due at `now` (at most `limit`), oldest first."""
        closed: list[ClosedEpoch] = []
        while len(closed) < limit:
            with self._engine.begin() as conn:
                if self._pg:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": EPOCH_LOCK})
                epoch = self._next_epoch(conn)
                end = None if epoch is None else epoch_start(epoch + 1, self._length_s)
                if epoch is None or end is None or now < end + self._grace_s:
                    return closed
                lateness = (
                    self._lateness_s
                    if isinstance(self._lateness_s, int)
                    else self._lateness_s(epoch)
                )
                result = _close_one(conn, epoch, self._length_s, lateness)
                conn.execute(
                    insert(EpochRecord).values(
                        epoch=epoch,
                        length_s=self._length_s,
                        closed_at=dt.datetime.now(dt.UTC),
                        reading_count=result.reading_count,
                        total_import_wh=result.summary.total_import_wh,
                        total_export_wh=result.summary.total_export_wh,
                        mint_base_units=result.summary.mint_base_units,
                        merkle_root=result.merkle_root,
                        summary_json=summary_json(result, self._length_s),
                    )
                )
            closed.append(result)
            metrics.EPOCHS_CLOSED.inc()
            metrics.record_closed_epoch(
                result.summary.total_import_wh,
                result.summary.total_export_wh,
                result.summary.mint_base_units,
            )
            log.info(
                "epoch closed: %d readings, export %d Wh, root %s",
                result.reading_count,
                result.summary.total_export_wh,
                result.merkle_root.hex(),
                extra={"epoch": epoch},
            )
        return closed

    async def publish_pending(
        self, publish: Callable[[int, bytes], Awaitable[bool]], limit: int = 100
    ) -> int:
        """Publish closed epochs not yet published; returns how many were. The SQL
        runs in a worker thread, never on the event loop."""
        pending = await asyncio.to_thread(self._unpublished, limit)
        done = 0
        for epoch, body in pending:
            if not await publish(epoch, body.encode()):
                break
            await asyncio.to_thread(self._mark_published, epoch)
            done += 1
        return done

    def _unpublished(self, limit: int) -> list[tuple[int, str]]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(EpochRecord.epoch, EpochRecord.summary_json)
                .where(EpochRecord.published_at.is_(None))
                .order_by(EpochRecord.epoch)
                .limit(limit)
            ).all()
        return [(int(epoch), body) for epoch, body in rows]

    def _mark_published(self, epoch: int) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(EpochRecord)
                .where(EpochRecord.epoch == epoch)
                .values(published_at=dt.datetime.now(dt.UTC))
            )


def _points(rows: Sequence[tuple[int, int, int, str, int | None]]) -> list[AcceptedPoint]:
    return [
        AcceptedPoint(MeterState(ts, imp, exp), Flag.METER_RESET in flags.split(","), foe)
        for ts, imp, exp, flags, foe in rows
    ]


def recorded_length(engine: Engine, epoch: int) -> int | None:
    """The epoch length `epoch` was closed with; for an epoch not closed yet, that of
    the newest close (the length the stored data is counted in); None when no
    epoch was ever closed."""
    with engine.connect() as conn:
        own = conn.execute(
            select(EpochRecord.length_s).where(EpochRecord.epoch == epoch)
        ).scalar_one_or_none()
        if own is not None:
            return int(own)
        newest = conn.execute(
            select(EpochRecord.length_s).order_by(EpochRecord.closed_at.desc()).limit(1)
        ).scalar_one_or_none()
    return None if newest is None else int(newest)


def recompute_epoch(engine: Engine, epoch: int, length_s: int, lateness_s: int) -> ClosedEpoch:
    """An epoch's numbers from the stored readings alone (module doc)."""
    start = epoch_start(epoch, length_s)
    low = meter_time(max(start - lateness_s - length_s, 0))
    high = meter_time(start + length_s)
    cols = (Reading.meter_ts, Reading.import_wh, Reading.export_wh, Reading.flags,
            Reading.first_open_epoch)  # fmt: skip
    energies: dict[MeterKey, EpochEnergy] = {}
    with engine.connect() as conn:
        meters = conn.execute(select(MeterStateRow.gateway_id, MeterStateRow.meter_id)).all()
        for gw, meter_id in meters:
            same = (Reading.gateway_id == gw) & (Reading.meter_id == meter_id)
            before = conn.execute(
                select(*cols).where(same, Reading.meter_time < low)
                .order_by(Reading.meter_time.desc()).limit(1)
            ).all()  # fmt: skip
            inside = conn.execute(
                select(*cols).where(same, Reading.meter_time >= low, Reading.meter_time < high)
                .order_by(Reading.meter_time)
            ).all()  # fmt: skip
            after = conn.execute(
                select(*cols).where(same, Reading.meter_time >= high)
                .order_by(Reading.meter_time).limit(1)
            ).all()  # fmt: skip
            rows = [tuple(r) for r in (*before, *inside, *after)]
            for part in meter_epoch_energy(_points(rows), length_s):  # type: ignore[arg-type]
                if part.epoch == epoch:
                    energies[MeterKey(gw, meter_id)] = part
        readings = _epoch_readings(conn, epoch, length_s, lateness_s)
    return ClosedEpoch(summarize_epoch(epoch, energies), epoch_root(readings), len(readings))

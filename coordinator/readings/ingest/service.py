"""The ingest loop: batch off the broker, parse, verify, decide and commit, then ack
(in this process, or in worker processes: `coordinator.readings.ingest.workers`).

A reading counts as accepted only once committed; the broker's copy is
acknowledged after that, so a crash at any point leaves the reading with the
broker, which redelivers it (and a redelivery of a committed reading is a
`duplicate`, counted once). While the database is unreachable the batch is
held, unacknowledged, and retried with a growing delay.
"""

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from coordinator.ops import metrics
from coordinator.readings.ingest.commit import decide_and_commit
from coordinator.readings.ingest.mqtt_source import Delivery, MqttSource
from coordinator.readings.ingest.outcome import BatchOutcome
from coordinator.readings.ingest.screen import Rejected
from coordinator.readings.ingest.store import ReadingStore
from coordinator.readings.ingest.workers import (
    DATABASE_DOWN,
    WorkerPool,
    retry_delays,
    split_by_worker,
)
from coordinator.readings.oracle import EpochCalendar, Epochs, OracleConfig

__all__ = ["IngestService", "IngestStats", "NotesBatches"]

log = logging.getLogger(__name__)


class NotesBatches(Protocol):
    """What ingest needs of the live cache (`coordinator.readings.live_cache`, or
    the demo's in-memory one): take each committed batch's outcome, without I/O."""

    def note(self, outcome: BatchOutcome) -> None: ...


@dataclass
class IngestStats:
    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    batches: int = 0


class IngestService:
    """Runs until cancelled (module doc)."""

    def __init__(
        self,
        *,
        source: MqttSource,
        store: ReadingStore,
        topic_root: str,
        oracle: OracleConfig,
        epoch_length_s: Epochs,
        batch_max: int = 500,
        batch_wait_s: float = 0.05,
        cache: NotesBatches | None = None,
        on_batch: Callable[[BatchOutcome], None] | None = None,
        clock: Callable[[], float] = time.time,
        pool: WorkerPool | None = None,
    ) -> None:
        """With `pool`, batches are decided by its worker processes (`workers`)."""
        self._pool = pool
        self._source = source
        self._store = store
        self._root = topic_root
        self._oracle = oracle
        self._length_s = epoch_length_s
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_s
        self._cache = cache
        self._on_batch = on_batch
        self._clock = clock
        self.stats = IngestStats()

    def set_oracle(self, config: OracleConfig) -> None:
        """Decide the batches from now on under `config` (the governed limits in force)."""
        self._oracle = config
        if self._pool is not None:
            self._pool.set_oracle(config)

    def set_calendar(self, calendar: EpochCalendar) -> None:
        """Number epochs from now on by `calendar` (the governed epoch length in force)."""
        self._length_s = calendar
        if self._pool is not None:
            self._pool.set_calendar(calendar)

    async def run(self) -> None:
        if self._pool is not None:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._dispatch(self._pool), name="ingest-dispatch")
                tg.create_task(self._collect(self._pool), name="ingest-collect")
        while True:
            batch = await self._source.next_batch(self._batch_max, self._batch_wait_s)
            incomings = [d.incoming for d in batch]
            for delay in retry_delays():
                try:
                    outcome = await asyncio.to_thread(
                        decide_and_commit,
                        self._store,
                        self._root,
                        self._oracle,
                        self._length_s,
                        int(self._clock()),
                        incomings,
                    )
                    break
                except DATABASE_DOWN as exc:
                    log.warning("database unavailable, retrying batch in %.1f s: %s", delay, exc)
                    await asyncio.sleep(delay)
            self._source.ack(batch)
            self._report(batch, outcome)

    async def _dispatch(self, pool: WorkerPool) -> None:
        while True:
            batch = await self._source.next_batch(self._batch_max, self._batch_wait_s)
            for worker, part in split_by_worker(self._root, batch, pool.workers).items():
                await pool.submit(worker, part)

    async def _collect(self, pool: WorkerPool) -> None:
        while True:
            part, outcome = await pool.result()
            self._source.ack(part)
            self._report(part, outcome)

    def _report(self, batch: Sequence[Delivery], outcome: BatchOutcome) -> None:
        now = self._clock()
        self.stats.batches += 1
        self.stats.accepted += outcome.accepted
        self.stats.duplicates += outcome.duplicates
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.READINGS_ACCEPTED.inc(outcome.accepted)
        metrics.DUPLICATES.inc(outcome.duplicates)
        metrics.COMMIT_LATENCY.observe_many(
            [max(now - d.incoming.received_at.timestamp(), 0.0) for d in batch]
        )
        metrics.INGEST_LATENCY.observe_many([max(now - ts, 0.0) for ts in outcome.meter_ts])
        for gateway_id, seq, flags in outcome.flagged:
            log.info(
                "accepted with flags %s",
                ",".join(flags),
                extra={"gateway_id": gateway_id, "seq": seq},
            )
        for r in outcome.rejected:
            self.stats.rejected[r.reason] = self.stats.rejected.get(r.reason, 0) + 1
            metrics.READINGS_REJECTED.labels(r.reason).inc()
            log.info(
                "rejected: %s",
                r.detail,
                extra={"gateway_id": r.gateway_id, "reason": r.reason, "seq": _seq(r)},
            )
        if self._cache is not None:
            self._cache.note(outcome)
        if self._on_batch is not None:
            self._on_batch(outcome)


def _seq(rejected: Rejected) -> int | None:
    # Best effort for the log's correlation id: the payload may be anything.
    marker = b'"seq":'
    payload = rejected.incoming.payload
    start = payload.find(marker)
    if start < 0:
        return None
    digits = payload[start + len(marker) : start + len(marker) + 20].split(b",")[0]
    return int(digits) if digits.isdigit() else None

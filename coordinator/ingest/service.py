"""The ingest loop: batch off the broker, parse, verify, decide and commit, then ack.

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

from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator import metrics
from coordinator.cache import LiveCache
from coordinator.ingest.decide import BatchDecision, verify_all
from coordinator.ingest.mqtt_source import Delivery, MqttSource
from coordinator.ingest.screen import Accepted, Parsed, Rejected, parse
from coordinator.ingest.store import ReadingStore
from coordinator.oracle import OracleConfig

__all__ = ["IngestService", "IngestStats"]

log = logging.getLogger(__name__)


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
        epoch_length_s: int,
        batch_max: int = 500,
        batch_wait_s: float = 0.05,
        cache: LiveCache | None = None,
        on_batch: Callable[[list[Accepted], list[Rejected]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
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

    async def run(self) -> None:
        while True:
            batch = await self._source.next_batch(self._batch_max, self._batch_wait_s)
            delay = 0.2
            while True:
                try:
                    decision, rejected = await asyncio.to_thread(self._process, batch)
                    break
                except (OperationalError, InterfaceError) as exc:
                    # Database down or restarting: hold the batch (unacknowledged,
                    # so the broker keeps it too) and retry until it is back.
                    log.warning("database unavailable, retrying batch in %.1f s: %s", delay, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            self._source.ack(batch)
            self._report(batch, decision, rejected)

    def _process(self, batch: Sequence[Delivery]) -> tuple[BatchDecision, list[Rejected]]:
        parsed: list[Parsed] = []
        rejected: list[Rejected] = []
        for d in batch:
            outcome = parse(self._root, d.incoming)
            if isinstance(outcome, Parsed):
                parsed.append(outcome)
            else:
                rejected.append(outcome)
        # Signatures are checked before the transaction opens, so no lock is
        # held during the costly part.
        devices = self._store.devices(p.signed.reading.gateway_id for p in parsed)
        verified = verify_all(parsed, devices)
        decision = self._store.commit_batch(
            parsed,
            rejected,
            verified=verified,
            now=int(self._clock()),
            config=self._oracle,
            length_s=self._length_s,
        )
        return decision, [*rejected, *decision.rejected]

    def _report(
        self, batch: Sequence[Delivery], decision: BatchDecision, rejected: list[Rejected]
    ) -> None:
        now = self._clock()
        self.stats.batches += 1
        self.stats.accepted += len(decision.accepted)
        self.stats.duplicates += len(decision.duplicates)
        metrics.BATCH_SIZE.observe(len(batch))
        metrics.READINGS_ACCEPTED.inc(len(decision.accepted))
        metrics.DUPLICATES.inc(len(decision.duplicates))
        for d in batch:
            metrics.COMMIT_LATENCY.observe(max(now - d.incoming.received_at.timestamp(), 0.0))
        for a in decision.accepted:
            metrics.INGEST_LATENCY.observe(max(now - a.signed.reading.ts, 0.0))
            if a.flags:
                log.info(
                    "accepted with flags %s",
                    ",".join(sorted(a.flags)),
                    extra={"gateway_id": a.signed.reading.gateway_id, "seq": a.signed.reading.seq},
                )
        for r in rejected:
            self.stats.rejected[r.reason] = self.stats.rejected.get(r.reason, 0) + 1
            metrics.READINGS_REJECTED.labels(r.reason).inc()
            log.info(
                "rejected: %s",
                r.detail,
                extra={"gateway_id": r.gateway_id, "reason": r.reason, "seq": _seq(r)},
            )
        if self._cache is not None:
            self._cache.note(decision.accepted, rejected, len(decision.duplicates))
        if self._on_batch is not None:
            self._on_batch(decision.accepted, rejected)


def _seq(rejected: Rejected) -> int | None:
    # Best effort for the log's correlation id: the payload may be anything.
    marker = b'"seq":'
    payload = rejected.incoming.payload
    start = payload.find(marker)
    if start < 0:
        return None
    digits = payload[start + len(marker) : start + len(marker) + 20].split(b",")[0]
    return int(digits) if digits.isdigit() else None

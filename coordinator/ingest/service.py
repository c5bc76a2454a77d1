"""The ingest loop: batch off the broker, screen, commit, then acknowledge."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

from coordinator.ingest.mqtt_source import Delivery, MqttSource
from coordinator.ingest.screen import Accepted, Rejected, claimed_gateway, screen
from coordinator.ingest.store import ReadingStore

__all__ = ["IngestService", "IngestStats"]

log = logging.getLogger(__name__)


@dataclass
class IngestStats:
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    batches: int = 0


class IngestService:
    """Runs until cancelled. A reading counts as accepted only once committed;
    the broker's copy is acknowledged after that, so a crash at any point
    leaves the reading with the broker, which redelivers it."""

    def __init__(
        self,
        *,
        source: MqttSource,
        store: ReadingStore,
        topic_root: str,
        batch_max: int = 500,
        batch_wait_s: float = 0.05,
        on_batch: Callable[[list[Accepted], list[Rejected]], None] | None = None,
    ) -> None:
        self._source = source
        self._store = store
        self._root = topic_root
        self._batch_max = batch_max
        self._batch_wait_s = batch_wait_s
        self._on_batch = on_batch
        self.stats = IngestStats()

    async def run(self) -> None:
        while True:
            batch = await self._source.next_batch(self._batch_max, self._batch_wait_s)
            delay = 0.5
            while True:
                try:
                    accepted, rejected = await asyncio.to_thread(self._screen_and_save, batch)
                    break
                except OperationalError as exc:
                    # Database down or restarting: hold the batch (unacknowledged,
                    # so the broker keeps it too) and retry until it is back.
                    log.warning("database unavailable, retrying batch in %.1f s: %s", delay, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
            self._source.ack(batch)
            self._count(accepted, rejected)

    def _screen_and_save(self, batch: list[Delivery]) -> tuple[list[Accepted], list[Rejected]]:
        claimed = {claimed_gateway(self._root, d.incoming) for d in batch}
        devices = self._store.devices(gw for gw in claimed if gw is not None)
        accepted: list[Accepted] = []
        rejected: list[Rejected] = []
        for d in batch:
            verdict = screen(self._root, d.incoming, devices)
            if isinstance(verdict, Accepted):
                accepted.append(verdict)
            else:
                rejected.append(verdict)
        self._store.save(accepted, rejected)
        return accepted, rejected

    def _count(self, accepted: list[Accepted], rejected: list[Rejected]) -> None:
        self.stats.batches += 1
        self.stats.accepted += len(accepted)
        for r in rejected:
            self.stats.rejected[r.reason] = self.stats.rejected.get(r.reason, 0) + 1
        if self._on_batch is not None:
            self._on_batch(accepted, rejected)

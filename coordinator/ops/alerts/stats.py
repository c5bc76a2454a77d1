"""Ingest counts for the monitor: `StatsCollector` counts this instance's accepted
and rejected readings (by reason) from the ingest `on_batch` callback;
`run_stats_publisher` puts them, retained, on `wire.topics.coordinator_stats`."""

import asyncio
import time
from collections.abc import Callable

from coordinator.ops.alerts.loop import Publish
from coordinator.readings.ingest.outcome import BatchOutcome
from wire import topics
from wire.alerts import IngestCounts, encode_stats

__all__ = ["StatsCollector", "run_stats_publisher"]


class StatsCollector:
    """Counts batches from `IngestService(on_batch=...)`; `then` is called after, so an
    existing callback can be kept."""

    def __init__(
        self,
        instance: str,
        *,
        then: Callable[[BatchOutcome], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._instance = instance
        self._then = then
        self._clock = clock
        self._since = int(clock())
        self._accepted = 0
        self._rejected: dict[str, int] = {}

    def on_batch(self, outcome: BatchOutcome) -> None:
        self._accepted += outcome.accepted
        for r in outcome.rejected:
            self._rejected[r.reason] = self._rejected.get(r.reason, 0) + 1
        if self._then is not None:
            self._then(outcome)

    def snapshot(self) -> IngestCounts:
        return IngestCounts(
            self._instance,
            int(self._clock()),
            self._since,
            self._accepted,
            dict(sorted(self._rejected.items())),
        )


async def run_stats_publisher(
    collector: StatsCollector,
    publish: Publish,
    *,
    topic_root: str = topics.DEFAULT_ROOT,
    interval_s: float = 10.0,
) -> None:
    """Publish the collector's counts every `interval_s` until cancelled (wire
    `publish` retained, so a monitor started later sees them at once)."""
    topic = topics.coordinator_stats(topic_root)
    while True:
        await publish(topic, encode_stats(collector.snapshot()))
        await asyncio.sleep(interval_s)

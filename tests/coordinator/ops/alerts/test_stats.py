"""Ingest counts: the collector counts and chains; the publisher retains them on Mosquitto."""

import asyncio

import aiomqtt
import pytest

from coordinator.ops.alerts.stats import StatsCollector, run_stats_publisher
from coordinator.readings.ingest.outcome import BatchOutcome
from coordinator.readings.ingest.screen import Rejected
from tests.utils.services import MQTT_HOST, MQTT_PORT
from wire import topics
from wire.alerts import IngestCounts, decode_stats


def test_stats_collector_counts_and_chains() -> None:
    seen: list[int] = []
    c = StatsCollector("i1", then=lambda o: seen.append(len(o.rejected)), clock=lambda: 100.0)
    r = Rejected(incoming=None, reason="bad_signature", detail="", gateway_id=None)  # type: ignore[arg-type]
    c.on_batch(BatchOutcome(0, 0, [r, r]))
    c.on_batch(BatchOutcome(3, 0, []))
    snap = c.snapshot()
    assert snap == IngestCounts("i1", 100, 100, 3, {"bad_signature": 2})
    assert seen == [2, 0]


@pytest.mark.services
async def test_stats_publisher_retains_counts(topic_root: str) -> None:
    collector = StatsCollector("coord-a", clock=lambda: 5.0)
    r = Rejected(incoming=None, reason="replayed", detail="", gateway_id=None)  # type: ignore[arg-type]
    collector.on_batch(BatchOutcome(0, 0, [r]))
    async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as pub:

        async def publish(topic: str, body: bytes) -> bool:
            await pub.publish(topic, body, qos=1, retain=True)
            return True

        task = asyncio.create_task(run_stats_publisher(collector, publish, topic_root=topic_root,
                                                       interval_s=60))  # fmt: skip
        try:
            async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as sub:
                await sub.subscribe(topics.coordinator_stats(topic_root), qos=1)
                async with asyncio.timeout(10):
                    message = await anext(aiter(sub.messages))
            assert isinstance(message.payload, bytes)
            assert decode_stats(message.payload).rejected == {"replayed": 1}
        finally:
            task.cancel()
            await pub.publish(topics.coordinator_stats(topic_root), b"", qos=1, retain=True)

"""Wiring of the coordinator's services from Settings.

`run_ingest` runs, in one TaskGroup: the ingest loop, the epoch closer
(close what is due, publish summaries, keep partitions ahead) and the Redis
cache flusher. Any number of processes may run it against the same database
and broker: they share the readings through the MQTT shared subscription and
close each epoch once, under the advisory lock.
"""

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.cache import LiveCache
from coordinator.config import Settings
from coordinator.epochs_service import EpochCloser
from coordinator.ingest.mqtt_source import MqttSource
from coordinator.ingest.screen import Accepted, Rejected
from coordinator.ingest.service import IngestService
from coordinator.ingest.store import SqlReadingStore
from coordinator.oracle import OracleConfig
from coordinator.partitions import drop_expired, ensure_partitions
from edge import topics

__all__ = ["maintain_partitions", "run_ingest"]

log = logging.getLogger(__name__)


def maintain_partitions(engine: Engine, settings: Settings) -> None:
    """Create the coming months' partitions and drop expired ones."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        ensure_partitions(conn, now, settings.partition_months_ahead)
        drop_expired(conn, now, settings.readings_retention_days)


async def _epoch_loop(closer: EpochCloser, source: MqttSource, settings: Settings,
                      engine: Engine) -> None:  # fmt: skip
    async def publish(epoch: int, body: bytes) -> bool:
        return await source.publish(
            topics.epoch_summary(settings.topic_root, epoch), body, retain=True
        )

    while True:
        try:
            closed = await asyncio.to_thread(closer.close_due, int(time.time()))
            if closed:
                await asyncio.to_thread(maintain_partitions, engine, settings)
            await closer.publish_pending(publish)
        except (OperationalError, InterfaceError) as exc:
            log.warning("epoch close postponed, database unavailable: %s", exc)
        await asyncio.sleep(settings.epoch_check_interval_s)


async def run_ingest(
    settings: Settings,
    engine: Engine,
    on_batch: Callable[[list[Accepted], list[Rejected]], None] | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run ingest, epoch closing and the cache until cancelled. `ready` is set
    once the subscription is confirmed by the broker."""
    await asyncio.to_thread(maintain_partitions, engine, settings)
    oracle = OracleConfig(
        max_future_skew_s=settings.max_future_skew_s,
        lateness_window_s=settings.lateness_window_s,
    )
    cache = LiveCache(settings.redis_url, settings.topic_root) if settings.redis_url else None
    closer = EpochCloser(
        engine,
        length_s=settings.epoch_length_s,
        grace_s=settings.epoch_grace_s,
        lateness_s=settings.lateness_window_s,
    )
    async with MqttSource(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        client_id=settings.mqtt_client_id,
        subscription=topics.readings_subscription(settings.topic_root),
        username=settings.mqtt_username,
        password=settings.mqtt_password,
        session_expiry_s=settings.mqtt_session_expiry_s,
    ) as source:
        service = IngestService(
            source=source,
            store=SqlReadingStore(engine),
            topic_root=settings.topic_root,
            oracle=oracle,
            epoch_length_s=settings.epoch_length_s,
            batch_max=settings.batch_max,
            batch_wait_s=settings.batch_wait_s,
            cache=cache,
            on_batch=on_batch,
        )
        if ready is not None:
            ready.set()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(service.run(), name="ingest")
            tg.create_task(_epoch_loop(closer, source, settings, engine), name="epochs")
            if cache is not None:
                tg.create_task(cache.run(), name="cache")

"""Wiring of the coordinator's services from Settings."""

import asyncio
from collections.abc import Callable

from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.ingest.mqtt_source import MqttSource
from coordinator.ingest.screen import Accepted, Rejected
from coordinator.ingest.service import IngestService
from coordinator.ingest.store import SqlReadingStore
from edge import topics

__all__ = ["run_ingest"]


async def run_ingest(
    settings: Settings,
    engine: Engine,
    on_batch: Callable[[list[Accepted], list[Rejected]], None] | None = None,
    ready: asyncio.Event | None = None,
) -> None:
    """Run the ingest service until cancelled. `ready` is set once the
    subscription is confirmed by the broker."""
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
            batch_max=settings.batch_max,
            batch_wait_s=settings.batch_wait_s,
            on_batch=on_batch,
        )
        if ready is not None:
            ready.set()
        await service.run()

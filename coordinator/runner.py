"""Wiring of the coordinator's services from Settings.

`run_ingest` runs, in one TaskGroup: the ingest loop, the epoch closer
(close what is due, publish summaries, keep partitions ahead), the Redis
cache flusher and the user notifications' worker. Any number of processes may
run it against the same database and broker: they share the readings through
the MQTT shared subscription and close each epoch once, under the advisory lock.
"""

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.config import Settings
from coordinator.db.partitions import drop_expired, ensure_partitions
from coordinator.governance import GovernanceReader
from coordinator.market.rules.surveillance import SurveillanceRules
from coordinator.notify.wiring import notify_worker
from coordinator.onchain.ledger import Chain
from coordinator.onchain.worker import governance_reader, run_chain_worker
from coordinator.ops.alerts.loop import AlertMonitor
from coordinator.ops.alerts.rules import AlertRules
from coordinator.ops.alerts.stats import StatsCollector, run_stats_publisher
from coordinator.ops.alerts.storage import SqlAlertSource
from coordinator.readings.epoch_close import EpochCloser
from coordinator.readings.ingest.mqtt_source import MqttSource
from coordinator.readings.ingest.outcome import BatchOutcome
from coordinator.readings.ingest.routing import owns_topic
from coordinator.readings.ingest.service import IngestService
from coordinator.readings.ingest.store import SqlReadingStore
from coordinator.readings.ingest.workers import WorkerPool
from coordinator.readings.live_cache import LiveCache
from coordinator.readings.oracle import OracleConfig, epoch_of
from wire import topics

__all__ = ["maintain_partitions", "prepare_sessions", "readings_source", "run_ingest"]

log = logging.getLogger(__name__)


def maintain_partitions(engine: Engine, settings: Settings) -> None:
    """Create the coming months' partitions and drop expired ones."""
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        ensure_partitions(conn, now, settings.partition_months_ahead)
        drop_expired(conn, now, settings.readings_retention_days)


def readings_source(settings: Settings, client_id: str | None = None) -> MqttSource:
    """The coordinator's readings source as `run` opens it: its client id (or
    `client_id`, another instance's), subscription, session and TLS."""
    keep = None
    shared = settings.mqtt_shared
    if settings.ingest_partitions:
        partition, partitions, root = (
            settings.ingest_partition,
            settings.ingest_partitions,
            settings.topic_root,
        )
        shared = False  # every instance sees every reading and keeps its own

        def keep(topic: str) -> bool:
            return owns_topic(root, topic, partition, partitions)

    return MqttSource(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        client_id=client_id or settings.mqtt_client_id,
        subscription=topics.readings_subscription(settings.topic_root, shared),
        keep=keep,
        username=settings.mqtt_username,
        password=settings.mqtt_password,
        session_expiry_s=settings.mqtt_session_expiry_s,
        mqtt_v5=settings.mqtt_protocol == "5",
        tls=settings.mqtt_tls_config(),
    )


async def prepare_sessions(settings: Settings, client_ids: Sequence[str]) -> dict[str, bool]:
    """Make sure the broker holds each coordinator instance's persistent session
    and readings subscription, so that it queues readings for an instance that
    has not started yet (run before any gateway may publish on a new broker).
    Connects as each instance and leaves at once: nothing is acknowledged, so a
    reading delivered meanwhile stays queued for the instance. Returns, per
    client id, whether its session existed already."""
    existed = {}
    for client_id in client_ids:
        async with readings_source(settings, client_id) as source:
            existed[client_id] = source.session_present
        log.info(
            "coordinator session %s %s on the broker",
            client_id,
            "already held" if existed[client_id] else "created",
        )
    return existed


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


async def _governed_limits(
    service: IngestService, governance: GovernanceReader, base: OracleConfig, settings: Settings
) -> None:
    """Keep ingest deciding under the oracle limits in force (rated power, lateness):
    a change scheduled from epoch N applies to readings received from N on."""
    in_force = base
    while True:
        try:
            now = epoch_of(int(time.time()), settings.epoch_length_s)
            config = (await governance.params_at(now)).oracle_config(base)
            if config != in_force:
                log.info("oracle limits from epoch %d: %s", now, config)
                service.set_oracle(config)
                in_force = config
        except (OperationalError, InterfaceError) as exc:
            log.warning("governed limits not refreshed, database unavailable: %s", exc)
        await asyncio.sleep(settings.epoch_check_interval_s)


async def run_ingest(
    settings: Settings,
    engine: Engine,
    on_batch: Callable[[BatchOutcome], None] | None = None,
    ready: asyncio.Event | None = None,
    *,
    with_chain: bool = False,
    on_epoch: Callable[[str, int], Awaitable[None] | None] | None = None,
    on_chain: Callable[[Chain], None] | None = None,
) -> None:
    """Run ingest, epoch closing, stats and the cache until cancelled; with
    `with_chain` (and a ledger configured) also the chain worker and alerts,
    which run in whichever instance holds the leader lock. `ready` is set once
    the subscription is confirmed by the broker."""
    await asyncio.to_thread(maintain_partitions, engine, settings)
    oracle = OracleConfig(
        max_future_skew_s=settings.max_future_skew_s,
        lateness_window_s=settings.lateness_window_s,
    )
    cache = LiveCache(settings.redis_url, settings.topic_root) if settings.redis_url else None
    governance = governance_reader(settings, engine)
    await governance.changes()
    oracle = governance.known_params_at(
        epoch_of(int(time.time()), settings.epoch_length_s)
    ).oracle_config(oracle)
    closer = EpochCloser(
        engine,
        length_s=settings.epoch_length_s,
        grace_s=settings.epoch_grace_s,
        lateness_s=governance.lateness_at,
    )
    stats = StatsCollector(settings.mqtt_client_id, then=on_batch)
    async with (
        readings_source(settings) as source,
        contextlib.AsyncExitStack() as stack,
    ):
        pool = None
        if settings.ingest_workers:
            pool = await stack.enter_async_context(
                WorkerPool(
                    settings.ingest_workers,
                    database_url=settings.database_url,
                    root=settings.topic_root,
                    oracle=oracle,
                    length_s=settings.epoch_length_s,
                    log_json=settings.log_json,
                )
            )
        service = IngestService(
            source=source,
            store=SqlReadingStore(engine),
            topic_root=settings.topic_root,
            oracle=oracle,
            epoch_length_s=settings.epoch_length_s,
            batch_max=settings.batch_max,
            batch_wait_s=settings.batch_wait_s,
            cache=cache,
            on_batch=stats.on_batch,
            pool=pool,
        )
        if ready is not None:
            ready.set()

        async def publish_retained(topic: str, body: bytes) -> bool:
            return await source.publish(topic, body, retain=True)

        async with asyncio.TaskGroup() as tg:
            tg.create_task(service.run(), name="ingest")
            tg.create_task(_epoch_loop(closer, source, settings, engine), name="epochs")
            tg.create_task(
                _governed_limits(service, governance, oracle, settings), name="governed-limits"
            )
            tg.create_task(
                run_stats_publisher(stats, publish_retained, topic_root=settings.topic_root),
                name="stats",
            )
            if cache is not None:
                tg.create_task(cache.run(), name="cache")
            if settings.notify_enabled:
                # Every instance may run it: outbox keys and leases keep it once.
                tg.create_task(notify_worker(settings, engine).run(), name="notify")
            if with_chain and settings.ledger != "off":
                tg.create_task(
                    _chain_and_alerts(settings, engine, source, on_epoch, on_chain), name="chain"
                )


async def _chain_and_alerts(
    settings: Settings,
    engine: Engine,
    source: MqttSource,
    on_epoch: Callable[[str, int], Awaitable[None] | None] | None,
    on_chain: Callable[[Chain], None] | None,
) -> None:
    """The leader's work: the chain worker, and alerts (one instance publishes them)."""

    async def publish_retained(topic: str, body: bytes) -> bool:
        return await source.publish(topic, body, retain=True)

    async def publish(topic: str, body: bytes) -> bool:
        return await source.publish(topic, body, retain=False)

    rules = AlertRules(
        length_s=settings.epoch_length_s,
        grace_s=settings.epoch_grace_s,
        expect_clearing=settings.ledger != "off",
        surveillance=SurveillanceRules(
            band_factor=settings.surveillance_band_factor,
            dominance_share=settings.surveillance_dominance_share,
            dominance_rivals=settings.surveillance_dominance_rivals,
            spike_factor=settings.surveillance_spike_factor,
            trailing_epochs=settings.surveillance_trailing_epochs,
            min_history=settings.surveillance_min_history,
        ),
    )
    monitor = AlertMonitor(
        SqlAlertSource(engine), publish, topic_root=settings.topic_root, rules=rules
    )

    async def on_leader() -> None:
        await monitor.run()

    await run_chain_worker(
        settings,
        engine,
        publish_retained,
        on_epoch=on_epoch,
        alongside=on_leader,
        on_chain=on_chain,
    )

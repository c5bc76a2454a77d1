"""AlertMonitor: with a fake source (new once, resolved, retried), and against
PostgreSQL (SqlAlertSource) and Mosquitto."""

import asyncio
import contextlib
import datetime as dt
import logging
import secrets

import aiomqtt
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from coordinator.db.models import (
    Device,
    EpochRecord,
    MarketControl,
    MeterEpochEnergyRow,
    RejectedReading,
    SettlementJob,
)
from coordinator.db.session import make_engine
from coordinator.ops.alerts.loop import AlertMonitor
from coordinator.ops.alerts.rules import (
    RESOLVABLE,
    AlertRules,
    EpochRows,
    GatewaySeen,
    LedgerFailure,
)
from coordinator.ops.alerts.storage import SqlAlertSource
from tests.coordinator.ops.alerts.fakes import FakeSource
from tests.utils.services import (
    MQTT_HOST,
    MQTT_PORT,
    async_wait_until,
    cancel_and_wait,
    migrated_database,
)
from wire import topics
from wire.alerts import AlertEvent, AlertKind, decode_alert
from wire.base58 import b58encode


async def test_monitor_publishes_new_once_resolves_and_retries() -> None:
    source = FakeSource()
    sent: list[tuple[str, AlertEvent]] = []
    accept = [False]

    async def publish(topic: str, body: bytes) -> bool:
        if accept[0]:
            sent.append((topic, decode_alert(body)))
        return accept[0]

    clock = [9_000.0]  # monitoring began long enough ago to call a gateway silent
    monitor = AlertMonitor(source, publish, topic_root="r", clock=lambda: clock[0])
    clock[0] = 10_000.0
    source.seen = [GatewaySeen("gw", 0, 60)]
    source.failures = [LedgerFailure("settlements", "k", 1, "boom")]
    events = await monitor.step()
    assert {e.alert.kind for e in events} == {AlertKind.GATEWAY_SILENT, AlertKind.LEDGER_FAILED}
    assert sent == []  # broker did not acknowledge: kept for the next round
    accept[0] = True
    assert await monitor.step() == []  # nothing new ...
    assert len(sent) == 2  # ... but the queued two went out
    assert {t for t, _ in sent} == {topics.alerts("r")}
    source.seen = []
    (resolved,) = await monitor.step()
    assert resolved.state == "resolved"
    assert resolved.alert.kind in RESOLVABLE
    source.failures = []  # a failure leaving the lookback is not "resolved"
    assert await monitor.step() == []
    assert sent[-1][1].state == "resolved"


async def test_an_unexpected_error_in_a_round_never_ends_the_monitor(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The monitor shares the coordinator's task group (ingest, clearing, minting): a
    # defect in one round is logged with its traceback, counted, and the next round runs.
    source = FakeSource()
    rounds = [0]

    def broken(lo: int, hi: int) -> EpochRows:
        rounds[0] += 1
        if rounds[0] == 1:
            raise ValueError("year 28245 is out of range")
        return FakeSource.epochs(source, lo, hi)

    source.epochs = broken  # type: ignore[method-assign]

    async def publish(topic: str, body: bytes) -> bool:
        return True

    monitor = AlertMonitor(source, publish, topic_root="r", interval_s=0.01)
    before = _loop_failures()
    task = asyncio.create_task(monitor.run(), name="alerts-under-test")
    try:
        with caplog.at_level(logging.ERROR, logger="coordinator.ops.alerts.loop"):
            await async_wait_until(lambda: rounds[0] >= 3, within_s=10, what="more rounds")
        assert not task.done()
        assert _loop_failures() == before + 1
        (failed,) = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert failed.exc_info is not None
        assert "year 28245" in str(failed.exc_info[1])
    finally:
        await cancel_and_wait(task)


def _loop_failures() -> float:
    return REGISTRY.get_sample_value("gtx_alert_loop_failures_total") or 0.0


# --- against PostgreSQL and Mosquitto -----------------------------------------------------------

# An instant long before any other test's data, so the shared database's rows are out of range.
T = 978_307_200  # 2001-01-01T00:00:00Z


def _at(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


@pytest.mark.services
async def test_alert_monitor_against_database_and_broker(engine: Engine, topic_root: str) -> None:
    key = secrets.token_bytes(32)
    gw = b58encode(key)
    job_key = f"test-alerts:{secrets.token_hex(4)}"
    length = 900
    first = T // length - 4  # the window's oldest epoch; the newest due is first + 2
    now = [float(T)]
    with engine.begin() as conn:
        conn.execute(insert(Device).values(gateway_id=gw, public_key=key, created_at=_at(T - 5000)))
        conn.execute(insert(RejectedReading), [
            {"received_at": _at(T - 10), "topic": "t", "payload": b"x", "reason": "bad_signature",
             "detail": "", "gateway_id": gw} for _ in range(60)
        ])  # fmt: skip
        conn.execute(insert(SettlementJob).values(
            job_key=job_key, epoch=first, kind="settle", payload="{}", status="failed",
            error="insufficient funds", created_at=_at(T - 60), updated_at=_at(T - 60),
        ))  # fmt: skip
        conn.execute(insert(MeterEpochEnergyRow).values(
            epoch=first, gateway_id=gw, meter_id="m1", import_wh=0, export_wh=0))  # fmt: skip
        conn.execute(insert(EpochRecord).values(
            epoch=first, length_s=length, closed_at=_at(T), reading_count=0, total_import_wh=0,
            total_export_wh=0, mint_base_units=0, merkle_root=bytes(32), summary_json="{}",
        ))  # fmt: skip
    try:
        async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as client:
            await client.subscribe(topics.alerts(topic_root), qos=1)
            received: list[AlertEvent] = []

            async def consume() -> None:
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    received.append(decode_alert(message.payload))

            async def publish(topic: str, body: bytes) -> bool:
                await client.publish(topic, body, qos=1)
                return True

            consumer = asyncio.create_task(consume())
            rules = AlertRules(length_s=length, grace_s=120, expect_clearing=False)
            now[0] = T - 2000  # monitoring for longer than two default poll intervals
            monitor = AlertMonitor(SqlAlertSource(engine), publish, topic_root=topic_root,
                                   rules=rules, clock=lambda: now[0])  # fmt: skip
            now[0] = T
            events = await monitor.step()
            keys = {e.alert.key for e in events}
            # Silent since registration (no reading ever, default 900 s interval).
            assert f"gateway_silent:{gw}" in keys
            assert "rejection_spike" in keys
            assert f"ledger_failed:settlements:{job_key}" in keys
            # `first` was closed; the two epochs after it, both due, were not.
            assert f"epoch_not_closed:{first}" not in keys
            assert {f"epoch_not_closed:{first + 1}", f"epoch_not_closed:{first + 2}"} <= keys
            assert f"epoch_not_closed:{first + 3}" not in keys  # not due yet
            await async_wait_until(lambda: len(received) >= len(events), 10, "alerts on MQTT")
            assert {e.alert.key for e in received} == keys

            assert await monitor.step() == []  # the same conditions: nothing new

            # The rejections leave the 300 s window (the spike resolves); one more epoch is due.
            now[0] = T + 600
            events = await monitor.step()
            assert {(e.alert.key, e.state) for e in events} == {
                ("rejection_spike", "resolved"),
                (f"epoch_not_closed:{first + 3}", "firing"),
            }
            await async_wait_until(
                lambda: any(e.state == "resolved" for e in received), 10, "resolved on MQTT"
            )
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
    finally:
        with engine.begin() as conn:
            conn.execute(delete(EpochRecord).where(EpochRecord.epoch == first))
            conn.execute(delete(MeterEpochEnergyRow).where(MeterEpochEnergyRow.gateway_id == gw))
            conn.execute(delete(SettlementJob).where(SettlementJob.job_key == job_key))
            conn.execute(delete(RejectedReading).where(RejectedReading.gateway_id == gw))
            conn.execute(delete(Device).where(Device.gateway_id == gw))


@pytest.mark.services
def test_the_source_reports_a_pause_of_clearing_from_its_epoch() -> None:
    with migrated_database() as url:
        engine = make_engine(url)
        try:
            source = SqlAlertSource(engine)
            assert source.epochs(40, 45).clearing_paused_since is None
            with engine.begin() as conn:
                conn.execute(insert(MarketControl).values(
                    scope="clearing", since=_at(T), since_epoch=42, paused_by="W", reason="r",
                    memo_signature="",
                ))  # fmt: skip
            assert source.epochs(40, 45).clearing_paused_since == 42
        finally:
            engine.dispose()

"""Alert rules (pure, exhaustively) and the AlertMonitor against PostgreSQL and Mosquitto."""

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import secrets
from typing import Any

import aiomqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from coordinator.db.models import (
    Device,
    EpochRecord,
    MeterEpochEnergyRow,
    RejectedReading,
    SettlementJob,
)
from coordinator.ops.alerts import (
    RESOLVABLE,
    Alert,
    AlertEvent,
    AlertKind,
    AlertMonitor,
    AlertRules,
    EpochRows,
    GatewaySeen,
    IngestCounts,
    LedgerFailure,
    SqlAlertSource,
    StatsCollector,
    decode_alert,
    decode_stats,
    due_epoch,
    encode_alert,
    encode_stats,
    estimate_poll_interval,
    evaluate,
    ledger_failures,
    missed_epochs,
    rejection_spike,
    run_stats_publisher,
    silent_gateways,
)
from coordinator.readings.ingest.outcome import BatchOutcome
from coordinator.readings.ingest.screen import Rejected
from tests.utils.services import MQTT_HOST, MQTT_PORT, async_wait_until
from wire import topics
from wire.base58 import b58encode

# --- silence ------------------------------------------------------------------------------


def test_poll_interval_is_the_smallest_step_of_one_meter() -> None:
    points = [("a", 0), ("a", 60), ("a", 180), ("b", 1), ("b", 61)]
    assert estimate_poll_interval(points, 900) == 60


def test_poll_interval_ignores_steps_between_meters() -> None:
    # Two meters of one poll a second apart must not make the interval 1 s.
    points = [("a", 0), ("b", 1), ("a", 300), ("b", 301)]
    assert estimate_poll_interval(points, 900) == 300


def test_poll_interval_default_without_two_readings_of_a_meter() -> None:
    assert estimate_poll_interval([], 900) == 900
    assert estimate_poll_interval([("a", 5), ("b", 6), ("a", 5)], 42) == 42


@given(
    interval=st.integers(1, 3600),
    polls=st.lists(st.integers(0, 50), min_size=2, max_size=20, unique=True),
    meters=st.integers(1, 4),
)
def test_poll_interval_of_polls_at_multiples_with_gaps(
    interval: int, polls: list[int], meters: int
) -> None:
    polls = sorted(polls)
    points = [(f"m{m}", p * interval) for p in polls for m in range(meters)]
    smallest = min(b - a for a, b in itertools.pairwise(polls))
    assert estimate_poll_interval(points, 7) == smallest * interval


def test_silent_exactly_after_two_intervals() -> None:
    seen = [GatewaySeen("gw", last_seen_s=1000, poll_interval_s=60)]
    assert silent_gateways(seen, now=1120) == []
    (alert,) = silent_gateways(seen, now=1121)
    assert alert.kind is AlertKind.GATEWAY_SILENT
    assert alert.key == "gateway_silent:gw"
    assert alert.details["silent_s"] == 121
    assert "gw" in alert.message


@given(last=st.integers(0, 10**6), interval=st.integers(1, 10**4), ago=st.integers(0, 10**5))
def test_silent_iff_more_than_two_intervals(last: int, interval: int, ago: int) -> None:
    alerts = silent_gateways([GatewaySeen("g", last, interval)], last + ago)
    assert bool(alerts) == (ago > 2 * interval)


def test_silent_gateways_sorted_and_one_each() -> None:
    seen = [GatewaySeen(g, 0, 10) for g in ("c", "a", "b")]
    assert [a.details["gateway_id"] for a in silent_gateways(seen, 100)] == ["a", "b", "c"]


# --- rejection spike ------------------------------------------------------------------------


def test_rejection_spike_above_threshold_only() -> None:
    assert rejection_spike({}, 300, 10.0) == []
    assert rejection_spike({"bad_signature": 50}, 300, 10.0) == []  # exactly 10/min
    (alert,) = rejection_spike({"bad_signature": 40, "unknown_device": 11}, 300, 10.0)
    assert alert.key == "rejection_spike"
    assert alert.details["rejected"] == 51
    assert alert.details["reason.bad_signature"] == 40
    assert alert.message.index("bad_signature") < alert.message.index("unknown_device")


@given(
    counts=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 1000)),
    window=st.integers(1, 3600),
    threshold=st.floats(0, 1000, allow_nan=False),
)
def test_rejection_spike_iff_rate_exceeds(
    counts: dict[str, int], window: int, threshold: float
) -> None:
    total = sum(counts.values())
    fired = bool(rejection_spike(counts, window, threshold))
    assert fired == (total > 0 and total * 60.0 / window > threshold)


# --- ledger ---------------------------------------------------------------------------------


def test_ledger_failure_alert_per_failure_critical() -> None:
    alerts = ledger_failures(
        [
            LedgerFailure("settlements", "settle:7:0", 7, "insufficient funds"),
            LedgerFailure("chain_jobs", "mint:epoch:7:0", None, "frozen"),
        ]
    )
    assert [a.key for a in alerts] == [
        "ledger_failed:chain_jobs:mint:epoch:7:0",
        "ledger_failed:settlements:settle:7:0",
    ]
    assert all(a.severity == "critical" for a in alerts)
    assert alerts[1].details["epoch"] == 7
    assert "epoch" not in alerts[0].details
    assert "insufficient funds" in alerts[1].message


# --- epochs ---------------------------------------------------------------------------------


def _rows(closed: set[int] = frozenset(), cleared: set[int] = frozenset(),  # type: ignore[assignment]
          first: int | None = 0, first_cleared: int | None = None) -> EpochRows:  # fmt: skip
    return EpochRows(frozenset(closed), frozenset(cleared), first, first_cleared)


def test_due_epoch_boundaries() -> None:
    # Epoch 9 is [900, 1000) with length 100; due at 1000 + grace 20.
    assert due_epoch(1019, 100, 20) == 8
    assert due_epoch(1020, 100, 20) == 9


def test_missed_epochs_not_closed_in_window() -> None:
    alerts = missed_epochs(
        _rows(closed={8}), 1020, length_s=100, grace_s=20, window=3,
        expect_clearing=False, clearing_since_epoch=0,
    )  # fmt: skip
    assert [a.key for a in alerts] == ["epoch_not_closed:7", "epoch_not_closed:9"]
    assert alerts[1].details == {"epoch": 9, "end": 1000, "grace_s": 20}


def test_missed_epochs_not_before_first_data() -> None:
    alerts = missed_epochs(
        _rows(first=9), 1020, length_s=100, grace_s=20, window=5,
        expect_clearing=False, clearing_since_epoch=0,
    )  # fmt: skip
    assert [a.key for a in alerts] == ["epoch_not_closed:9"]
    none = missed_epochs(
        _rows(first=None), 1020, length_s=100, grace_s=20, window=5,
        expect_clearing=False, clearing_since_epoch=0,
    )  # fmt: skip
    assert none == []


def test_missed_clearings_from_first_cleared_or_monitor_start() -> None:
    kw: dict[str, Any] = {"length_s": 100, "grace_s": 20, "window": 5, "expect_clearing": True}
    rows = _rows(closed={5, 6, 7, 8, 9}, cleared={8}, first_cleared=8)
    assert [a.key for a in missed_epochs(rows, 1020, clearing_since_epoch=20, **kw)] == [
        "epoch_not_cleared:9"
    ]
    never = _rows(closed={5, 6, 7, 8, 9})
    assert [a.key for a in missed_epochs(never, 1020, clearing_since_epoch=9, **kw)] == [
        "epoch_not_cleared:9"
    ]
    assert missed_epochs(never, 1020, clearing_since_epoch=10, **kw) == []
    off = {**kw, "expect_clearing": False}
    assert missed_epochs(never, 1020, clearing_since_epoch=0, **off) == []


@given(
    closed=st.sets(st.integers(0, 30)),
    now=st.integers(0, 4000),
    window=st.integers(1, 10),
)
def test_missed_epochs_are_exactly_the_due_unclosed(
    closed: set[int], now: int, window: int
) -> None:
    alerts = missed_epochs(
        _rows(closed=closed), now, length_s=100, grace_s=30, window=window,
        expect_clearing=False, clearing_since_epoch=0,
    )  # fmt: skip
    got = {int(a.details["epoch"]) for a in alerts}
    hi = (now - 30) // 100 - 1
    assert got == {e for e in range(max(0, hi - window + 1), hi + 1) if e not in closed}
    for e in got:  # each one is really due
        assert (e + 1) * 100 + 30 <= now


# --- payloads -------------------------------------------------------------------------------


def test_alert_payload_round_trip() -> None:
    alert = Alert(AlertKind.REJECTION_SPIKE, "rejection_spike", "warning", "m", {"n": 3})
    event = AlertEvent(alert, "firing", 1764000000)
    body = encode_alert(event)
    assert json.loads(body)["kind"] == "rejection_spike"
    assert decode_alert(body) == event
    with pytest.raises(ValueError, match="not an alert"):
        decode_alert(b"{}")
    with pytest.raises(ValueError, match="unsupported"):
        decode_alert(body.replace(b'"v":1', b'"v":9'))


def test_stats_collector_counts_and_chains() -> None:
    seen: list[int] = []
    c = StatsCollector("i1", then=lambda o: seen.append(len(o.rejected)), clock=lambda: 100.0)
    r = Rejected(incoming=None, reason="bad_signature", detail="", gateway_id=None)  # type: ignore[arg-type]
    c.on_batch(BatchOutcome(0, 0, [r, r]))
    c.on_batch(BatchOutcome(3, 0, []))
    snap = c.snapshot()
    assert snap == IngestCounts("i1", 100, 100, 3, {"bad_signature": 2})
    assert seen == [2, 0]
    assert decode_stats(encode_stats(snap)) == snap
    with pytest.raises(ValueError, match="not a stats"):
        decode_stats(b"[]")


# --- the monitor loop with a fake source ------------------------------------------------------


class _FakeSource:
    def __init__(self) -> None:
        self.seen: list[GatewaySeen] = []
        self.rejected: dict[str, int] = {}
        self.failures: list[LedgerFailure] = []

    def gateways(self, default_poll_interval_s: int) -> list[GatewaySeen]:
        return self.seen

    def rejections(self, since_s: int, until_s: int) -> dict[str, int]:
        return self.rejected

    def ledger_failures(self, since_s: int) -> list[LedgerFailure]:
        return self.failures

    def epochs(self, lo: int, hi: int) -> EpochRows:
        return EpochRows(frozenset(range(lo, hi + 1)), frozenset(range(lo, hi + 1)), 0, 0)


async def test_monitor_publishes_new_once_resolves_and_retries() -> None:
    source = _FakeSource()
    sent: list[tuple[str, AlertEvent]] = []
    accept = [False]

    async def publish(topic: str, body: bytes) -> bool:
        if accept[0]:
            sent.append((topic, decode_alert(body)))
        return accept[0]

    monitor = AlertMonitor(source, publish, topic_root="r", clock=lambda: 10_000.0)
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


def test_evaluate_combines_rules() -> None:
    source = _FakeSource()
    source.rejected = {"bad_signature": 100}
    source.seen = [GatewaySeen("gw", 9990, 60)]
    alerts = evaluate(source, AlertRules(), 10_000, 0)
    assert [a.kind for a in alerts] == [AlertKind.REJECTION_SPIKE]


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
            monitor = AlertMonitor(SqlAlertSource(engine), publish, topic_root=topic_root,
                                   rules=rules, clock=lambda: now[0])  # fmt: skip
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

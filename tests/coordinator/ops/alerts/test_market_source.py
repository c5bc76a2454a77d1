"""The market and progress the alert monitor reads, against PostgreSQL (a database of
this module's own: `market` reads the newest clearings, whatever test wrote them),
and what the monitor makes of them: abnormal-trading alerts, counters and gauges."""

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from coordinator.db.models import (
    ClearingRecord,
    Device,
    EpochOnchain,
    EpochRecord,
    MarketOrder,
    MatchRow,
    Meter,
    SettlementJob,
)
from coordinator.db.session import make_engine
from coordinator.market.rules.surveillance import SurveillanceRules, Trade
from coordinator.ops.alerts.loop import AlertMonitor
from coordinator.ops.alerts.rules import AlertRules
from coordinator.ops.alerts.storage import SqlAlertSource
from tests.utils.services import migrated_database
from wire.alerts import AlertKind

pytestmark = pytest.mark.services

LENGTH = 900
T = 1_700_000_100  # "now" of the monitor
NEWEST = T // LENGTH - 2  # the newest cleared epoch


def _at(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


@pytest.fixture(scope="module")
def own_engine() -> Iterator[Engine]:
    with migrated_database() as url:
        eng = make_engine(url)
        _fill(eng)
        yield eng
        eng.dispose()


def _clearing(epoch: int, price: int | None, volume: int, settled: bool) -> dict[str, object]:
    return {
        "epoch": epoch, "inputs": b"", "result": b"", "inputs_hash": "0" * 64,
        "result_hash": "0" * 64, "pricing": "uniform", "clearing_price": price,
        "volume": volume, "turnover": 0, "order_count": 0, "match_count": 0,
        "cleared_at": _at(T - 100), "settled_at": _at(T - 50) if settled else None,
    }  # fmt: skip


def _fill(engine: Engine) -> None:
    """Ten quiet epochs, then the newest: alice buys from bob, whose meters sit behind
    one gateway with hers, at ten times the usual volume."""
    with engine.begin() as conn:
        for gw in ("gw-shared", "gw-carol"):
            conn.execute(insert(Device).values(gateway_id=gw, public_key=bytes(32)))
        conn.execute(insert(Meter), [
            {"gateway_id": "gw-shared", "meter_id": "m1", "model": "sdm630",
             "rated_power_w": 10_000, "owner": "alice"},
            {"gateway_id": "gw-shared", "meter_id": "m2", "model": "sdm630",
             "rated_power_w": 10_000, "owner": "bob"},
            {"gateway_id": "gw-carol", "meter_id": "m1", "model": "sdm630",
             "rated_power_w": 10_000, "owner": "carol"},
        ])  # fmt: skip
        conn.execute(
            insert(ClearingRecord),
            [_clearing(e, 1_000, 100, settled=True) for e in range(NEWEST - 10, NEWEST)],
        )
        conn.execute(insert(ClearingRecord), [_clearing(NEWEST, 1_000, 1_000, settled=False)])
        conn.execute(insert(MatchRow), [
            {"epoch": NEWEST, "idx": 0, "buy_order_id": "b1", "sell_order_id": "s1",
             "buyer": "alice", "seller": "bob", "quantity": 600, "price": 1_000,
             "payment": 600, "status": "pending"},
            {"epoch": NEWEST, "idx": 1, "buy_order_id": "b2", "sell_order_id": "s2",
             "buyer": "carol", "seller": "dave", "quantity": 400, "price": 1_000,
             "payment": 400, "status": "pending"},
        ])  # fmt: skip
        conn.execute(insert(MarketOrder), [
            {"order_id": oid, "owner": owner, "side": side, "epoch": NEWEST, "quantity": 1,
             "limit_price": 1_000, "status": status, "created_at": _at(T), "updated_at": _at(T)}
            for oid, owner, side, status in (
                ("b1", "alice", "buy", "filled"), ("s1", "bob", "sell", "filled"),
                ("b2", "carol", "buy", "filled"), ("s2", "dave", "sell", "filled"),
                ("c1", "erin", "buy", "cancelled"),  # never entered the clearing
            )
        ])  # fmt: skip
        conn.execute(insert(EpochRecord).values(
            epoch=NEWEST, length_s=LENGTH, closed_at=_at(T), reading_count=0, total_import_wh=0,
            total_export_wh=0, mint_base_units=0, merkle_root=bytes(32), summary_json="{}",
        ))  # fmt: skip
        conn.execute(insert(EpochOnchain).values(
            epoch=NEWEST - 1, minted_base_units=0, unowned_base_units=0, mint_signatures="",
            done_at=_at(T),
        ))  # fmt: skip
        conn.execute(insert(SettlementJob), [
            {"job_key": "old", "epoch": NEWEST, "kind": "settle", "payload": "{}",
             "status": "sent", "created_at": _at(T - 700), "updated_at": _at(T - 700)},
            {"job_key": "done", "epoch": NEWEST, "kind": "settle", "payload": "{}",
             "status": "confirmed", "created_at": _at(T - 9000), "updated_at": _at(T)},
        ])  # fmt: skip


def test_market_window_reads_matches_orders_history_and_gateways(own_engine: Engine) -> None:
    source = SqlAlertSource(own_engine)
    assert source.market(window=1, trailing=4, after=NEWEST).epochs == ()  # inspected
    assert [e.epoch for e in source.market(window=2, trailing=0, after=NEWEST - 2).epochs] == [
        NEWEST - 1, NEWEST,
    ]  # fmt: skip
    window = source.market(window=1, trailing=4, after=None)
    (epoch,) = window.epochs
    assert epoch.epoch == NEWEST
    assert epoch.trades == (Trade("alice", "bob", 600, 1_000), Trade("carol", "dave", 400, 1_000))
    assert {o.order_id for o in epoch.orders} == {"b1", "s1", "b2", "s2"}
    assert [f.epoch for f in window.history] == [NEWEST - 1, NEWEST - 2, NEWEST - 3, NEWEST - 4]
    assert window.gateways_of == {
        "alice": frozenset({"gw-shared"}), "bob": frozenset({"gw-shared"}),
        "carol": frozenset({"gw-carol"}),
    }  # fmt: skip


def test_progress_names_the_newest_epoch_of_each_stage(own_engine: Engine) -> None:
    progress = SqlAlertSource(own_engine).progress()
    assert progress.stages() == {
        "closed": NEWEST, "cleared": NEWEST, "minted": NEWEST - 1, "settled": NEWEST - 1,
    }  # fmt: skip
    assert progress.oldest_pending_s == T - 700  # the confirmed job is not in flight


def _sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_monitor_alerts_on_abnormal_trading_and_sets_the_gauges(own_engine: Engine) -> None:
    published: list[bytes] = []

    async def publish(topic: str, body: bytes) -> bool:
        published.append(body)
        return True

    rules = AlertRules(
        length_s=LENGTH, surveillance=SurveillanceRules(min_history=8), trading_window=1
    )
    before = _sample("gtx_trading_findings_total", kind="self_dealing")
    monitor = AlertMonitor(SqlAlertSource(own_engine), publish, rules=rules, clock=lambda: T)
    events = await monitor.step()
    trading = {e.alert.key for e in events if e.alert.kind is AlertKind.ABNORMAL_TRADING}
    assert trading == {
        f"abnormal_trading:self_dealing:{NEWEST}:alice>bob",
        f"abnormal_trading:volume_spike:{NEWEST}:volume",
    }
    assert _sample("gtx_trading_findings_total", kind="self_dealing") == before + 1
    assert _sample("gtx_alerts_firing", kind="abnormal_trading") == 2
    assert _sample("gtx_epoch_length_seconds") == LENGTH
    end = (NEWEST + 1) * LENGTH
    assert _sample("gtx_epoch_stage_end_timestamp_seconds", stage="closed") == end
    assert _sample("gtx_epoch_stage_end_timestamp_seconds", stage="minted") == end - LENGTH
    assert _sample("gtx_ledger_pending_oldest_seconds") == 700
    assert len(published) == len(events)
    # The epoch is inspected once: the next round finds nothing new, publishes nothing.
    assert await monitor.step() == []
    assert len(published) == len(events)
    assert _sample("gtx_trading_findings_total", kind="self_dealing") == before + 1

    # Leadership lost: the monitor stops, and its gauges no longer say anything fires.
    task = asyncio.create_task(monitor.run())
    await asyncio.sleep(0)  # yields once: the task enters run() (not a timing wait)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert _sample("gtx_alerts_firing", kind="abnormal_trading") == 0
    assert _sample("gtx_ledger_pending_oldest_seconds") == 0

"""Closing and publishing epochs from the event loop (as the runner does) keeps
every SQL statement off the loop's thread."""

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy.engine import Engine

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.devices.registry import register_device, register_meter
from coordinator.readings.epoch_close import EpochCloser
from coordinator.readings.ingest.commit import commit_batch
from coordinator.readings.ingest.decide import verify_all
from coordinator.readings.ingest.screen import Incoming, Parsed
from coordinator.readings.ingest.store import SqlReadingStore
from coordinator.readings.oracle import OracleConfig
from edge.signing import DeviceKey
from tests.utils.sql_threads import sql_threads
from wire.reading import Reading, encode_payload

LENGTH = 60
NOW = 1_764_000_000 - 1_764_000_000 % LENGTH + 3 * LENGTH


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _reading(key: DeviceKey, seq: int, ts: int, imp: int) -> Parsed:
    signed = key.sign(Reading(key.gateway_id, "m1", seq, ts, imp, 0))
    at = dt.datetime.fromtimestamp(ts, dt.UTC)
    return Parsed(Incoming("gtx/v1/gw/x/readings", encode_payload(signed), at), signed)


async def test_close_and_publish_run_no_sql_on_the_event_loop(sqlite_engine: Engine) -> None:
    key = DeviceKey.generate()
    register_device(sqlite_engine, key.gateway_id)
    register_meter(sqlite_engine, key.gateway_id, "m1", model="sdm630", rated_power_w=36_000)
    store = SqlReadingStore(sqlite_engine)
    base = NOW - 2 * LENGTH
    parsed = [_reading(key, 1, base - 30, 0), _reading(key, 2, base + 30, 60)]
    commit_batch(
        store, parsed, [], verified=verify_all(parsed, store.devices([key.gateway_id])),
        now=NOW, config=OracleConfig(), length_s=LENGTH,
    )  # fmt: skip
    closer = EpochCloser(sqlite_engine, length_s=LENGTH, grace_s=5, lateness_s=3600)
    published: list[tuple[int, bytes]] = []

    async def publish(epoch: int, body: bytes) -> bool:
        published.append((epoch, body))
        return True

    imported = REGISTRY.get_sample_value("gtx_closed_energy_wh_total", {"direction": "import"})
    with sql_threads(sqlite_engine) as seen:
        closed = await asyncio.to_thread(closer.close_due, NOW)  # as the runner calls it
        assert await closer.publish_pending(publish) == len(closed) == 2
        assert await closer.publish_pending(publish) == 0  # each is published once
    assert seen.ran > 0
    assert seen.on_thread == []
    assert [epoch for epoch, _ in published] == [c.summary.epoch for c in closed]
    assert sum(json.loads(body)["total_import_wh"] for _, body in published) == 60
    # The energy dashboard's counter moved by the closed epochs' totals, once.
    after = REGISTRY.get_sample_value("gtx_closed_energy_wh_total", {"direction": "import"})
    assert after == (imported or 0.0) + 60

"""The embedded database: the Alembic migrations, store and registry on a SQLite file."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Engine

from coordinator.db.migrate import upgrade
from coordinator.db.models import Reading as ReadingRow
from coordinator.db.models import RejectedReading
from coordinator.db.session import make_engine
from coordinator.devices.registry import register_device, register_meter, revoke_device
from coordinator.errors import ConfigError
from coordinator.readings.ingest.commit import commit_batch
from coordinator.readings.ingest.decide import BatchDecision, verify_all
from coordinator.readings.ingest.screen import Incoming, Parsed, Rejected
from coordinator.readings.ingest.store import SqlReadingStore
from coordinator.readings.oracle import OracleConfig
from edge.signing import DeviceKey
from wire.reading import Reading, encode_payload

AT = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


LENGTH = 60
NOW = 1_764_000_000 - 1_764_000_000 % LENGTH + 3 * LENGTH


def _parsed(key: DeviceKey, seq: int, ts: int, imp: int) -> Parsed:
    signed = key.sign(Reading(key.gateway_id, "m1", seq, ts, imp, 0))
    return Parsed(Incoming("gtx/v1/gw/x/readings", encode_payload(signed), AT), signed)


def _commit(
    store: SqlReadingStore, parsed: list[Parsed], rejected: list[Rejected] | None = None
) -> BatchDecision:
    devices = store.devices(p.signed.reading.gateway_id for p in parsed)
    return commit_batch(
        store, parsed, rejected or [], verified=verify_all(parsed, devices), now=NOW,
        config=OracleConfig(), length_s=LENGTH,
    )  # fmt: skip


def test_migrations_create_the_tables_and_reach_head(sqlite_engine: Engine) -> None:
    tables = set(inspect(sqlite_engine).get_table_names())
    assert {"devices", "meters", "readings", "rejected_readings", "alembic_version"} <= tables
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version.startswith("00")


def test_upgrade_twice_is_a_no_op(sqlite_engine: Engine) -> None:
    upgrade(sqlite_engine)
    assert "readings" in inspect(sqlite_engine).get_table_names()


def test_registry_and_devices(sqlite_engine: Engine) -> None:
    key = DeviceKey.generate()
    store = SqlReadingStore(sqlite_engine)
    assert store.devices([key.gateway_id]) == {}
    assert register_device(sqlite_engine, key.gateway_id) is True
    assert register_device(sqlite_engine, key.gateway_id) is False
    device = store.devices([key.gateway_id, "unknown"])[key.gateway_id]
    assert (device.public_key, device.active) == (key.public_key, True)
    assert revoke_device(sqlite_engine, key.gateway_id)
    assert not store.devices([key.gateway_id])[key.gateway_id].active
    assert not revoke_device(sqlite_engine, DeviceKey.generate().gateway_id)


def test_meters_need_a_registered_gateway(sqlite_engine: Engine) -> None:
    key = DeviceKey.generate()
    register_device(sqlite_engine, key.gateway_id)
    register_meter(sqlite_engine, key.gateway_id, "m1", model="sdm630", rated_power_w=10_000)
    register_meter(sqlite_engine, key.gateway_id, "m1", model="sdm630", rated_power_w=20_000)
    with pytest.raises(ConfigError):
        register_meter(sqlite_engine, key.gateway_id, "m2", model="x", rated_power_w=0)
    with pytest.raises(Exception, match="FOREIGN KEY"):
        register_meter(
            sqlite_engine, DeviceKey.generate().gateway_id, "m1", model="x", rated_power_w=1
        )


def test_commit_batch_is_idempotent_and_keeps_rejections(sqlite_engine: Engine) -> None:
    key = DeviceKey.generate()
    register_device(sqlite_engine, key.gateway_id)
    register_meter(sqlite_engine, key.gateway_id, "m1", model="sdm630", rated_power_w=36_000)
    store = SqlReadingStore(sqlite_engine)
    t, m = NOW - 600, 1_000_000
    batch = [_parsed(key, 1, t, m), _parsed(key, 2, t + 60, m + 100)]
    assert len(_commit(store, batch).accepted) == 2
    raw = b"\x00not json\xff"
    malformed = Rejected(Incoming("gtx/v1/gw/x/readings", raw, AT), "malformed", "bad", None)
    # A redelivered batch plus one new reading, and a malformed message.
    decision = _commit(store, [*batch, _parsed(key, 3, t + 120, m + 250)], [malformed])
    assert len(decision.accepted) == 1
    with sqlite_engine.connect() as conn:
        rows = conn.execute(
            select(ReadingRow.seq, ReadingRow.import_wh)
            .where(ReadingRow.gateway_id == key.gateway_id)
            .order_by(ReadingRow.seq)
        ).all()
        reasons = conn.execute(select(RejectedReading.reason, RejectedReading.payload)).all()
    assert [(r.seq, r.import_wh) for r in rows] == [(1, m), (2, m + 100), (3, m + 250)]
    assert ("malformed", raw) in [(r.reason, r.payload) for r in reasons]

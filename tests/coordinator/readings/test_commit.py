"""The ingest unit of work (`ingest.commit`) on the in-memory ReadingStore:
duplicates, replays, rejections, epoch carry-over, the batch's gateways locked;
and the fake held to the SQL adapter (on SQLite) batch for batch."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from coordinator.db.migrate import upgrade
from coordinator.db.models import EpochRecord
from coordinator.db.session import make_engine
from coordinator.devices.registry import register_device, register_meter
from coordinator.readings.ingest.commit import commit_batch, decide_and_commit
from coordinator.readings.ingest.decide import BatchDecision, verify_all
from coordinator.readings.ingest.screen import Incoming, Parsed, Rejected
from coordinator.readings.ingest.store import ReadingStore, SqlReadingStore
from coordinator.readings.oracle import DeviceRecord, MeterKey, OracleConfig
from edge.signing import DeviceKey
from tests.coordinator.readings.memory_store import MemoryReadingStore
from wire import topics
from wire.reading import Reading, SignedReading, encode_payload

AT = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
LENGTH = 60
NOW = 1_764_000_000 - 1_764_000_000 % LENGTH + 3 * LENGTH
ROOT = "gtx"


def _parsed(
    key: DeviceKey, seq: int, ts: int, imp: int, exp: int = 0, meter: str = "m1", at: int = 0
) -> Parsed:
    signed = key.sign(Reading(key.gateway_id, meter, seq, ts, imp, exp))
    topic = topics.gateway_readings(ROOT, key.gateway_id)
    return Parsed(Incoming(topic, encode_payload(signed), AT + dt.timedelta(seconds=at)), signed)


def _commit(
    store: ReadingStore,
    parsed: list[Parsed],
    now: int = NOW,
    screened: list[Rejected] | None = None,
) -> BatchDecision:
    devices = store.devices(p.signed.reading.gateway_id for p in parsed)
    return commit_batch(
        store, parsed, screened or [], verified=verify_all(parsed, devices), now=now,
        config=OracleConfig(), length_s=LENGTH,
    )  # fmt: skip


def _record(key: DeviceKey, *meters: str) -> DeviceRecord:
    return DeviceRecord(
        public_key=key.public_key, active=True, rated_power_w=dict.fromkeys(meters, 36_000)
    )


def _store(*keys: DeviceKey) -> MemoryReadingStore:
    return MemoryReadingStore({k.gateway_id: _record(k, "m1") for k in keys})


def test_every_rule_through_the_unit_of_work() -> None:
    key = DeviceKey.generate()
    store = _store(key)
    t = NOW - 600
    m = 1_000_000  # big enough that a new meter's counters are a reset
    d1 = _commit(store, [_parsed(key, 1, t, m), _parsed(key, 2, t + 60, m + 100)])
    assert len(d1.accepted) == 2
    # Next batch: state comes from the store.
    batch = [
        _parsed(key, 2, t + 60, m + 100, at=1),  # duplicate (redelivery)
        _parsed(key, 2, t + 61, m + 101, at=2),  # seq_reused
        _parsed(key, 5, t + 120, m + 200, at=3),  # accepted, sequence_gap
        _parsed(key, 6, t + 100, m + 300, at=4),  # stale_reading
        _parsed(key, 7, t + 180, m + 150, at=5),  # counter_backwards
        _parsed(key, 8, t + 240, m + 200 + 36_000, at=6),  # implausible_energy
        _parsed(key, 9, NOW + 3600, 1300, at=7),  # future_timestamp
        _parsed(key, 10, NOW - 8 * 24 * 3600, 1300, at=8),  # too_late
        _parsed(key, 11, t + 300, 1300, meter="nope", at=9),  # unknown_meter
        _parsed(key, 12, t + 360, 5, at=10),  # meter_reset: accepted, flagged
    ]
    d2 = _commit(store, batch)
    assert len(d2.duplicates) == 1
    assert [(a.signed.reading.seq, sorted(a.flags)) for a in d2.accepted] == [
        (5, ["sequence_gap"]),
        (12, ["meter_reset", "sequence_gap"]),
    ]
    assert [r.reason for r in store.rejected] == [
        "seq_reused", "stale_reading", "counter_backwards", "implausible_energy",
        "future_timestamp", "too_late", "unknown_meter",
    ]  # fmt: skip
    flags = {seq: sorted(s.flags) for (_, seq), s in store.readings.items()}
    assert flags == {1: [], 2: [], 5: ["sequence_gap"], 12: ["meter_reset", "sequence_gap"]}
    assert sum(imp for imp, _ in store.energy.values()) == 200  # nothing across the reset
    assert store.highest == {key.gateway_id: 12}
    assert store.commits == 2


def test_a_redelivered_batch_is_all_duplicates_and_changes_nothing() -> None:
    key = DeviceKey.generate()
    store = _store(key)
    batch = [_parsed(key, 1, NOW - 120, 10), _parsed(key, 2, NOW - 60, 70, 5)]
    assert len(_commit(store, batch).accepted) == 2
    before = (dict(store.readings), dict(store.meters), dict(store.energy))
    again = _commit(store, batch)
    assert (len(again.accepted), len(again.duplicates), again.rejected) == (0, 2, [])
    assert (again.meters, again.gateways, again.energy) == ({}, {}, {})
    assert (store.readings, store.meters, store.energy) == before
    assert store.rejected == []


def test_screened_and_oracle_rejections_are_written_together_in_arrival_order() -> None:
    key, stranger = DeviceKey.generate(), DeviceKey.generate()
    store = _store(key)
    good = _parsed(key, 1, NOW - 10, 1, at=4)
    reading = Reading(key.gateway_id, "m1", 2, NOW - 5, 2, 0)
    forged = encode_payload(SignedReading(reading, good.signed.signature))
    topic = topics.gateway_readings(ROOT, key.gateway_id)
    messages = [  # the malformed one arrived second
        Incoming(topic, b"\x00garbage", AT + dt.timedelta(seconds=2)),
        Incoming(topic, forged, AT + dt.timedelta(seconds=1)),
        _parsed(stranger, 1, NOW, 1, at=3).incoming,
        good.incoming,
    ]
    outcome = decide_and_commit(store, ROOT, OracleConfig(), LENGTH, NOW, messages)
    assert (outcome.accepted, outcome.duplicates) == (1, 0)
    assert [r.reason for r in store.rejected] == ["bad_signature", "malformed", "unknown_device"]
    assert sorted(r.reason for r in outcome.rejected) == sorted(r.reason for r in store.rejected)
    assert store.rejected[1].incoming.payload == b"\x00garbage"
    assert list(store.readings) == [(key.gateway_id, 1)]


def test_a_late_reading_counts_in_the_first_open_epoch() -> None:
    key = DeviceKey.generate()
    store = _store(key)
    base = NOW - 2 * LENGTH  # start of an epoch
    first = base // LENGTH - 1
    d = _commit(store, [_parsed(key, 1, base - 30, 0), _parsed(key, 2, base + 30, 60, 6)])
    assert d.first_open_epoch is None
    assert d.energy == {(first, MeterKey(key.gateway_id, "m1")): (30, 3),
                        (first + 1, MeterKey(key.gateway_id, "m1")): (30, 3)}  # fmt: skip
    for epoch in (first, first + 1):
        store.close_epoch(epoch)
    # Its meter time is in the closed epoch first + 1: the energy carries over.
    late = _commit(store, [_parsed(key, 3, base + 60, 120, 6)], now=NOW + LENGTH)
    (accepted,) = late.accepted
    assert (late.first_open_epoch, accepted.epoch) == (first + 2, first + 2)
    assert store.energy[(first + 2, MeterKey(key.gateway_id, "m1"))] == (60, 0)
    assert store.readings[(key.gateway_id, 3)].first_open_epoch == first + 2
    assert store.readings[(key.gateway_id, 1)].first_open_epoch is None


def test_the_unit_of_work_locks_the_batchs_gateways_and_commits_once() -> None:
    a, b = DeviceKey.generate(), DeviceKey.generate()
    store = _store(a, b)
    _commit(store, [_parsed(a, 1, NOW - 60, 1), _parsed(b, 1, NOW - 60, 1), _parsed(a, 2, NOW, 2)])
    assert store.opened == [frozenset({a.gateway_id, b.gateway_id})]
    assert store.commits == 1


def test_nothing_is_written_when_the_write_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    key = DeviceKey.generate()
    store = _store(key)
    batch = [_parsed(key, 1, NOW - 60, 1)]

    def down(*args: object) -> None:
        raise ConnectionError("database down")

    with monkeypatch.context() as patch:
        patch.setattr("tests.coordinator.readings.memory_store.MemoryUnitOfWork.write", down)
        with pytest.raises(ConnectionError):
            _commit(store, batch)
    assert (store.commits, store.readings, store.meters) == (0, {}, {})
    assert len(_commit(store, batch).accepted) == 1  # the retry decides afresh


# The fake against the SQL adapter: the same batches, the same decisions and state.


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _close_on_sql(engine: Engine, epoch: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(EpochRecord).values(
                epoch=epoch, length_s=LENGTH, closed_at=AT, reading_count=0, total_import_wh=0,
                total_export_wh=0, mint_base_units=0, merkle_root=b"\x00" * 32, summary_json="{}",
            )
        )  # fmt: skip


def test_the_fake_decides_and_loads_as_the_sql_store(sqlite_engine: Engine) -> None:
    keys = [DeviceKey.generate() for _ in range(2)]
    memory = MemoryReadingStore({k.gateway_id: _record(k, "m1", "m2") for k in keys})
    sql = SqlReadingStore(sqlite_engine)
    for key in keys:
        register_device(sqlite_engine, key.gateway_id)
        for meter in ("m1", "m2"):
            register_meter(sqlite_engine, key.gateway_id, meter, model="sdm630",
                           rated_power_w=36_000)  # fmt: skip
    k0, k1 = keys
    base = NOW - 4 * LENGTH
    batches: list[tuple[list[Parsed], int]] = [
        ([_parsed(k0, 1, base - 30, 10), _parsed(k1, 1, base - 30, 1_000_000)], NOW),
        (
            [
                _parsed(k0, 1, base - 30, 10),  # duplicate
                _parsed(k0, 2, base + 30, 70, 5),  # across an epoch boundary
                _parsed(k0, 2, base + 31, 71),  # seq_reused
                _parsed(k0, 4, base + 90, 100, 9),  # sequence_gap
                _parsed(k1, 2, base + 31, 20, 1, "m2"),  # a new meter: no energy yet
                _parsed(k1, 3, base + 20, 30, 2, "m2"),  # stale_reading
                _parsed(k1, 4, base + 60, 3),  # meter_reset
            ],
            NOW,
        ),
        (
            [_parsed(k0, 5, base + 100, 130, 9), _parsed(k1, 5, base + 45, 40, 3, "m2")],
            NOW + LENGTH,
        ),
    ]
    every = [p for batch, _ in batches for p in batch]
    decisions: list[BatchDecision] = []
    for n, (batch, now) in enumerate(batches):
        if n == 2:  # epochs closed meanwhile: the last batch carries over
            for epoch in range(base // LENGTH - 1, base // LENGTH + 2):
                memory.close_epoch(epoch)
                _close_on_sql(sqlite_engine, epoch)
        decision = _commit(memory, batch, now)
        assert decision == _commit(sql, batch, now)
        decisions.append(decision)
    states: list[Any] = []
    for store in (memory, sql):
        with store.unit_of_work(k.gateway_id for k in keys) as uow:
            states.append(uow.load(every))  # not committed: nothing written
    assert states[0] == states[1]
    assert states[0].first_open_epoch == base // LENGTH + 2
    # What the batches exercised: every kind of outcome, and a carried-over epoch.
    seen = {r.reason for d in decisions for r in d.rejected}
    assert seen == {"seq_reused", "stale_reading"}
    assert {f for d in decisions for a in d.accepted for f in a.flags} == {
        "sequence_gap", "meter_reset"}  # fmt: skip
    assert sum(len(d.duplicates) for d in decisions) == 1
    assert decisions[2].first_open_epoch == base // LENGTH + 2
    assert len(states[0].stored) == sum(len(d.accepted) for d in decisions)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_load_refuses_a_gateway_the_unit_of_work_did_not_lock(
    kind: str, sqlite_engine: Engine
) -> None:
    key, other = DeviceKey.generate(), DeviceKey.generate()
    store: ReadingStore = _store(key) if kind == "memory" else SqlReadingStore(sqlite_engine)
    with store.unit_of_work([key.gateway_id]) as uow, pytest.raises(ValueError, match="not locked"):
        uow.load([_parsed(key, 1, NOW, 1), _parsed(other, 1, NOW, 1)])

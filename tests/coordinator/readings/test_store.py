"""SqlReadingStore (driven by the ingest unit of work) and EpochCloser against the
real PostgreSQL: every oracle rule through the storage path, state across
batches, epoch close and recompute, the PostgreSQL and SQLite writes alike."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from coordinator.db.migrate import upgrade
from coordinator.db.models import (
    EpochRecord,
    GatewayState,
    MeterEpochEnergyRow,
    MeterStateRow,
    ReadingSeq,
    RejectedReading,
)
from coordinator.db.models import Reading as ReadingRow
from coordinator.db.session import make_engine
from coordinator.devices.registry import register_device, register_meter, revoke_device
from coordinator.readings.epoch_close import EpochCloser, recompute_epoch
from coordinator.readings.ingest.commit import commit_batch
from coordinator.readings.ingest.decide import BatchDecision, verify_all
from coordinator.readings.ingest.screen import Incoming, Parsed, Rejected
from coordinator.readings.ingest.store import SqlReadingStore
from coordinator.readings.oracle import OracleConfig, epoch_root
from edge.signing import DeviceKey
from tests.utils.services import fresh_database
from wire.reading import Reading, encode_payload

pytestmark = pytest.mark.services
AT = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
LENGTH = 60
NOW = 1_764_000_000 - 1_764_000_000 % LENGTH + 3 * LENGTH


def _parsed(key: DeviceKey, seq: int, ts: int, imp: int, exp: int = 0, meter: str = "m1") -> Parsed:
    signed = key.sign(Reading(key.gateway_id, meter, seq, ts, imp, exp))
    return Parsed(Incoming("gtx/v1/gw/x/readings", encode_payload(signed), AT), signed)


def _commit(
    store: SqlReadingStore,
    parsed: list[Parsed],
    now: int = NOW,
    rejected: list[Rejected] | None = None,
) -> BatchDecision:
    devices = store.devices(p.signed.reading.gateway_id for p in parsed)
    return commit_batch(
        store, parsed, rejected or [], verified=verify_all(parsed, devices), now=now,
        config=OracleConfig(), length_s=LENGTH,
    )  # fmt: skip


def _gateway(engine: Engine, rated_w: int = 36_000) -> DeviceKey:
    key = DeviceKey.generate()
    register_device(engine, key.gateway_id)
    register_meter(engine, key.gateway_id, "m1", model="sdm630", rated_power_w=rated_w)
    return key


def _reasons(engine: Engine, gw: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(RejectedReading.reason).where(RejectedReading.gateway_id == gw)
            .order_by(RejectedReading.id)
        )  # fmt: skip
        return [r for (r,) in rows]


def test_every_rule_through_the_store(engine: Engine) -> None:
    key = _gateway(engine)
    store = SqlReadingStore(engine)
    t = NOW - 600
    m = 1_000_000  # big enough that a new meter's counters are a reset
    d1 = _commit(store, [_parsed(key, 1, t, m), _parsed(key, 2, t + 60, m + 100)])
    assert len(d1.accepted) == 2
    # Next batch: state comes from the database.
    batch = [
        _parsed(key, 2, t + 60, m + 100),  # duplicate (redelivery)
        _parsed(key, 2, t + 61, m + 101),  # seq_reused
        _parsed(key, 5, t + 120, m + 200),  # accepted, sequence_gap
        _parsed(key, 6, t + 100, m + 300),  # stale_reading
        _parsed(key, 7, t + 180, m + 150),  # counter_backwards
        _parsed(key, 8, t + 240, m + 200 + 36_000),  # implausible_energy (36 kW for 60 s = 600 Wh)
        _parsed(key, 9, NOW + 3600, 1300),  # future_timestamp
        _parsed(key, 10, NOW - 8 * 24 * 3600, 1300),  # too_late
        _parsed(key, 11, t + 300, 1300, meter="nope"),  # unknown_meter
        _parsed(key, 12, t + 360, 5),  # meter_reset: accepted, flagged
    ]
    d2 = _commit(store, batch)
    assert len(d2.duplicates) == 1
    assert [(a.signed.reading.seq, sorted(a.flags)) for a in d2.accepted] == [
        (5, ["sequence_gap"]),
        (12, ["meter_reset", "sequence_gap"]),
    ]
    assert _reasons(engine, key.gateway_id) == [
        "seq_reused", "stale_reading", "counter_backwards", "implausible_energy",
        "future_timestamp", "too_late", "unknown_meter",
    ]  # fmt: skip
    with engine.connect() as conn:
        flags = conn.execute(
            select(ReadingRow.seq, ReadingRow.flags)
            .where(ReadingRow.gateway_id == key.gateway_id).order_by(ReadingRow.seq)
        ).all()  # fmt: skip
        energy = conn.execute(
            select(func.sum(MeterEpochEnergyRow.import_wh))
            .where(MeterEpochEnergyRow.gateway_id == key.gateway_id)
        ).scalar_one()  # fmt: skip
    assert flags == [(1, ""), (2, ""), (5, "sequence_gap"), (12, "meter_reset,sequence_gap")]
    assert energy == 200  # 1000 -> 1200; nothing across the reset


def test_unknown_revoked_forged_and_malformed_are_stored_with_payload(engine: Engine) -> None:
    key = _gateway(engine)
    stranger = DeviceKey.generate()
    store = SqlReadingStore(engine)
    good = _parsed(key, 1, NOW - 10, 1)
    forged = _parsed(key, 2, NOW - 5, 2)
    forged = Parsed(
        forged.incoming, type(forged.signed)(forged.signed.reading, good.signed.signature)
    )
    garbage = Rejected(
        Incoming("gtx/v1/gw/x/readings", b"\x00garbage", AT), "malformed", "bad", None
    )
    d = _commit(store, [forged, _parsed(stranger, 1, NOW, 1)], rejected=[garbage])
    assert [r.reason for r in d.rejected] == ["bad_signature", "unknown_device"]
    revoke_device(engine, key.gateway_id)
    d = _commit(store, [good])
    assert [r.reason for r in d.rejected] == ["revoked_device"]
    with engine.connect() as conn:
        payloads = {
            reason: payload
            for reason, payload in conn.execute(
                select(RejectedReading.reason, RejectedReading.payload).where(
                    RejectedReading.gateway_id.in_([key.gateway_id, None])
                    | (RejectedReading.payload == b"\x00garbage")
                )
            )
        }
    assert payloads["malformed"] == b"\x00garbage"
    assert bytes(payloads["bad_signature"]) == forged.incoming.payload


@pytest.fixture
def own_engine() -> Iterator[Engine]:
    """A database of its own: epochs are global, other tests close them too."""
    with fresh_database() as url:
        eng = make_engine(url)
        upgrade(eng)
        yield eng
        eng.dispose()


def test_epoch_close_is_exact_idempotent_and_recomputable(own_engine: Engine) -> None:
    engine = own_engine
    key = _gateway(engine)
    store = SqlReadingStore(engine)
    base = NOW - 2 * LENGTH  # start of an epoch
    _commit(store, [_parsed(key, 1, base - 30, 0, 0), _parsed(key, 2, base + 30, 60, 6)])
    closer = EpochCloser(engine, length_s=LENGTH, grace_s=5, lateness_s=7 * 24 * 3600)
    closed = closer.close_due(NOW)
    epochs = [c.summary.epoch for c in closed]
    first = base // LENGTH - 1
    assert epochs[0] <= first
    by_epoch = {c.summary.epoch: c for c in closed}
    assert by_epoch[first].summary.total_import_wh == 30  # split pro rata: 30 s of 60
    assert by_epoch[first + 1].summary.total_import_wh == 30
    assert by_epoch[first + 1].summary.total_export_wh == 3
    assert by_epoch[first + 1].merkle_root == epoch_root([_parsed(key, 2, base + 30, 60, 6).signed])
    assert closer.close_due(NOW) == []  # idempotent: nothing is due twice
    # A late reading after those closed: its energy lands in the first open epoch.
    _commit(store, [_parsed(key, 3, base + 60, 120, 6)], now=NOW + LENGTH)
    with engine.connect() as conn:
        last = conn.execute(select(func.max(EpochRecord.epoch))).scalar_one()
        open_energy = conn.execute(
            select(MeterEpochEnergyRow.epoch, MeterEpochEnergyRow.import_wh)
            .where(MeterEpochEnergyRow.gateway_id == key.gateway_id,
                   MeterEpochEnergyRow.epoch > last)
        ).all()  # fmt: skip
    assert open_energy == [(last + 1, 60)]
    for epoch, c in by_epoch.items():
        again = recompute_epoch(engine, epoch, LENGTH, 7 * 24 * 3600)
        mine = {m.meter: m for m in again.summary.meters if m.meter.gateway_id == key.gateway_id}
        theirs = {m.meter: m for m in c.summary.meters if m.meter.gateway_id == key.gateway_id}
        assert mine == theirs


def _tables(engine: Engine, gateways: set[str]) -> dict[str, list[tuple[object, ...]]]:
    """The rows of the ingest tables for `gateways`, sorted, as plain Python values."""
    out = {}
    with engine.connect() as conn:
        for model in (ReadingRow, ReadingSeq, MeterStateRow, GatewayState, MeterEpochEnergyRow):
            table = model.__table__
            rows = conn.execute(select(table).where(table.c.gateway_id.in_(gateways))).all()
            out[model.__tablename__] = sorted(tuple(_plain(v) for v in row) for row in rows)
    return out


def _plain(value: object) -> object:
    # SQLite hands timestamps back naive (stored as UTC) and bytes as bytes.
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def test_postgres_columns_and_sqlite_rows_store_the_same(
    own_engine: Engine, tmp_path: Path
) -> None:
    """PostgreSQL writes a batch as arrays (one statement a table), SQLite row by row:
    the same batches leave the same rows in both, flags, epochs split over a
    boundary, several meters and gateways, and the lowest open epoch included."""
    sqlite = make_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
    upgrade(sqlite)
    keys = [DeviceKey.generate() for _ in range(3)]
    for engine in (own_engine, sqlite):
        for key in keys:
            register_device(engine, key.gateway_id)
            for meter in ("m1", "m2"):
                register_meter(engine, key.gateway_id, meter, model="sdm630", rated_power_w=36_000)
    base = NOW - 4 * LENGTH
    # keys[2]'s counter is large enough that a small one next is a meter reset.
    first = [
        _parsed(k, 1, base - 30, imp) for k, imp in zip(keys, (10, 10, 1_000_000), strict=True)
    ]
    second = [
        _parsed(keys[0], 2, base + 30, 70, 5),  # across an epoch boundary
        _parsed(keys[0], 4, base + 90, 100, 9),  # sequence_gap
        _parsed(keys[1], 2, base + 31, 20, 1, "m2"),  # a new meter: no energy yet
        _parsed(keys[1], 3, base + 45, 30, 2, "m2"),
        _parsed(keys[2], 2, base + 60, 3, 0),  # meter_reset
    ]
    for engine in (own_engine, sqlite):
        store = SqlReadingStore(engine)
        _commit(store, first)
        EpochCloser(engine, length_s=LENGTH, grace_s=5, lateness_s=7 * 24 * 3600).close_due(
            base + 5
        )
        d = _commit(store, second)
        assert len(d.accepted) == len(second)
    gateways = {k.gateway_id for k in keys}
    on_pg, on_sqlite = _tables(own_engine, gateways), _tables(sqlite, gateways)
    sqlite.dispose()
    assert len(on_pg["readings"]) == len(first) + len(second)
    assert {row[9] for row in on_pg["readings"]} == {"", "sequence_gap", "meter_reset"}
    assert {row[11] for row in on_pg["readings"]} == {None, base // LENGTH}
    assert len(on_pg["meter_epoch_energy"]) == 3  # the closed epoch's part carried forward
    assert on_pg == on_sqlite

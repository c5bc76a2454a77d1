"""SqlReadingStore against the real PostgreSQL (fresh database per run)."""

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from coordinator.db.models import Reading as ReadingRow
from coordinator.db.models import RejectedReading
from coordinator.ingest.screen import Accepted, Incoming, Rejected
from coordinator.ingest.store import SqlReadingStore
from coordinator.registry import register_device, revoke_device
from edge.protocol import Reading, encode_payload
from edge.signing import DeviceKey

pytestmark = pytest.mark.services
NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


def _accepted(key: DeviceKey, seq: int) -> Accepted:
    signed = key.sign(Reading(key.gateway_id, "m1", seq, 1764000000 + seq, seq * 10, seq))
    return Accepted(Incoming("t", encode_payload(signed), NOW), signed)


def test_devices_reflect_registration_and_revocation(engine: Engine) -> None:
    key = DeviceKey.generate()
    store = SqlReadingStore(engine)
    assert store.devices([key.gateway_id]) == {}
    assert register_device(engine, key.gateway_id) is True
    assert register_device(engine, key.gateway_id) is False  # idempotent
    device = store.devices([key.gateway_id])[key.gateway_id]
    assert device.public_key == key.public_key
    assert device.active
    assert revoke_device(engine, key.gateway_id)
    assert not store.devices([key.gateway_id])[key.gateway_id].active


def test_save_is_idempotent_per_gateway_sequence(engine: Engine) -> None:
    key = DeviceKey.generate()
    store = SqlReadingStore(engine)
    batch = [_accepted(key, 1), _accepted(key, 2)]
    store.save(batch, [])
    store.save([*batch, _accepted(key, 3)], [])  # a redelivered batch plus one new
    with engine.connect() as conn:
        rows = conn.execute(
            select(ReadingRow.seq, ReadingRow.import_wh, ReadingRow.signature)
            .where(ReadingRow.gateway_id == key.gateway_id)
            .order_by(ReadingRow.seq)
        ).all()
    assert [(r.seq, r.import_wh) for r in rows] == [(1, 10), (2, 20), (3, 30)]
    assert rows[0].signature == batch[0].signed.signature


def test_rejections_keep_payload_and_reason(engine: Engine) -> None:
    store = SqlReadingStore(engine)
    raw = b"\x00not json\xff"
    store.save([], [Rejected(Incoming("gtx/v1/gw/x/readings", raw, NOW), "malformed", "bad", "x")])
    with engine.connect() as conn:
        row = conn.execute(select(RejectedReading).where(RejectedReading.payload == raw)).one()
        assert row.reason == "malformed"
        assert row.topic == "gtx/v1/gw/x/readings"
        assert conn.execute(select(func.count()).select_from(RejectedReading)).scalar_one() >= 1

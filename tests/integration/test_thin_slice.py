"""The walking skeleton end to end, over real connections:
simulated SDM630 (Modbus TCP) -> gateway agent -> Mosquitto -> coordinator -> PostgreSQL."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.models import Reading as ReadingRow
from coordinator.db.models import RejectedReading
from coordinator.devices.registry import register_device, register_meter
from coordinator.runner import run_ingest
from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer
from edge.agent import GatewayAgent, Publisher
from edge.config import BrokerConfig, GatewayConfig, MeterConfig
from edge.meter_reader import ModbusMeterReader
from edge.outbox import Outbox
from edge.publisher import MqttPublisher
from edge.signing import DeviceKey
from tests.utils.services import MQTT_HOST, MQTT_PORT, async_wait_until, cancel_and_wait
from wire import topics
from wire.reading import Reading, decode_payload, encode_payload

pytestmark = pytest.mark.services

# Exactly representable in float32 kWh, so the Wh integers are exact too.
IMPORT_WH = 12_345_500
EXPORT_WH = 987_250


def _rows(engine: Engine, model: Any, gateway_id: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(model).where(model.gateway_id == gateway_id)).all())


@contextlib.asynccontextmanager
async def _coordinator(
    database_url: str, topic_root: str, engine: Engine, name: str
) -> AsyncIterator[None]:
    settings = Settings(
        database_url=database_url,
        mqtt_host=MQTT_HOST,
        mqtt_port=MQTT_PORT,
        mqtt_client_id=f"gtx-test-coord-{name}",
        mqtt_session_expiry_s=30,
        topic_root=topic_root,
    )
    ready = asyncio.Event()
    task = asyncio.create_task(run_ingest(settings, engine, ready=ready), name="ingest")
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield
    finally:
        await cancel_and_wait(task)


async def test_reading_from_simulated_meter_lands_in_postgres(
    tmp_path: Path, engine: Engine, database_url: str, topic_root: str
) -> None:
    key = DeviceKey.generate()
    key.save(tmp_path / "device.pem")
    register_device(engine, key.gateway_id)
    register_meter(engine, key.gateway_id, "sdm630-0001", model="sdm630", rated_power_w=63_000)
    meter = SimulatedMeter.fixed(import_wh=IMPORT_WH, export_wh=EXPORT_WH)

    async with (
        ModbusSimServer({1: meter}, map_name="sdm630") as sim,
        _coordinator(database_url, topic_root, engine, key.gateway_id[:8]),
        ModbusMeterReader() as reader,
    ):
        broker = BrokerConfig(host=MQTT_HOST, port=MQTT_PORT, topic_root=topic_root)
        config = GatewayConfig(
            key_file=tmp_path / "device.pem",
            state_file=tmp_path / "state.sqlite",
            broker=broker,
            meters=(MeterConfig("sdm630-0001", "127.0.0.1", sim.port, 1, "sdm630", 63_000),),
            poll_interval_s=3600,  # one poll at start, the next an hour away
        )

        @contextlib.asynccontextmanager
        async def connect() -> AsyncIterator[Publisher]:
            async with MqttPublisher(broker, key.gateway_id) as publisher:
                yield publisher

        outbox = Outbox(config.state_file)
        agent = GatewayAgent(
            config=config, key=DeviceKey.load(config.key_file), reader=reader,
            outbox=outbox, connect=connect,
        )  # fmt: skip
        agent_task = asyncio.create_task(agent.run(), name="gateway")
        try:
            await async_wait_until(
                lambda: bool(_rows(engine, ReadingRow, key.gateway_id)),
                within_s=20,
                what="the reading in PostgreSQL",
            )
            await async_wait_until(lambda: outbox.depth() == 0, what="the outbox to drain")
        finally:
            await cancel_and_wait(agent_task)
            outbox.close()

    (row,) = _rows(engine, ReadingRow, key.gateway_id)
    assert (row.meter_id, row.seq) == ("sdm630-0001", 1)
    assert (row.import_wh, row.export_wh) == (IMPORT_WH, EXPORT_WH)
    assert agent.stats.ok == {"sdm630-0001": 1}
    assert agent.stats.published == 1


async def test_tampered_reading_is_rejected_with_reason(
    engine: Engine, database_url: str, topic_root: str
) -> None:
    key = DeviceKey.generate()
    register_device(engine, key.gateway_id)
    honest = encode_payload(key.sign(Reading(key.gateway_id, "m1", 7, 1764000000, 1000, 0)))
    tampered = honest.replace(b'"imp_wh":1000', b'"imp_wh":9000')
    assert decode_payload(tampered).reading.import_wh == 9000  # well-formed, just forged

    async with _coordinator(database_url, topic_root, engine, key.gateway_id[:8]):
        # A plain MQTT client, as an attacker or a buggy gateway would use.
        async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as client:
            topic = topics.gateway_readings(topic_root, key.gateway_id)
            await client.publish(topic, tampered, qos=1)
            await client.publish(topic, b"\x00garbage", qos=1)
        await async_wait_until(
            lambda: len(_rows(engine, RejectedReading, key.gateway_id)) == 2,
            within_s=20,
            what="two rejected readings",
        )

    rows = sorted(_rows(engine, RejectedReading, key.gateway_id), key=lambda r: r.id)
    assert [(r.reason, bytes(r.payload)) for r in rows] == [
        ("bad_signature", tampered),
        ("malformed", b"\x00garbage"),
    ]
    assert _rows(engine, ReadingRow, key.gateway_id) == []
    assert json.loads(tampered)["seq"] == 7

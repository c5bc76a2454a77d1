"""Injected Modbus faults against a real sim and the real broker: each is counted
and reported on the health topic, the agent keeps running, the healthy meters'
readings keep flowing, and a meter clock (with drift) stamps its readings."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from device_sim.faults import Fault
from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer
from edge.agent import GatewayAgent, Publisher
from edge.config import BrokerConfig, GatewayConfig, MeterConfig, PollingConfig
from edge.meter_reader import ModbusMeterReader
from edge.outbox import Outbox
from edge.publisher import MqttPublisher
from edge.signing import DeviceKey
from tests.utils.services import MQTT_HOST, MQTT_PORT
from wire import topics
from wire.health import HealthReport, decode_health
from wire.reading import decode_payload

pytestmark = pytest.mark.services

FAULTS = {2: Fault.TIMEOUT, 3: Fault.EXCEPTION, 4: Fault.CORRUPT_FRAME}
DRIFT_S = -600


def _settled(h: HealthReport) -> bool:
    return (
        h.meter("m1").counts.get("ok", 0) >= 2
        and h.meter("m5").counts.get("ok", 0) >= 2
        and all(h.meter(f"m{u}").counts.get(f.value, 0) >= 2 for u, f in FAULTS.items())
    )


async def test_faults_are_counted_reported_and_isolated(tmp_path: Path, topic_root: str) -> None:
    key = DeviceKey.generate()
    broker = BrokerConfig(host=MQTT_HOST, port=MQTT_PORT, topic_root=topic_root)
    sim_meters = {u: SimulatedMeter.fixed(import_wh=1000 * u, export_wh=0) for u in range(1, 6)}

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Publisher]:
        async with MqttPublisher(broker, key.gateway_id) as publisher:
            yield publisher

    async with (
        ModbusSimServer(sim_meters) as sim,
        ModbusMeterReader(timeout_s=0.3) as reader,
        aiomqtt.Client(MQTT_HOST, MQTT_PORT) as watcher,
    ):
        for unit, fault in FAULTS.items():
            sim.inject(unit, fault)
        sim.inject(5, Fault.CLOCK_DRIFT, drift_s=DRIFT_S)
        meters = [MeterConfig(f"m{u}", "127.0.0.1", sim.port, u, "sdm630", 63_000)
                  for u in range(1, 5)]  # fmt: skip
        meters.append(MeterConfig("m5", "127.0.0.1", sim.port, 5, "sdm630", 63_000, clock="meter"))
        config = GatewayConfig(
            key_file=tmp_path / "unused.pem", state_file=tmp_path / "state.sqlite",
            broker=broker, meters=tuple(meters), poll_interval_s=1, health_interval_s=0.5,
            polling=PollingConfig(timeout_s=0.3, max_attempts=2, backoff_initial_s=0.05),
        )  # fmt: skip
        health_topic = topics.gateway_health(topic_root, key.gateway_id)
        readings_topic = topics.gateway_readings(topic_root, key.gateway_id)
        await watcher.subscribe(health_topic, qos=1)
        await watcher.subscribe(readings_topic, qos=1)
        outbox = Outbox(config.state_file)
        agent = GatewayAgent(config=config, key=key, reader=reader, outbox=outbox, connect=connect)
        run = asyncio.create_task(agent.run(), name="gateway")
        readings = []
        try:
            async with asyncio.timeout(20):
                async for message in watcher.messages:
                    payload = bytes(message.payload)
                    if message.topic.matches(readings_topic):
                        readings.append(decode_payload(payload).reading)
                    elif _settled(report := decode_health(payload)):
                        break
            assert not run.done()  # no fault crashed the agent
        finally:
            agent.stop()
            await asyncio.wait_for(run, 10)
            outbox.close()

    for unit, fault in FAULTS.items():
        m = report.meter(f"m{unit}")
        assert m.last_outcome == fault.value
        assert set(m.counts) == {fault.value}
        assert m.missed_polls >= 1
        assert fault.value in m.last_error or m.last_error
    assert {r.meter_id for r in readings} <= {"m1", "m5"}
    assert {r.meter_id for r in readings} == {"m1", "m5"}
    drifted = [r for r in readings if r.meter_id == "m5"]
    assert all(abs(r.ts - (sim.clock.now() + DRIFT_S)) < 30 for r in drifted)
    assert all(abs(r.ts - sim.clock.now()) < 30 for r in readings if r.meter_id == "m1")

"""Broker outage: a private Mosquitto goes away for a while; the gateway keeps
polling into its outbox; when the broker is back every reading reaches
PostgreSQL exactly once, in order per meter, and a graceful stop leaves
"offline" and a final health report retained.

The gateway is let back only once the coordinator has re-subscribed: Mosquitto
(2.x, seen here) does not queue messages of a shared subscription for a
coordinator whose session is offline, so a backlog flushed before the
coordinator returns is acknowledged by the broker and never delivered. That
is the coordinator's deployment concern (docs/operations.md), not the gateway's.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path

import aiomqtt
import pytest
from sqlalchemy.engine import Engine

from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer
from edge.agent import GatewayAgent, Publisher
from edge.config import BrokerConfig, GatewayConfig, MeterConfig, PollingConfig
from edge.errors import BrokerError
from edge.meter_reader import ModbusMeterReader
from edge.outbox import Outbox
from edge.publisher import MqttPublisher
from edge.signing import DeviceKey
from tests.utils.gateway import accepted_readings, coordinator, enrol
from tests.utils.mosquitto import private_broker
from tests.utils.services import async_wait_until
from wire import topics
from wire.health import decode_health

pytestmark = pytest.mark.services

METERS = (("east-1", 1), ("west-2", 2))
RATED_W = 63_000


async def _retained(port: int, topic: str) -> bytes:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(5):
            async for message in client.messages:
                assert message.retain
                return bytes(message.payload)
    raise AssertionError("no retained message")


async def test_readings_polled_during_an_outage_arrive_exactly_once_in_order(
    tmp_path: Path, engine: Engine, database_url: str, topic_root: str
) -> None:
    key = DeviceKey.generate()
    enrol(engine, key, [(m, RATED_W) for m, _ in METERS])
    sim_meters = {
        unit: SimulatedMeter.fixed(import_wh=1_000_000 * unit, export_wh=0) for _, unit in METERS
    }
    with private_broker(tmp_path) as broker:
        broker_config = BrokerConfig(
            port=broker.port, topic_root=topic_root, ack_timeout_s=2,
            reconnect_initial_s=0.2, reconnect_max_s=1,
        )  # fmt: skip

        gateway_may_connect = asyncio.Event()
        gateway_may_connect.set()

        @asynccontextmanager
        async def connect() -> AsyncIterator[Publisher]:
            if not gateway_may_connect.is_set():
                raise BrokerError("broker unreachable for the gateway (test gate)")
            async with MqttPublisher(broker_config, key.gateway_id) as publisher:
                yield publisher

        def accepted_through(last: int) -> Callable[[], bool]:
            """Whether readings 1..`last` of the gateway are all accepted."""
            wanted = set(range(1, last + 1))
            return lambda: {r.seq for r in accepted_readings(engine, key.gateway_id)} >= wanted

        def ingest() -> AbstractAsyncContextManager[None]:
            return coordinator(database_url, topic_root, engine, host="127.0.0.1",
                               port=broker.port, name=key.gateway_id[:8])  # fmt: skip

        async with (
            ModbusSimServer(sim_meters) as sim,
            ModbusMeterReader(timeout_s=0.3) as reader,
            AsyncExitStack() as stack,
        ):
            await stack.enter_async_context(ingest())
            config = GatewayConfig(
                key_file=tmp_path / "unused.pem", state_file=tmp_path / "state.sqlite",
                broker=broker_config, poll_interval_s=1, health_interval_s=1,
                meters=tuple(MeterConfig(m, "127.0.0.1", sim.port, u, "sdm630", RATED_W)
                             for m, u in METERS),
                polling=PollingConfig(timeout_s=0.3, max_attempts=2, backoff_initial_s=0.05),
            )  # fmt: skip
            outbox = Outbox(config.state_file)
            agent = GatewayAgent(
                config=config, key=key, reader=reader, outbox=outbox, connect=connect
            )
            run = asyncio.create_task(agent.run(), name="gateway")
            try:
                await async_wait_until(
                    lambda: len(accepted_readings(engine, key.gateway_id)) >= 2,
                    within_s=15, what="readings before the outage",
                )  # fmt: skip
                gateway_may_connect.clear()
                broker.stop()
                during = outbox.next_seq()
                await async_wait_until(
                    lambda: outbox.next_seq() >= during + 4 and outbox.depth() >= 4,
                    within_s=15, what="readings polled into the outbox while the broker is down",
                )  # fmt: skip
                assert not agent.health().broker_connected
                await stack.aclose()  # the coordinator, reconnecting on its own
                broker.start()
                await stack.enter_async_context(ingest())
                gateway_may_connect.set()
                await async_wait_until(
                    accepted_through(outbox.next_seq() - 1),
                    within_s=30, what="every reading after the outage",
                )  # fmt: skip
                agent.stop()
                await asyncio.wait_for(run, 10)
                # The agent polled on until it stopped: what it published after that
                # may still be on its way into the database.
                await async_wait_until(
                    accepted_through(outbox.next_seq() - 1),
                    within_s=30, what="every reading the gateway published",
                )  # fmt: skip
            finally:
                run.cancel()
                outbox.close()

        rows = accepted_readings(engine, key.gateway_id)
        seqs = [r.seq for r in rows]
        assert sorted(seqs) == list(range(1, max(seqs) + 1))  # none lost, none twice
        for meter_id, unit in METERS:
            mine = [r for r in rows if r.meter_id == meter_id]
            assert [r.seq for r in mine] == sorted(r.seq for r in mine)  # arrival order
            assert [r.meter_ts for r in mine] == sorted(r.meter_ts for r in mine)
            assert {r.import_wh for r in mine} == {1_000_000 * unit}
        status = json.loads(await _retained(broker.port, topics.gateway_status(
            topic_root, key.gateway_id)))  # fmt: skip
        assert status["state"] == "offline"
        health = decode_health(
            await _retained(broker.port, topics.gateway_health(topic_root, key.gateway_id))
        )
        assert health.outbox_depth == 0
        assert health.meter("east-1").counts.get("ok", 0) == len(
            [r for r in rows if r.meter_id == "east-1"]
        )

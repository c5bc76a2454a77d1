"""The production broker as a security boundary and a durable queue, on a
private Mosquitto running mosquitto/production.conf itself (TLS, the dynamic
security plugin, autosave on every change) with accounts made the way the
coordinator makes them (dynsec.render_state, then DynsecBroker over the
plugin's control topic)."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from coordinator.config import MqttTls, Settings
from coordinator.devices import dynsec
from coordinator.devices.broker_accounts import DynsecBroker, mosquitto_hash, new_password
from coordinator.devices.broker_control import MqttDynsecControl
from coordinator.ops.broker_audit import LOGIN, PUBLISH, SUBSCRIBE, audit_lines
from coordinator.readings.ingest.mqtt_source import MqttSource
from coordinator.runner import prepare_sessions, readings_source
from provisioning.keys import Signer
from tests.utils.mosquitto import PrivateBroker, make_dev_ca, production_broker
from tests.utils.services import async_wait_until
from wire import topics

pytestmark = [
    pytest.mark.services,
]

ROOT = "gtx"
PASSWORDS = {"admin": new_password(), "coordinator": new_password(), "operator": new_password()}
COORDINATOR_ID = "gtx-coordinator-1"


@dataclass
class Secured:
    broker: PrivateBroker
    ca_file: Path
    accounts: DynsecBroker
    gateways: dict[str, str]  # gateway id -> password

    def settings(self, client_id: str = COORDINATOR_ID) -> Settings:
        """The coordinator's settings for this broker."""
        return Settings(
            mqtt_host="localhost",
            mqtt_port=self.broker.port,
            mqtt_tls=True,
            mqtt_ca_file=self.ca_file,
            mqtt_username="coordinator",
            mqtt_password=PASSWORDS["coordinator"],
            mqtt_client_id=client_id,
            mqtt_session_expiry_s=600,
            # The production profile's plain subscription: Mosquitto before 2.0.19
            # does not persist shared subscriptions (see docs/operations.md).
            mqtt_shared=False,
            topic_root=ROOT,
        )

    def client(self, user: str | None, password: str | None, client_id: str) -> aiomqtt.Client:
        return aiomqtt.Client(
            "localhost",
            self.broker.port,
            username=user,
            password=password,
            identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=MqttTls(self.ca_file).context(),
            timeout=5,
        )

    def gateway(self, gateway_id: str, client_id: str | None = None) -> aiomqtt.Client:
        client_id = client_id or topics.gateway_client_id(gateway_id)
        return self.client(gateway_id, self.gateways[gateway_id], client_id)


def _state() -> str:
    def account(name: str) -> dynsec.Account:
        return dynsec.Account(name, mosquitto_hash(PASSWORDS[name]))

    state = dynsec.render_state(
        ROOT,
        admin=account("admin"),
        coordinator=account("coordinator"),
        operators=[account("operator")],
    )
    return json.dumps(state)


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    certs = make_dev_ca(tmp_path / "certs")
    with production_broker(tmp_path / "broker", _state(), certs) as broker:
        control = MqttDynsecControl(
            host="localhost",
            port=broker.port,
            username="admin",
            password=PASSWORDS["admin"],
            tls=MqttTls(certs / "ca.crt"),
        )
        accounts = DynsecBroker(control, topic_root=ROOT)
        gateways = {Signer.generate().address: new_password() for _ in range(2)}
        accounts.sync({gw: mosquitto_hash(pw) for gw, pw in gateways.items()}, fresh=gateways)
        yield Secured(broker, certs / "ca.crt", accounts, gateways)


@contextlib.asynccontextmanager
async def _collect(
    client: aiomqtt.Client, filters: list[str]
) -> AsyncIterator[list[tuple[str, bytes]]]:
    """Subscribe `client` to `filters` and gather what arrives until exit."""
    got: list[tuple[str, bytes]] = []
    async with client:
        for f in filters:
            codes = await client.subscribe(f, qos=1)
            assert not any(getattr(c, "is_failure", False) for c in codes), (f, codes)

        async def gather() -> None:
            async for m in client.messages:
                got.append((m.topic.value, bytes(m.payload)))

        task = asyncio.create_task(gather(), name="collect")
        try:
            yield got
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _refused_login(client: aiomqtt.Client) -> bool:
    try:
        async with client:
            return False
    except aiomqtt.MqttError:
        return True


async def test_gateways_are_confined_and_client_ids_bound(secured: Secured) -> None:
    a, b = sorted(secured.gateways)
    readings_a = topics.gateway_readings(ROOT, a)
    stats = topics.coordinator_stats(ROOT)
    coordinator = secured.client("coordinator", PASSWORDS["coordinator"], COORDINATOR_ID)
    operator = secured.client("operator", PASSWORDS["operator"], "gtx-monitor-operator")
    async with (
        _collect(coordinator, [topics.readings_subscription(ROOT)]) as to_coordinator,
        _collect(operator, [f"{ROOT}/v1/#"]) as to_operator,
    ):
        async with secured.client("coordinator", PASSWORDS["coordinator"], "gtx-coord-w") as c:
            await c.publish(stats, b"honest", qos=1, retain=True)

        async with secured.gateway(b) as hostile:
            for wanted in ("#", topics.readings_subscription(ROOT), readings_a, "$SYS/#",
                           topics.gateway_command(ROOT, a), f"{ROOT}/v1/coord/#"):  # fmt: skip
                codes = await hostile.subscribe(wanted, qos=1)
                assert all(c.is_failure for c in codes), (wanted, codes)  # type: ignore[union-attr]
            codes = await hostile.subscribe(topics.gateway_command(ROOT, b), qos=1)
            assert not any(c.is_failure for c in codes)  # type: ignore[union-attr]
            for topic in (readings_a, stats, topics.epoch_summary(ROOT, 1), dynsec.CONTROL_TOPIC):
                await hostile.publish(topic, b"forged", qos=1, retain=True)
            await hostile.publish(topics.gateway_status(ROOT, b), b"own", qos=1)

        # Taking over the coordinator's or another gateway's client id, as a gateway
        # or an operator; anonymous; wrong password: all refused at CONNECT.
        assert await _refused_login(secured.gateway(b, COORDINATOR_ID))
        assert await _refused_login(secured.gateway(b, topics.gateway_client_id(a)))
        assert await _refused_login(
            secured.client("operator", PASSWORDS["operator"], COORDINATOR_ID)
        )
        assert await _refused_login(secured.client(None, None, "anon"))
        assert await _refused_login(secured.client(b, "wrong", topics.gateway_client_id(b)))

        async with secured.gateway(a) as honest:
            await honest.publish(readings_a, b"reading-a", qos=1)
        await async_wait_until(lambda: (readings_a, b"reading-a") in to_coordinator, 10)
        await async_wait_until(lambda: any(p == b"own" for _, p in to_operator), 10)

    # The coordinator's session survived every attempt and got only A's reading.
    assert to_coordinator == [(readings_a, b"reading-a")]
    assert all(p != b"forged" for _, p in to_operator)
    async with _collect(operator, [stats]) as retained:
        await async_wait_until(lambda: bool(retained), 5, "the retained stats")
    assert retained == [(stats, b"honest")]

    refusals = [r for _, rs in audit_lines(secured.broker.log_text().splitlines()) for r in rs]
    hostile_id = topics.gateway_client_id(b)
    assert {(r.kind, r.topic) for r in refusals if r.client_id == hostile_id} >= {
        (SUBSCRIBE, "#"),
        (SUBSCRIBE, topics.readings_subscription(ROOT)),
        (SUBSCRIBE, "$SYS/#"),
        (PUBLISH, readings_a),
        (PUBLISH, stats),
        (PUBLISH, dynsec.CONTROL_TOPIC),
    }
    assert sum(r.kind == LOGIN for r in refusals) == 5


async def test_revoked_gateway_is_disconnected_and_refused(secured: Secured) -> None:
    a, b = sorted(secured.gateways)
    lost = asyncio.Event()
    async with secured.gateway(b) as client:

        async def watch() -> None:
            with contextlib.suppress(aiomqtt.MqttError):
                async for _ in client.messages:
                    pass
            lost.set()

        task = asyncio.create_task(watch(), name="watch")
        secured.accounts.sync({a: mosquitto_hash(secured.gateways[a])})
        await asyncio.wait_for(lost.wait(), 10)
        await task
    assert await _refused_login(secured.gateway(b))
    async with secured.gateway(a):
        pass


async def test_queued_readings_and_retained_status_survive_kill_9(secured: Secured) -> None:
    """A coordinator session holds acknowledged readings while the coordinator is
    away; the broker is killed without warning; all of them are delivered after."""
    gw = sorted(secured.gateways)[0]
    settings = secured.settings()
    await prepare_sessions(settings, [COORDINATOR_ID])
    topic = topics.gateway_readings(ROOT, gw)
    n = 300
    async with secured.gateway(gw) as client:
        await client.publish(topics.gateway_status(ROOT, gw), b"online", qos=1, retain=True)
        for i in range(n):
            await client.publish(topic, str(i).encode(), qos=1)
        # Sent once the last one is acknowledged: the broker handles it in a later
        # pass of its loop, so the pass that acknowledged the last one has saved.
        await client.publish(topic, b"fence", qos=1)
    secured.broker.kill()
    secured.broker.start()
    # The restarted broker still holds the coordinator's subscription: it queues
    # what arrives before the coordinator is back.
    async with secured.gateway(gw) as client:
        for i in range(n, n + 10):
            await client.publish(topic, str(i).encode(), qos=1)

    received = await _drain(readings_source(settings), n + 10)
    assert [int(p) for p in received if p != b"fence"] == list(range(n + 10))
    operator = secured.client("operator", PASSWORDS["operator"], "gtx-monitor-operator")
    async with _collect(operator, [topics.gateway_status(ROOT, gw)]) as retained:
        await async_wait_until(lambda: bool(retained), 5, "the retained status")
    assert retained[0][1] == b"online"


async def test_readings_published_before_the_coordinator_first_runs_are_kept(
    secured: Secured,
) -> None:
    """A new broker: the coordinator's session is prepared (broker-init), gateways
    publish, and only then does the coordinator start for the first time."""
    settings = secured.settings("gtx-coordinator-7")
    assert await prepare_sessions(settings, ["gtx-coordinator-7"]) == {"gtx-coordinator-7": False}
    gw = sorted(secured.gateways)[1]
    async with secured.gateway(gw) as client:
        for i in range(20):
            await client.publish(topics.gateway_readings(ROOT, gw), str(i).encode(), qos=1)
    received = await _drain(readings_source(settings), 20)
    assert sorted(int(p) for p in received) == list(range(20))


async def _drain(source: MqttSource, n: int, within_s: float = 20) -> list[bytes]:
    """Receive at least `n` readings through the coordinator's own source,
    acknowledging them as ingest does."""
    got: list[bytes] = []
    async with source:
        async with asyncio.timeout(within_s):
            while len([p for p in got if p != b"fence"]) < n:
                batch = await source.next_batch(500, 0.05)
                got += [d.incoming.payload for d in batch]
                source.ack(batch)
    return got

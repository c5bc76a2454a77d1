"""The broker's security model, on a private Mosquitto running the project's
ACL (render_acl, as in mosquitto/acl.conf) and a password file written by
the coordinator's PasswordFileBroker, reloaded by SIGHUP."""

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from coordinator.devices.broker_accounts import PasswordFileBroker, mosquitto_hash, render_acl
from edge.config import BrokerConfig
from edge.errors import BrokerRefusedError
from edge.publisher import MqttPublisher
from provisioning.keys import Signer
from tests.utils.mosquitto import PrivateBroker, private_broker
from wire import topics

pytestmark = pytest.mark.services

ROOT = "gtx"
PASSWORDS = {"coordinator": "coord-pw", "operator": "ops-pw"}


@dataclass
class Secured:
    broker: PrivateBroker
    accounts: PasswordFileBroker
    gateways: dict[str, str]  # gateway id -> password


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Secured]:
    static = tmp_path / "service-passwd"
    static.write_text("".join(f"{u}:{mosquitto_hash(p)}\n" for u, p in PASSWORDS.items()))
    (tmp_path / "acl.conf").write_text(render_acl(ROOT))
    gateways = {Signer.generate().address: f"pw-{i}" for i in range(2)}
    accounts = PasswordFileBroker(
        tmp_path / "passwd", pid_file=tmp_path / "mosquitto.pid", static_file=static
    )
    # Written before the start, so no reload is needed yet.
    PasswordFileBroker(tmp_path / "passwd", static_file=static).sync(
        {gw: mosquitto_hash(pw) for gw, pw in gateways.items()}
    )
    conf = "\n".join(
        [
            f"password_file {tmp_path / 'passwd'}",
            f"acl_file {tmp_path / 'acl.conf'}",
            f"pid_file {tmp_path / 'mosquitto.pid'}",
            "",
        ]
    )
    with private_broker(tmp_path, extra_conf=conf, anonymous=False) as broker:
        yield Secured(broker, accounts, gateways)


@asynccontextmanager
async def _client(
    port: int, user: str | None, password: str | None
) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", port, username=user, password=password, timeout=5) as c:
        yield c


async def _received_after_marker(
    port: int, publisher: tuple[str, str], attempts: list[tuple[str, bytes]], marker_topic: str
) -> list[tuple[str, bytes]]:
    """Publish `attempts` then a marker the ACL allows, as `publisher`; return
    what the operator (who reads everything) got before the marker arrived."""
    got: list[tuple[str, bytes]] = []
    async with _client(port, "operator", PASSWORDS["operator"]) as watcher:
        await watcher.subscribe(f"{ROOT}/#", qos=1)
        async with _client(port, *publisher) as pub:
            for topic, payload in attempts:
                await pub.publish(topic, payload, qos=1)
            await pub.publish(marker_topic, b"marker", qos=1)
        async with asyncio.timeout(10):
            async for msg in watcher.messages:
                if msg.payload == b"marker":
                    break
                got.append((str(msg.topic), bytes(msg.payload)))
    return got


async def test_gateway_cannot_publish_under_another_gateway(secured: Secured) -> None:
    (a, a_pw), (b, _) = secured.gateways.items()
    got = await _received_after_marker(
        secured.broker.port,
        (a, a_pw),
        [
            (topics.gateway_readings(ROOT, b), b"forged"),
            (topics.gateway_status(ROOT, b), b"forged"),
            (topics.alerts(ROOT), b"forged"),
        ],
        topics.gateway_readings(ROOT, a),  # its own topic: allowed, so the marker arrives
    )
    assert got == []


async def test_the_gateway_publisher_reports_a_denied_publish_as_refused(secured: Secured) -> None:
    # Mosquitto acknowledges a denied MQTT 5 publish with "Not authorized";
    # the gateway's publisher must not take that PUBACK as delivery (its
    # outbox would forget a reading the broker dropped).
    (a, a_pw), (b, _) = secured.gateways.items()
    config = BrokerConfig(
        port=secured.broker.port, username=a, password=a_pw, topic_root=ROOT, ack_timeout_s=5
    )
    async with MqttPublisher(config, a) as publisher:
        await publisher.publish(topics.gateway_readings(ROOT, a), b"own topic")
        with pytest.raises(BrokerRefusedError, match="Not authorized") as refused:
            await publisher.publish(topics.gateway_readings(ROOT, b), b"another's topic")
        assert refused.value.topic == topics.gateway_readings(ROOT, b)
        await publisher.publish(topics.gateway_readings(ROOT, a), b"still usable")


async def test_operator_reads_everything_and_cannot_publish(secured: Secured) -> None:
    (a, a_pw), _ = secured.gateways.items()
    port = secured.broker.port
    got: list[str] = []
    async with _client(port, "operator", PASSWORDS["operator"]) as op:
        await op.subscribe(f"{ROOT}/#", qos=1)
        for topic in (topics.gateway_readings(ROOT, a), topics.alerts(ROOT)):
            await op.publish(topic, b"from-operator", qos=1)
        async with _client(port, a, a_pw) as gw:
            await gw.publish(topics.gateway_readings(ROOT, a), b"marker", qos=1)
        async with asyncio.timeout(10):
            async for msg in op.messages:
                got.append(bytes(msg.payload).decode())
                if msg.payload == b"marker":
                    break
    assert got == ["marker"]


async def test_coordinator_reads_readings_and_only_its_gateway_reads_commands(
    secured: Secured,
) -> None:
    (a, a_pw), (b, b_pw) = secured.gateways.items()
    port = secured.broker.port
    async with (
        _client(port, "coordinator", PASSWORDS["coordinator"]) as coord,
        _client(port, a, a_pw) as gw_a,
        _client(port, b, b_pw) as gw_b,
    ):
        await coord.subscribe(topics.readings_subscription(ROOT), qos=1)
        await gw_b.subscribe(topics.gateway_command(ROOT, a), qos=1)  # not its own: denied
        await gw_b.subscribe(topics.gateway_command(ROOT, b), qos=1)
        await gw_a.subscribe(topics.gateway_command(ROOT, a), qos=1)
        await gw_a.publish(topics.gateway_readings(ROOT, a), b"reading", qos=1)
        async with asyncio.timeout(10):
            msg = await anext(coord.messages)
        assert (str(msg.topic), msg.payload) == (topics.gateway_readings(ROOT, a), b"reading")
        await coord.publish(topics.gateway_command(ROOT, a), b"cmd-a", qos=1)
        await coord.publish(topics.gateway_command(ROOT, b), b"cmd-b", qos=1)
        async with asyncio.timeout(10):
            assert (await anext(gw_a.messages)).payload == b"cmd-a"
            assert (await anext(gw_b.messages)).payload == b"cmd-b"  # never cmd-a


@pytest.mark.parametrize(
    ("user", "password"), [(None, None), ("operator", "wrong"), ("nobody", "x")]
)
async def test_anonymous_and_wrong_password_are_refused(
    secured: Secured, user: str | None, password: str | None
) -> None:
    with pytest.raises(aiomqtt.MqttCodeError, match=r"(?i)not authori[sz]ed|bad user"):
        async with _client(secured.broker.port, user, password):
            pass


async def test_revoked_gateway_account_is_removed_by_reload(secured: Secured) -> None:
    (a, a_pw), (b, b_pw) = secured.gateways.items()
    port = secured.broker.port
    secured.accounts.sync({b: mosquitto_hash(b_pw)})  # a revoked: rewrite + SIGHUP
    async with asyncio.timeout(10):
        while True:
            try:
                async with _client(port, a, a_pw):
                    pass
            except aiomqtt.MqttCodeError:
                break  # refused now
            await asyncio.sleep(0.05)  # polling the broker's reload, with a deadline
    async with _client(port, b, b_pw) as still_there:
        await still_there.publish(topics.gateway_readings(ROOT, b), b"ok", qos=1)

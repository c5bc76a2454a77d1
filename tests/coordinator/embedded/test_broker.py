"""The embedded amqtt broker with real clients: what it does and does not support."""

import json
import socket

import aiomqtt
import paho.mqtt.client as mqtt
import pytest

from coordinator.embedded.broker import EmbeddedBroker
from coordinator.embedded.detect import probe_tcp
from coordinator.errors import BrokerError
from tests.coordinator.embedded.mqtt_clients import PahoClient
from wire import topics

pytestmark = pytest.mark.timeout(60)


async def test_binds_a_free_port_and_frees_it_on_exit() -> None:
    async with EmbeddedBroker() as one, EmbeddedBroker() as two:
        assert one.port != two.port
        assert await probe_tcp(one.host, one.port) is None
        port = one.port
    assert await probe_tcp("127.0.0.1", port) is not None
    with pytest.raises(RuntimeError):
        _ = one.port


async def test_a_given_port_is_used_and_a_taken_one_refused() -> None:
    async with EmbeddedBroker() as first:
        with pytest.raises(BrokerError):
            async with EmbeddedBroker(port=first.port):
                pass
        port = first.port
    async with EmbeddedBroker(port=port) as again:
        assert again.port == port
        assert await probe_tcp("127.0.0.1", port) is None


def test_port_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        EmbeddedBroker(port=70000)


async def test_qos1_with_aiomqtt_is_acknowledged_and_delivered(topic_root: str) -> None:
    topic = f"{topic_root}/a"
    async with (
        EmbeddedBroker() as broker,
        aiomqtt.Client(broker.host, broker.port, identifier="sub") as sub,
    ):
        await sub.subscribe(f"{topic_root}/#", qos=1)
        async with aiomqtt.Client(broker.host, broker.port, identifier="pub") as pub:
            await pub.publish(topic, b"hello", qos=1)  # returns on PUBACK
        message = await anext(aiter(sub.messages))
        assert (message.topic.value, message.payload, message.qos) == (topic, b"hello", 1)


async def test_qos1_with_paho_v311_is_acknowledged_and_delivered(topic_root: str) -> None:
    async with EmbeddedBroker() as broker:
        sub, pub = PahoClient(broker.port, "sub"), PahoClient(broker.port, "pub")
        assert not (await sub.connect()).is_failure
        assert [r.value for r in await sub.subscribe(f"{topic_root}/+", qos=1)] == [1]
        await pub.connect()
        await pub.publish(f"{topic_root}/x", b"payload", qos=1)
        message = await sub.next_message()
        assert (message.topic, message.payload, message.qos) == (f"{topic_root}/x", b"payload", 1)
        await sub.disconnect()
        await pub.disconnect()


async def test_retained_message_reaches_a_later_subscriber(topic_root: str) -> None:
    topic = f"{topic_root}/status"
    async with EmbeddedBroker() as broker:
        pub = PahoClient(broker.port, "pub")
        await pub.connect()
        await pub.publish(topic, b"online", retain=True)
        late = PahoClient(broker.port, "late")
        await late.connect()
        await late.subscribe(topic)
        message = await late.next_message()
        assert (message.payload, message.retain) == (b"online", True)
        await pub.disconnect()
        await late.disconnect()


async def test_last_will_is_published_and_retained_on_abnormal_disconnect(
    topic_root: str,
) -> None:
    topic = f"{topic_root}/status"
    async with EmbeddedBroker() as broker:
        device = PahoClient(broker.port, "device")
        device.client.will_set(topic, b"offline", qos=1, retain=True)
        await device.connect()
        watcher = PahoClient(broker.port, "watcher")
        await watcher.connect()
        await watcher.subscribe(topic)
        await device.drop()
        assert (await watcher.next_message()).payload == b"offline"
        late = PahoClient(broker.port, "late")
        await late.connect()
        await late.subscribe(topic)
        assert (await late.next_message()).payload == b"offline"
        await watcher.disconnect()
        await late.disconnect()


async def test_persistent_session_receives_what_was_published_while_offline(
    topic_root: str,
) -> None:
    # No username: amqtt's stock anonymous plugin would not persist this session.
    async with EmbeddedBroker() as broker:
        coord = PahoClient(broker.port, "coord", clean_session=False)
        assert (await coord.connect()).value == 0
        assert coord.session_present is False
        await coord.subscribe(f"{topic_root}/+/r")
        await coord.disconnect()

        pub = PahoClient(broker.port, "pub")
        await pub.connect()
        for i in range(3):
            await pub.publish(f"{topic_root}/gw/r", f"m{i}".encode())

        coord = PahoClient(broker.port, "coord", clean_session=False)
        await coord.connect()
        assert coord.session_present is True
        got = [(await coord.next_message()) for _ in range(3)]
        assert sorted(m.payload for m in got) == [b"m0", b"m1", b"m2"]
        assert {m.qos for m in got} == {1}
        await coord.disconnect()
        await pub.disconnect()


async def test_unacknowledged_in_flight_message_is_not_redelivered(topic_root: str) -> None:
    # A fact about amqtt, unlike Mosquitto: a QoS 1 message delivered but not
    # PUBACKed when the subscriber goes away is dropped, not redelivered.
    async with EmbeddedBroker() as broker:
        coord = PahoClient(broker.port, "coord", clean_session=False, manual_ack=True)
        await coord.connect()
        await coord.subscribe(f"{topic_root}/#")
        pub = PahoClient(broker.port, "pub")
        await pub.connect()
        await pub.publish(f"{topic_root}/r", b"in-flight")
        assert (await coord.next_message()).payload == b"in-flight"  # never acked
        await coord.disconnect()

        coord = PahoClient(broker.port, "coord", clean_session=False, manual_ack=True)
        await coord.connect()
        assert coord.session_present is True
        await pub.publish(f"{topic_root}/marker", b"marker")
        first = await coord.next_message()
        assert first.payload == b"marker"
        coord.client.ack(first.mid, first.qos)
        await coord.disconnect()
        await pub.disconnect()


async def test_mqtt5_connect_is_refused() -> None:
    async with EmbeddedBroker() as broker:
        v5 = PahoClient(broker.port, "v5", protocol=mqtt.MQTTv5)
        reason = await v5.connect()
        assert reason.is_failure
        assert reason.getName() == "Unsupported protocol version"
        await v5.disconnect()


async def test_shared_subscription_is_granted_but_matches_nothing(topic_root: str) -> None:
    async with EmbeddedBroker() as broker:
        sub = PahoClient(broker.port, "sub")
        await sub.connect()
        granted = await sub.subscribe(topics.readings_subscription(topic_root, shared=True))
        assert [r.value for r in granted] == [1]
        await sub.subscribe(f"{topic_root}/marker")
        pub = PahoClient(broker.port, "pub")
        await pub.connect()
        await pub.publish(topics.gateway_readings(topic_root, "gw1"), b"reading")
        await pub.publish(f"{topic_root}/marker", b"marker")
        assert (await sub.next_message()).payload == b"marker"  # the reading never came
        await sub.disconnect()
        await pub.disconnect()


async def test_ingest_pattern_v311_persistent_manual_ack(topic_root: str) -> None:
    """What coordinator.readings.ingest.mqtt_source must do against amqtt: MQTT 3.1.1,
    clean_session False, the unshared readings filter, PUBACK after commit."""
    subscription = topics.readings_subscription(topic_root, shared=False)
    committed: list[bytes] = []

    async def run_until(coord: PahoClient, count: int) -> None:
        while len(committed) < count:
            message = await coord.next_message()
            committed.append(bytes(message.payload))  # "commit", then acknowledge
            coord.client.ack(message.mid, message.qos)

    async with EmbeddedBroker() as broker:
        gateway = PahoClient(broker.port, "gtx-gw-gw1")
        await gateway.connect()
        readings = topics.gateway_readings(topic_root, "gw1")

        coord = PahoClient(
            broker.port, "gtx-coordinator-1", clean_session=False, manual_ack=True,
            subscribe_on_connect=subscription,
        )  # fmt: skip
        await coord.connect()
        assert [r.value for r in await coord.wait_subscribed()] == [1]
        await gateway.publish(readings, b"r1")
        await run_until(coord, 1)
        await coord.disconnect()  # the coordinator restarts

        await gateway.publish(readings, b"r2")  # PUBACKed by the broker while it is down
        await gateway.publish(readings, b"r3")
        coord = PahoClient(
            broker.port, "gtx-coordinator-1", clean_session=False, manual_ack=True,
            subscribe_on_connect=subscription,
        )  # fmt: skip
        await coord.connect()
        assert coord.session_present is True
        await run_until(coord, 3)
        assert [r.value for r in await coord.wait_subscribed()] == [1]
        await gateway.publish(readings, b"r4")
        await run_until(coord, 4)
        assert committed == [b"r1", b"r2", b"r3", b"r4"]
        await coord.disconnect()
        await gateway.disconnect()


async def test_gateway_publisher_pattern_v311_with_will(topic_root: str) -> None:
    """edge.publisher.MqttPublisher's client, but MQTT 3.1.1 with clean_session
    False (its MQTT 5 CONNECT is refused by amqtt): QoS 1 readings, a retained
    online status, and the retained offline will when the gateway vanishes."""
    status = topics.gateway_status(topic_root, "gw1")
    readings = topics.gateway_readings(topic_root, "gw1")
    offline = json.dumps({"state": "offline"}).encode()
    async with EmbeddedBroker() as broker:
        watcher = PahoClient(broker.port, "watcher")
        await watcher.connect()
        await watcher.subscribe(f"{topic_root}/#")
        gateway = aiomqtt.Client(
            broker.host,
            broker.port,
            identifier="gtx-gw-gw1",
            protocol=aiomqtt.ProtocolVersion.V311,
            clean_session=False,
            keepalive=60,
            will=aiomqtt.Will(status, offline, qos=1, retain=True),
            timeout=10,
        )
        async with gateway:
            await gateway.publish(status, b'{"state": "online"}', qos=1, retain=True)
            online = await watcher.next_message()
            assert (online.topic, json.loads(online.payload)) == (status, {"state": "online"})
            await gateway.publish(readings, b"signed reading", qos=1)
            reading = await watcher.next_message()
            assert (reading.topic, reading.payload, reading.qos) == (readings, b"signed reading", 1)
            sock = gateway._client.socket()  # aiomqtt has no public way to lose power
            assert isinstance(sock, socket.socket)
            sock.shutdown(socket.SHUT_RDWR)
            will = await watcher.next_message()
            assert (will.topic, will.payload) == (status, offline)
        late = PahoClient(broker.port, "late")
        await late.connect()
        await late.subscribe(status)
        retained = await late.next_message()
        assert (retained.payload, retained.retain) == (offline, True)
        await watcher.disconnect()
        await late.disconnect()

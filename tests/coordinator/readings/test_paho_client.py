"""BulkClient: bulk socket I/O under paho's protocol handling.

The socket wrapper on real kernel socket pairs; the client against a real
Mosquitto with the project's broker settings (tests/utils/mosquitto.py).
"""

import itertools
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from coordinator.readings.ingest.paho_client import _BulkSocket, session_client
from tests.utils.mosquitto import PrivateBroker, private_broker, publish_qos1
from tests.utils.services import wait_until


@contextmanager
def _pair() -> Iterator[tuple[_BulkSocket, socket.socket]]:
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    bulk = _BulkSocket(ours)
    try:
        yield bulk, peer
    finally:
        bulk.close()
        peer.close()


def _read_all(bulk: _BulkSocket, sizes: list[int], total: int) -> bytes:
    got = bytearray()
    i = 0
    while len(got) < total:
        try:
            chunk = bulk.recv(sizes[i % len(sizes)])
        except BlockingIOError:
            continue  # the peer's bytes are on their way
        assert len(chunk) <= sizes[i % len(sizes)]
        got += chunk
        i += 1
    return bytes(got)


@settings(max_examples=60, deadline=None)
@given(
    writes=st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=20),
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=10),
)
def test_reads_return_the_stream_in_order_whatever_the_sizes(
    writes: list[bytes], sizes: list[int]
) -> None:
    stream = b"".join(writes)
    with _pair() as (bulk, peer):
        for w in writes:
            peer.sendall(w)
        assert _read_all(bulk, sizes, len(stream)) == stream
        assert bulk.pending() == 0


def test_pending_counts_buffered_bytes_and_eof_reads_empty() -> None:
    with _pair() as (bulk, peer):
        with pytest.raises(BlockingIOError):
            bulk.recv(1)  # nothing sent yet: paho's "try again"
        peer.sendall(b"\x30\x05hello")
        wait_until(lambda: _readable(bulk), 5, "bytes to arrive")
        assert bulk.recv(1) == b"\x30"
        assert bulk.pending() == 6
        assert bulk.recv(1) == b"\x05"
        assert bulk.recv(100) == b"hello"
        assert bulk.pending() == 0
        peer.shutdown(socket.SHUT_WR)
        wait_until(lambda: _at_eof(bulk), 5, "end of stream")


def _readable(bulk: _BulkSocket) -> bool:
    return bool(select.select([bulk], [], [], 0)[0])


def _at_eof(bulk: _BulkSocket) -> bool:
    try:
        return bulk.recv(1) == b""
    except BlockingIOError:
        return False


def test_writes_wait_in_the_buffer_until_flushed() -> None:
    with _pair() as (bulk, peer):
        assert bulk.send(b"\x40\x02\x00\x01") == 4
        assert bulk.send(b"\x40\x02\x00\x02") == 4
        assert bulk.has_output()
        peer.setblocking(False)
        with pytest.raises(BlockingIOError):
            peer.recv(100)  # nothing on the wire before the flush
        assert bulk.flush() is True
        assert not bulk.has_output()
        peer.setblocking(True)
        assert peer.recv(100) == b"\x40\x02\x00\x01\x40\x02\x00\x02"


def test_a_full_socket_keeps_the_rest_and_refuses_more_until_it_drains() -> None:
    with _pair() as (bulk, peer):
        block = b"x" * 65536
        refused = False
        sent = 0
        for _ in range(200):  # far more than a socket pair's kernel buffers
            try:
                sent += bulk.send(block)
            except BlockingIOError:
                refused = True
                break
        assert refused, "a send into a full socket must say 'try again'"
        assert bulk.flush() is False
        assert bulk.has_output()
        received = 0
        peer.settimeout(5)
        while received < sent:
            received += len(peer.recv(1 << 20))
            bulk.flush()
        assert received == sent
        assert not bulk.has_output()


# --- against Mosquitto ----------------------------------------------------------------


class _Subscriber:
    """A manual-ack BulkClient on a persistent session, recording what arrives."""

    def __init__(self, port: int, client_id: str, topic: str, v5: bool) -> None:
        self.port, self.topic, self.v5 = port, topic, v5
        self.received: list[tuple[bytes, bool]] = []  # (payload, dup)
        self.mids: list[int] = []
        self.subscribed = threading.Event()
        self.client = session_client(client_id, mqtt_v5=v5)
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.on_message = self._on_message

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        self.received.append((bytes(msg.payload), bool(msg.dup)))
        self.mids.append(msg.mid)

    def __enter__(self) -> "_Subscriber":
        if self.v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 300
            self.client.connect("127.0.0.1", self.port, clean_start=False, properties=props)
        else:
            self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "no SUBACK"
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    with private_broker(tmp_path) as b:
        yield b


@pytest.mark.services
@pytest.mark.parametrize("v5", [False, True], ids=["mqtt311", "mqtt5"])
@pytest.mark.parametrize("acked", [5000, 2000], ids=["all-acked", "some-acked"])
def test_acks_sent_in_bulk_reach_the_broker_and_only_unacked_come_back(
    broker: PrivateBroker, v5: bool, acked: int
) -> None:
    topic = "gtx/test/bulk"
    payloads = [f"reading-{i:05d}".encode() for i in range(5000)]
    client_id = f"gtx-test-bulk-{int(v5)}-{acked}"
    with _Subscriber(broker.port, client_id, topic, v5) as sub:
        publish_qos1(broker.port, topic, payloads)
        wait_until(lambda: len(sub.received) >= 5000, 30, "every message")
        # In order, each once: bulk reads split no packet and lose none.
        assert [p for p, _ in sub.received] == payloads
        sub.client.ack_many((mid, 1) for mid in sub.mids[:acked])
        # The broker handles a connection's packets in order: once it has
        # answered a ping sent after the batch, it has the whole batch.
        assert sub.client.round_trip(10)
    with _Subscriber(broker.port, client_id, topic, v5) as sub:
        publish_qos1(broker.port, topic, [b"after"])
        wait_until(lambda: any(p == b"after" for p, _ in sub.received), 10, "a new message")
        redelivered = [p for p, _ in sub.received if p != b"after"]
        assert redelivered == payloads[acked:]


def _received(client: mqtt.Client, header: int, packet: bytes) -> mqtt.MQTTMessage:
    """The message `client` hands to on_message for one PUBLISH (its fixed header's
    first byte and the rest), decoded by `_handle_publish` as its network loop does."""
    got: list[mqtt.MQTTMessage] = []
    client.on_message = lambda _c, _u, message: got.append(message)
    client._in_packet = {"command": header, "packet": packet}  # type: ignore[typeddict-item]
    client._handle_publish()
    (message,) = got
    return message


_MQTT_TEXT = st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])


@settings(max_examples=300, deadline=None)
@given(
    topic=st.text(_MQTT_TEXT, min_size=1, max_size=60),
    payload=st.binary(max_size=300),
    qos=st.sampled_from([0, 1]),
    mid=st.integers(1, 65535),
    dup=st.booleans(),
    retain=st.booleans(),
    content_type=st.none() | st.text(_MQTT_TEXT, max_size=20),
)
def test_v5_publishes_are_decoded_as_paho_decodes_them(
    topic: str,
    payload: bytes,
    qos: int,
    mid: int,
    dup: bool,
    retain: bool,
    content_type: str | None,
) -> None:
    """The fast path (no properties) and the fallback (properties) give on_message
    what paho's own client gives it."""
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if content_type is not None:
        properties.ContentType = content_type
    encoded = topic.encode()
    packet = len(encoded).to_bytes(2, "big") + encoded
    packet += mid.to_bytes(2, "big") if qos else b""
    packet += properties.pack() + payload  # type: ignore[no-untyped-call]
    header = 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    ours = session_client("fast", mqtt_v5=True)
    theirs = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    theirs.manual_ack_set(True)
    a, b = _received(ours, header, packet), _received(theirs, header, packet)
    assert (a.topic, a.payload, a.qos, a.mid, a.dup, a.retain) == (
        b.topic, b.payload, b.qos, b.mid, b.dup, b.retain,
    )  # fmt: skip
    assert (a.topic, a.payload, a.qos) == (topic, payload, qos)
    assert a.properties is not None
    assert b.properties is not None
    assert a.properties.json() == b.properties.json()  # type: ignore[no-untyped-call]
    assert getattr(a.properties, "ContentType", None) == content_type


# --- a stream of packets: BulkClient's framing against paho's own ---------------------


def _publish_packet(
    topic: str, payload: bytes, qos: int, mid: int, dup: bool, retain: bool, props: bytes | None
) -> bytes:
    """A PUBLISH as the broker sends it; `props` None for MQTT 3.1.1."""
    encoded = topic.encode()
    body = len(encoded).to_bytes(2, "big") + encoded + (mid.to_bytes(2, "big") if qos else b"")
    body += (b"" if props is None else props) + payload
    header = 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    length, n = bytearray(), len(body)
    while True:
        n, digit = n >> 7, n & 0x7F
        length.append(digit | (0x80 if n else 0))
        if not n:
            return bytes([header]) + bytes(length) + body


def _messages_from_stream(
    client: mqtt.Client, stream: bytes, cuts: list[int], bulk: bool
) -> list[tuple[object, ...]]:
    """What `client` hands to on_message when `stream` arrives in pieces cut at `cuts`,
    each piece read by its network loop before the next is sent."""
    got: list[tuple[object, ...]] = []

    def on_message(_c: mqtt.Client, _u: object, m: mqtt.MQTTMessage) -> None:
        props = None if m.properties is None else m.properties.json()  # type: ignore[no-untyped-call]
        got.append((m.topic, m.payload, m.qos, m.mid, m.dup, m.retain, props))

    client.on_message = on_message
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    wrapped = _BulkSocket(ours) if bulk else None
    client._sock = wrapped or ours
    try:
        bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
        for start, end in itertools.pairwise(bounds):
            peer.sendall(stream[start:end])
            while select.select([ours], [], [], 0)[0] or (wrapped and wrapped.pending()):
                assert client.loop_read() == mqtt.MQTT_ERR_SUCCESS
    finally:
        ours.close()
        peer.close()
    return got


_PUBLISH = st.tuples(
    st.text(_MQTT_TEXT, min_size=1, max_size=40),
    st.binary(max_size=400),
    st.sampled_from([0, 1]),
    st.integers(1, 65535),
    st.booleans(),
    st.booleans(),
    st.none() | st.text(_MQTT_TEXT, max_size=12),  # an MQTT 5 content type property
)


@settings(max_examples=150, deadline=None)
@given(
    publishes=st.lists(_PUBLISH, min_size=1, max_size=25),
    pings=st.lists(st.integers(0, 25), max_size=3),
    cuts=st.lists(st.integers(0, 20_000), max_size=8),
    v5=st.booleans(),
)
def test_a_stream_cut_anywhere_gives_on_message_what_paho_gives(
    publishes: list[tuple[str, bytes, int, int, bool, bool, str | None]],
    pings: list[int],
    cuts: list[int],
    v5: bool,
) -> None:
    """PUBLISHes (with and without properties), other packets between them (PINGRESP)
    and pieces that end anywhere, a length's bytes included: BulkClient's own framing
    and paho's reading of what it leaves give the same messages, in order."""
    packets = []
    for topic, payload, qos, mid, dup, retain, content_type in publishes:
        props = None
        if v5:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            if content_type is not None:
                properties.ContentType = content_type
            props = properties.pack()  # type: ignore[no-untyped-call]
        packets.append(_publish_packet(topic, payload, qos, mid, dup, retain, props))
    for at in sorted(pings, reverse=True):
        packets.insert(min(at, len(packets)), b"\xd0\x00")  # PINGRESP
    stream = b"".join(packets)
    protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
    theirs = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
    theirs.manual_ack_set(True)
    expected = _messages_from_stream(theirs, stream, cuts, bulk=False)
    got = _messages_from_stream(session_client("bulk", mqtt_v5=v5), stream, cuts, bulk=True)
    assert len(expected) == len(publishes)
    assert got == expected

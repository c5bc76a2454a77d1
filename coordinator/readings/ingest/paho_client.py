"""A paho-mqtt client that reads and writes the socket in bulk.

paho reads every packet in at least three `recv` calls (type byte, length
bytes, body) and handles one packet per turn of its network loop (a `select`
each); it writes every PUBACK with its own `send`, and wakes its network
thread through a socket pair for each one. At ten thousand readings a second
those system calls were most of the coordinator's receive cost (~70 us a
message, measured by `benchmarks/bench_mqtt_source.py`).

`BulkClient` keeps paho's protocol handling and changes only the I/O:

- the socket is wrapped so that `recv` is served from 64 KiB reads, and
  `pending()` (which paho already asks of TLS sockets) tells its loop that
  bytes are waiting; `loop_read` then handles every complete packet buffered;
- `send` appends to an output buffer flushed once per `loop_write`, so the
  acknowledgements of a batch leave in one write;
- `ack_many` queues a batch's PUBACKs as one write with one wake-up of the
  network thread instead of a queued packet and a wake-up per acknowledgement;
- a PUBLISH at QoS 0 or 1 (on MQTT 5: without properties, as every reading)
  is decoded here (`_plain_publish`), and when it lies whole in the read
  buffer it is framed here too, several per turn (5 us a message where
  paho's three reads and its decoding took 13, and its MQTT 5 decoding built
  a `Properties` object: 18 us more); a packet not wholly buffered yet is
  read by paho, and anything else (other packets, properties, QoS 2) is read
  and decoded by paho as before;
- `on_message` receives every message without paho's walk through its
  (here always empty) table of topic-filtered callbacks;
- `round_trip` waits for a PINGRESP: the broker handles a connection's
  packets in order, so it then has every acknowledgement sent before.
  Disconnecting straight after acknowledging was seen to lose
  acknowledgements (with paho's own Client too), which the broker then
  redelivers to the next session.

Only plain TCP sockets are wrapped (TLS and WebSocket transports are left to
paho). The overridden methods are private to paho 2.2, which the project pins.

The boundary: this is the one hand-made MQTT fast path. The rest of the
coordinator reaches it only through `session_client` (called by `mqtt_source`;
an import contract in pyproject.toml holds that), and its contract tests
(tests/coordinator/readings/test_paho_client.py) hold it to what paho's own
`Client` does: any stream of PUBLISHes, both protocol versions, cut at any
points, gives `on_message` exactly what paho gives. A paho upgrade that changes
the private methods fails those tests before it can lose a reading.
"""

import contextlib
import socket
import struct
import threading
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["BulkClient", "session_client"]

_READ_SIZE = 65536
# What a PUBLISH without properties carries, shared by all such messages: read it,
# never change it.
_NO_PROPERTIES = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_MAX_PACKETS_PER_READ = 4096  # then paho's loop writes acks and checks keep-alive
_PUBACK_WORD = 0x4002_0000  # a PUBACK as a big-endian word: type, length 2, id below


class _BulkSocket:
    """A non-blocking TCP socket with user-space read and write buffers."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._in = b""
        self._pos = 0
        self._out = bytearray()

    # Reading: paho asks for a few bytes at a time.

    def recv(self, bufsize: int) -> bytes:
        if self._pos >= len(self._in):
            data = self._sock.recv(_READ_SIZE)  # BlockingIOError when nothing waits
            if not data:
                return b""  # the broker closed the connection
            self._in, self._pos = data, 0
        end = self._pos + bufsize
        chunk = self._in[self._pos : end]
        self._pos = min(end, len(self._in))
        return chunk

    def pending(self) -> int:
        return len(self._in) - self._pos

    def buffered(self) -> tuple[bytes, int]:
        """The read buffer and where its unread part starts (see `consume_to`)."""
        return self._in, self._pos

    def consume_to(self, pos: int) -> None:
        """Mark the buffer read up to `pos`, as if `recv` had returned it."""
        self._pos = pos

    # Writing: buffered until `flush`, which `BulkClient.loop_write` calls.

    def send(self, data: bytes | bytearray | memoryview) -> int:
        if len(self._out) >= _READ_SIZE and not self.flush():
            raise BlockingIOError  # paho keeps the packet and waits until writable
        self._out += data
        return len(data)

    def flush(self) -> bool:
        """Write what the kernel takes; True once the buffer is empty."""
        while self._out:
            try:
                sent = self._sock.send(self._out)
            except BlockingIOError:
                return False
            del self._out[:sent]
        return True

    def has_output(self) -> bool:
        return bool(self._out)

    # The rest of the socket interface paho uses.

    def fileno(self) -> int:
        return self._sock.fileno()

    def setblocking(self, flag: bool) -> None:
        self._sock.setblocking(flag)

    def close(self) -> None:
        try:
            self._sock.setblocking(True)
            self._sock.settimeout(1.0)
            self.flush()  # e.g. a DISCONNECT queued just before
        except OSError:
            pass
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BulkClient(mqtt.Client):
    """`paho.mqtt.client.Client` with bulk socket I/O; same constructor and API."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ack_lock = threading.Lock()
        self._quiet = False
        self._pong = threading.Event()

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        if type(sock) is socket.socket:  # not TLS, not WebSocket
            return _BulkSocket(sock)
        return sock

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        rc = super().loop_read(max_packets)
        sock = self._sock
        budget = _MAX_PACKETS_PER_READ
        while budget > 0:
            if rc != mqtt.MQTT_ERR_SUCCESS or sock is None or sock is not self._sock:
                break
            if not isinstance(sock, _BulkSocket) or not sock.pending():
                break
            handled = self._read_publishes(sock, budget)
            budget -= handled + 1
            if sock.pending():
                # Anything else, or a packet not wholly buffered yet: paho's own
                # reading (which takes what is buffered and waits for the rest).
                rc = super().loop_read(1)
        return rc

    def _read_publishes(self, sock: _BulkSocket, limit: int) -> int:
        """Hand on every PUBLISH at QoS 0 or 1 (and, on MQTT 5, without properties)
        that lies whole at the head of the read buffer, as paho would, at most
        `limit`; stop at any other packet. Only between packets (paho holds no
        partial one). paho reads a packet in three calls and a dozen dict updates
        before decoding it: two thirds of the cost of receiving a reading."""
        if self._in_packet["command"] != 0 or self.on_message is None:
            return 0
        buf, pos = sock.buffered()
        end, v5 = len(buf), self._protocol == mqtt.MQTTv5
        now = mqtt.time_func()
        handled = 0
        while pos < end and handled < limit:
            header = buf[pos]
            if header & 0xF0 != 0x30:  # not a PUBLISH
                break
            # Remaining length: 1 to 4 bytes, 7 bits each, least significant first.
            length, shift, at = 0, 0, pos + 1
            while at < end and at - pos <= 4:
                byte = buf[at]
                length |= (byte & 0x7F) << shift
                at, shift = at + 1, shift + 7
                if not byte & 0x80:
                    break
            else:
                break  # length not wholly buffered (or malformed): paho's
            body_end = at + length
            if body_end > end:
                break
            message = _plain_publish(header, buf, at, body_end, v5)
            if message is None:
                break  # properties (or malformed): paho's own decoding
            message.timestamp = now
            pos = body_end
            sock.consume_to(pos)  # before the callback, as paho has read a packet it hands on
            handled += 1
            self._deliver(message)
        if handled:
            with self._msgtime_mutex:
                self._last_bytes_received = now
        return handled

    def loop_write(self) -> MQTTErrorCode:
        rc = super().loop_write()
        sock = self._sock
        if isinstance(sock, _BulkSocket):
            try:
                sock.flush()
            except OSError:
                return mqtt.MQTT_ERR_CONN_LOST
        return rc

    def want_write(self) -> bool:
        sock = self._sock
        return super().want_write() or (isinstance(sock, _BulkSocket) and sock.has_output())

    def ack_many(self, acks: Iterable[tuple[int, int]]) -> None:
        """`ack(mid, qos)` for each pair, waking paho's network thread once. The
        QoS 1 acknowledgements leave as one queued write of PUBACKs laid end to end
        (each 0x40 0x02 and the message id, as paho writes one; on MQTT 5 a success
        without properties may omit its reason code): a packet queued per PUBACK
        cost paho a dict and five calls each."""
        with self._ack_lock:
            self._quiet = True
            try:
                mids = []
                for mid, qos in acks:
                    if qos == 1 and self._manual_ack:
                        mids.append(_PUBACK_WORD | mid)
                    else:
                        self.ack(mid, qos)
                if mids:
                    packet = struct.pack(f"!{len(mids)}I", *mids)
                    self._packet_queue(PacketTypes.PUBACK << 4, packet, 0, 0)
            finally:
                self._quiet = False
        self._wake_network_thread()
        self._call_socket_register_write()

    def _packet_queue(
        self,
        command: int,
        packet: bytes | bytearray,
        mid: int,
        qos: int,
        info: mqtt.MQTTMessageInfo | None = None,
    ) -> MQTTErrorCode:
        if not self._quiet:
            return super()._packet_queue(command, packet, mid, qos, info)
        # Inside ack_many: only queue (paho's packet layout); ack_many wakes the
        # network thread once for the batch. A deque append is thread-safe.
        self._out_packet.append(
            {
                "command": command,
                "mid": mid,
                "qos": qos,
                "pos": 0,
                "to_process": len(packet),
                "packet": packet,
                "info": info,
            }
        )
        return mqtt.MQTT_ERR_SUCCESS

    def round_trip(self, timeout_s: float) -> bool:
        """Ping the broker and wait (blocking) for its answer; False if none came."""
        self._pong.clear()
        if self._send_pingreq() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return False
        return self._pong.wait(timeout_s)

    def _handle_publish(self) -> MQTTErrorCode:
        # A PUBLISH that paho read itself (it arrived in pieces).
        packet = self._in_packet["packet"]
        v5 = self._protocol == mqtt.MQTTv5
        message = _plain_publish(self._in_packet["command"], packet, 0, len(packet), v5)
        if message is None:
            return super()._handle_publish()
        message.timestamp = mqtt.time_func()
        return self._deliver(message)

    def _deliver(self, message: mqtt.MQTTMessage) -> MQTTErrorCode:
        self._handle_on_message(message)
        if message.qos == 1 and not self._manual_ack:
            return self._send_puback(message.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def message_callback_add(self, sub: str, callback: Any) -> None:
        raise NotImplementedError("a BulkClient hands every message to on_message")

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        # paho walks its trie of topic-filtered callbacks for every message, in
        # Python (about a fifth of the receive thread's time at ingest rates); this
        # client has none (message_callback_add refuses), so on_message gets all.
        on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise

    def _handle_pingresp(self) -> MQTTErrorCode:
        rc = super()._handle_pingresp()
        self._pong.set()
        return rc

    def _wake_network_thread(self) -> None:
        wake = self._sockpairW
        if wake is not None:
            with contextlib.suppress(BlockingIOError, OSError):
                wake.send(b"0")


def _plain_publish(
    header: int, data: bytes | bytearray, at: int, end: int, v5: bool
) -> mqtt.MQTTMessage | None:
    """The message in a PUBLISH whose body is `data[at:end]`, decoded as paho decodes
    it, if it is at QoS 0 or 1 and (on MQTT 5) carries no properties; None for
    anything else (QoS 2, properties, too short), which paho's decoding handles."""
    qos = (header >> 1) & 0x03
    if qos > 1 or end - at < 2:
        return None
    topic_end = at + 2 + int.from_bytes(data[at : at + 2], "big")
    payload_at = topic_end + (2 if qos else 0)
    if payload_at > end or (v5 and (payload_at >= end or data[payload_at])):
        return None
    message = mqtt.MQTTMessage(topic=bytes(data[at + 2 : topic_end]))
    message.mid = int.from_bytes(data[topic_end:payload_at], "big") if qos else 0
    message.dup = bool(header & 0x08)
    message.qos = qos
    message.retain = bool(header & 0x01)
    message.properties = _NO_PROPERTIES if v5 else None
    message.payload = bytes(data[payload_at + 1 if v5 else payload_at : end])
    return message


def session_client(client_id: str, *, mqtt_v5: bool) -> BulkClient:
    """A BulkClient for a persistent session with manual acknowledgements: MQTT 5
    (connect with clean start off and a session expiry) or MQTT 3.1.1 with
    clean_session off."""
    if mqtt_v5:
        client = BulkClient(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    else:
        client = BulkClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
    client.manual_ack_set(True)
    return client

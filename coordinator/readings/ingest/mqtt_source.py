"""Readings off the broker, acknowledged only after they are committed.

paho-mqtt directly rather than aiomqtt: the coordinator must send PUBACK only
once a reading is committed (manual acknowledgement), which aiomqtt does not
expose. paho's network thread appends messages to a deque and wakes the event
loop at most once per drain (not once per message: at thousands of messages
a second the per-message wake-up was a tenth of the process's CPU);
acknowledgements are sent from the event loop, a batch at a time. The client
is `paho_client.BulkClient`: paho's protocol handling over bulk socket reads
and writes (less than half paho's own receive cost per message).

MQTT v5 with a stable client id, clean start off and a session expiry: the
broker keeps un-acknowledged and new QoS 1 readings while the coordinator is
down and redelivers them when it returns.
"""

import asyncio
import datetime as dt
import logging
import ssl
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from coordinator.config import MqttTls
from coordinator.errors import BrokerError
from coordinator.readings.ingest.paho_client import session_client
from coordinator.readings.ingest.screen import Incoming

__all__ = ["Delivery", "MqttSource"]

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600
RECEIVE_MAXIMUM = 65535
_TICK = dt.timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Delivery:
    """An incoming message and what is needed to acknowledge it."""

    incoming: Incoming
    mid: int
    qos: int
    connection: int  # acks are only valid on the connection that received them


class MqttSource:
    """`async with MqttSource(...) as source:` then `await source.next_batch(...)`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        subscription: str,
        username: str | None = None,
        password: str | None = None,
        connect_timeout_s: float = 10.0,
        session_expiry_s: int = SESSION_EXPIRY_S,
        mqtt_v5: bool = True,
        keep: Callable[[str], bool] | None = None,
        tls: MqttTls | None = None,
    ) -> None:
        """`mqtt_v5=False` speaks MQTT 3.1.1 with clean_session off, for brokers
        without MQTT 5 (the embedded demo broker); the broker then decides how
        long a session lives. Messages whose topic `keep` refuses are acknowledged
        on arrival and dropped (another instance keeps them: `ingest.routing`).
        `tls` connects over TLS (paho's own socket handling: `BulkClient` speeds
        up plain TCP only)."""
        self._keep = keep
        self._last_received = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._host = host
        self._port = port
        self._subscription = subscription
        self._connect_timeout_s = connect_timeout_s
        self._session_expiry_s = session_expiry_s
        self._inbox: deque[Delivery] = deque()
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = asyncio.Event()
        # Counted on paho's thread in on_connect, before any message of the
        # new connection is handled; read (atomically) by `ack`.
        self._connection = 0
        # Whether the broker held this client id's session when it last connected.
        self.session_present = False
        # Set when we disconnect on purpose: that disconnection is no warning.
        self._leaving = False
        self._mqtt_v5 = mqtt_v5
        self._client = session_client(client_id, mqtt_v5=mqtt_v5)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls is not None:
            try:
                self._client.tls_set_context(tls.context())
            except (OSError, ssl.SSLError) as exc:
                raise BrokerError(f"cannot set up TLS to the MQTT broker: {exc}") from exc
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    async def __aenter__(self) -> "MqttSource":
        self._loop = asyncio.get_running_loop()
        try:
            if self._mqtt_v5:
                props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                props.SessionExpiryInterval = self._session_expiry_s
                props.ReceiveMaximum = RECEIVE_MAXIMUM
                self._client.connect_async(
                    self._host, self._port, clean_start=False, properties=props
                )
            else:
                self._client.connect_async(self._host, self._port)
        except OSError as exc:
            raise BrokerError(f"cannot reach MQTT broker {self._host}:{self._port}") from exc
        self._client.loop_start()
        try:
            await asyncio.wait_for(self._connected.wait(), self._connect_timeout_s)
        except TimeoutError as exc:
            self._client.loop_stop()
            raise BrokerError(
                f"no connection to MQTT broker {self._host}:{self._port} "
                f"within {self._connect_timeout_s} s"
            ) from exc
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client.is_connected():
            # So that the last acknowledgements reach the broker before we leave
            # and the next session is not handed those readings again.
            await asyncio.to_thread(self._client.round_trip, 2.0)
        self._leaving = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    async def next_batch(self, max_items: int, wait_s: float) -> list[Delivery]:
        """Wait for at least one message, then gather what arrives within `wait_s`."""
        loop = asyncio.get_running_loop()
        await self._until(lambda: len(self._inbox) > 0, None)
        deadline = loop.time() + wait_s
        while len(self._inbox) < max_items:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await self._until(
                lambda: len(self._inbox) >= max_items, remaining
            ):
                break
        inbox = self._inbox
        return [inbox.popleft() for _ in range(min(max_items, len(inbox)))]

    async def _until(self, predicate: Callable[[], bool], within_s: float | None) -> bool:
        # Wait for paho's thread to add messages until `predicate` holds.
        loop = asyncio.get_running_loop()
        deadline = None if within_s is None else loop.time() + within_s
        while not predicate():
            self._ready.clear()
            if predicate():
                break
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._ready.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    async def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, timeout_s: float = 10.0
    ) -> bool:
        """Publish at QoS 1 on the same connection; True once the broker acknowledged."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        try:
            await asyncio.to_thread(info.wait_for_publish, timeout_s)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        """PUBACK deliveries whose readings are committed. Deliveries from an
        earlier connection are skipped: the broker redelivers those."""
        connection = self._connection
        self._client.ack_many(
            (d.mid, d.qos) for d in deliveries if d.qos > 0 and d.connection == connection
        )

    # paho callbacks: run on paho's network thread.

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.error("MQTT connection refused: %s", reason)
            return
        self._connection += 1
        self.session_present = bool(flags.session_present)
        client.subscribe(self._subscription, qos=1)
        if flags.session_present:
            # The subscription lives in the resumed session: ready now. (Some
            # brokers hold the SUBACK back until queued messages are acked.)
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._mark_connected)

    def _on_subscribe(
        self, _client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any
    ) -> None:
        # Ready only once the broker confirms the subscription: a reading
        # published before that would not be routed to this session.
        if any(r.is_failure for r in reasons):
            log.error("MQTT subscription to %s refused: %s", self._subscription, reasons)
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._mark_connected)

    def _mark_connected(self) -> None:
        self._connected.set()
        log.info("connected to MQTT broker, subscribed to %s", self._subscription)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        if self._leaving:
            log.info("disconnected from MQTT broker (%s)", reason)
            return
        log.warning("MQTT connection lost (%s); paho reconnects", reason)

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._keep is not None and not self._keep(msg.topic):
            if msg.qos > 0:
                client.ack(msg.mid, msg.qos)
            return
        # Strictly increasing, so that receive time orders messages as they arrived
        # (rejections are stored in that order) even within one clock tick.
        now = dt.datetime.now(dt.UTC)
        if now <= self._last_received:
            now = self._last_received + _TICK
        self._last_received = now
        incoming = Incoming(msg.topic, bytes(msg.payload), now)
        self._inbox.append(Delivery(incoming, msg.mid, msg.qos, self._connection))
        if not self._wake_pending:
            # Cleared by _wake before it wakes the consumer, so a message
            # appended after that schedules a new wake-up: none is lost.
            self._wake_pending = True
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        self._wake_pending = False
        self._ready.set()

"""A paho-mqtt test client whose blocking waits run off the event loop.

The embedded broker runs on the test's event loop, so every wait for the
broker's answer must leave the loop free: waits go through `asyncio.to_thread`.
"""

import asyncio
import queue
import socket
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

WAIT_S = 5.0


class PahoClient:
    def __init__(
        self,
        port: int,
        client_id: str,
        *,
        clean_session: bool = True,
        manual_ack: bool = False,
        protocol: MQTTProtocolVersion = mqtt.MQTTv311,
        subscribe_on_connect: str | None = None,
    ) -> None:
        self.port = port
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connack: ReasonCode | None = None
        self.session_present: bool | None = None
        self.suback: list[ReasonCode] = []
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._subscribe_on_connect = subscribe_on_connect
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            clean_session=None if protocol == mqtt.MQTTv5 else clean_session,
        )
        self.client.manual_ack_set(manual_ack)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        self.connack = reason
        self.session_present = flags.session_present
        if self._subscribe_on_connect is not None and not reason.is_failure:
            client.subscribe(self._subscribe_on_connect, qos=1)
        self._connected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        self.suback = list(reasons)
        self._subscribed.set()

    async def connect(self) -> ReasonCode:
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        assert await asyncio.to_thread(self._connected.wait, WAIT_S), "no CONNACK"
        assert self.connack is not None
        return self.connack

    async def subscribe(self, topic: str, qos: int = 1) -> list[ReasonCode]:
        self._subscribed.clear()
        self.client.subscribe(topic, qos=qos)
        return await self.wait_subscribed()

    async def wait_subscribed(self) -> list[ReasonCode]:
        assert await asyncio.to_thread(self._subscribed.wait, WAIT_S), "no SUBACK"
        return self.suback

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish and, at QoS 1, return only once the broker's PUBACK is in."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        await asyncio.to_thread(info.wait_for_publish, WAIT_S)
        assert info.is_published(), f"no PUBACK for {topic}"

    async def next_message(self) -> mqtt.MQTTMessage:
        return await asyncio.to_thread(self.messages.get, True, WAIT_S)

    async def disconnect(self) -> None:
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)

    async def drop(self) -> None:
        """Lose the connection without a DISCONNECT, as a crashed device would."""
        sock = self.client.socket()
        assert isinstance(sock, socket.socket)
        sock.shutdown(socket.SHUT_RDWR)
        await asyncio.to_thread(self.client.loop_stop)

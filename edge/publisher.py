"""Publishing to the broker at QoS 1 (aiomqtt, MQTT v5).

`publish` returns only once the broker has acknowledged the message (PUBACK)
with a success reason code, which is when the outbox may forget it; no PUBACK
within `ack_timeout_s` raises BrokerError and the agent reconnects. An MQTT 5
PUBACK with a failure code (Mosquitto answers a publish its ACL denies with
"Not authorized") raises BrokerRefusedError: aiomqtt would treat it as
delivered. The session is persistent (a stable client id, clean start off, a
session expiry), so the broker keeps the gateway's session state across short
disconnections.

The status topic carries a retained birth message ("online") and, as last
will, a retained "offline"; a graceful exit publishes "offline" itself.
"""

import contextlib
import contextvars
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from enum import StrEnum
from types import TracebackType
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import BrokerConfig
from edge.errors import BrokerError, BrokerRefusedError
from wire import topics

__all__ = ["Delivery", "MemoryPublisher", "MqttPublisher", "status_payload"]


@contextlib.contextmanager
def _broker_errors() -> Iterator[None]:
    try:
        yield
    except aiomqtt.MqttError as exc:
        raise BrokerError(str(exc)) from exc


def status_payload(state: str, ts: int | None = None) -> bytes:
    """The retained status message: {"state": "online" | "offline", "ts": UTC s}.
    The last will has no "ts": the broker sends it when the gateway cannot."""
    doc: dict[str, object] = {"state": state}
    if ts is not None:
        doc["ts"] = ts
    return json.dumps(doc, sort_keys=True).encode()


# The message id of the publish the current task last handed to paho: each
# concurrent publish runs in its own task (asyncio.gather), so each sees its own.
_last_mid: contextvars.ContextVar[int] = contextvars.ContextVar("gtx_last_mid")


class _ReasonCheckingClient(aiomqtt.Client):
    """aiomqtt's client, remembering which PUBACKs carried a failure reason code
    (aiomqtt 2.5 completes the publish whatever the code)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refused: dict[int, str] = {}
        paho_publish = self._client.publish

        def publish(*a: Any, **kw: Any) -> Any:
            info = paho_publish(*a, **kw)
            _last_mid.set(info.mid)
            return info

        self._client.publish = publish  # type: ignore[method-assign]

    def _on_publish(
        self, client: Any, userdata: Any, mid: int, reason_code: Any, properties: Any
    ) -> None:
        if reason_code is not None and reason_code.is_failure:
            self.refused[mid] = str(reason_code)
        super()._on_publish(client, userdata, mid, reason_code, properties)

    async def publish_checked(self, topic: str, payload: bytes, **kwargs: Any) -> None:
        """Publish at QoS 1; BrokerRefusedError if the PUBACK says it was not accepted."""
        _last_mid.set(-1)
        try:
            await self.publish(topic, payload, qos=1, **kwargs)
        finally:
            reason = self.refused.pop(_last_mid.get(), None)
        if reason is not None:
            raise BrokerRefusedError(topic, reason)


def _tls(broker: BrokerConfig) -> aiomqtt.TLSParameters | None:
    if not broker.tls:
        return None
    return aiomqtt.TLSParameters(ca_certs=None if broker.ca_file is None else str(broker.ca_file))


class MqttPublisher:
    def __init__(self, broker: BrokerConfig, gateway_id: str) -> None:
        self._broker = broker
        self._gateway_id = gateway_id
        self._status_topic = topics.gateway_status(broker.topic_root, gateway_id)
        session: dict[str, Any]
        if broker.protocol == "3.1.1":
            session = {"protocol": aiomqtt.ProtocolVersion.V311, "clean_session": False}
        else:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = broker.session_expiry_s
            session = {
                "protocol": aiomqtt.ProtocolVersion.V5,
                "clean_start": False,
                "properties": props,
            }
        self._client = _ReasonCheckingClient(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            identifier=topics.gateway_client_id(gateway_id),
            **session,
            keepalive=broker.keepalive_s,
            tls_params=_tls(broker),
            will=aiomqtt.Will(self._status_topic, status_payload("offline"), qos=1, retain=True),
            timeout=broker.ack_timeout_s,
        )
        # The agent keeps a window of publishes in flight; aiomqtt would log a
        # warning for each one above its default threshold of 10.
        self._client.pending_calls_threshold = 1000

    async def __aenter__(self) -> "MqttPublisher":
        with _broker_errors():
            await self._client.__aenter__()
            await self._client.publish_checked(
                self._status_topic, status_payload("online", int(time.time())), retain=True
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.publish(
                self._status_topic,
                status_payload("offline", int(time.time())),
                qos=1,
                retain=True,
                timeout=min(2.0, self._broker.ack_timeout_s),
            )
        with _broker_errors():
            await self._client.__aexit__(exc_type, exc, tb)

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement; BrokerRefusedError
        when it acknowledges with a failure reason code."""
        with _broker_errors():
            await self._client.publish_checked(topic, payload, retain=retain)


class Delivery(StrEnum):
    """What becomes of one publish to `MemoryPublisher` (see `MemoryPublisher.plan`)."""

    ACK = "ack"  # reaches the broker and is acknowledged
    LOST_ACK = "lost_ack"  # reaches the broker, but its PUBACK never comes: BrokerError
    BREAK = "break"  # the connection breaks before it reaches the broker: BrokerError,
    # and so for every later publish on this connection
    REFUSED = "refused"  # the broker answers with a failure reason code (an ACL denial):
    # BrokerRefusedError, and so for every later publish on that topic on this connection


class MemoryPublisher:
    """An in-process stand-in for the broker, for tests and benchmarks.

    `connect()` is what `GatewayAgent` takes; while `up` is False connecting
    and publishing raise BrokerError, as an unreachable broker would.
    `messages` holds (topic, payload, retain) of everything that reached the
    broker, in order, `acks` (topic, payload) of what was acknowledged, and
    `log` every publish attempt as (connection number, topic, payload, what
    became of it: a `Delivery` value, "broken" or "down").

    `plan(*deliveries)` scripts the next publishes: the broker fails partway
    through a batch (`BREAK`), loses PUBACKs (`LOST_ACK`), refuses a message
    (`REFUSED`, as an ACL that denies the topic would), or disconnects
    after some acknowledgements (`ACK`, ..., `BREAK`). With `topic`, only
    publishes on that topic follow the plan; when it runs out, publishes are
    acknowledged. A broken connection stays broken; the next `connect()`
    gives a working one (while `up`).
    """

    def __init__(self) -> None:
        self.up = True
        self.messages: list[tuple[str, bytes, bool]] = []
        self.acks: list[tuple[str, bytes]] = []
        self.log: list[tuple[int, str, bytes, str]] = []
        self.connections = 0
        self._plan: deque[Delivery] = deque()
        self._plan_topic: str | None = None
        self._broken = False
        self._refused_topics: set[str] = set()

    def plan(self, *deliveries: Delivery, topic: str | None = None) -> None:
        """What becomes of the next publishes (on `topic`, if given), in order."""
        self._plan = deque(deliveries)
        self._plan_topic = topic

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator["MemoryPublisher"]:
        if not self.up:
            raise BrokerError("memory broker is down")
        self.connections += 1
        self._broken = False
        self._refused_topics = set()
        yield self

    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        if not self.up or self._broken:
            self.log.append((self.connections, topic, payload, "down" if not self.up else "broken"))
            raise BrokerError("memory broker is down" if not self.up else "connection lost")
        delivery = Delivery.ACK
        if self._plan and self._plan_topic in (None, topic):
            delivery = self._plan.popleft()
        if topic in self._refused_topics:
            delivery = Delivery.REFUSED
        self.log.append((self.connections, topic, payload, delivery.value))
        if delivery is Delivery.BREAK:
            self._broken = True
            raise BrokerError("connection lost")
        if delivery is Delivery.REFUSED:
            self._refused_topics.add(topic)
            raise BrokerRefusedError(topic, "Not authorized")
        self.messages.append((topic, payload, retain))
        if delivery is Delivery.LOST_ACK:
            raise BrokerError("no PUBACK in time")
        self.acks.append((topic, payload))

    def payloads(self, topic: str) -> list[bytes]:
        """What reached the broker on `topic`, in order."""
        return [p for t, p, _ in self.messages if t == topic]

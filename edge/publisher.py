"""Publishing signed readings to the broker at QoS 1 (aiomqtt).

`publish` returns only once the broker has acknowledged the message (PUBACK),
which is when the outbox may forget it. The gateway's status topic carries a
retained birth message and, as last will, a retained "offline".
"""

import contextlib
import json
from collections.abc import Iterator
from types import TracebackType

import aiomqtt

from edge import topics
from edge.config import BrokerConfig
from edge.errors import BrokerError

__all__ = ["MqttPublisher"]


@contextlib.contextmanager
def _broker_errors() -> Iterator[None]:
    try:
        yield
    except aiomqtt.MqttError as exc:
        raise BrokerError(str(exc)) from exc


def _status(state: str) -> bytes:
    return json.dumps({"state": state}).encode()


class MqttPublisher:
    def __init__(self, broker: BrokerConfig, gateway_id: str) -> None:
        self._broker = broker
        self._gateway_id = gateway_id
        self._status_topic = topics.gateway_status(broker.topic_root, gateway_id)
        self._client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            identifier="gtx-gw-" + gateway_id,
            will=aiomqtt.Will(self._status_topic, _status("offline"), qos=1, retain=True),
            timeout=10,
        )

    async def __aenter__(self) -> "MqttPublisher":
        with _broker_errors():
            await self._client.__aenter__()
            await self._client.publish(self._status_topic, _status("online"), qos=1, retain=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            await self._client.publish(self._status_topic, _status("offline"), qos=1, retain=True)
        with _broker_errors():
            await self._client.__aexit__(exc_type, exc, tb)

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement."""
        with _broker_errors():
            await self._client.publish(topic, payload, qos=1)

"""An in-process MQTT 3.1.1 broker (amqtt) for machines without Mosquitto.

The broker's listener is our own `asyncio` server handed to amqtt as an
"external" listener: we choose the address (port 0 picks a free one), learn
the bound port without reaching into amqtt's internals, and close it ourselves.

amqtt differs from Mosquitto in ways the caller must know (checked by
tests/coordinator/embedded/test_broker.py):

- MQTT 3.1.1 only: an MQTT 5 CONNECT is refused.
- No shared subscriptions: a `$share/...` filter is granted but matches nothing.
- Its stock anonymous-auth plugin marks every session anonymous, and amqtt
  neither queues QoS 1 messages for an offline anonymous session nor keeps it,
  so persistent sessions would silently not persist. `_OpenAuth` admits every
  client without that mark.
- A QoS 1 message sent to a subscriber is dropped by the broker if the PUBACK
  does not come within 5 s, or the subscriber disconnects first: un-acked
  in-flight messages are not redelivered. Messages queued while the
  subscriber was offline are redelivered (with the retain flag set).
"""

import asyncio
import logging
from types import TracebackType
from typing import Any

from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter
from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin

from coordinator.errors import BrokerError

__all__ = ["EmbeddedBroker"]

log = logging.getLogger(__name__)

_LISTENER = "default"


class _OpenAuth(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no stubs
    """Admit every client, as a session of its own (not anonymous)."""

    async def authenticate(self, *, session: Any) -> bool:
        return True


def _broker_config(session_expiry_s: int | None) -> dict[str, Any]:
    return {
        "listeners": {_LISTENER: {"type": "external"}},
        "session_expiry_interval": session_expiry_s,
        # Only our auth plugin: amqtt's packet / event loggers and $SYS
        # publisher cost time per message and add nothing to a demo.
        "plugins": {f"{__name__}._OpenAuth": {}},
    }


class EmbeddedBroker:
    """`async with EmbeddedBroker() as broker:` serves MQTT on `broker.host:broker.port`.

    `port=0` (the default) binds a free port. Sessions of disconnected clients
    are kept `session_expiry_s` seconds (None: for the broker's lifetime).
    """

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, session_expiry_s: int | None = None
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port {port} out of range")
        self.host = host
        self._requested_port = port
        self._session_expiry_s = session_expiry_s
        self._broker: Broker | None = None
        self._server: asyncio.Server | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The bound port; only known once started."""
        if self._port is None:
            raise RuntimeError("the embedded broker is not running")
        return self._port

    async def __aenter__(self) -> "EmbeddedBroker":
        broker = Broker(_broker_config(self._session_expiry_s))
        try:
            await broker.start()
        except Exception as exc:  # amqtt wraps everything in its own BrokerError
            raise BrokerError(f"embedded MQTT broker failed to start: {exc}") from exc
        try:
            server = await asyncio.start_server(
                self._connected, self.host, self._requested_port, reuse_address=True
            )
        except OSError as exc:
            await broker.shutdown()
            raise BrokerError(
                f"embedded MQTT broker cannot bind {self.host}:{self._requested_port}: {exc}"
            ) from exc
        self._broker = broker
        self._server = server
        self._port = int(server.sockets[0].getsockname()[1])
        log.info("embedded MQTT broker listening on %s:%d", self.host, self._port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, broker = self._server, self._broker
        self._server = self._broker = None
        self._port = None
        if server is not None:
            server.close()  # no new connections while sessions are torn down
        if broker is not None:
            await broker.shutdown()  # closes every client connection
        if server is not None:
            await server.wait_closed()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        broker = self._broker
        if broker is None:
            writer.close()
            return
        await broker.external_connected(
            StreamReaderAdapter(reader), StreamWriterAdapter(writer), _LISTENER
        )

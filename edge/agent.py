"""The gateway agent: poll meters on interval boundaries, sign, store, forward.

Two named tasks share the outbox: the poller adds signed readings, the
forwarder publishes them in sequence order and deletes each one after its
PUBACK. A broker outage only grows the outbox; a dead meter only costs its
own poll.
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from edge import topics
from edge.config import GatewayConfig, MeterConfig
from edge.errors import BrokerError, MeterError
from edge.meter_reader import MeterReader
from edge.outbox import Outbox, OutboxEntry
from edge.protocol import Reading, encode_payload
from edge.registermap import MeterValues
from edge.signing import DeviceKey

__all__ = ["GatewayAgent", "PollStats", "Publisher"]

log = logging.getLogger(__name__)


class Publisher(Protocol):
    async def publish(self, topic: str, payload: bytes) -> None: ...


@dataclass
class PollStats:
    ok: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, str] = field(default_factory=dict)
    published: int = 0


class GatewayAgent:
    def __init__(
        self,
        *,
        config: GatewayConfig,
        key: DeviceKey,
        reader: MeterReader,
        outbox: Outbox,
        connect: Callable[[], AbstractAsyncContextManager[Publisher]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock` gives the reading timestamps (meter time); polls are scheduled
        on the gateway's wall clock."""
        self._config = config
        self._key = key
        self._reader = reader
        self._outbox = outbox
        self._connect = connect
        self._clock = clock
        self._topic = topics.gateway_readings(config.broker.topic_root, key.gateway_id)
        self._pending = asyncio.Event()
        self.stats = PollStats()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._poll_forever(), name="poller")
            tg.create_task(self._forward_forever(), name="forwarder")

    async def poll_once(self) -> list[OutboxEntry]:
        """Read every meter concurrently; store a signed reading for each that answered."""
        results = await asyncio.gather(*(self._read(m) for m in self._config.meters))
        entries = []
        for meter, values in zip(self._config.meters, results, strict=True):
            if values is not None:
                entries.append(self._store(meter, values))
        if entries:
            self._pending.set()
        return entries

    async def _read(self, meter: MeterConfig) -> MeterValues | None:
        try:
            values = await self._reader.read(meter)
        except MeterError as exc:
            self.stats.errors[meter.meter_id] = self.stats.errors.get(meter.meter_id, 0) + 1
            self.stats.last_error[meter.meter_id] = str(exc)
            log.warning("poll failed: %s", exc)
            return None
        self.stats.ok[meter.meter_id] = self.stats.ok.get(meter.meter_id, 0) + 1
        return values

    def _store(self, meter: MeterConfig, values: MeterValues) -> OutboxEntry:
        ts = int(self._clock())

        def build(seq: int) -> tuple[str, bytes]:
            reading = Reading(
                self._key.gateway_id, meter.meter_id, seq, ts, values.import_wh, values.export_wh
            )
            return self._topic, encode_payload(self._key.sign(reading))

        return self._outbox.add(build)

    async def _poll_forever(self) -> None:
        interval = self._config.poll_interval_s
        while True:
            await self.poll_once()
            now = time.time()
            # Align to wall-clock boundaries so every gateway reads at :00, :15, ...
            await asyncio.sleep(interval - (now % interval))

    async def _forward_forever(self) -> None:
        delay = 1.0
        while True:
            try:
                async with self._connect() as publisher:
                    delay = 1.0
                    await self._drain(publisher)
            except BrokerError as exc:
                log.warning("broker unavailable (%s); outbox depth %d", exc, self._outbox.depth())
                # Capped exponential backoff with jitter, so a fleet of gateways
                # does not reconnect in lockstep after a broker restart.
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311
                delay = min(delay * 2, 60.0)

    async def _drain(self, publisher: Publisher) -> None:
        self._pending.set()
        while True:
            await self._pending.wait()
            self._pending.clear()
            while batch := self._outbox.pending():
                for entry in batch:
                    await publisher.publish(entry.topic, entry.payload)
                    self._outbox.remove(entry.seq)
                    self.stats.published += 1

"""The gateway agent: poll meters on interval boundaries, sign, store, forward.

Three named tasks share the outbox. The poller reads every meter
concurrently at each wall-clock boundary, retrying a failing meter with
backoff inside the poll window, and stores a signed reading per meter as
soon as it has one. The forwarder publishes the outbox in sequence order and
deletes entries only after their PUBACK; a broker outage only grows the
outbox (up to its bound). The health task publishes and stores a health
report periodically. `stop()` ends polling, lets the forwarder flush for up
to `shutdown_flush_s`, and leaves with a retained "offline" status.

Under systemd (a `Notifier`), the agent says READY=1 once its tasks run and
STOPPING=1 on `stop()`, and a fourth task feeds the watchdog while the event
loop runs and the poller keeps its schedule: a wedged poller or a blocked
loop stops the feeding, and systemd restarts the agent. The restart loses
nothing: the outbox and the sequence counter live in the state file.
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from edge.config import GatewayConfig, MeterConfig
from edge.errors import BrokerError, MeterError
from edge.meter_reader import MeterReader, MeterReadError, MeterSample
from edge.outbox import Outbox, OutboxEntry
from edge.schedule import backoff_delay, next_boundary, poll_deadline
from edge.service import Notifier
from edge.signing import DeviceKey
from wire import topics
from wire.health import (
    HealthReport,
    MeterHealth,
    Outcome,
    encode_health,
    record_missed,
    record_outcome,
)
from wire.reading import ProtocolError, Reading, encode_payload

__all__ = [
    "PUBLISH_WINDOW",
    "GatewayAgent",
    "PollStats",
    "Publisher",
    "attempt_budget_s",
    "poller_overdue_s",
]

log = logging.getLogger(__name__)

# Readings in flight to the broker at once: enough to hide the round trip,
# small enough that a reconnect re-sends little.
PUBLISH_WINDOW = 64
_JITTER = 0.5


def attempt_budget_s(response_timeout_s: float) -> float:
    """How long one attempt (a few Modbus requests) may take before the agent
    abandons it: beyond the reader's own response timeout, so the reader can
    tell a silent meter from a garbled answer first."""
    return 2 * response_timeout_s + 0.5


def poller_overdue_s(config: GatewayConfig) -> float:
    """How long after a poll began the next one must have begun, or the poller
    is wedged: a poll ends within its interval (retries stop at 80 %, an
    attempt at its budget), and the next begins on the following boundary."""
    return 2 * config.poll_interval_s + attempt_budget_s(config.polling.timeout_s)


class Publisher(Protocol):
    async def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None: ...


@dataclass
class PollStats:
    """Counters of one agent run (the outbox keeps what must outlive it)."""

    meters: dict[str, MeterHealth] = field(default_factory=dict)
    published: int = 0
    polls: int = 0

    @property
    def ok(self) -> dict[str, int]:
        """Successful reads per meter (meters with none left out)."""
        return {k: m.counts["ok"] for k, m in self.meters.items() if m.counts.get("ok")}

    @property
    def errors(self) -> dict[str, int]:
        """Failed read attempts per meter (meters with none left out)."""
        failed = {k: sum(m.counts.values()) - m.counts.get("ok", 0) for k, m in self.meters.items()}
        return {k: n for k, n in failed.items() if n}

    @property
    def last_error(self) -> dict[str, str]:
        return {k: m.last_error for k, m in self.meters.items() if m.last_error}


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
        wall_clock: Callable[[], float] = time.time,
        unit_random: Callable[[], float] = random.random,
        notifier: Notifier | None = None,
    ) -> None:
        """`clock` stamps readings of meters without a clock of their own;
        polls are scheduled on `wall_clock`. `unit_random` drives the jitter.
        `notifier`: the service manager to tell of readiness and liveness."""
        self._config = config
        self._key = key
        self._reader = reader
        self._outbox = outbox
        self._connect = connect
        self._clock = clock
        self._wall = wall_clock
        self._random = unit_random
        self._notifier = notifier
        root = config.broker.topic_root
        # The enrolled id, which outlives key rotations; the key only signs.
        self.gateway_id = config.gateway_id or key.gateway_id
        self._topic = topics.gateway_readings(root, self.gateway_id)
        self._health_topic = topics.gateway_health(root, self.gateway_id)
        self._pending = asyncio.Event()
        self._stopping = asyncio.Event()
        self._publisher: Publisher | None = None
        self._started = time.monotonic()
        self._poll_began = self._started  # monotonic; the watchdog watches it
        self.stats = PollStats(meters={m.meter_id: MeterHealth(m.meter_id) for m in config.meters})

    # -- lifecycle

    async def run(self) -> None:
        """Poll, forward and report health until `stop()` (then flush) or cancelled."""
        async with asyncio.TaskGroup() as tg:
            poller = tg.create_task(self._poll_until_stopped(), name="poller")
            forwarder = tg.create_task(self._forward_until_flushed(), name="forwarder")
            health = tg.create_task(self._report_health_until_stopped(), name="health")
            watchdog = self._ready(tg)
            await self._stopping.wait()
            poller.cancel()
            health.cancel()
            _, unfinished = await asyncio.wait({forwarder}, timeout=self._config.shutdown_flush_s)
            if unfinished:
                log.warning(
                    "shutdown: %d readings stay in the outbox for the next run",
                    self._outbox.depth(),
                )
                forwarder.cancel()
            if watchdog is not None:  # fed while flushing
                watchdog.cancel()
        self._save_health()

    def _ready(self, tg: asyncio.TaskGroup) -> "asyncio.Task[None] | None":
        """Tell the service manager the agent runs; start feeding its watchdog."""
        notifier = self._notifier
        if notifier is None:
            return None
        notifier.notify("READY=1", f"STATUS=polling {len(self._config.meters)} meters")
        if not notifier.watchdog_s:
            return None
        feed = self._feed_watchdog(notifier, notifier.watchdog_s / 2)
        return tg.create_task(feed, name="watchdog")

    def stop(self) -> None:
        """Ask `run` to stop polling, flush the outbox (bounded) and return."""
        if self._notifier is not None and not self._stopping.is_set():
            self._notifier.notify("STOPPING=1", "STATUS=flushing the outbox")
        self._stopping.set()
        self._pending.set()

    async def _feed_watchdog(self, notifier: Notifier, every_s: float) -> None:
        overdue_s = poller_overdue_s(self._config)
        starving = False
        while True:
            late = time.monotonic() - self._poll_began - overdue_s
            if late <= 0:
                notifier.notify("WATCHDOG=1")
                starving = False
            elif not starving:
                starving = True
                log.error(
                    "the poller is %.0f s behind its schedule: no longer feeding the "
                    "watchdog, so the service manager restarts the agent",
                    late,
                )
            await asyncio.sleep(every_s)

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stopping.wait(), max(0.0, seconds))
        except TimeoutError:
            return False
        return True

    # -- polling

    async def _poll_until_stopped(self) -> None:
        interval = self._config.poll_interval_s
        # Restarted within the second of the last reading: wait for the next
        # second (bounded, in case the clock was set back since).
        wait = self._outbox.last_gateway_ts() + 1 - self._clock()
        if await self._stopped_within(min(wait, interval)):
            return
        while True:
            await self.poll_once()
            now = self._wall()
            # Wall-clock boundaries: every gateway reads at :00, :15, ...
            if await self._stopped_within(next_boundary(now, interval) - now):
                return

    async def poll_once(self) -> list[OutboxEntry]:
        """Read every meter concurrently (with retries inside the poll window);
        store a signed reading for each that answered."""
        self._poll_began = time.monotonic()
        started = self._wall()
        window_s = poll_deadline(started, self._config.poll_interval_s) - started
        deadline = asyncio.get_running_loop().time() + window_s
        results = await asyncio.gather(
            *(self._poll_meter(m, deadline) for m in self._config.meters)
        )
        self.stats.polls += 1
        self._save_health()
        return [entry for entry in results if entry is not None]

    async def _poll_meter(self, meter: MeterConfig, deadline: float) -> OutboxEntry | None:
        polling = self._config.polling
        loop = asyncio.get_running_loop()
        for attempt in range(1, polling.max_attempts + 1):
            sample = await self._attempt(meter)
            if sample is not None:
                return self._store(meter, sample)
            if attempt == polling.max_attempts:
                break
            delay = backoff_delay(
                attempt,
                initial_s=polling.backoff_initial_s,
                max_s=polling.backoff_max_s,
                jitter=_JITTER,
                unit_random=self._random(),
            )
            if loop.time() + delay + polling.timeout_s > deadline:
                # Typically one more response timeout is what a retry costs.
                break  # another try would run into the next poll
            await asyncio.sleep(delay)
        self._update(meter.meter_id, record_missed(self.stats.meters[meter.meter_id]))
        return None

    async def _attempt(self, meter: MeterConfig) -> MeterSample | None:
        try:
            sample = await asyncio.wait_for(
                self._reader.read(meter), attempt_budget_s(self._config.polling.timeout_s)
            )
            self._check_signable(meter, sample)
        except MeterReadError as exc:
            self._record(meter, exc.outcome, str(exc))
            return None
        except MeterError as exc:
            self._record(meter, Outcome.DECODE_ERROR, str(exc))
            return None
        except TimeoutError:
            self._record(meter, Outcome.TIMEOUT, f"meter {meter.meter_id}: no answer in time")
            return None
        except Exception as exc:
            # A defect in the reader, or in the library under it, that this
            # meter's answer set off. It costs this meter's reading, never the
            # other meters' or the agent: logged with its traceback, counted.
            log.exception("poll of %s: the meter reader failed unexpectedly", meter.meter_id)
            detail = f"meter {meter.meter_id}: {type(exc).__name__}: {exc}"
            self._record(meter, Outcome.READER_ERROR, detail, logged=True)
            return None
        self._record(meter, Outcome.OK, "")
        return sample

    def _check_signable(self, meter: MeterConfig, sample: MeterSample) -> None:
        """Refuse values a reading cannot carry before anything is signed (the
        register maps decode within range; this holds for any reader)."""
        values = sample.values
        try:
            Reading(
                self.gateway_id,
                meter.meter_id,
                0,
                0 if sample.meter_ts is None else sample.meter_ts,
                values.import_wh,
                values.export_wh,
            )
        except ProtocolError as exc:
            raise MeterReadError(
                Outcome.DECODE_ERROR, f"meter {meter.meter_id}: {exc.detail}"
            ) from exc

    def _record(
        self, meter: MeterConfig, outcome: Outcome, detail: str, *, logged: bool = False
    ) -> None:
        if outcome is not Outcome.OK and not logged:
            log.warning("poll of %s: %s: %s", meter.meter_id, outcome.value, detail)
        health = self.stats.meters[meter.meter_id]
        self._update(
            meter.meter_id, record_outcome(health, outcome, at_s=int(self._wall()), detail=detail)
        )

    def _update(self, meter_id: str, health: MeterHealth) -> None:
        self.stats.meters[meter_id] = health

    def _store(self, meter: MeterConfig, sample: MeterSample) -> OutboxEntry:
        gateway_ts: int | None = None
        if sample.meter_ts is None:
            ts = gateway_ts = int(self._clock())
        else:
            ts = sample.meter_ts
        values = sample.values

        def build(seq: int) -> tuple[str, bytes]:
            reading = Reading(
                self.gateway_id, meter.meter_id, seq, ts, values.import_wh, values.export_wh
            )
            return self._topic, encode_payload(self._key.sign(reading, identity=self.gateway_id))

        dropped_before = self._outbox.dropped()
        entry = self._outbox.add(build, gateway_ts=gateway_ts)
        if self._outbox.dropped() > dropped_before:
            log.warning(
                "outbox full (%d entries): dropped %d oldest readings, %d in total",
                self._outbox.max_entries,
                self._outbox.dropped() - dropped_before,
                self._outbox.dropped(),
            )
        self._pending.set()
        return entry

    # -- forwarding

    async def _forward_until_flushed(self) -> None:
        attempt = 0
        while True:
            try:
                async with self._connect() as publisher:
                    attempt = 0
                    self._publisher = publisher
                    try:
                        await self._publish_health(publisher)
                        await self._drain(publisher)
                        await self._publish_health(publisher)
                    finally:
                        self._publisher = None
                return  # drained after stop(): leaving published "offline"
            except BrokerError as exc:
                attempt += 1
                broker = self._config.broker
                delay = backoff_delay(
                    attempt,
                    initial_s=broker.reconnect_initial_s,
                    max_s=broker.reconnect_max_s,
                    jitter=_JITTER,
                    unit_random=self._random(),
                )
                log.warning(
                    "broker unavailable (%s); outbox depth %d; retry in %.1f s",
                    exc,
                    self._outbox.depth(),
                    delay,
                )
                await asyncio.sleep(delay)

    async def _drain(self, publisher: Publisher) -> None:
        """Publish until the outbox is empty and `stop()` was called."""
        while True:
            batch = self._outbox.pending(PUBLISH_WINDOW)
            if not batch:
                if self._stopping.is_set():
                    return
                self._pending.clear()
                await self._pending.wait()
                continue
            results = await asyncio.gather(
                *(publisher.publish(e.topic, e.payload) for e in batch), return_exceptions=True
            )
            acked = [e.seq for e, r in zip(batch, results, strict=True) if r is None]
            if acked:
                self._outbox.remove_many(acked)
                self.stats.published += len(acked)
            for result in results:
                if isinstance(result, BaseException):
                    raise result

    # -- health

    def health(self) -> HealthReport:
        """The gateway's health now."""
        return HealthReport(
            gateway_id=self.gateway_id,
            ts=int(self._wall()),
            uptime_s=int(time.monotonic() - self._started),
            broker_connected=self._publisher is not None,
            published=self.stats.published,
            polls=self.stats.polls,
            outbox_depth=self._outbox.depth(),
            outbox_max_entries=self._outbox.max_entries,
            dropped=self._outbox.dropped(),
            next_seq=self._outbox.next_seq(),
            meters=tuple(self.stats.meters[k] for k in sorted(self.stats.meters)),
        )

    def _save_health(self) -> bytes:
        payload = encode_health(self.health())
        self._outbox.save_health(payload)
        return payload

    async def _publish_health(self, publisher: Publisher) -> None:
        await publisher.publish(self._health_topic, self._save_health(), retain=True)

    async def _report_health_until_stopped(self) -> None:
        while not await self._stopped_within(self._config.health_interval_s):
            publisher = self._publisher
            if publisher is None:
                self._save_health()
                continue
            try:
                await self._publish_health(publisher)
            except BrokerError as exc:  # the forwarder notices and reconnects
                log.warning("health report not published: %s", exc)

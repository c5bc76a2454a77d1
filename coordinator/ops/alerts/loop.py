"""`AlertMonitor`: evaluates the rules periodically and publishes each change once.

Each *new* alert is published once, as JSON on `wire.topics.alerts` (not
retained), and logged; a resolvable one that stops firing is published again
as "resolved", so it can fire anew later. An event the broker did not
acknowledge is retried next round.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.ops import metrics
from coordinator.ops.alerts.rules import RESOLVABLE, AlertRules, AlertSource, evaluate
from coordinator.readings.oracle import EpochCalendar
from wire import topics
from wire.alerts import Alert, AlertEvent, encode_alert

__all__ = ["AlertMonitor", "Publish"]

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], Awaitable[bool]]
"""Publish (topic, payload) at QoS 1; True once the broker acknowledged."""


class AlertMonitor:
    """Evaluates the rules every `interval_s` and publishes what changed.

    `publish(topic, payload)` is called for the alerts topic (wire it not
    retained); an event the broker did not acknowledge is retried next round.
    """

    def __init__(
        self,
        source: AlertSource,
        publish: Publish,
        *,
        topic_root: str = topics.DEFAULT_ROOT,
        rules: AlertRules | None = None,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        calendar: Callable[[], Awaitable[EpochCalendar]] | None = None,
    ) -> None:
        """`calendar`: the epoch calendar in force, read at each step (the governed
        epoch length); without it, the rules' own `length_s`."""
        self._source = source
        self._calendar = calendar
        self._publish = publish
        self._topic = topics.alerts(topic_root)
        self._rules = rules or AlertRules()
        self._interval_s = interval_s
        self._clock = clock
        self._since = int(clock())
        self.active: dict[str, Alert] = {}
        self._outbox: list[AlertEvent] = []

    async def step(self) -> list[AlertEvent]:
        """One evaluation: returns the events it produced (published or queued)."""
        now = int(self._clock())
        rules = self._rules
        if self._calendar is not None:
            rules = replace(rules, length_s=await self._calendar())
        current = await asyncio.to_thread(evaluate, self._source, rules, now, self._since)
        by_key = {a.key: a for a in current}
        events = [AlertEvent(a, "firing", now) for k, a in by_key.items() if k not in self.active]
        events += [
            AlertEvent(a, "resolved", now)
            for k, a in self.active.items()
            if k not in by_key and a.kind in RESOLVABLE
        ]
        # Non-resolvable alerts stay known (so not re-fired) while the rules still see them.
        self.active = by_key
        for event in events:
            a = event.alert
            level = logging.INFO if event.state == "resolved" else logging.WARNING
            if a.severity == "critical" and event.state == "firing":
                level = logging.ERROR
            log.log(level, "alert %s: %s", event.state, a.message,
                    extra={"alert_key": a.key, "alert_kind": a.kind.value})  # fmt: skip
            if event.state == "firing":
                metrics.ALERTS.labels(a.kind.value).inc()
        self._outbox.extend(events)
        await self._flush()
        return events

    async def _flush(self) -> None:
        while self._outbox:
            if not await self._publish(self._topic, encode_alert(self._outbox[0])):
                return
            self._outbox.pop(0)

    async def run(self) -> None:
        """Evaluate until cancelled; a database outage postpones a round."""
        while True:
            try:
                await self.step()
            except (OperationalError, InterfaceError) as exc:
                log.warning("alert checks postponed, database unavailable: %s", exc)
            await asyncio.sleep(self._interval_s)

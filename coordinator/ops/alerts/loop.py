"""`AlertMonitor`: evaluates the rules periodically and publishes each change once.

Each *new* alert is published once, as JSON on `wire.topics.alerts` (not
retained), and logged; a resolvable one that stops firing is published again
as "resolved", so it can fire anew later. An event the broker did not
acknowledge is retried next round. Each cleared epoch is inspected for
abnormal trading once, in the first round that sees it; its findings are facts,
published once (a restarted monitor inspects the last few epochs again).

Each round also sets the gauges Prometheus's rules (deploy/prometheus/rules)
read: the alerts firing by kind, the end of the newest epoch through each stage
(closed, cleared, minted, settled) and the age of the oldest ledger transaction
in flight. The monitor runs on the chain leader only: when it stops (leadership
lost), it zeroes the gauges that would otherwise fire from a stale value.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.ops import metrics
from coordinator.ops.alerts.rules import (
    RESOLVABLE,
    AlertRules,
    AlertSource,
    Progress,
    abnormal_trading,
    evaluate,
)
from coordinator.readings.oracle import epoch_start
from wire import topics
from wire.alerts import Alert, AlertEvent, AlertKind, encode_alert

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
    ) -> None:
        self._source = source
        self._publish = publish
        self._topic = topics.alerts(topic_root)
        self._rules = rules or AlertRules()
        self._interval_s = interval_s
        self._clock = clock
        self._since = int(clock())
        self._inspected: int | None = None  # the newest cleared epoch inspected
        self.active: dict[str, Alert] = {}
        self._outbox: list[AlertEvent] = []

    async def step(self) -> list[AlertEvent]:
        """One evaluation: returns the events it produced (published or queued)."""
        now = int(self._clock())
        current = await asyncio.to_thread(evaluate, self._source, self._rules, now, self._since)
        if self._rules.expect_clearing:
            current += await asyncio.to_thread(self._inspect_trading)
        self._export(await asyncio.to_thread(self._source.progress), current, now)
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
                if a.kind is AlertKind.ABNORMAL_TRADING:
                    metrics.TRADING_FINDINGS.labels(str(a.details["finding"])).inc()
        self._outbox.extend(events)
        await self._flush()
        return events

    def _inspect_trading(self) -> list[Alert]:
        rules = self._rules
        window = self._source.market(
            rules.trading_window, rules.surveillance.trailing_epochs, self._inspected
        )
        if window.epochs:
            self._inspected = max(e.epoch for e in window.epochs)
        return abnormal_trading(window, rules.surveillance)

    def _export(self, progress: Progress, current: list[Alert], now: int) -> None:
        metrics.record_alerts_firing([k.value for k in AlertKind], [a.kind.value for a in current])
        length = self._rules.length_s
        metrics.EPOCH_LENGTH.set(length)
        for stage, epoch in progress.stages().items():
            if epoch is not None:
                metrics.EPOCH_STAGE_END.labels(stage).set(epoch_start(epoch + 1, length))
        oldest = progress.oldest_pending_s
        metrics.LEDGER_PENDING_OLDEST.set(0 if oldest is None else max(now - oldest, 0))

    @staticmethod
    def _stand_down() -> None:
        metrics.record_alerts_firing([k.value for k in AlertKind], [])
        metrics.LEDGER_PENDING_OLDEST.set(0)

    async def _flush(self) -> None:
        while self._outbox:
            if not await self._publish(self._topic, encode_alert(self._outbox[0])):
                return
            self._outbox.pop(0)

    async def run(self) -> None:
        """Evaluate until cancelled; a database outage postpones a round."""
        try:
            while True:
                try:
                    await self.step()
                except (OperationalError, InterfaceError) as exc:
                    log.warning("alert checks postponed, database unavailable: %s", exc)
                await asyncio.sleep(self._interval_s)
        finally:
            self._stand_down()

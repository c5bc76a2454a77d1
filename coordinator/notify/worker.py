"""The notification worker: a producer that reads events where they are recorded
and fills the outbox, and a delivery loop that empties it.

The producer reads each source from its stored position in one transaction with
the outbox rows it adds and the position it moves to: a crash before the commit
reads the same rows again, after it reads from the new position. Any number of
instances may run both loops: outbox keys make a second producer's rows no-ops,
and deliveries are claimed with a lease (`store.SqlNotifyStore.claim`).
On a fresh database the producer starts from now: users are not told of history.
"""

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from coordinator.notify import sources
from coordinator.notify.errors import NotifyError
from coordinator.notify.events import Channel, Delivery, Event, plan
from coordinator.notify.policy import Retry
from coordinator.notify.senders import Sender
from coordinator.notify.store import DeliveryRow, SqlNotifyStore
from coordinator.ops import metrics
from coordinator.ops.alerts.storage import SqlAlertSource

__all__ = ["NotifyWorker"]

log = logging.getLogger(__name__)

_TIMED = (
    ("order_excluded", sources.excluded_orders),
    ("trade_settled", sources.settled_trades),
    ("energy_minted", sources.minted_energy),
)


class NotifyWorker:
    def __init__(
        self,
        engine: Engine,
        *,
        senders: dict[Channel, Sender],
        retry: Retry,
        epoch_length_s: int,
        interval_s: float = 2.0,
        lease_s: float = 120.0,
        overlap_s: int = 600,
        silent_intervals: float = 2.0,
        silent_check_s: float = 30.0,
        retention_s: float = 30 * 86400,
        watching_since: int | None = None,
        default_poll_interval_s: int = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self.store = SqlNotifyStore(engine)
        self._senders = senders
        self._retry = retry
        self._length_s = epoch_length_s
        self._interval_s = interval_s
        self._lease_s = lease_s
        self._overlap_s = overlap_s
        self._silent_intervals = silent_intervals
        self._silent_check_s = silent_check_s
        self._retention_s = retention_s
        self._default_poll_s = default_poll_interval_s
        self._clock = clock
        self._silent_checked = float("-inf")
        # Silence counts from when this worker started, as the operators' alert does:
        # a coordinator back from a pause gives gateways time to flush their outboxes
        # before owners are told they went silent.
        self._started = int(clock()) if watching_since is None else watching_since

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    # --- producer ----------------------------------------------------------------------

    def _enqueue(self, conn: Connection, events: Sequence[Event], now: dt.datetime) -> int:
        subs = self.store.subscriptions(conn, (e.user for e in events))
        deliveries: list[Delivery] = []
        for event in events:
            deliveries += plan(event, subs.get(event.user))
        return self.store.enqueue(conn, deliveries, now)

    def produce_once(self) -> int:
        """Read every source once; returns the outbox rows added."""
        now = self._now()
        now_s = int(now.timestamp())
        silent = None
        if now_s - self._silent_checked >= self._silent_check_s:
            silent = SqlAlertSource(self._engine).gateways(self._default_poll_s)
            self._silent_checked = now_s
        added = 0
        with self._engine.begin() as conn:
            for name, read in _TIMED:
                position = self.store.cursor(conn, name)
                if position is None:  # first start: from now on
                    self.store.set_cursor(conn, name, now_s)
                    continue
                found = read(conn, position - self._overlap_s, position, self._length_s)
                added += self._enqueue(conn, found.events, now)
                if found.position != position:
                    self.store.set_cursor(conn, name, found.position)
            first = self.store.cursor(conn, "gateway_revoked") is None
            unseen = self.store.unseen(conn, "gateway_revoked", sources.revoked_ids(conn))
            if first:
                self.store.set_cursor(conn, "gateway_revoked", now_s)
            elif unseen:
                added += self._enqueue(conn, sources.revoked_gateways(conn, unseen, now_s), now)
            if silent is not None:
                events = sources.silent_owned_gateways(
                    conn, silent, now_s, self._silent_intervals, self._started
                )
                added += self._enqueue(conn, events, now)
        return added

    def update_metrics(self) -> None:
        """Purge what is past retention, then count the outbox for the gauges."""
        self.store.purge(self._now() - dt.timedelta(seconds=self._retention_s))
        counts, oldest = self.store.backlog(self._now())
        for status, n in counts.items():
            metrics.NOTIFY_OUTBOX.labels(status).set(n)
        metrics.NOTIFY_OLDEST_PENDING.set(oldest)

    # --- deliveries ------------------------------------------------------------------------

    async def deliver_once(self, limit: int = 20) -> int:
        """Claim what is due and try each; returns how many were tried."""
        rows = await asyncio.to_thread(self.store.claim, self._now(), self._lease_s, limit)
        for row in rows:
            await self._deliver(row)
        return len(rows)

    async def _deliver(self, row: DeliveryRow) -> None:
        d = row.delivery
        stored = await asyncio.to_thread(self.store.subscription, d.event.user)
        sub = None if stored is None else stored.subscription
        destination = None
        if sub is not None:
            destination = sub.email if d.channel is Channel.EMAIL else sub.webhook_url
        sender = self._senders.get(d.channel)
        if destination is None or sender is None:
            why = "unsubscribed" if destination is None else f"{d.channel} is not configured"
            await asyncio.to_thread(self.store.dropped, row.id, why)
            metrics.NOTIFY_ATTEMPTS.labels(d.channel.value, "dropped").inc()
            return
        try:
            await sender.send(d, destination, None if stored is None else stored.webhook_secret)
        except NotifyError as exc:
            retry_at = None
            if not self._retry.parks(row.attempts):
                retry_at = self._now() + dt.timedelta(seconds=self._retry.delay_s(row.attempts))
            await asyncio.to_thread(self.store.failed, row.id, str(exc), retry_at)
            outcome = "parked" if retry_at is None else "failed"
            metrics.NOTIFY_ATTEMPTS.labels(d.channel.value, outcome).inc()
            log.log(logging.ERROR if retry_at is None else logging.WARNING,
                    "notification %s %s (%s, attempt %d): %s", d.key, outcome, d.channel.value,
                    row.attempts, exc, extra={"notify_key": d.key})  # fmt: skip
            return
        await asyncio.to_thread(self.store.delivered, row.id, self._now())
        metrics.NOTIFY_ATTEMPTS.labels(d.channel.value, "delivered").inc()

    # --- loops -------------------------------------------------------------------------------

    async def _produce_loop(self) -> None:
        while True:
            try:
                added = await asyncio.to_thread(self.produce_once)
                if added:
                    log.info("notifications enqueued: %d", added)
                await asyncio.to_thread(self.update_metrics)
            except DBAPIError as exc:
                log.warning("notification producer postponed: %s", exc)
            except Exception:
                # A defect here must not end the coordinator it runs in (ingest,
                # clearing, minting share its task group): say so, and try again.
                log.exception("notification producer failed; retrying")
                metrics.NOTIFY_FAILURES.labels("producer").inc()
            await asyncio.sleep(self._interval_s)

    async def _deliver_loop(self) -> None:
        while True:
            try:
                while await self.deliver_once():
                    pass
            except DBAPIError as exc:
                log.warning("notification deliveries postponed: %s", exc)
            except Exception:
                log.exception("notification deliveries failed; retrying")
                metrics.NOTIFY_FAILURES.labels("deliveries").inc()
            await asyncio.sleep(self._interval_s)

    async def run(self) -> None:
        """Produce and deliver until cancelled."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._produce_loop(), name="notify-producer")
            tg.create_task(self._deliver_loop(), name="notify-deliveries")

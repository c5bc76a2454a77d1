"""The notifications' tables: subscriptions, the outbox, the producer's position.

The outbox is claimed with a lease: on PostgreSQL `FOR UPDATE SKIP LOCKED` lets
any number of workers take disjoint rows; SQLite (one writer at a time) runs the
same conditional update. Claiming counts an attempt, so a message that crashes
its worker every time is still parked after `max_attempts`. A worker that dies
after sending and before marking leaves the lease to expire: the row is sent
again, under the same key (the webhook's `X-GTX-Delivery`, the email's
Message-ID) for the receiver to drop.
"""

import datetime as dt
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from coordinator.db.models import NotifyCursor, NotifyOutbox, NotifySeen, NotifySubscription
from coordinator.notify.events import Channel, Delivery, Event, Kind, Subscription

__all__ = [
    "DeliveryRow",
    "OutboxStatus",
    "SqlNotifyStore",
    "StoredSubscription",
    "new_secret",
]

_OUTBOX = cast(Table, NotifyOutbox.__table__)
_SEEN = cast(Table, NotifySeen.__table__)
_SUBS = cast(Table, NotifySubscription.__table__)
_CURSORS = cast(Table, NotifyCursor.__table__)


class OutboxStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    PARKED = "parked"
    DROPPED = "dropped"
    ALL = (PENDING, DELIVERED, PARKED, DROPPED)


def new_secret() -> str:
    """A webhook signing secret: 32 random bytes, URL-safe base64, `whsec_` first
    so it is recognisable where it should not be (a log, a commit)."""
    return "whsec_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    subscription: Subscription
    webhook_secret: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """An outbox row as the worker and the history read it."""

    id: int
    delivery: Delivery
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _kinds(text: str) -> frozenset[Kind]:
    known = {k.value for k in Kind}
    return frozenset(Kind(k) for k in text.split(",") if k in known)


def _row_delivery(row: Any) -> DeliveryRow:
    doc = json.loads(row.event)
    event = Event(Kind(row.kind), row.event_id, row.user, int(doc["at"]), doc.get("facts", {}))
    return DeliveryRow(
        id=row.id,
        delivery=Delivery(row.key, event, Channel(row.channel)),
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=_utc(row.next_attempt_at),
        last_error=row.last_error,
        created_at=_utc(row.created_at),
        delivered_at=None if row.delivered_at is None else _utc(row.delivered_at),
    )


class SqlNotifyStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # --- subscriptions -------------------------------------------------------------

    def subscription(self, user: str) -> StoredSubscription | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(NotifySubscription).where(NotifySubscription.user == user)
            ).first()
        return None if row is None else self._stored(row)

    @staticmethod
    def _stored(row: Any) -> StoredSubscription:
        created = _utc(row.created_at)
        sub = Subscription(
            user=row.user,
            email=row.email,
            webhook_url=row.webhook_url,
            kinds=_kinds(row.kinds),
            since=int(created.timestamp()),
        )
        return StoredSubscription(sub, row.webhook_secret, created, _utc(row.updated_at))

    def subscriptions(self, conn: Connection, users: Iterable[str]) -> dict[str, Subscription]:
        wanted = sorted(set(users))
        found: dict[str, Subscription] = {}
        for start in range(0, len(wanted), 500):
            rows = conn.execute(
                select(NotifySubscription).where(
                    NotifySubscription.user.in_(wanted[start : start + 500])
                )
            ).all()
            for row in rows:
                found[row.user] = self._stored(row).subscription
        return found

    def save_subscription(
        self,
        user: str,
        email: str | None,
        webhook_url: str | None,
        kinds: Iterable[Kind],
        now: dt.datetime,
        *,
        rotate_secret: bool = False,
    ) -> str | None:
        """Create or replace the user's opt-in. Returns a new webhook secret when one
        was made (a first webhook URL, or `rotate_secret`): shown to the user once.
        Removing the webhook URL forgets the secret. Pending deliveries on a channel
        the user no longer has are dropped."""
        text = ",".join(sorted(k.value for k in kinds))
        with self._engine.begin() as conn:
            row = conn.execute(
                select(NotifySubscription).where(NotifySubscription.user == user).with_for_update()
            ).first()
            secret = None if row is None else row.webhook_secret
            made = None
            if webhook_url is None:
                secret = None
            elif secret is None or rotate_secret:
                secret = made = new_secret()
            values = {
                "email": email,
                "webhook_url": webhook_url,
                "webhook_secret": secret,
                "kinds": text,
                "updated_at": now,
            }
            if row is None:
                conn.execute(_SUBS.insert().values(user=user, created_at=now, **values))
            else:
                conn.execute(update(_SUBS).where(_SUBS.c.user == user).values(**values))
            gone = [
                ch.value
                for ch, there in ((Channel.EMAIL, email), (Channel.WEBHOOK, webhook_url))
                if not there
            ]
            if gone:
                conn.execute(
                    update(_OUTBOX)
                    .where(
                        _OUTBOX.c.user == user,
                        _OUTBOX.c.status == OutboxStatus.PENDING,
                        _OUTBOX.c.channel.in_(gone),
                    )
                    .values(status=OutboxStatus.DROPPED, last_error="unsubscribed")
                )
        return made

    def rotate_secret(self, user: str, now: dt.datetime) -> str | None:
        """A new webhook secret for the user (None: no webhook URL on record)."""
        with self._engine.begin() as conn:
            found = conn.execute(
                update(NotifySubscription)
                .where(NotifySubscription.user == user, NotifySubscription.webhook_url.is_not(None))
                .values(webhook_secret=(secret := new_secret()), updated_at=now)
            )
        return secret if found.rowcount else None

    def delete_subscription(self, user: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(NotifySubscription).where(NotifySubscription.user == user))
            conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.user == user, _OUTBOX.c.status == OutboxStatus.PENDING)
                .values(status=OutboxStatus.DROPPED, last_error="unsubscribed")
            )

    # --- the outbox ----------------------------------------------------------------

    @staticmethod
    def enqueue(conn: Connection, deliveries: Sequence[Delivery], now: dt.datetime) -> int:
        """Add deliveries in the caller's transaction; a key already there is left
        as it is (an event planned twice is delivered once). Returns rows added."""
        if not deliveries:
            return 0
        rows = [
            {
                "key": d.key,
                "user": d.event.user,
                "kind": d.event.kind.value,
                "event_id": d.event.event_id,
                "channel": d.channel.value,
                "event": json.dumps(
                    {"at": d.event.at, "facts": dict(d.event.facts)}, sort_keys=True
                ),
                "status": OutboxStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for d in deliveries
        ]
        dialect = conn.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_OUTBOX)
        added = conn.execute(
            ins.on_conflict_do_nothing(index_elements=["key"]).returning(_OUTBOX.c.id), rows
        )
        return len(added.all())

    def enqueue_now(self, deliveries: Sequence[Delivery], now: dt.datetime) -> int:
        with self._engine.begin() as conn:
            return self.enqueue(conn, deliveries, now)

    def claim(self, now: dt.datetime, lease_s: float, limit: int = 20) -> list[DeliveryRow]:
        """Take up to `limit` due deliveries for `lease_s` seconds, counting an attempt."""
        due = and_(
            _OUTBOX.c.status == OutboxStatus.PENDING,
            _OUTBOX.c.next_attempt_at <= now,
            or_(_OUTBOX.c.lease_until.is_(None), _OUTBOX.c.lease_until <= now),
        )
        until = now + dt.timedelta(seconds=lease_s)
        with self._engine.begin() as conn:
            pick = select(_OUTBOX.c.id).where(due).order_by(_OUTBOX.c.id).limit(limit)
            if conn.dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            # A materialized CTE is picked once: as a subquery beside the update,
            # PostgreSQL may run it again per row, and a re-run skips the rows this
            # statement has just locked, taking `limit` more each time.
            picked = pick.cte("picked").prefix_with("MATERIALIZED")
            # The condition is repeated in the update: on SQLite, another writer may
            # have claimed a row between the select and here.
            rows = conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id.in_(select(picked.c.id)), due)
                .values(lease_until=until, attempts=_OUTBOX.c.attempts + 1)
                .returning(*_OUTBOX.c)
            ).all()
        return sorted((_row_delivery(r) for r in rows), key=lambda r: r.id)

    def delivered(self, row_id: int, now: dt.datetime) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == row_id, _OUTBOX.c.status == OutboxStatus.PENDING)
                .values(status=OutboxStatus.DELIVERED, delivered_at=now, lease_until=None,
                        last_error=None)
            )  # fmt: skip

    def failed(self, row_id: int, error: str, retry_at: dt.datetime | None) -> None:
        """A failed attempt: due again at `retry_at`, or parked (None)."""
        values: dict[str, object] = {"last_error": error[:2000], "lease_until": None}
        if retry_at is None:
            values["status"] = OutboxStatus.PARKED
        else:
            values["next_attempt_at"] = retry_at
        with self._engine.begin() as conn:
            conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == row_id, _OUTBOX.c.status == OutboxStatus.PENDING)
                .values(**values)
            )

    def dropped(self, row_id: int, why: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(_OUTBOX)
                .where(_OUTBOX.c.id == row_id, _OUTBOX.c.status == OutboxStatus.PENDING)
                .values(status=OutboxStatus.DROPPED, last_error=why, lease_until=None)
            )

    def retry_parked(self, now: dt.datetime, user: str | None = None) -> int:
        """Operators: make parked deliveries due now with a fresh count of attempts."""
        cond = [_OUTBOX.c.status == OutboxStatus.PARKED]
        if user is not None:
            cond.append(_OUTBOX.c.user == user)
        with self._engine.begin() as conn:
            result = conn.execute(
                update(_OUTBOX)
                .where(*cond)
                .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now)
            )
        return result.rowcount

    def purge(self, before: dt.datetime) -> int:
        """Delete delivered and dropped rows last due before `before`. Keys are needed
        only while the producer may read their event again (its overlap), so a
        retention of days keeps every guarantee."""
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(_OUTBOX).where(
                    _OUTBOX.c.status.in_((OutboxStatus.DELIVERED, OutboxStatus.DROPPED)),
                    _OUTBOX.c.next_attempt_at < before,
                )
            )
        return result.rowcount

    def history(self, user: str, limit: int) -> list[DeliveryRow]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_OUTBOX)
                .where(_OUTBOX.c.user == user)
                .order_by(_OUTBOX.c.id.desc())
                .limit(limit)
            ).all()
        return [_row_delivery(r) for r in rows]

    def backlog(self, now: dt.datetime) -> tuple[dict[str, int], float]:
        """Rows per status, and the age in seconds of the oldest pending one (0: none)."""
        with self._engine.connect() as conn:
            counts = {s: 0 for s in OutboxStatus.ALL}
            for status, n in conn.execute(
                select(_OUTBOX.c.status, func.count()).group_by(_OUTBOX.c.status)
            ).all():
                counts[status] = n
            oldest = conn.execute(
                select(func.min(_OUTBOX.c.created_at)).where(
                    _OUTBOX.c.status == OutboxStatus.PENDING
                )
            ).scalar()
        age = 0.0 if oldest is None else max((now - _utc(oldest)).total_seconds(), 0.0)
        return counts, age

    def parked(self, limit: int = 20) -> list[DeliveryRow]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(_OUTBOX)
                .where(_OUTBOX.c.status == OutboxStatus.PARKED)
                .order_by(_OUTBOX.c.id.desc())
                .limit(limit)
            ).all()
        return [_row_delivery(r) for r in rows]

    # --- the producer's position -------------------------------------------------------

    @staticmethod
    def cursor(conn: Connection, source: str) -> int | None:
        return conn.execute(
            select(NotifyCursor.position).where(NotifyCursor.source == source)
        ).scalar()

    @staticmethod
    def set_cursor(conn: Connection, source: str, position: int) -> None:
        dialect = conn.dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_CURSORS)
        conn.execute(
            ins.values(source=source, position=position).on_conflict_do_update(
                index_elements=["source"], set_={"position": position}
            )
        )

    @staticmethod
    def unseen(conn: Connection, source: str, items: Iterable[str]) -> list[str]:
        """Of `items`, those not seen before; records them as seen."""
        wanted = sorted(set(items))
        if not wanted:
            return []
        seen = set(
            conn.execute(
                select(_SEEN.c.item).where(_SEEN.c.source == source, _SEEN.c.item.in_(wanted))
            ).scalars()
        )
        new = [i for i in wanted if i not in seen]
        if new:
            conn.execute(_SEEN.insert(), [{"source": source, "item": i} for i in new])
        return new

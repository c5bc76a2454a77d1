"""What happened, to whom, and who is told: pure values and one decision.

An `Event` is one thing a user may be told about, named by its kind and an id
that is stable wherever it is read again (an order id, an epoch and match index,
an epoch and owner, a gateway and the moment it was last heard). `plan` turns
one event and the user's subscription into one `Delivery` per opted-in channel,
each named by `delivery_key`: the same event planned twice yields the same keys,
and the outbox keeps one row per key, so a user is told once.
"""

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "KINDS",
    "Channel",
    "Delivery",
    "Event",
    "Kind",
    "Subscription",
    "delivery_key",
    "plan",
]


class Kind(enum.StrEnum):
    ORDER_EXCLUDED = "order_excluded"
    TRADE_SETTLED = "trade_settled"
    ENERGY_MINTED = "energy_minted"
    GATEWAY_SILENT = "gateway_silent"
    GATEWAY_REVOKED = "gateway_revoked"
    TEST = "test"


KINDS = tuple(k for k in Kind if k is not Kind.TEST)
"""The kinds a user may opt in to (a test message is sent on request only)."""


class Channel(enum.StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


Fact = str | int | None


@dataclass(frozen=True, slots=True)
class Event:
    """`user` (a wallet) is told that `kind` happened at `at` (Unix seconds);
    `facts` are what the message says (JSON-safe values only)."""

    kind: Kind
    event_id: str
    user: str
    at: int
    facts: Mapping[str, Fact] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A user's opt-in: where to (either may be None) and for which kinds. Events
    from before `since` (Unix seconds, when the user subscribed) are not sent."""

    user: str
    email: str | None
    webhook_url: str | None
    kinds: frozenset[Kind]
    since: int = 0

    def channels(self) -> list[Channel]:
        found = []
        if self.email:
            found.append(Channel.EMAIL)
        if self.webhook_url:
            found.append(Channel.WEBHOOK)
        return found


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message of one event on one channel, as the outbox keeps it."""

    key: str
    event: Event
    channel: Channel


def delivery_key(user: str, kind: Kind | str, event_id: str, channel: Channel | str) -> str:
    """The idempotency key of (user, kind, event id, channel): 32 hex digits of a
    SHA-256 over the four, newline-separated (none of them holds a newline)."""
    text = "\n".join((user, str(kind), event_id, str(channel)))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def plan(event: Event, subscription: Subscription | None) -> list[Delivery]:
    """The deliveries `event` owes `subscription`'s user: one per channel, if the
    user opted in to the kind (a test always) and subscribed before it happened."""
    if subscription is None or subscription.user != event.user:
        return []
    wanted = event.kind in subscription.kinds and event.at >= subscription.since
    if event.kind is not Kind.TEST and not wanted:
        return []
    return [
        Delivery(delivery_key(event.user, event.kind, event.event_id, ch), event, ch)
        for ch in subscription.channels()
    ]

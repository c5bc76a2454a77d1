"""The words and bytes of a notification: the plain-text email, the webhook body and
its signature. Pure: the same delivery always renders the same bytes, so a resend
after a crash is the same message under the same idempotency key.

Webhook signature (docs/protocol.md, "Notification webhooks"): the header
`X-GTX-Signature: t=<unix seconds>,v1=<hex>` where hex is HMAC-SHA256, keyed
with the user's webhook secret (its UTF-8 bytes), over `<t>.` followed by the
body. The timestamp is signed so a captured request cannot be replayed later
than the receiver's tolerance; the delivery key (`X-GTX-Delivery`) lets a
receiver drop a message it has already taken.
"""

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping

from coordinator.notify.events import Delivery, Event, Fact, Kind

__all__ = [
    "SIGNATURE_TOLERANCE_S",
    "Email",
    "amount",
    "email_for",
    "sign",
    "verify",
    "webhook_body",
    "webhook_headers",
]

SIGNATURE_TOLERANCE_S = 300
"""How far a receiver should accept a signature's timestamp from its own clock."""


def amount(base_units: int, decimals: int) -> str:
    """Base units as a decimal number with every decimal the token has (a tiny
    quantity is not rounded to 0)."""
    sign_ = "-" if base_units < 0 else ""
    whole, frac = divmod(abs(base_units), 10**decimals)
    text = f"{whole}.{frac:0{decimals}d}".rstrip("0").rstrip(".") if decimals else str(whole)
    return sign_ + text


def _utc(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _f(facts: Mapping[str, Fact], name: str) -> str:
    value = facts.get(name)
    return "unknown" if value is None else str(value)


def _words(event: Event) -> tuple[str, list[str]]:
    """Subject and paragraphs for each kind, in plain words."""
    f = event.facts
    if event.kind is Kind.ORDER_EXCLUDED:
        return (
            f"Your {_f(f, 'side')} order for epoch {_f(f, 'epoch_span')} was left out",
            [
                f"Your {_f(f, 'side')} order {_f(f, 'order_id')} of {_f(f, 'quantity_kwh')} kWh "
                f"at a limit of {_f(f, 'limit_price_credits')} credits per kWh, for the "
                f"delivery epoch {_f(f, 'epoch_span')}, took no part in the clearing.",
                f"Why: {_f(f, 'reason_text')}.",
                "Nothing was traded or taken from your accounts for this order. You can "
                "place it again for a coming epoch from the dashboard.",
            ],
        )
    if event.kind is Kind.TRADE_SETTLED:
        bought = f.get("role") == "buyer"
        verb, other = ("bought", "from") if bought else ("sold", "to")
        return (
            f"Trade settled: you {verb} {_f(f, 'quantity_kwh')} kWh (epoch {_f(f, 'epoch_span')})",
            [
                f"You {verb} {_f(f, 'quantity_kwh')} kWh {other} {_f(f, 'counterparty')} at "
                f"{_f(f, 'price_credits')} credits per kWh, {_f(f, 'payment_credits')} credits "
                f"in all, for the delivery epoch {_f(f, 'epoch_span')}.",
                f"The energy tokens and the payment moved together in ledger transaction "
                f"{_f(f, 'signature')}.",
            ],
        )
    if event.kind is Kind.ENERGY_MINTED:
        return (
            f"{_f(f, 'energy_kwh')} kWh of your exported energy minted "
            f"(epoch {_f(f, 'epoch_span')})",
            [
                f"The energy your meters exported in the epoch {_f(f, 'epoch_span')}, "
                f"{_f(f, 'energy_kwh')} kWh, was minted to you as energy tokens in ledger "
                f"transaction {_f(f, 'signature')}.",
                "You can offer it for sale from the dashboard.",
            ],
        )
    if event.kind is Kind.GATEWAY_SILENT:
        return (
            f"Gateway {_f(f, 'gateway_id')} has gone silent",
            [
                f"Your gateway {_f(f, 'gateway_id')} has sent no reading since "
                f"{_f(f, 'last_seen')} ({_f(f, 'silent_minutes')} minutes), about "
                f"{_f(f, 'missed_polls')} readings overdue.",
                "Its meters' energy is not counted while it is silent; readings it still "
                "holds are counted once it reconnects. Check that it has power and network, "
                "or ask your installer.",
            ],
        )
    if event.kind is Kind.GATEWAY_REVOKED:
        return (
            f"Gateway {_f(f, 'gateway_id')} was revoked",
            [
                f"Your gateway {_f(f, 'gateway_id')} was revoked by an operator on "
                f"{_f(f, 'revoked_at')}. Its readings are refused from now on, so its "
                "meters' energy is no longer counted or minted.",
                "If you did not expect this, contact the campus energy office.",
            ],
        )
    return (
        "Test notification",
        [
            "This is a test notification you asked for from the dashboard. If you read "
            "it, this channel works.",
        ],
    )


def _footer(event: Event, key: str) -> list[str]:
    return [
        "--",
        f"What: {event.kind.value}, {event.event_id}, at {_utc(event.at)}.",
        f"Delivery id: {key}",
        "You receive this because you opted in to notifications on the GridTokenX "
        "dashboard (Notifications); change or stop them there.",
    ]


class Email:
    """A plain-text email: subject, body and the Message-ID derived from the key."""

    __slots__ = ("body", "message_id", "subject")

    def __init__(self, subject: str, body: str, message_id: str) -> None:
        self.subject, self.body, self.message_id = subject, body, message_id


def email_for(delivery: Delivery, domain: str) -> Email:
    """The email of `delivery`; its Message-ID is `<key@domain>`, the same on a
    resend, so a mail system that keeps Message-IDs shows one message."""
    subject, paragraphs = _words(delivery.event)
    footer = "\n".join(_footer(delivery.event, delivery.key))
    body = "Hello,\n\n" + "\n\n".join([*paragraphs, footer])
    return Email("GridTokenX: " + subject, body + "\n", f"<{delivery.key}@{domain}>")


def webhook_body(delivery: Delivery) -> bytes:
    """The webhook's JSON body: canonical (sorted keys, no spaces, UTF-8), so it is the
    same bytes on every attempt."""
    event = delivery.event
    subject, _ = _words(event)
    doc = {
        "id": delivery.key,
        "kind": event.kind.value,
        "event_id": event.event_id,
        "user": event.user,
        "occurred_at": event.at,
        "summary": subject,
        "data": dict(event.facts),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-GTX-Signature` header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, now: int, tolerance_s: int = SIGNATURE_TOLERANCE_S
) -> bool:
    """What a receiver does: the signature matches and its time is within tolerance."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def webhook_headers(delivery: Delivery, secret: str, timestamp: int) -> dict[str, str]:
    """The headers a webhook request carries besides the content type."""
    return {
        "X-GTX-Delivery": delivery.key,
        "X-GTX-Event": delivery.event.kind.value,
        "X-GTX-Signature": sign(secret, timestamp, webhook_body(delivery)),
    }

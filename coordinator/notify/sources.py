"""Where the events are read: what the market, the minting and the registry have
recorded, turned into `Event`s for the users they concern.

Each timed source is read from a position (Unix seconds of the last row it
saw) minus an overlap, so a row committed late with an earlier time is still
read; reading a row twice plans the same deliveries, which the outbox keeps
once. Revocations have no time of their own: the revoked gateways already seen
are remembered (`notify_seen`). Silence is the alert rule's
(`coordinator.ops.alerts.rules.silent_gateways`), one event per silent spell.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from coordinator.api.reasons import describe
from coordinator.db.models import (
    BrokerCredential,
    ClearingRecord,
    Device,
    DeviceStatus,
    EnrolmentToken,
    MarketOrder,
    MatchRow,
    Meter,
    MintGrant,
)
from coordinator.notify.events import Event, Kind
from coordinator.notify.messages import amount
from coordinator.ops.alerts.rules import GatewaySeen, silent_gateways
from coordinator.readings.oracle import epoch_span
from programs.roles.token import ENERGY_DECIMALS, PAYMENT_DECIMALS
from wire.base58 import b58encode

__all__ = ["Found", "excluded_orders", "minted_energy", "revoked_gateways", "settled_trades",
           "silent_owned_gateways"]  # fmt: skip

_MATCHES = cast(Table, MatchRow.__table__)


@dataclass(frozen=True, slots=True)
class Found:
    """Events read from a source, and the position to read from next time."""

    events: list[Event]
    position: int


def _ts(value: dt.datetime) -> int:
    return int((value if value.tzinfo else value.replace(tzinfo=dt.UTC)).timestamp())


def _utc_text(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _at(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def excluded_orders(conn: Connection, since: int, position: int, length_s: int) -> Found:
    """Orders the clearing left out, with their reason in the dashboard's words."""
    rows = conn.execute(
        select(MarketOrder)
        .where(MarketOrder.status == "excluded", MarketOrder.updated_at > _at(since))
        .order_by(MarketOrder.seq)
    ).all()
    events = []
    for o in rows:
        at = _ts(o.updated_at)
        position = max(position, at)
        events.append(
            Event(
                Kind.ORDER_EXCLUDED,
                o.order_id,
                o.owner,
                at,
                {
                    "order_id": o.order_id,
                    "side": o.side,
                    "epoch": o.epoch,
                    "epoch_span": epoch_span(o.epoch, length_s),
                    "quantity": o.quantity,
                    "quantity_kwh": amount(o.quantity, ENERGY_DECIMALS),
                    "limit_price": o.limit_price,
                    "limit_price_credits": amount(o.limit_price, PAYMENT_DECIMALS),
                    "reason": o.reason,
                    "reason_text": describe(o.reason, o.side) or "no reason was recorded",
                },
            )
        )
    return Found(events, position)


def settled_trades(conn: Connection, since: int, position: int, length_s: int) -> Found:
    """The settled matches of every epoch whose settlement finished: one event for
    the buyer, one for the seller."""
    epochs = conn.execute(
        select(ClearingRecord.epoch, ClearingRecord.settled_at).where(
            ClearingRecord.settled_at > _at(since), ClearingRecord.match_count > 0
        )
    ).all()
    events = []
    for epoch, settled_at in sorted(epochs):
        at = _ts(settled_at) if settled_at is not None else since
        position = max(position, at)
        matches = conn.execute(
            select(_MATCHES)
            .where(_MATCHES.c.epoch == epoch, _MATCHES.c.status == "settled")
            .order_by(_MATCHES.c.idx)
        ).all()
        for m in matches:
            common = {
                "epoch": epoch,
                "epoch_span": epoch_span(epoch, length_s),
                "quantity": m.quantity,
                "quantity_kwh": amount(m.quantity, ENERGY_DECIMALS),
                "price": m.price,
                "price_credits": amount(m.price, PAYMENT_DECIMALS),
                "payment": m.payment,
                "payment_credits": amount(m.payment, PAYMENT_DECIMALS),
                "signature": None if m.signature is None else b58encode(m.signature),
            }
            for role, user, other, order in (
                ("buyer", m.buyer, m.seller, m.buy_order_id),
                ("seller", m.seller, m.buyer, m.sell_order_id),
            ):
                facts = {**common, "role": role, "counterparty": other, "order_id": order}
                events.append(Event(Kind.TRADE_SETTLED, f"{epoch}:{m.idx}:{role}", user, at,
                                    facts))  # fmt: skip
    return Found(events, position)


def minted_energy(conn: Connection, since: int, position: int, length_s: int) -> Found:
    """Each owner's energy of an epoch once it is minted (withheld energy too, when
    it is minted at last)."""
    rows = conn.execute(
        select(MintGrant).where(MintGrant.status == "minted", MintGrant.updated_at > _at(since))
    ).all()
    events = []
    for g in rows:
        at = _ts(g.updated_at)
        position = max(position, at)
        events.append(
            Event(
                Kind.ENERGY_MINTED,
                f"{g.epoch}:{g.owner}",
                g.owner,
                at,
                {
                    "epoch": g.epoch,
                    "epoch_span": epoch_span(g.epoch, length_s),
                    "energy": g.base_units,
                    "energy_kwh": amount(g.base_units, ENERGY_DECIMALS),
                    "signature": g.signature,
                },
            )
        )
    return Found(events, position)


def gateway_owners(conn: Connection, gateway_ids: Iterable[str]) -> dict[str, set[str]]:
    """Each gateway's owners: its meters' owner wallets, and the wallet its
    enrolment token was issued to."""
    ids = sorted(set(gateway_ids))
    owners: dict[str, set[str]] = {g: set() for g in ids}
    if not ids:
        return owners
    for gateway_id, owner in conn.execute(
        select(Meter.gateway_id, Meter.owner).where(
            Meter.gateway_id.in_(ids), Meter.owner.is_not(None)
        )
    ).all():
        if owner is not None:
            owners[gateway_id].add(owner)
    for used_by, owner in conn.execute(
        select(EnrolmentToken.used_by, EnrolmentToken.owner).where(EnrolmentToken.used_by.in_(ids))
    ).all():
        if used_by is not None:
            owners[used_by].add(owner)
    return owners


def revoked_gateways(conn: Connection, unseen: list[str], now: int) -> list[Event]:
    """Events for gateways newly seen revoked (`unseen`), one per owner; when the
    broker account was disabled is the time of revocation where known."""
    owners = gateway_owners(conn, unseen)
    events = []
    for gateway_id in unseen:
        revoked_at = conn.execute(
            select(BrokerCredential.revoked_at)
            .where(BrokerCredential.gateway_id == gateway_id)
            .order_by(BrokerCredential.revoked_at.desc())
        ).scalar()
        at = now if revoked_at is None else _ts(revoked_at)
        for owner in sorted(owners[gateway_id]):
            events.append(
                Event(Kind.GATEWAY_REVOKED, gateway_id, owner, at,
                      {"gateway_id": gateway_id, "revoked_at": _utc_text(at)})
            )  # fmt: skip
    return events


def revoked_ids(conn: Connection) -> list[str]:
    return list(
        conn.execute(
            select(Device.gateway_id).where(Device.status == DeviceStatus.REVOKED)
        ).scalars()
    )


def silent_owned_gateways(
    conn: Connection, seen: Iterable[GatewaySeen], now: int, intervals: float, since_s: int = 0
) -> list[Event]:
    """One event per owner per silent spell (the spell is named by when the gateway
    was last heard), as the operators' gateway_silent alert decides it."""
    alerts = silent_gateways(seen, now, intervals, since_s)
    silent = {str(a.details["gateway_id"]): a for a in alerts}
    owners = gateway_owners(conn, silent)
    events = []
    for gateway_id, alert in sorted(silent.items()):
        d = alert.details
        last_seen, silent_s = int(str(d["last_seen"])), int(str(d["silent_s"]))
        poll = max(int(str(d["poll_interval_s"])), 1)
        for owner in sorted(owners[gateway_id]):
            events.append(
                Event(
                    Kind.GATEWAY_SILENT,
                    f"{gateway_id}:{last_seen}",
                    owner,
                    now,
                    {
                        "gateway_id": gateway_id,
                        "last_seen": _utc_text(last_seen),
                        "silent_minutes": silent_s // 60,
                        "missed_polls": silent_s // poll,
                    },
                )
            )
    return events

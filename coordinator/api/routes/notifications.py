"""The signed-in user's notifications: the opt-in, the webhook secret, a test
message and the delivery history (`coordinator.notify`)."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api.deps import (
    USER,
    Clock,
    Principal,
    get_clock,
    get_engine,
    get_settings,
    require_role,
)
from coordinator.api.schemas import (
    NotificationDeliveryOut,
    NotificationSecretOut,
    NotificationsIn,
    NotificationsOut,
    NotificationTestOut,
)
from coordinator.config import Settings
from coordinator.notify.errors import DestinationRefusedError
from coordinator.notify.events import KINDS, Event, Kind, plan
from coordinator.notify.senders import check_webhook_url
from coordinator.notify.store import OutboxStatus, SqlNotifyStore, StoredSubscription
from coordinator.notify.wiring import address_policy

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/me/notifications", tags=["me"])

Me = Annotated[Principal, Depends(require_role(USER))]
Db = Annotated[Engine, Depends(get_engine)]
Config = Annotated[Settings, Depends(get_settings)]
Now = Annotated[Clock, Depends(get_clock)]


def _refused(code: str, message: str) -> HTTPException:
    return HTTPException(422, {"code": code, "message": message})


def _out(settings: Settings, stored: StoredSubscription | None, secret: str | None = None
         ) -> NotificationsOut:  # fmt: skip
    sub = None if stored is None else stored.subscription
    return NotificationsOut(
        email=None if sub is None else sub.email,
        webhook_url=None if sub is None else sub.webhook_url,
        kinds=[] if sub is None else sorted(k.value for k in sub.kinds),
        available_kinds=[k.value for k in KINDS],
        email_available=bool(settings.smtp_host),
        webhook_secret_set=stored is not None and stored.webhook_secret is not None,
        webhook_secret=secret,
    )


@router.get("")
async def get_notifications(principal: Me, engine: Db, settings: Config) -> NotificationsOut:
    stored = await run_in_threadpool(SqlNotifyStore(engine).subscription, principal.subject)
    return _out(settings, stored)


@router.put("")
async def put_notifications(
    body: NotificationsIn, principal: Me, engine: Db, settings: Config, clock: Now
) -> NotificationsOut:
    """Opt in (or change, or stop: no address and no kinds). A first webhook URL
    gets a signing secret, returned in this answer only. The URL is refused if its
    host resolves to an address webhooks may not reach (loopback, private...)."""
    known = {k.value for k in KINDS}
    unknown = sorted(set(body.kinds) - known)
    if unknown:
        raise _refused("unknown_kind", f"unknown kinds {unknown}; known: {sorted(known)}")
    if body.email and not settings.smtp_host:
        raise _refused("email_unavailable", "this coordinator has no SMTP server configured")
    if body.webhook_url:
        try:
            await check_webhook_url(body.webhook_url, address_policy(settings))
        except DestinationRefusedError as exc:
            raise _refused("refused_destination", str(exc)) from exc
    store = SqlNotifyStore(engine)
    secret = await run_in_threadpool(
        store.save_subscription,
        principal.subject,
        body.email or None,
        body.webhook_url or None,
        [Kind(k) for k in body.kinds],
        clock(),
    )
    stored = await run_in_threadpool(store.subscription, principal.subject)
    return _out(settings, stored, secret)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_notifications(principal: Me, engine: Db) -> None:
    """Stop every notification; pending deliveries are dropped."""
    await run_in_threadpool(SqlNotifyStore(engine).delete_subscription, principal.subject)


@router.post("/webhook-secret")
async def rotate_webhook_secret(principal: Me, engine: Db, clock: Now) -> NotificationSecretOut:
    """A new signing secret, returned once; the old one stops at once."""
    secret = await run_in_threadpool(
        SqlNotifyStore(engine).rotate_secret, principal.subject, clock()
    )
    if secret is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, {"code": "no_webhook", "message": "no webhook URL is set"}
        )
    return NotificationSecretOut(webhook_secret=secret)


@router.post("/test", status_code=status.HTTP_202_ACCEPTED)
async def send_test(principal: Me, engine: Db, clock: Now) -> NotificationTestOut:
    """Queue a test message on each of the user's channels; follow it in /deliveries."""
    store = SqlNotifyStore(engine)
    stored = await run_in_threadpool(store.subscription, principal.subject)
    now = clock()
    event = Event(Kind.TEST, "test:" + secrets.token_hex(8), principal.subject,
                  int(now.timestamp()))  # fmt: skip
    deliveries = plan(event, None if stored is None else stored.subscription)
    if not deliveries:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            {"code": "no_channel", "message": "set an email address or a webhook URL first"},
        )
    await run_in_threadpool(store.enqueue_now, deliveries, now)
    return NotificationTestOut(deliveries=[d.key for d in deliveries])


@router.get("/deliveries")
async def deliveries(
    principal: Me, engine: Db, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NotificationDeliveryOut]:
    """The user's last deliveries, newest first, with their status and last error."""
    rows = await run_in_threadpool(SqlNotifyStore(engine).history, principal.subject, limit)
    return [
        NotificationDeliveryOut(
            key=r.delivery.key,
            kind=r.delivery.event.kind.value,
            event_id=r.delivery.event.event_id,
            channel=r.delivery.channel.value,
            status=r.status,
            attempts=r.attempts,
            last_error=r.last_error,
            created_at=r.created_at,
            next_attempt_at=r.next_attempt_at if r.status == OutboxStatus.PENDING else None,
            delivered_at=r.delivered_at,
        )
        for r in rows
    ]

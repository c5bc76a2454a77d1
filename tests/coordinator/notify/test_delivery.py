"""The notification worker end to end on PostgreSQL: events recorded by the market,
the minting and the registry reach a real SMTP server and a local webhook, signed,
once; a worker killed between sending and marking loses nothing and resends only
under the same key; a private address is refused; failures back off and park."""

import asyncio
import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine, Row

from coordinator.db.models import (
    ClearingRecord,
    Device,
    DeviceStatus,
    MarketOrder,
    MatchRow,
    Meter,
    MintGrant,
    NotifyOutbox,
)
from coordinator.notify.events import KINDS, Channel, Delivery, Event, Kind, plan
from coordinator.notify.messages import verify
from coordinator.notify.policy import AddressPolicy, Retry
from coordinator.notify.senders import EmailSender, Sender, SmtpConfig, WebhookSender
from coordinator.notify.store import SqlNotifyStore
from coordinator.notify.worker import NotifyWorker
from coordinator.readings.oracle import epoch_span
from provisioning.keys import Signer
from tests.coordinator.notify.conftest import Mailbox, Receiver
from tests.utils.services import async_wait_until, cancel_and_wait

pytestmark = pytest.mark.services

LENGTH = 900


def wallet() -> str:
    return Signer.generate().address


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def worker(
    engine: Engine,
    senders: dict[Channel, Sender],
    *,
    retry: Retry | None = None,
    lease_s: float = 60.0,
) -> NotifyWorker:
    return NotifyWorker(
        engine,
        senders=senders,
        retry=retry or Retry(base_s=30, cap_s=600, max_attempts=5),
        epoch_length_s=LENGTH,
        lease_s=lease_s,
        silent_check_s=0,
        watching_since=0,  # as if watching for hours: the silent gateway counts
    )


def senders(mailbox_port: int | None, *, private: bool = True) -> dict[Channel, Sender]:
    found: dict[Channel, Sender] = {
        Channel.WEBHOOK: WebhookSender(AddressPolicy(allow_private=private), timeout_s=5)
    }
    if mailbox_port is not None:
        found[Channel.EMAIL] = EmailSender(
            SmtpConfig("127.0.0.1", mailbox_port, security="none", sender="GTX <n@campus.test>")
        )
    return found


def subscribe(engine: Engine, user: str, email: str | None, url: str | None) -> str | None:
    # Subscribed a minute ago: the events below happen after it.
    return SqlNotifyStore(engine).save_subscription(
        user, email, url, KINDS, now() - dt.timedelta(minutes=1)
    )


def record_events(engine: Engine, user: str, other: str) -> str:
    """An excluded order, a minted grant and a settled trade of `user`, a revoked
    gateway and a silent one behind `user`'s meters. Returns the revoked gateway."""
    t = now()
    epoch = int(t.timestamp()) // LENGTH + 5_000 + secrets.randbelow(10**6)
    revoked, silent = wallet(), wallet()
    order = {"owner": user, "epoch": epoch, "quantity": 1_500_000_000, "limit_price": 250_000,
             "created_at": t, "updated_at": t}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(MarketOrder).values(order_id=f"ex-{epoch}", side="buy",
                                                status="excluded", reason="insufficient_escrow",
                                                **order))  # fmt: skip
        conn.execute(
            insert(MintGrant).values(epoch=epoch, owner=user, base_units=2_250_000_000,
                                     status="minted", signature="5igMint", updated_at=t)
        )  # fmt: skip
        conn.execute(
            insert(ClearingRecord).values(
                epoch=epoch, inputs=b"", result=b"", inputs_hash="0" * 64, result_hash="0" * 64,
                pricing="uniform", clearing_price=200_000, volume=10**9, turnover=200_000,
                order_count=2, match_count=1, cleared_at=t, settled_at=t,
            )
        )  # fmt: skip
        conn.execute(
            insert(MatchRow).values(
                epoch=epoch, idx=0, buy_order_id="b", sell_order_id="s", buyer=user,
                seller=other, quantity=10**9, price=200_000, payment=200_000,
                status="settled", signature=bytes(64),
            )
        )  # fmt: skip
        # The revoked one enrolled just now (not silent), the silent one three hours ago.
        for gateway, enrolled in ((revoked, t), (silent, t - dt.timedelta(hours=3))):
            conn.execute(insert(Device).values(gateway_id=gateway, public_key=bytes(32),
                                               created_at=enrolled))  # fmt: skip
            conn.execute(insert(Meter).values(gateway_id=gateway, meter_id="m1", model="sdm630",
                                              rated_power_w=63_000, owner=user))  # fmt: skip
    return revoked


def revoke(engine: Engine, gateway: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Device).where(Device.gateway_id == gateway).values(status=DeviceStatus.REVOKED)
        )


def outbox(engine: Engine, user: str) -> list[Row[Any]]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(NotifyOutbox).where(NotifyOutbox.user == user).order_by(NotifyOutbox.id)
            ).all()
        )


async def drain(w: NotifyWorker, engine: Engine, user: str, count: int) -> None:
    async def done() -> bool:
        await w.deliver_once()
        rows = outbox(engine, user)
        return len(rows) == count and all(r.status == "delivered" for r in rows)

    await async_wait_until(done, within_s=20, what=f"{count} deliveries to {user}")


async def test_every_kind_reaches_email_and_webhook_once_and_signed(
    notify_engine: Engine, mailbox: Mailbox, receiver: Receiver, smtp_port: int
) -> None:
    user, other = wallet(), wallet()
    secret = subscribe(notify_engine, user, "ada@campus.test", receiver.url)
    assert secret is not None
    assert secret.startswith("whsec_")
    w = worker(notify_engine, senders(smtp_port))
    w.produce_once()  # a first start reads from now on
    gateway = record_events(notify_engine, user, other)
    w.produce_once()
    revoke(notify_engine, gateway)
    w.produce_once()
    w.produce_once()  # read again: nothing new
    rows = outbox(notify_engine, user)
    kinds = sorted({(r.kind, r.channel) for r in rows})
    assert kinds == sorted((k.value, c.value) for k in KINDS for c in Channel)
    assert len(rows) == 10

    await drain(w, notify_engine, user, 10)

    # Webhooks: one per kind, signed with the user's secret, keyed as the outbox row.
    hooks = receiver.snapshot()
    assert sorted(receiver.keys()) == sorted(r.key for r in rows if r.channel == "webhook")
    for hook in hooks:
        t = int(hook.headers["x-gtx-signature"].split(",")[0][2:])
        assert verify(secret, hook.headers["x-gtx-signature"], hook.body, now=t)
        assert not verify("whsec_wrong", hook.headers["x-gtx-signature"], hook.body, now=t)
    by_kind = {str(d["kind"]): d for d in receiver.docs()}
    assert by_kind["trade_settled"]["data"]["role"] == "buyer"  # type: ignore[index]
    assert by_kind["trade_settled"]["data"]["counterparty"] == other  # type: ignore[index]
    assert by_kind["order_excluded"]["data"]["reason"] == "insufficient_escrow"  # type: ignore[index]

    # Emails: plain text in words, Message-ID from the key.
    mails = {m["X-GTX-Delivery"]: m for m in mailbox.snapshot()}
    assert sorted(mails) == sorted(r.key for r in rows if r.channel == "email")
    for key, mail in mails.items():
        assert mail["To"] == "ada@campus.test"
        assert mail["Message-ID"] == f"<{key}@campus.test>"
        assert mail.get_content_type() == "text/plain"
    texts = {m["Subject"]: m.get_content() for m in mails.values()}
    excluded = next(body for subject, body in texts.items() if "was left out" in subject)
    assert "Why: not enough credit was approved to cover this order." in excluded
    assert "1.5 kWh at a limit of 0.25 credits per kWh" in excluded
    assert any(f"Gateway {gateway} was revoked" in s for s in texts)
    assert any("2.25 kWh of your exported energy minted" in s for s in texts)
    assert any("has gone silent" in s for s in texts)

    history = SqlNotifyStore(notify_engine).history(user, 50)
    assert {h.status for h in history} == {"delivered"}
    assert {h.attempts for h in history} == {1}


async def test_a_worker_killed_after_sending_loses_nothing_and_resends_under_the_same_key(
    notify_engine: Engine, mailbox: Mailbox, receiver: Receiver, smtp_port: int
) -> None:
    user, other = wallet(), wallet()
    subscribe(notify_engine, user, "bo@campus.test", receiver.url)
    producer = worker(notify_engine, senders(smtp_port))
    producer.produce_once()
    record_events(notify_engine, user, other)
    producer.produce_once()
    rows = outbox(notify_engine, user)
    assert len(rows) == 8  # no revocation here: 4 kinds x 2 channels

    class Killed(BaseException):
        """The process dies: nothing after the send runs."""

    class DieAfterSend:
        def __init__(self, inner: Sender) -> None:
            self.inner = inner

        async def send(self, delivery: Delivery, destination: str, secret: str | None) -> None:
            await self.inner.send(delivery, destination, secret)
            raise Killed

    real = senders(smtp_port)
    doomed = worker(notify_engine, {ch: DieAfterSend(s) for ch, s in real.items()}, lease_s=0.5)
    with pytest.raises(Killed):
        await doomed.deliver_once(limit=3)
    first = rows[0]
    sent_once = receiver.keys() + [m["X-GTX-Delivery"] for m in mailbox.snapshot()]
    assert sent_once == [first.key]
    # Claimed by the dead worker: nothing is marked; the lease runs out and a new
    # worker takes them.
    assert {r.status for r in outbox(notify_engine, user)} == {"pending"}

    restarted = worker(notify_engine, real)
    await drain(restarted, notify_engine, user, 8)
    sent = receiver.keys() + [m["X-GTX-Delivery"] for m in mailbox.snapshot()]
    assert sorted(set(sent)) == sorted(r.key for r in rows)  # nothing lost
    assert sorted(sent) == sorted([first.key] + [r.key for r in rows])  # one resend, same key
    attempts = {r.key: r.attempts for r in outbox(notify_engine, user)}
    assert attempts[first.key] == 2
    assert attempts[rows[1].key] == 2  # claimed by the dead worker, never sent by it
    assert attempts[rows[3].key] == 1


async def test_a_private_webhook_address_is_refused_then_parked(
    notify_engine: Engine, receiver: Receiver
) -> None:
    user = wallet()
    store = SqlNotifyStore(notify_engine)
    subscribe(notify_engine, user, None, receiver.url)

    stored = store.subscription(user)
    assert stored is not None
    test_event = Event(Kind.TEST, "test:refused", user, int(now().timestamp()))
    store.enqueue_now(plan(test_event, stored.subscription), now())
    w = worker(
        notify_engine,
        senders(None, private=False),
        retry=Retry(base_s=300, cap_s=600, max_attempts=2),
    )
    before = now()
    assert await w.deliver_once() == 1
    (row,) = outbox(notify_engine, user)
    assert row.status == "pending"
    assert row.last_error is not None
    assert "127.0.0.1 is a loopback address" in row.last_error
    assert row.next_attempt_at >= before + dt.timedelta(seconds=299)
    assert await w.deliver_once() == 0  # not due yet
    with notify_engine.begin() as conn:
        conn.execute(update(NotifyOutbox).where(NotifyOutbox.id == row.id)
                     .values(next_attempt_at=before))  # fmt: skip
    assert await w.deliver_once() == 1
    (row,) = outbox(notify_engine, user)
    assert (row.status, row.attempts) == ("parked", 2)
    assert receiver.snapshot() == []
    assert [p.delivery.key for p in store.parked(100) if p.delivery.event.user == user] == [row.key]
    assert store.retry_parked(now(), user=user) == 1
    (row,) = outbox(notify_engine, user)
    assert (row.status, row.attempts) == ("pending", 0)
    store.delete_subscription(user)  # unsubscribing drops what is pending
    (row,) = outbox(notify_engine, user)
    assert (row.status, row.last_error) == ("dropped", "unsubscribed")


async def test_a_failing_webhook_is_retried_with_backoff_and_its_error_kept(
    notify_engine: Engine, receiver: Receiver
) -> None:
    user = wallet()
    subscribe(notify_engine, user, None, receiver.url)
    store = SqlNotifyStore(notify_engine)
    stored = store.subscription(user)
    assert stored is not None

    deliveries: Sequence[Delivery] = plan(
        Event(Kind.TEST, "test:500", user, int(now().timestamp())), stored.subscription
    )
    assert store.enqueue_now(deliveries, now()) == 1
    assert store.enqueue_now(deliveries, now()) == 0  # the same event again: one row
    receiver.status = 503
    w = worker(notify_engine, senders(None), retry=Retry(base_s=60, cap_s=600, max_attempts=5))
    assert await w.deliver_once() == 1
    (row,) = outbox(notify_engine, user)
    assert row.status == "pending"
    assert row.last_error is not None
    assert "HTTP 503" in row.last_error
    assert len(receiver.snapshot()) == 1
    counts, oldest = store.backlog(now())
    assert counts["pending"] >= 1
    assert oldest >= 0


async def test_the_running_worker_delivers_what_is_queued(
    notify_engine: Engine, receiver: Receiver
) -> None:
    user = wallet()
    subscribe(notify_engine, user, None, receiver.url)
    store = SqlNotifyStore(notify_engine)
    stored = store.subscription(user)
    assert stored is not None
    w = NotifyWorker(
        notify_engine,
        senders=senders(None),
        retry=Retry(),
        epoch_length_s=LENGTH,
        interval_s=0.05,
    )
    task = asyncio.create_task(w.run(), name="notify-under-test")
    try:
        (d,) = plan(Event(Kind.TEST, "test:run", user, int(now().timestamp())), stored.subscription)
        store.enqueue_now([d], now())
        await async_wait_until(lambda: receiver.keys() == [d.key], within_s=10, what="delivery")
        await async_wait_until(
            lambda: [r.status for r in outbox(notify_engine, user)] == ["delivered"],
            within_s=10,
            what="marked delivered",
        )
    finally:
        await cancel_and_wait(task)


async def test_a_failing_producer_never_ends_the_worker(
    notify_engine: Engine, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worker shares the coordinator's task group: an unexpected error in a
    # source (here, as once, an epoch beyond the calendar's years) must not end it.
    user = wallet()
    subscribe(notify_engine, user, None, receiver.url)
    store = SqlNotifyStore(notify_engine)
    stored = store.subscription(user)
    assert stored is not None
    w = NotifyWorker(notify_engine, senders=senders(None), retry=Retry(), epoch_length_s=LENGTH,
                     interval_s=0.05)  # fmt: skip
    calls = [0]

    def broken() -> int:
        calls[0] += 1
        raise ValueError("year 28245 is out of range")

    monkeypatch.setattr(w, "produce_once", broken)
    before = _producer_failures()
    task = asyncio.create_task(w.run(), name="notify-under-test")
    try:
        await async_wait_until(lambda: calls[0] >= 2, within_s=10, what="a second attempt")
        assert not task.done()
        (d,) = plan(
            Event(Kind.TEST, "test:fail", user, int(now().timestamp())), stored.subscription
        )
        store.enqueue_now([d], now())
        await async_wait_until(lambda: receiver.keys() == [d.key], within_s=10, what="delivery")
        assert _producer_failures() >= before + 2
    finally:
        await cancel_and_wait(task)


def _producer_failures() -> float:
    value = REGISTRY.get_sample_value("gtx_notify_loop_failures_total", {"loop": "producer"})
    return value or 0.0


def test_an_order_for_an_epoch_beyond_the_calendar_is_described_by_its_number() -> None:
    assert epoch_span(10**12, LENGTH) == f"epoch {10**12}"


def test_a_worker_just_started_gives_gateways_time_before_calling_them_silent(
    notify_engine: Engine,
) -> None:
    user, other = wallet(), wallet()
    subscribe(notify_engine, user, None, "https://93.184.216.34/h")
    fresh = NotifyWorker(notify_engine, senders={}, retry=Retry(), epoch_length_s=LENGTH,
                         silent_check_s=0)  # fmt: skip
    fresh.produce_once()
    record_events(notify_engine, user, other)
    fresh.produce_once()
    kinds = {r.kind for r in outbox(notify_engine, user)}
    assert "gateway_silent" not in kinds
    assert "order_excluded" in kinds
    watching = worker(notify_engine, {})  # watching for hours: now it is silent
    watching.produce_once()
    assert "gateway_silent" in {r.kind for r in outbox(notify_engine, user)}
    store = SqlNotifyStore(notify_engine)
    store.delete_subscription(user)  # leave nothing due for the other tests

    watching.update_metrics()
    counts, _ = store.backlog(now())
    assert (
        REGISTRY.get_sample_value("gtx_notify_outbox", {"status": "dropped"}) == counts["dropped"]
    )
    assert REGISTRY.get_sample_value("gtx_notify_oldest_pending_seconds") is not None

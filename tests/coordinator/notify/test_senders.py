"""The webhook sender against a local receiver: it connects to the address it
checked (the name kept in Host), so a name that resolves to a refused address at
delivery time (DNS rebinding) is refused then; and the outbox on SQLite."""

import datetime as dt
import ipaddress
from pathlib import Path

import pytest

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.notify.errors import DeliveryError, DestinationRefusedError
from coordinator.notify.events import KINDS, Channel, Delivery, Event, Kind, Subscription, plan
from coordinator.notify.messages import verify
from coordinator.notify.policy import AddressPolicy, IpAddress, Retry
from coordinator.notify.senders import Resolve, WebhookSender, check_webhook_url
from coordinator.notify.store import SqlNotifyStore
from coordinator.notify.worker import NotifyWorker
from tests.coordinator.notify.conftest import Receiver

USER = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"


def resolver(answers: dict[str, list[str]]) -> Resolve:
    async def resolve(host: str, port: int) -> list[IpAddress]:
        return [ipaddress.ip_address(a) for a in answers[host]]

    return resolve


def delivery(url: str) -> Delivery:
    sub = Subscription(USER, None, url, frozenset(KINDS))
    (d,) = plan(Event(Kind.TEST, "test:1", USER, 0), sub)
    return d


async def test_the_request_goes_to_the_checked_address_with_the_name_as_host(
    receiver: Receiver,
) -> None:
    url = f"http://hooks.campus.test:{receiver.port}/gtx-hook"
    names = {"hooks.campus.test": ["127.0.0.1"]}
    sender = WebhookSender(AddressPolicy(allow_private=True), resolve=resolver(names))
    d = delivery(url)
    await sender.send(d, url, "whsec_s")
    (hook,) = receiver.snapshot()
    assert hook.headers["host"] == f"hooks.campus.test:{receiver.port}"
    assert hook.path == "/gtx-hook"
    assert hook.headers["x-gtx-delivery"] == d.key
    assert hook.headers["x-gtx-event"] == "test"
    t = int(hook.headers["x-gtx-signature"].split(",")[0][2:])
    assert verify("whsec_s", hook.headers["x-gtx-signature"], hook.body, now=t)


async def test_a_name_that_now_resolves_to_a_private_address_is_refused_at_delivery(
    receiver: Receiver,
) -> None:
    url = f"http://hooks.campus.test:{receiver.port}/gtx-hook"
    names = {"hooks.campus.test": ["93.184.216.34"]}
    await check_webhook_url(url, AddressPolicy(), resolver(names))  # accepted when saved
    names["hooks.campus.test"] = ["93.184.216.34", "127.0.0.1"]  # rebound
    sender = WebhookSender(AddressPolicy(), resolve=resolver(names))
    with pytest.raises(DestinationRefusedError, match="loopback"):
        await sender.send(delivery(url), url, "whsec_s")
    assert receiver.snapshot() == []


async def test_an_unreachable_webhook_is_a_delivery_error() -> None:
    url = "http://hooks.campus.test:9/x"  # discard port: refused at once
    sender = WebhookSender(
        AddressPolicy(allow_private=True),
        resolve=resolver({"hooks.campus.test": ["127.0.0.1"]}),
        timeout_s=2,
    )
    with pytest.raises(DeliveryError, match="unreachable"):
        await sender.send(delivery(url), url, "whsec_s")


async def test_the_outbox_on_sqlite_claims_once_and_parks(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/gtx.sqlite")
    upgrade(engine)
    store = SqlNotifyStore(engine)
    now = dt.datetime.now(dt.UTC)
    store.save_subscription(USER, None, "http://hooks.campus.test:9/x", KINDS, now)
    stored = store.subscription(USER)
    assert stored is not None
    deliveries = [
        d for i in range(3) for d in plan(Event(Kind.TEST, f"t{i}", USER, 0), stored.subscription)
    ]
    assert store.enqueue_now(deliveries, now) == 3
    assert store.enqueue_now(deliveries, now) == 0
    assert [r.delivery.key for r in store.claim(now, 60, 2)] == [d.key for d in deliveries[:2]]
    assert [r.delivery.key for r in store.claim(now, 60, 2)] == [deliveries[2].key]
    assert store.claim(now, 60, 2) == []
    later = now + dt.timedelta(seconds=61)
    assert len(store.claim(later, 60, 10)) == 3  # leases ran out: a dead worker's rows
    worker = NotifyWorker(
        engine,
        senders={Channel.WEBHOOK: WebhookSender(AddressPolicy())},
        retry=Retry(max_attempts=1),
        epoch_length_s=900,
    )
    worker.produce_once()  # the sources read on SQLite too
    store.retry_parked(now)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE notify_outbox SET lease_until = NULL, attempts = 1")
    assert await worker.deliver_once() == 3
    counts, _ = store.backlog(now)
    assert counts["parked"] == 3
    assert all("does not resolve" in (p.last_error or "") or "loopback" in (p.last_error or "")
               for p in store.parked())  # fmt: skip
    engine.dispose()


def test_purge_keeps_what_is_not_finished(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/gtx.sqlite")
    upgrade(engine)
    store = SqlNotifyStore(engine)
    now = dt.datetime.now(dt.UTC)
    store.save_subscription(USER, None, "https://93.184.216.34/h", KINDS, now)
    stored = store.subscription(USER)
    assert stored is not None
    for i in range(4):
        store.enqueue_now(plan(Event(Kind.TEST, f"t{i}", USER, 0), stored.subscription), now)
    delivered, dropped, parked, _pending = store.claim(now, 60, 4)
    store.delivered(delivered.id, now)
    store.dropped(dropped.id, "unsubscribed")
    store.failed(parked.id, "gone", None)
    assert store.purge(now) == 0  # not yet past retention
    assert store.purge(now + dt.timedelta(days=31)) == 2
    counts, _ = store.backlog(now)
    assert counts == {"pending": 1, "delivered": 0, "parked": 1, "dropped": 0}
    engine.dispose()

"""The notifications' pure core: keys, planning, words, signatures, addresses, retries."""

import ipaddress
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from coordinator.config import Settings
from coordinator.notify.errors import DestinationRefusedError
from coordinator.notify.events import KINDS, Channel, Event, Kind, Subscription, delivery_key, plan
from coordinator.notify.messages import amount, email_for, sign, verify, webhook_body
from coordinator.notify.policy import AddressPolicy, Retry, parse_networks, parse_webhook_url

USER = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"

texts = st.text(
    alphabet=st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=30,
)


def sub(**overrides: object) -> Subscription:
    values: dict[str, object] = {
        "user": USER,
        "email": "ada@campus.example",
        "webhook_url": "https://hooks.example/gtx",
        "kinds": frozenset(KINDS),
        "since": 1_000,
    }
    values.update(overrides)
    return Subscription(**values)  # type: ignore[arg-type]


def excluded(at: int = 2_000) -> Event:
    return Event(
        Kind.ORDER_EXCLUDED,
        "ord-1",
        USER,
        at,
        {
            "order_id": "ord-1",
            "side": "buy",
            "epoch_span": "2026-12-04 12:00-12:15 UTC",
            "quantity_kwh": "1.5",
            "limit_price_credits": "0.25",
            "reason": "insufficient_escrow",
            "reason_text": "not enough credit was approved to cover this order",
        },
    )


@given(texts, st.sampled_from(list(Kind)), texts, st.sampled_from(list(Channel)))
def test_a_delivery_key_is_a_function_of_its_four_parts(
    user: str, kind: Kind, event_id: str, channel: Channel
) -> None:
    key = delivery_key(user, kind, event_id, channel)
    assert key == delivery_key(user, kind, event_id, channel)
    assert len(key) == 32
    assert int(key, 16) >= 0
    other = Channel.EMAIL if channel is Channel.WEBHOOK else Channel.WEBHOOK
    assert key != delivery_key(user, kind, event_id, other)
    assert key != delivery_key(user, kind, event_id + "x", channel)


def test_plan_one_delivery_per_channel_and_the_same_keys_twice() -> None:
    first, again = plan(excluded(), sub()), plan(excluded(), sub())
    assert [d.channel for d in first] == [Channel.EMAIL, Channel.WEBHOOK]
    assert [d.key for d in first] == [d.key for d in again]
    assert len({d.key for d in first}) == 2


@pytest.mark.parametrize(
    "subscription",
    [
        None,
        sub(kinds=frozenset({Kind.TRADE_SETTLED})),  # not opted in to the kind
        sub(since=3_000),  # subscribed after it happened
        sub(user="someone-else"),
        sub(email=None, webhook_url=None),  # no channel
    ],
)
def test_plan_tells_no_one_who_did_not_ask(subscription: Subscription | None) -> None:
    assert plan(excluded(), subscription) == []


def test_a_test_event_goes_whatever_the_kinds() -> None:
    event = Event(Kind.TEST, "test:1", USER, 0)
    assert [d.channel for d in plan(event, sub(kinds=frozenset()))] == [
        Channel.EMAIL,
        Channel.WEBHOOK,
    ]


def test_the_email_says_why_in_words_and_carries_the_key() -> None:
    (email_delivery, _) = plan(excluded(), sub())
    mail = email_for(email_delivery, "campus.example")
    assert mail.subject.startswith("GridTokenX: Your buy order for epoch 2026-12-04 12:00-12:15")
    assert "Why: not enough credit was approved to cover this order." in mail.body
    assert "ord-1 of 1.5 kWh at a limit of 0.25 credits per kWh" in mail.body
    assert mail.message_id == f"<{email_delivery.key}@campus.example>"
    assert email_delivery.key in mail.body
    assert "{" not in mail.body
    assert "None" not in mail.body


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_has_words(kind: Kind) -> None:
    (delivery, _) = plan(Event(kind, "x", USER, 5_000), sub())
    mail = email_for(delivery, "d")
    assert kind.value in mail.body
    assert "Hello," in mail.body
    assert len(mail.subject) < 160


def test_the_webhook_body_is_canonical_json() -> None:
    (_, hook) = plan(excluded(), sub())
    body = webhook_body(hook)
    doc = json.loads(body)
    assert doc["id"] == hook.key
    assert doc["kind"] == "order_excluded"
    assert doc["data"]["reason"] == "insufficient_escrow"
    assert body == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    assert webhook_body(hook) == body


def test_signature_vector() -> None:
    """The vector of docs/protocol.md, "Notification webhooks"."""
    secret = "whsec_test-vector-secret"
    body = b'{"id":"0123456789abcdef0123456789abcdef","kind":"test"}'
    header = sign(secret, 1_764_806_400, body)
    assert header == VECTOR_HEADER
    assert verify(secret, header, body, now=1_764_806_400 + 299)


VECTOR_HEADER = "t=1764806400,v1=1e23e72ab25f8d454c92038cc0459c300e2601cd1fb0fd23554a1ccb47f97bbc"


@given(st.binary(max_size=200), st.integers(0, 2**40))
def test_verify_refuses_a_changed_body_a_wrong_secret_or_a_stale_time(body: bytes, ts: int) -> None:
    header = sign("s1", ts, body)
    assert verify("s1", header, body, now=ts)
    assert not verify("s2", header, body, now=ts)
    assert not verify("s1", header, body + b" ", now=ts)
    assert not verify("s1", header, body, now=ts + 301)
    assert not verify("s1", "garbage", body, now=ts)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.10",
        "169.254.169.254",  # cloud metadata
        "fe80::1",
        "fc00::1",
        "224.0.0.1",
        "0.0.0.0",
        "::",
        "240.0.0.1",
        "100.64.0.1",  # shared address space
        "::ffff:127.0.0.1",  # loopback mapped into IPv6
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert AddressPolicy().refusal(ip) is not None
    with pytest.raises(DestinationRefusedError):
        AddressPolicy().check_all([ipaddress.ip_address("93.184.216.34"), ip])
    assert AddressPolicy(allow_private=True).refusal(ip) is None


def test_listed_networks_are_allowed_and_public_addresses_pass() -> None:
    policy = AddressPolicy(allowed=parse_networks("10.1.0.0/16, fd00::/8"))
    assert policy.refusal(ipaddress.ip_address("10.1.9.9")) is None
    assert policy.refusal(ipaddress.ip_address("10.2.0.1")) is not None
    assert AddressPolicy().refusal(ipaddress.ip_address("93.184.216.34")) is None
    with pytest.raises(DestinationRefusedError):
        AddressPolicy().check_all([])


@pytest.mark.parametrize(
    "url",
    ["ftp://x.example/", "https://user:pw@x.example/", "https:///path", "x.example", "http://[::1"],
)
def test_bad_webhook_urls_are_refused(url: str) -> None:
    with pytest.raises(DestinationRefusedError):
        parse_webhook_url(url)


def test_a_webhook_url_names_its_port() -> None:
    assert parse_webhook_url("https://h.example/x").port == 443
    assert parse_webhook_url("http://h.example:8080/x").port == 8080


@given(st.integers(1, 200), st.floats(0.1, 100), st.floats(1, 10_000), st.integers(1, 50))
def test_backoff_grows_to_its_cap_and_parks_at_the_limit(
    attempts: int, base: float, cap: float, limit: int
) -> None:
    retry = Retry(base_s=base, cap_s=cap, max_attempts=limit)
    delay = retry.delay_s(attempts)
    assert 0 < delay <= cap
    assert retry.delay_s(attempts + 1) >= delay
    assert retry.parks(attempts) == (attempts >= limit)


@given(st.integers(-(10**30), 10**30), st.integers(0, 12))
def test_amount_is_exact(base: int, decimals: int) -> None:
    text = amount(base, decimals)
    whole, _, frac = text.lstrip("-").partition(".")
    value = int(whole) * 10**decimals + (int(frac.ljust(decimals, "0")) if frac else 0)
    assert value == abs(base)
    assert text.startswith("-") == (base < 0)


def test_the_protocol_document_holds_the_same_vector() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "protocol.md").read_text()
    assert f"X-GTX-Signature: {VECTOR_HEADER}" in doc


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"notify_allowed_networks": "10.0.0.0/8, nonsense"}, "GTX_NOTIFY_ALLOWED_NETWORKS"),
        ({"smtp_username": "mailer"}, "go together"),
        (
            {"smtp_username": "m", "smtp_password": "p" * 20, "smtp_security": "none"},
            "in clear",
        ),
    ],
)
def test_settings_refuse_what_would_not_work(env: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(**env)  # type: ignore[arg-type]

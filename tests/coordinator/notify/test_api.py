"""/api/v1/me/notifications: opt in, the webhook secret shown once and rotated, the
address policy at subscription, a test message and the delivery history."""

import datetime as dt
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.devices.broker_accounts import MemoryBroker
from provisioning.keys import Signer
from tests.coordinator.api.conftest import ADMIN_TOKEN, Api, FakeClock, auth_settings

pytestmark = pytest.mark.services

PUBLIC_HOOK = "https://93.184.216.34/gtx"  # an IP literal: no DNS in the test
URL = "/api/v1/me/notifications"


def make_api(engine: Engine, request: pytest.FixtureRequest, **settings: object) -> Iterator[Api]:
    broker = MemoryBroker()
    admin_wallet, rec_wallet = Signer.generate(), Signer.generate()
    clock = FakeClock(dt.datetime.now(dt.UTC))
    app = create_app(
        Settings(admin_token=SecretStr(ADMIN_TOKEN), **settings),  # type: ignore[arg-type]
        engine,
        broker=broker,
        clock=clock,
        auth_settings=auth_settings(request),
    )
    with TestClient(app) as client:
        yield Api(client, broker, clock, admin_wallet, rec_wallet)


@pytest.fixture
def notify_api(engine: Engine, request: pytest.FixtureRequest) -> Iterator[Api]:
    yield from make_api(engine, request, smtp_host="smtp.campus.test")


def test_opt_in_secret_once_rotate_test_and_history(notify_api: Api) -> None:
    c = notify_api.client
    me = notify_api.login(Signer.generate())
    empty = c.get(URL, headers=me).json()
    assert empty["email"] is None
    assert empty["kinds"] == []
    assert empty["email_available"] is True
    assert "order_excluded" in empty["available_kinds"]

    body = {"email": "ada@campus.test", "webhook_url": PUBLIC_HOOK,
            "kinds": ["order_excluded", "trade_settled"]}  # fmt: skip
    r = c.put(URL, json=body, headers=me)
    assert r.status_code == 200, r.text
    secret = r.json()["webhook_secret"]
    assert secret.startswith("whsec_")
    assert len(secret) > 40
    shown = c.get(URL, headers=me).json()
    assert shown["webhook_secret"] is None  # shown once
    assert shown["webhook_secret_set"] is True
    assert shown["kinds"] == ["order_excluded", "trade_settled"]
    again = c.put(URL, json=body, headers=me).json()
    assert again["webhook_secret"] is None  # kept, not remade

    rotated = c.post(URL + "/webhook-secret", headers=me)
    assert rotated.status_code == 200
    assert rotated.json()["webhook_secret"] not in (secret, None)

    sent = c.post(URL + "/test", headers=me)
    assert sent.status_code == 202, sent.text
    keys = sent.json()["deliveries"]
    assert len(keys) == 2
    history = c.get(URL + "/deliveries", headers=me).json()
    assert sorted(h["key"] for h in history) == sorted(keys)
    assert {(h["status"], h["kind"]) for h in history} == {("pending", "test")}
    assert {h["channel"] for h in history} == {"email", "webhook"}

    # Another user sees none of it.
    other = notify_api.login(Signer.generate())
    assert c.get(URL + "/deliveries", headers=other).json() == []

    # Stopping drops what is pending.
    assert c.delete(URL, headers=me).status_code == 204
    history = c.get(URL + "/deliveries", headers=me).json()
    assert {h["status"] for h in history} == {"dropped"}
    assert c.post(URL + "/test", headers=me).status_code == 409


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"webhook_url": "http://127.0.0.1:8080/hook"}, "refused_destination"),
        ({"webhook_url": "http://169.254.169.254/latest"}, "refused_destination"),
        ({"webhook_url": "http://[::1]/x"}, "refused_destination"),
        ({"webhook_url": "http://10.0.0.5/x"}, "refused_destination"),
        ({"webhook_url": "ftp://93.184.216.34/x"}, "refused_destination"),
        ({"webhook_url": "https://u:p@93.184.216.34/x"}, "refused_destination"),
        ({"email": "a@b.example", "kinds": ["everything"]}, "unknown_kind"),
    ],
)
def test_refusals(notify_api: Api, body: dict[str, object], code: str) -> None:
    me = notify_api.login(Signer.generate())
    r = notify_api.client.put(URL, json=body, headers=me)
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["code"] == code
    assert notify_api.client.get(URL, headers=me).json()["webhook_url"] is None


def test_no_email_without_an_smtp_server(engine: Engine, request: pytest.FixtureRequest) -> None:
    for api in make_api(engine, request):
        me = api.login(Signer.generate())
        r = api.client.put(URL, json={"email": "a@b.example"}, headers=me)
        assert r.status_code == 422
        assert r.json()["detail"]["code"] == "email_unavailable"
        assert api.client.get(URL, headers=me).json()["email_available"] is False


def test_private_webhooks_when_the_operator_allows_them(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    for api in make_api(engine, request, notify_allowed_networks="10.20.0.0/16"):
        me = api.login(Signer.generate())
        ok = api.client.put(URL, json={"webhook_url": "http://10.20.3.4/h"}, headers=me)
        assert ok.status_code == 200, ok.text
        refused = api.client.put(URL, json={"webhook_url": "http://10.21.3.4/h"}, headers=me)
        assert refused.status_code == 422


def test_signed_out_callers_are_refused(notify_api: Api) -> None:
    assert notify_api.client.get(URL).status_code == 401
    assert notify_api.client.put(URL, json={}).status_code == 401

"""The demo's sign-in as a simulated user, on the API over PostgreSQL and an embedded
ledger: who can be chosen, the session it gives (admin for the operator), orders
whose escrow approval the demo signs with the user's key, hand-over to and from
the simulation, and refusal outside development."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from solders.keypair import Keypair
from sqlalchemy.engine import Engine

from coordinator.api.auth.config import AuthSettings
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.errors import ConfigError
from coordinator.market import MarketContext
from coordinator.market.sql_store import SqlMarketStore
from demo.login import ABOUT, BECOME_ADMIN, OPERATOR, DemoSignIn, DemoUser
from programs.roles.token import mint_payment
from tests.coordinator.api.conftest import FakeClock, auth_settings
from tests.programs.conftest import World, make_world, run

pytestmark = pytest.mark.services


@dataclass
class DemoApi:
    client: TestClient
    world: World
    sign_in: DemoSignIn
    consumer: DemoUser
    operator: DemoUser
    changes: list[tuple[str, bool]] = field(default_factory=list)


@pytest.fixture
def demo_api(engine: Engine, request: pytest.FixtureRequest) -> Iterator[DemoApi]:
    world = run(make_world())
    consumer = DemoUser("bldg-1-01", "consumer", Keypair(), "consumer: campus load")
    operator = DemoUser(OPERATOR, OPERATOR, Keypair(), "the campus operator")
    access = ChainAccess(world.ledger, world.deployment, world.payer, world.rec)
    clock = FakeClock(dt.datetime.now(dt.UTC))
    auth = auth_settings(
        request, admin_wallets=operator.wallet, rec_authority_wallets=operator.wallet
    )
    app = create_app(Settings(), engine, auth_settings=auth, ledger=access, clock=clock)
    changes: list[tuple[str, bool]] = []

    def market() -> MarketContext:
        return MarketContext(
            SqlMarketStore(engine), world.ledger, world.deployment, fee_payer=world.payer,
            clock=clock,
        )  # fmt: skip

    sign_in = DemoSignIn(
        [operator, consumer], access, market,
        on_change=lambda user, by_hand: changes.append((user.name, by_hand)),
    )  # fmt: skip
    sign_in.install(app)
    with TestClient(app) as client:
        yield DemoApi(client, world, sign_in, consumer, operator, changes)


def test_the_simulated_users_are_listed_with_what_the_sign_in_is(demo_api: DemoApi) -> None:
    body = demo_api.client.get("/api/v1/demo/users").json()  # no sign-in needed
    assert body["about"] == ABOUT
    assert body["become_admin"] == BECOME_ADMIN
    assert "operator" in body["become_admin"]
    by_name = {u["name"]: u for u in body["users"]}
    assert by_name[OPERATOR]["roles"] == ["admin", "rec_authority", "user"]
    assert by_name["bldg-1-01"] == {
        "wallet": demo_api.consumer.wallet, "name": "bldg-1-01", "kind": "consumer",
        "roles": ["user"], "description": "consumer: campus load", "by_hand": False,
    }  # fmt: skip


def test_signed_in_as_a_consumer_the_demo_signs_its_escrow_approval(demo_api: DemoApi) -> None:
    client, w, user = demo_api.client, demo_api.world, demo_api.consumer
    r = client.post("/api/v1/demo/login", json={"wallet": user.wallet})
    assert r.status_code == 200, r.text
    session = r.json()
    assert (session["address"], session["roles"]) == (user.wallet, ["user"])
    assert "gtx_session" in client.cookies  # the browser's session, as after a wallet sign-in
    assert client.get("/api/v1/me").json()["address"] == user.wallet
    assert demo_api.sign_in.by_hand == {user.wallet}
    assert demo_api.changes == [("bldg-1-01", True)]

    run(mint_payment(w.ledger, w.deployment, payer=w.payer, rec_authority=w.rec,
                     grants=[(user.keypair.pubkey(), 5_000_000)]))  # fmt: skip
    assert client.get("/api/v1/balances").json()["payment_base_units"] == 5_000_000
    placed = client.post(
        "/api/v1/orders", json={"side": "buy", "quantity": 10**9, "limit_price": 200_000}
    ).json()
    assert placed["order"]["status"] == "pending"
    assert placed["approval"] is not None  # a wallet would sign this; the demo does
    r = client.post("/api/v1/demo/approval")
    assert r.status_code == 200, r.text
    assert r.json() == {"orders": [{"order_id": placed["order"]["order_id"], "status": "open"}]}

    assert client.delete("/api/v1/demo/login").status_code == 204
    assert demo_api.sign_in.by_hand == set()
    assert demo_api.changes[-1] == ("bldg-1-01", False)


def test_the_operator_is_admin(demo_api: DemoApi) -> None:
    r = demo_api.client.post("/api/v1/demo/login", json={"wallet": demo_api.operator.wallet})
    assert r.json()["roles"] == ["admin", "rec_authority", "user"]
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    demo_api.client.cookies.clear()
    assert demo_api.client.get("/api/v1/admin/gateways", headers=headers).status_code == 200
    assert demo_api.sign_in.by_hand == set()  # the operator places no simulated orders


def test_only_simulated_users_and_only_their_approvals(demo_api: DemoApi) -> None:
    client = demo_api.client
    r = client.post("/api/v1/demo/login", json={"wallet": str(Keypair().pubkey())})
    assert r.status_code == 404
    assert r.json()["detail"]["code"] == "unknown_demo_user"
    assert client.post("/api/v1/demo/approval").status_code == 401  # not signed in
    someone = Keypair()
    message = client.post("/api/v1/auth/nonce", json={"address": str(someone.pubkey())}).json()[
        "message"
    ]
    signature = str(someone.sign_message(message.encode()))
    client.post("/api/v1/auth/login", json={"message": message, "signature": signature})
    r = client.post("/api/v1/demo/approval")  # signed in with a wallet of one's own
    assert r.status_code == 403
    assert r.json()["detail"]["code"] == "not_a_demo_user"


def test_refused_outside_development() -> None:
    app = FastAPI()
    app.state.auth_settings = AuthSettings(environment="production", auth_domain="gtx.test")
    users = [DemoUser(OPERATOR, OPERATOR, Keypair(), "operator")]
    sign_in = DemoSignIn(users, None, lambda: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(ConfigError, match="development only"):
        sign_in.install(app)
    assert not [r for r in app.routes if getattr(r, "path", "").startswith("/api/v1/demo")]

"""With a ledger injected: first sign-in creates token accounts; balances, orders
(approval signed by the user's wallet) and governance go through the chain."""

import base64
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction
from sqlalchemy.engine import Engine

from coordinator.api.ledger_view import ChainAccess
from coordinator.api.main import create_app
from coordinator.config import Settings
from programs.roles.deployment import user_accounts
from programs.roles.governance import freeze_user
from programs.roles.token import mint_payment
from tests.coordinator.api.conftest import FakeClock, auth_settings
from tests.programs.conftest import World, make_world, run

pytestmark = pytest.mark.services


@dataclass
class ChainApi:
    client: TestClient
    world: World
    rec: Keypair
    clock: FakeClock

    def login(self, wallet: Keypair) -> dict[str, str]:
        address = str(wallet.pubkey())
        message = self.client.post("/api/v1/auth/nonce", json={"address": address}).json()[
            "message"
        ]
        signature = wallet.sign_message(message.encode())
        r = self.client.post(
            "/api/v1/auth/login", json={"message": message, "signature": str(signature)}
        )
        assert r.status_code == 200, r.text
        self.client.cookies.clear()
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
def chain_api(engine: Engine, request: pytest.FixtureRequest) -> Iterator[ChainApi]:
    world = run(make_world())
    rec_wallet = Keypair()
    chain = ChainAccess(world.ledger, world.deployment, world.payer, world.rec)
    auth = auth_settings(request, rec_authority_wallets=str(rec_wallet.pubkey()))
    clock = FakeClock(dt.datetime.now(dt.UTC))
    app = create_app(Settings(), engine, auth_settings=auth, ledger=chain, clock=clock)
    with TestClient(app) as client:
        yield ChainApi(client, world, rec_wallet, clock)


def test_first_sign_in_creates_token_accounts_and_balances_read_them(
    chain_api: ChainApi,
) -> None:
    user = Keypair()
    headers = chain_api.login(user)
    me = chain_api.client.get("/api/v1/me", headers=headers).json()
    accounts = user_accounts(chain_api.world.deployment, user.pubkey())
    assert (me["energy_account"], me["payment_account"]) == (
        str(accounts.energy),
        str(accounts.payment),
    )
    assert run(chain_api.world.ledger.get_account(accounts.energy)) is not None
    w = chain_api.world
    run(mint_payment(w.ledger, w.deployment, payer=w.payer, rec_authority=w.rec,
                     grants=[(user.pubkey(), 5_000_000)]))  # fmt: skip
    balances = chain_api.client.get("/api/v1/balances", headers=headers).json()
    assert balances["payment_base_units"] == 5_000_000
    assert balances["energy_base_units"] == 0


def test_place_sign_submit_and_cancel_an_order(chain_api: ChainApi) -> None:
    user = Keypair()
    headers = chain_api.login(user)
    w = chain_api.world
    run(mint_payment(w.ledger, w.deployment, payer=w.payer, rec_authority=w.rec,
                     grants=[(user.pubkey(), 50_000_000)]))  # fmt: skip
    r = chain_api.client.post(
        "/api/v1/orders",
        json={"side": "buy", "quantity": 2 * 10**9, "limit_price": 250_000},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    placed = r.json()
    assert placed["order"]["status"] == "pending"
    assert placed["approval"]["payment_base_units"] == 500_000
    tx = Transaction.from_bytes(base64.b64decode(placed["approval"]["transaction"]))
    tx.partial_sign([user], tx.message.recent_blockhash)
    r = chain_api.client.post(
        "/api/v1/orders/approval",
        json={"transaction": base64.b64encode(bytes(tx)).decode()},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert [o["status"] for o in r.json()] == ["open"]
    book = chain_api.client.get("/api/v1/orders/book", headers=headers).json()
    assert {"side": "buy", "limit_price": 250_000, "quantity": 2 * 10**9, "orders": 1} in book[
        "levels"
    ]
    order_id = placed["order"]["order_id"]
    listed = chain_api.client.get("/api/v1/orders", headers=headers).json()["items"]
    assert [o["order_id"] for o in listed] == [order_id]
    r = chain_api.client.delete(f"/api/v1/orders/{order_id}", headers=headers)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    r = chain_api.client.delete(f"/api/v1/orders/{order_id}", headers=headers)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    cancelled = r.json()
    assert set(cancelled) == {
        "order_id", "side", "epoch", "quantity", "limit_price", "status", "reason",
        "reason_text", "filled", "payment", "settled", "settlement_status", "created_at",
    }  # fmt: skip
    epoch = cancelled["epoch"]
    for query, items in [
        ("", [cancelled]),
        ("?status=cancelled", [cancelled]),
        ("?status=open", []),
        ("?status=no_such", []),
        (f"?epoch={epoch}", [cancelled]),
        (f"?epoch={epoch + 1}", []),
    ]:
        page = chain_api.client.get(f"/api/v1/orders{query}", headers=headers).json()
        assert page == {"items": items, "next_cursor": None}, query
    first = chain_api.client.get("/api/v1/orders?limit=1", headers=headers).json()
    assert first["items"] == [cancelled]
    assert first["next_cursor"] is not None
    rest = chain_api.client.get(
        f"/api/v1/orders?limit=1&cursor={first['next_cursor']}", headers=headers
    ).json()
    assert rest == {"items": [], "next_cursor": None}
    other = chain_api.login(Keypair())
    r = chain_api.client.delete(f"/api/v1/orders/{order_id}", headers=other)
    assert (r.status_code, r.json()["detail"]["code"]) == (404, "unknown_order")
    r = chain_api.client.post(
        "/api/v1/orders", json={"side": "sell", "quantity": 1, "limit_price": 1}, headers=headers
    )
    assert r.status_code == 422
    assert r.json()["detail"]["code"]


def test_governance_freeze_is_signed_on_chain_and_audited(chain_api: ChainApi) -> None:
    user = Keypair()
    chain_api.login(user)
    rec = chain_api.login(chain_api.rec)
    r = chain_api.client.post(
        "/api/v1/governance/freeze",
        json={"owner": str(user.pubkey()), "reason": "meter tampering"},
        headers=rec,
    )
    assert r.status_code == 200, r.text
    accounts = user_accounts(chain_api.world.deployment, user.pubkey())
    account = run(chain_api.world.ledger.get_token_account(accounts.energy))
    assert account is not None
    assert str(account.state).endswith("Frozen")
    actions = chain_api.client.get("/api/v1/governance/actions", headers=rec).json()["items"]
    assert actions[0]["action"] == "governance.freeze"
    assert actions[0]["detail"]["signature"] == r.json()["signature"]
    assert actions[0]["detail"]["reason"] == "meter tampering"
    assert Pubkey.from_string(actions[0]["target"]) == user.pubkey()


def test_a_frozen_users_order_is_refused_in_words(chain_api: ChainApi) -> None:
    user = Keypair()
    headers = chain_api.login(user)
    w = chain_api.world
    run(mint_payment(w.ledger, w.deployment, payer=w.payer, rec_authority=w.rec,
                     grants=[(user.pubkey(), 50_000_000)]))  # fmt: skip
    run(freeze_user(w.ledger, w.deployment, payer=w.payer, rec_authority=w.rec,
                    owner=user.pubkey()))  # fmt: skip
    r = chain_api.client.post(
        "/api/v1/orders",
        json={"side": "buy", "quantity": 10**9, "limit_price": 250_000},
        headers=headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["code"] == "account_frozen"
    assert "frozen by the REC authority" in r.json()["detail"]["message"]


def test_a_bid_above_the_grids_retail_price_is_refused_in_words(chain_api: ChainApi) -> None:
    headers = chain_api.login(Keypair())
    r = chain_api.client.post(
        "/api/v1/orders",
        json={"side": "buy", "quantity": 10**9, "limit_price": 251_000},
        headers=headers,
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail["code"] == "buy_above_retail"
    assert "retail price 250000" in detail["message"]
    assert "the grid charges less than this" in detail["reason_text"]

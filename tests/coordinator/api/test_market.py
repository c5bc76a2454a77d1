"""The public market over HTTP on PostgreSQL: the epoch clock, clearing prices and
volumes, campus energy per epoch and per hour, a transaction's fate; read without
signing in and rate-limited per address. And what the signed-in user's own trade
and energy views add: when a trade cleared, energy per hour."""

import datetime as dt
import secrets

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.db.models import ClearingRecord, MatchRow
from provisioning.keys import Signer
from tests.coordinator.api.conftest import Api, auth_settings
from tests.coordinator.api.factories import LENGTH, store_epoch

pytestmark = pytest.mark.services

PRICE = 123_000  # 0.123 credit per kWh
VOLUME = 2 * 10**9  # 2 kWh


@pytest.fixture
def epoch() -> int:
    # Later than every other test's epochs (the database is shared by the run), so
    # these are the newest clearings; 900 s epochs still within datetime's range.
    return 200_000_000 + secrets.randbelow(1_000_000)


def _clearing(engine: Engine, epoch: int, price: int | None, volume: int) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ClearingRecord).values(
            epoch=epoch, inputs=b"{}", result=b"{}", inputs_hash="0" * 64,
            result_hash="0" * 64, pricing="pay_as_clear", clearing_price=price, volume=volume,
            turnover=volume * (price or 0) // 10**9, order_count=3, match_count=1 if price else 0,
            cleared_at=dt.datetime.fromtimestamp(epoch * LENGTH, dt.UTC),
        ))  # fmt: skip


def _at(api: Api, ts: int) -> None:
    api.clock.now = dt.datetime.fromtimestamp(ts, dt.UTC)


def test_the_market_is_public(api: Api, engine: Engine, epoch: int) -> None:
    gw = Signer.generate()
    store_epoch(engine, gw, "sdm630-0001", epoch, 4)
    store_epoch(engine, gw, "sdm630-0001", epoch + 1, 2, seq0=5)
    _clearing(engine, epoch, PRICE, VOLUME)
    _clearing(engine, epoch + 1, None, 0)
    _at(api, (epoch + 1) * LENGTH + 100)
    anonymous = api.client  # no credentials anywhere below

    summary = anonymous.get("/api/v1/market/summary").json()
    assert summary["current_epoch"] == epoch + 1
    assert summary["open_epoch"] == epoch + 2
    assert summary["closes_at"] == (epoch + 2) * LENGTH
    assert (summary["tick"], summary["lot"], summary["payment_decimals"]) == (1000, 10**6, 6)
    assert summary["last_clearing"]["epoch"] == epoch  # the newest that traded
    assert summary["last_clearing"]["clearing_price"] == PRICE
    assert summary["explorer_tx_url"] is None

    clearings = anonymous.get("/api/v1/market/clearings?limit=2").json()
    assert [(c["epoch"], c["clearing_price"], c["volume"]) for c in clearings["items"]] == [
        (epoch + 1, None, 0),
        (epoch, PRICE, VOLUME),
    ]
    assert clearings["items"][1]["start"] == epoch * LENGTH
    assert clearings["next_cursor"] is not None

    energy = anonymous.get("/api/v1/market/energy?limit=2").json()["items"]
    assert [(e["epoch"], e["total_export_wh"], e["total_import_wh"]) for e in energy] == [
        (epoch + 1, 40, 20),
        (epoch, 80, 40),
    ]

    hours = anonymous.get("/api/v1/market/energy/hourly?hours=2").json()
    by_start = {h["start"]: h for h in hours}
    traded = by_start[epoch * LENGTH // 3600 * 3600]
    assert (traded["volume"], traded["turnover"]) == (VOLUME, VOLUME * PRICE // 10**9)
    assert sum(h["export_wh"] for h in hours) == 120
    assert sum(h["volume"] for h in hours) == VOLUME
    assert anonymous.get("/api/v1/market/energy/hourly?hours=0").status_code == 422


def test_the_public_market_spends_the_address_budget(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    app = create_app(Settings(), engine, auth_settings=auth_settings(request,
                     rate_limit_requests=3, rate_limit_window_s=3600))  # fmt: skip
    with TestClient(app) as client:
        codes = [client.get("/api/v1/market/summary").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_a_transaction_links_to_the_explorer_when_one_is_set(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    signature = "5" * 88
    settings = Settings(explorer_tx_url="https://explorer.example/tx/{signature}?cluster=devnet")
    app = create_app(settings, engine, auth_settings=auth_settings(request))
    with TestClient(app) as client:
        tx = client.get(f"/api/v1/market/transactions/{signature}").json()
        assert tx == {
            "signature": signature, "found": False, "slot": None, "ok": None, "error": None,
            "explorer_url": f"https://explorer.example/tx/{signature}?cluster=devnet",
        }  # fmt: skip
        bad = client.get("/api/v1/market/transactions/" + "0" * 88)
        assert (bad.status_code, bad.json()["detail"]["code"]) == (422, "invalid_signature")


def test_my_trades_say_when_they_cleared_and_my_energy_per_hour(
    api: Api, engine: Engine, epoch: int
) -> None:
    owner = Signer.generate()
    gw = Signer.generate()
    token = api.issue(owner.address)
    assert api.client.post("/api/v1/enrolment", json=api.enrol_body(gw, token)).status_code == 200
    store_epoch(engine, gw, "sdm630-0001", epoch, 3)
    _clearing(engine, epoch, PRICE, VOLUME)
    seller = Signer.generate().address
    with engine.begin() as conn:
        conn.execute(insert(MatchRow).values(
            epoch=epoch, idx=0, buy_order_id="b1", sell_order_id="s1", buyer=owner.address,
            seller=seller, quantity=10**6, price=PRICE, payment=123, status="settled",
            signature=bytes(range(64)), error=None,
        ))  # fmt: skip
    _at(api, epoch * LENGTH + 10)
    me = api.login(owner)
    (trade,) = api.client.get("/api/v1/trades", headers=me).json()["items"]
    assert trade["side"] == "buy"
    assert trade["payment"] == 123  # 0.000123 credits: the dashboard shows every decimal
    assert dt.datetime.fromisoformat(trade["cleared_at"]).timestamp() == epoch * LENGTH

    (hour,) = api.client.get("/api/v1/me/energy/hourly?hours=1", headers=me).json()
    assert hour == {"start": epoch * LENGTH // 3600 * 3600, "import_wh": 30, "export_wh": 60,
                    "volume": 0, "turnover": 0}  # fmt: skip
    assert api.client.get("/api/v1/me/energy/hourly").status_code == 401


def test_the_api_declares_its_security_schemes_and_serves_its_docs_itself(api: Api) -> None:
    doc = api.client.get("/api/v1/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "the `token` of `POST /auth/login`, or the static admin token",
    }  # fmt: skip
    assert (schemes["session_cookie"]["in"], schemes["session_cookie"]["name"]) == (
        "cookie",
        "gtx_session",
    )
    assert doc["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}, {"session_cookie": []}]
    assert "security" not in doc["paths"]["/api/v1/market/summary"]["get"]

    page = api.client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assets = ["/static/vendor/swagger-ui/swagger-ui-bundle.js",
              "/static/vendor/swagger-ui/swagger-ui.css", "/static/api-docs.js"]  # fmt: skip
    for asset in assets:
        assert asset in html
        assert api.client.get(asset).status_code == 200
    assert "://" not in html  # nothing from elsewhere
    init = api.client.get("/static/api-docs.js").text
    assert '"/api/v1/openapi.json"' in init
    assert "validatorUrl: null" in init  # the default sends the document to a public validator
    assert api.client.get("/static/vendor/swagger-ui/LICENSE").status_code == 200

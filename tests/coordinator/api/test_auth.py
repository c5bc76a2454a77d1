"""Wallet sign-in over HTTP on PostgreSQL and Redis: sessions, refusals, audit."""

import secrets

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import Engine

from coordinator.api.auth.config import AuthSettings
from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.db.models import AuditEntry, User
from coordinator.errors import ConfigError
from provisioning.keys import Signer
from tests.coordinator.api.conftest import ADMIN_TOKEN, Api, auth_settings
from wire.base58 import b58encode

pytestmark = pytest.mark.services


def _nonce(api: Api, signer: Signer) -> str:
    r = api.client.post("/api/v1/auth/nonce", json={"address": signer.address})
    assert r.status_code == 200, r.text
    message: str = r.json()["message"]
    return message


def _login(api: Api, message: str, signature: bytes) -> tuple[int, str]:
    r = api.client.post(
        "/api/v1/auth/login", json={"message": message, "signature": b58encode(signature)}
    )
    return r.status_code, r.json().get("detail", {}).get("code", "") if r.status_code != 200 else ""


def _audit(engine: Engine, action: str) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        return [
            (a, o, t)
            for a, o, t in conn.execute(
                select(AuditEntry.actor, AuditEntry.outcome, AuditEntry.target)
                .where(AuditEntry.action == action)
                .order_by(AuditEntry.id)
            )
        ]


def test_sign_in_creates_the_user_and_answers_a_session(api: Api, engine: Engine) -> None:
    wallet = Signer.generate()
    message = _nonce(api, wallet)
    assert message.startswith("gtx.test wants you to sign in")
    r = api.client.post(
        "/api/v1/auth/login",
        json={"message": message, "signature": b58encode(wallet.sign(message.encode()))},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["address"] == wallet.address
    assert body["roles"] == ["user"]
    assert body["first_login"] is True
    assert body["accounts_pending"] is True  # no ledger injected: deferred
    cookie = r.headers["set-cookie"]
    assert "gtx_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    # The cookie alone authenticates the browser; the token alone authenticates scripts.
    assert api.client.get("/api/v1/me").json()["address"] == wallet.address
    api.client.cookies.clear()
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["roles"] == ["user"]
    with engine.connect() as conn:
        assert conn.execute(select(User.address).where(User.address == wallet.address)).one()
    assert (wallet.address, "ok", wallet.address) in _audit(engine, "auth.login")
    assert (wallet.address, "ok", wallet.address) in _audit(engine, "auth.register")


def test_second_sign_in_is_not_a_registration(api: Api, engine: Engine) -> None:
    wallet = Signer.generate()
    api.login(wallet)
    message = _nonce(api, wallet)
    r = api.client.post(
        "/api/v1/auth/login",
        json={"message": message, "signature": b58encode(wallet.sign(message.encode()))},
    )
    assert r.json()["first_login"] is False
    assert len([e for e in _audit(engine, "auth.register") if e[0] == wallet.address]) == 1


def test_bad_signature_is_refused_and_audited(api: Api, engine: Engine) -> None:
    wallet = Signer.generate()
    message = _nonce(api, wallet)
    forged = Signer.generate().sign(message.encode())
    assert _login(api, message, forged) == (401, "bad_signature")
    assert ("anonymous", "refused", "") in _audit(engine, "auth.login")


def test_a_nonce_is_single_use(api: Api) -> None:
    wallet = Signer.generate()
    message = _nonce(api, wallet)
    signature = wallet.sign(message.encode())
    assert _login(api, message, signature) == (200, "")
    assert _login(api, message, signature) == (401, "nonce_unknown")


def test_a_failed_attempt_spends_the_nonce(api: Api) -> None:
    wallet = Signer.generate()
    message = _nonce(api, wallet)
    assert _login(api, message, b"\x00" * 64)[1] == "bad_signature"
    assert _login(api, message, wallet.sign(message.encode())) == (401, "nonce_unknown")


def test_an_expired_nonce_is_refused(api: Api) -> None:
    wallet = Signer.generate()
    message = _nonce(api, wallet)
    api.clock.advance(301)
    assert _login(api, message, wallet.sign(message.encode())) == (401, "nonce_expired")


def test_a_message_for_another_domain_is_refused(api: Api) -> None:
    wallet = Signer.generate()
    message = _nonce(api, wallet).replace("gtx.test wants", "evil.test wants", 1)
    assert _login(api, message, wallet.sign(message.encode())) == (401, "wrong_domain")


def test_an_edited_message_is_refused(api: Api) -> None:
    wallet, other = Signer.generate(), Signer.generate()
    message = _nonce(api, wallet).replace(wallet.address, other.address)
    # Signed by the wallet it now names, but not the message that was issued.
    assert _login(api, message, other.sign(message.encode())) == (401, "nonce_unknown")


def test_expired_and_forged_sessions_are_refused(api: Api) -> None:
    headers = api.login(Signer.generate())
    assert api.client.get("/api/v1/me", headers=headers).status_code == 200
    api.clock.advance(24 * 3600)
    r = api.client.get("/api/v1/me", headers=headers)
    assert (r.status_code, r.json()["detail"]["code"]) == (401, "token_expired")
    token = headers["Authorization"][:-2] + "AA"
    r = api.client.get("/api/v1/me", headers={"Authorization": token})
    assert r.status_code == 401


def test_configured_wallets_get_their_roles(api: Api) -> None:
    admin = api.login(api.admin_wallet)
    assert api.client.get("/api/v1/me", headers=admin).json()["roles"] == ["admin", "user"]
    assert api.client.get("/api/v1/admin/audit", headers=admin).status_code == 200
    rec = api.login(api.rec_wallet)
    assert api.client.get("/api/v1/me", headers=rec).json()["roles"] == ["rec_authority", "user"]
    assert api.client.get("/api/v1/admin/audit", headers=rec).status_code == 403
    assert api.client.get("/api/v1/governance/actions", headers=rec).status_code == 200


def test_admin_grants_roles_effective_at_next_sign_in(api: Api, engine: Engine) -> None:
    user = Signer.generate()
    api.login(user)
    r = api.client.put(
        f"/api/v1/admin/users/{user.address}/roles", json={"roles": ["admin"]},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )  # fmt: skip
    assert r.status_code == 200
    assert r.json() == ["admin", "user"]
    assert api.client.get("/api/v1/admin/audit", headers=api.login(user)).status_code == 200
    assert ("admin-token", "ok", user.address) in _audit(engine, "admin.set_roles")


def test_logout_drops_the_cookie_and_is_audited(api: Api, engine: Engine) -> None:
    wallet = Signer.generate()
    message = _nonce(api, wallet)
    api.client.post(
        "/api/v1/auth/login",
        json={"message": message, "signature": b58encode(wallet.sign(message.encode()))},
    )
    assert api.client.post("/api/v1/auth/logout").status_code == 204
    assert api.client.get("/api/v1/me").status_code == 401
    assert (wallet.address, "ok", wallet.address) in _audit(engine, "auth.logout")


def test_auth_config_is_public(api: Api) -> None:
    body = api.client.get("/api/v1/auth/config").json()
    assert body == {"domain": "gtx.test", "nonce_ttl_s": 300, "dev_login": True}


def test_unset_in_development_the_domain_is_the_host_the_page_came_from(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    app = create_app(Settings(), engine, auth_settings=auth_settings(request, auth_domain=None))
    wallet = Signer.generate()
    with TestClient(app, base_url="http://127.0.0.1:8080") as client:
        assert client.get("/api/v1/auth/config").json()["domain"] == "127.0.0.1:8080"
        issued = client.post("/api/v1/auth/nonce", json={"address": wallet.address}).json()
        message = issued["message"]
        assert message.startswith("127.0.0.1:8080 wants you to sign in")
        body = {"message": message, "signature": b58encode(wallet.sign(message.encode()))}
        # The same signed message presented to another host is for another site.
        elsewhere = client.post("/api/v1/auth/login", json=body, headers={"Host": "evil.test"})
        assert (elsewhere.status_code, elsewhere.json()["detail"]["code"]) == (401, "wrong_domain")
        assert client.post("/api/v1/auth/login", json=body).status_code == 200
        bad_host = client.post(
            "/api/v1/auth/nonce", json={"address": wallet.address}, headers={"Host": "a b"}
        )
        assert bad_host.status_code == 401


def test_production_names_its_sign_in_domain(engine: Engine) -> None:
    good = SecretStr(secrets.token_urlsafe(32))
    settings = Settings(environment="production", admin_token=good)
    auth = AuthSettings(environment="production", jwt_secret=SecretStr(secrets.token_urlsafe(48)))
    with pytest.raises(ConfigError, match="GTX_AUTH_DOMAIN is not set"):
        create_app(settings, engine, auth_settings=auth)
    named = AuthSettings(
        environment="production", jwt_secret=auth.jwt_secret, auth_domain="gridtokenx.example.edu"
    )
    create_app(settings, engine, auth_settings=named)

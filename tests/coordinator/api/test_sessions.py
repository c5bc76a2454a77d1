"""Authority that can be trusted: sessions the server ends (role changes, sign-out),
separation of duties, refusals audited. HTTP only, against the real PostgreSQL."""

import contextlib
import datetime as dt
import secrets
from collections.abc import Iterator

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import update
from sqlalchemy.engine import Engine

from coordinator.api.auth.sessions import SessionGuard
from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.db.models import User
from coordinator.devices.broker_accounts import MemoryBroker
from provisioning.keys import Signer
from tests.coordinator.api.conftest import ADMIN_TOKEN, Api, FakeClock, auth_settings

pytestmark = pytest.mark.services


def _roles(api: Api, address: str, roles: list[str], headers: dict[str, str]) -> int:
    r = api.client.put(
        f"/api/v1/admin/users/{address}/roles", json={"roles": roles}, headers=headers
    )
    return r.status_code


def test_a_demoted_admins_token_is_refused_at_once_and_config_no_longer_promotes(
    api: Api,
) -> None:
    """GTX_ADMIN_WALLETS bootstraps an admin; once demoted through the API, the database
    decides: the live token dies at once and signing in again gives no admin role."""
    admin = api.login(api.admin_wallet)
    assert api.client.get("/api/v1/admin/gateways", headers=admin).status_code == 200

    assert _roles(api, api.admin_wallet.address, [], api.admin()) == 200

    r = api.client.get("/api/v1/admin/gateways", headers=admin)
    assert r.status_code == 401
    assert r.json()["detail"]["code"] == "session_revoked"
    again = api.login(api.admin_wallet)
    assert api.client.get("/api/v1/me", headers=again).json()["roles"] == ["user"]
    assert api.client.get("/api/v1/admin/gateways", headers=again).status_code == 403


SECRET = "a-jwt-secret-shared-by-the-instances-" + "z" * 8


@contextlib.contextmanager
def _instances(
    engine: Engine,
    request: pytest.FixtureRequest,
    *checks_s: float,
    without_redis: frozenset[int] = frozenset(),
) -> Iterator[list[Api]]:
    """Coordinator instances on one database, sharing the JWT secret and the configured
    wallets, and Redis but for the instances numbered in `without_redis` (as when
    Redis is unreachable); each keeps its session checks for its own `checks_s`
    while it cannot read the session stamps from Redis."""
    admin_wallet, rec_wallet = Signer.generate(), Signer.generate()
    with contextlib.ExitStack() as stack:
        apis = []
        for i, check_s in enumerate(checks_s):
            settings = Settings(admin_token=SecretStr(ADMIN_TOKEN))
            if i in without_redis:
                settings = settings.model_copy(update={"redis_url": ""})
            auth = auth_settings(
                request,
                jwt_secret=SECRET,
                session_check_s=check_s,
                admin_wallets=admin_wallet.address,
                rec_authority_wallets=rec_wallet.address,
            )
            client = stack.enter_context(
                TestClient(create_app(settings, engine, auth_settings=auth))
            )
            apis.append(
                Api(
                    client,
                    MemoryBroker(),
                    FakeClock(dt.datetime.now(dt.UTC)),
                    admin_wallet,
                    rec_wallet,
                )
            )
        yield apis


def test_a_role_change_ends_the_users_sessions_on_every_instance_at_once(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    """Another instance refuses the old token at its next request, though it would
    trust its last check of that session for a minute: the session stamp in Redis,
    which the changing instance renewed, says the session must be read again."""
    with _instances(engine, request, 60.0, 60.0) as (first, second):
        user = Signer.generate()
        first.login(user)
        assert _roles(first, user.address, ["admin"], first.admin()) == 200
        token = first.login(user)
        assert second.client.get("/api/v1/admin/gateways", headers=token).status_code == 200
        assert _roles(first, user.address, [], first.admin()) == 200
        assert first.client.get("/api/v1/admin/gateways", headers=token).status_code == 401
        r = second.client.get("/api/v1/admin/gateways", headers=token)
        assert (r.status_code, r.json()["detail"]["code"]) == (401, "session_revoked")
        # A sign-out on one instance ends the session on the other at once too.
        again = first.login(user)
        assert second.client.get("/api/v1/me", headers=again).status_code == 200
        assert first.client.post("/api/v1/auth/logout", headers=again).status_code == 204
        r = second.client.get("/api/v1/me", headers=again)
        assert (r.status_code, r.json()["detail"]["code"]) == (401, "session_revoked")


def test_a_lost_session_stamp_is_never_taken_for_the_one_a_session_was_checked_under(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    """Redis losing a stamp (restarted empty, evicted) must not leave an ended session
    trusted: the stamp comes back as a fresh random value, so the session is read
    again. Here the change reaches the database without any stamp renewal at all."""
    with _instances(engine, request, 60.0) as (api,):
        user = Signer.generate()
        token = api.login(user)
        assert api.client.get("/api/v1/me", headers=token).status_code == 200
        with engine.begin() as conn:
            conn.execute(
                update(User)
                .where(User.address == user.address)
                .values(token_version=User.token_version + 1)
            )
        # Still trusted under the unchanged stamp (no change was announced) ...
        assert api.client.get("/api/v1/me", headers=token).status_code == 200
        sessions: SessionGuard = api.client.app.state.sessions  # type: ignore[attr-defined]
        client = redis.Redis.from_url(Settings().redis_url)
        try:
            assert client.delete(sessions.stamp_key(user.address)) == 1
        finally:
            client.close()
        # ... and read again once the stamp is gone.
        r = api.client.get("/api/v1/me", headers=token)
        assert (r.status_code, r.json()["detail"]["code"]) == (401, "session_revoked")


def test_without_redis_a_role_change_ends_sessions_elsewhere_within_the_check_time(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    """While Redis is unreachable another instance refuses the old token once its last
    check of that session is older than its GTX_SESSION_CHECK_S (0 here: at once)."""
    with _instances(engine, request, 1.0, 0.0, without_redis=frozenset({1})) as (first, second):
        user = Signer.generate()
        first.login(user)
        assert _roles(first, user.address, ["admin"], first.admin()) == 200
        token = first.login(user)
        assert second.client.get("/api/v1/admin/gateways", headers=token).status_code == 200
        assert _roles(first, user.address, [], first.admin()) == 200
        assert first.client.get("/api/v1/admin/gateways", headers=token).status_code == 401
        assert second.client.get("/api/v1/admin/gateways", headers=token).status_code == 401


def test_sign_out_revokes_the_bearer_token(api: Api) -> None:
    headers = api.login(Signer.generate())
    assert api.client.get("/api/v1/me", headers=headers).status_code == 200
    assert api.client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    r = api.client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["detail"]["code"] == "session_revoked"


def test_nobody_grants_themselves_a_role_and_an_admin_cannot_make_an_authority(
    api: Api,
) -> None:
    admin = api.login(api.admin_wallet)
    user = Signer.generate()
    api.login(user)
    assert _roles(api, api.admin_wallet.address, ["admin", "rec_authority"], admin) == 403
    assert _roles(api, user.address, ["rec_authority"], admin) == 403
    assert _roles(api, user.address, ["rec_authority"], api.admin()) == 403
    assert _roles(api, user.address, ["admin"], admin) == 200
    audit = api.client.get("/api/v1/admin/audit?action=admin.set_roles", headers=api.admin())
    mine = {user.address, api.admin_wallet.address}
    outcomes = [
        (e["actor"], e["outcome"], e["detail"])
        for e in audit.json()["items"]
        if e["target"] in mine
    ]
    assert outcomes == [
        (api.admin_wallet.address, "ok", {"roles": ["admin", "user"]}),
        ("admin-token", "refused", {"code": "rec_authority_required"}),
        (api.admin_wallet.address, "refused", {"code": "rec_authority_required"}),
        (api.admin_wallet.address, "refused", {"code": "self_role_change"}),
    ]


def test_rec_authorities_are_granted_and_removed_by_an_authority_never_the_last(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    # The second instance cannot reach Redis, so it trusts a session it checked for up
    # to a minute (with Redis it would refuse it at once, as the test above shows): the
    # guard against removing the last authority must hold against such a session too.
    with _instances(engine, request, 0.0, 60.0, without_redis=frozenset({1})) as (api, cached):
        rec = api.login(api.rec_wallet)
        other = Signer.generate()
        api.login(other)
        base = "/api/v1/governance/authorities"
        r = api.client.delete(f"{base}/{api.rec_wallet.address}", headers=rec)
        assert (r.status_code, r.json()["detail"]["code"]) == (403, "self_role_change")
        r = api.client.put(f"{base}/{other.address}", headers=rec)
        assert r.status_code == 200, r.text
        assert r.json() == ["rec_authority", "user"]
        stale = api.login(other)
        assert cached.client.get("/api/v1/governance/params", headers=stale).status_code == 200
        # The configured authority removes `other`, then `other`'s session, still trusted
        # by the second instance, tries to remove the configured one: none would be left.
        assert api.client.delete(f"{base}/{other.address}", headers=rec).status_code == 200
        r = cached.client.delete(f"{base}/{api.rec_wallet.address}", headers=stale)
        assert (r.status_code, r.json()["detail"]["code"]) == (409, "last_rec_authority")
        roles = api.client.get("/api/v1/me", headers=rec).json()["roles"]
        assert roles == ["rec_authority", "user"]


def test_refused_governance_attempts_are_audited(api: Api) -> None:
    user = Signer.generate()
    rid = {"X-Request-ID": secrets.token_hex(8)}
    headers = api.login(user) | rid
    r = api.client.post(
        "/api/v1/governance/freeze", json={"owner": user.address, "reason": "x"}, headers=headers
    )
    assert r.status_code == 403
    r = api.client.post("/api/v1/governance/controls/pause", json={"scopes": ["all"]}, headers=rid)
    assert r.status_code == 401
    entries = api.client.get("/api/v1/admin/audit?action=governance.", headers=api.admin())
    got = [
        (e["actor"], e["action"], e["target"], e["outcome"], e["detail"].get("status"))
        for e in entries.json()["items"]
        if e["request_id"] == rid["X-Request-ID"]
    ]
    assert got == [
        ("anonymous", "governance.pause", "", "refused", 401),
        (user.address, "governance.freeze", user.address, "refused", 403),
    ]

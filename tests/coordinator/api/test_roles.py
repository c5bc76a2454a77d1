"""Every route of the app refuses callers without the role it needs.

The routes are read from the app's own OpenAPI document, so a new endpoint is covered (and
must be classified here) the day it is added.
"""

import re

import pytest
from sqlalchemy import create_engine

from coordinator.api.auth.config import AuthSettings
from coordinator.api.main import create_app
from coordinator.config import Settings
from provisioning.keys import Signer
from tests.coordinator.api.conftest import Api

pytestmark = pytest.mark.services

PUBLIC = {
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/auth/config"),
    ("POST", "/api/v1/auth/nonce"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/enrolment"),  # the one-time token is the credential
    ("GET", "/api/v1/governance/controls"),  # what is paused: the dashboard's banner
    ("GET", "/api/v1/deployment"),  # public addresses, on chain for anyone anyway
}
# The public market (prices, volumes, campus energy): read by anyone, rate-limited per address.
PUBLIC_MARKET = re.compile(r"^/api/v1/market/")
DEVICE_SIGNED = re.compile(r"^/api/v1/gateways/")
REC_ONLY = {
    "/api/v1/governance/freeze",
    "/api/v1/governance/thaw",
    "/api/v1/governance/memo",
    "/api/v1/governance/memo/draft",
    "/api/v1/governance/controls/draft",
    "/api/v1/governance/controls/pause",
    "/api/v1/governance/controls/resume",
    "/api/v1/governance/params/draft",
    "/api/v1/governance/authorities/{address}",
    "/api/v1/governance/series/draft",
}
REC_ONLY_METHODS = {
    ("POST", "/api/v1/governance/params"),  # GET: any user
    ("POST", "/api/v1/governance/series"),
}
ADMIN_OR_REC = {
    "/api/v1/governance/actions",
    "/api/v1/mints",
    "/api/v1/campus/totals",
    "/api/v1/retirement/campus",
}


def _routes() -> list[tuple[str, str]]:
    app = create_app(Settings(), create_engine("sqlite://"), auth_settings=AuthSettings())
    # The OpenAPI document lists every route of every included router.
    paths: dict[str, dict[str, object]] = app.openapi()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


ROUTES = _routes()


def _needed(method: str, path: str) -> str:
    if (method, path) in PUBLIC or (method == "GET" and PUBLIC_MARKET.match(path)):
        return "public"
    if DEVICE_SIGNED.match(path):
        return "device"
    if path in REC_ONLY or (method, path) in REC_ONLY_METHODS:
        return "rec_authority"
    if path in ADMIN_OR_REC:
        return "admin|rec_authority"
    if path.startswith("/api/v1/admin/"):
        return "admin"
    return "user"


def _call(api: Api, method: str, path: str, headers: dict[str, str]) -> int:
    url = re.sub(r"\{(seq|epoch)\}", "1", path)
    url = re.sub(r"\{[a-z_]+\}", "x", url)
    if url in {"/api/v1/events", "/api/v1/market/events"}:
        url += "?once=true"  # the stream would otherwise stay open
    kwargs: dict[str, object] = {"headers": headers}
    if method in {"POST", "PUT"}:
        kwargs["json"] = {}
    return api.client.request(method, url, **kwargs).status_code  # type: ignore[arg-type]


def test_every_route_is_classified() -> None:
    assert len(ROUTES) > 30
    assert {_needed(m, p) for m, p in ROUTES} >= {"public", "user", "admin", "rec_authority"}


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_route_refuses_callers_without_its_role(api: Api, method: str, path: str) -> None:
    needed = _needed(method, path)
    if needed == "public":
        assert _call(api, method, path, {}) != 401
        return
    if needed == "device":
        assert _call(api, method, path, {}) in {401, 403, 404, 409, 422}
        return
    assert _call(api, method, path, {}) == 401
    assert _call(api, method, path, {"Authorization": "Bearer not-a-token"}) == 401
    user = api.login(Signer.generate())
    if needed == "user":
        assert _call(api, method, path, user) not in {401, 403}
        return
    assert _call(api, method, path, user) == 403
    if needed == "rec_authority":
        assert _call(api, method, path, api.login(api.admin_wallet)) == 403
        assert _call(api, method, path, api.login(api.rec_wallet)) not in {401, 403}
    elif needed == "admin":
        assert _call(api, method, path, api.login(api.rec_wallet)) == 403
        assert _call(api, method, path, api.login(api.admin_wallet)) not in {401, 403}
    else:
        assert _call(api, method, path, api.login(api.admin_wallet)) not in {401, 403}

"""Admin tokens, enrolment, revocation and key rotation over HTTP, on PostgreSQL."""

import secrets

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import Engine

from coordinator.api.auth.config import AuthSettings
from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.db.models import Device, DeviceStatus, KeyRotation, Meter
from coordinator.devices.broker_accounts import MemoryBroker, check_password
from coordinator.errors import ConfigError
from provisioning.keys import Signer
from tests.coordinator.api.conftest import Api
from wire.base58 import b58decode, b58encode
from wire.enrolment import rotation_message
from wire.meters import METER_MODELS

pytestmark = pytest.mark.services


def _error(response: object) -> tuple[int, str]:
    r = response
    return r.status_code, r.json()["detail"]["code"]  # type: ignore[attr-defined]


def test_admin_routes_need_the_admin_token(api: Api, owner: str) -> None:
    url = "/api/v1/admin/enrolment-tokens"
    assert api.client.post(url, json={"owner": owner}).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert api.client.post(url, json={"owner": owner}, headers=wrong).status_code == 401
    assert api.client.get("/api/v1/admin/gateways", headers=wrong).status_code == 401


def test_enrolment_registers_gateway_meters_and_broker_account(
    api: Api, owner: str, engine: Engine
) -> None:
    gw = Signer.generate()
    r = api.client.post("/api/v1/enrolment", json=api.enrol_body(gw, api.issue(owner)))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["gateway_id"] == gw.address
    assert body["first_time"] is True
    assert body["meters"] == [
        {"meter_id": "sdm630-0001", "model": "sdm630", "rated_power_w": 63_000, "owner": owner}
    ]
    assert body["mqtt"]["username"] == gw.address
    assert check_password(body["mqtt"]["password"], api.broker.entries[gw.address])
    with engine.connect() as conn:
        assert conn.execute(
            select(Meter.owner, Meter.model).where(Meter.gateway_id == gw.address)
        ).all() == [(owner, "sdm630")]
    listed = api.client.get("/api/v1/admin/gateways", headers=api.admin()).json()
    assert {"gateway_id": gw.address, "status": "active"}.items() <= next(
        g for g in listed if g["gateway_id"] == gw.address
    ).items()


def test_rerunning_enrolment_by_the_same_gateway_is_safe(api: Api, owner: str) -> None:
    gw = Signer.generate()
    token = api.issue(owner)
    first = api.client.post("/api/v1/enrolment", json=api.enrol_body(gw, token)).json()
    again = api.client.post(
        "/api/v1/enrolment", json=api.enrol_body(gw, token, rated_power_w=10_000)
    )
    assert again.status_code == 200, again.text
    assert again.json()["first_time"] is False
    assert again.json()["meters"][0]["rated_power_w"] == 10_000
    # A fresh password replaces the old one at the broker.
    new_password = again.json()["mqtt"]["password"]
    assert new_password != first["mqtt"]["password"]
    assert check_password(new_password, api.broker.entries[gw.address])


def test_token_reuse_by_another_gateway_is_refused(api: Api, owner: str) -> None:
    token = api.issue(owner)
    assert (
        api.client.post(
            "/api/v1/enrolment", json=api.enrol_body(Signer.generate(), token)
        ).status_code
        == 200
    )
    r = api.client.post("/api/v1/enrolment", json=api.enrol_body(Signer.generate(), token))
    assert _error(r) == (409, "token_used")
    assert "single use" in r.json()["detail"]["message"]


def test_expired_token_is_refused(api: Api, owner: str) -> None:
    token = api.issue(owner, ttl_s=60)
    api.clock.advance(61)
    r = api.client.post("/api/v1/enrolment", json=api.enrol_body(Signer.generate(), token))
    assert _error(r) == (410, "token_expired")
    assert "expired" in r.json()["detail"]["message"]


def test_unknown_token_is_refused(api: Api) -> None:
    r = api.client.post("/api/v1/enrolment", json=api.enrol_body(Signer.generate(), "gtxe_nope"))
    assert _error(r) == (401, "token_unknown")


@pytest.mark.parametrize(
    "wallet", ["not-base58-0OIl", "1111", b58encode(bytes(31)), b58encode(bytes(33)), ""]
)
def test_malformed_wallet_address_is_refused(api: Api, owner: str, wallet: str) -> None:
    token = api.issue(owner)
    r = api.client.post(
        "/api/v1/enrolment", json=api.enrol_body(Signer.generate(), token, owner=wallet)
    )
    assert _error(r) == (422, "invalid_wallet")
    issue = api.client.post(
        "/api/v1/admin/enrolment-tokens", json={"owner": wallet}, headers=api.admin()
    )
    assert _error(issue) == (422, "invalid_wallet")


def test_unknown_meter_model_is_refused_naming_the_known_ones(api: Api, owner: str) -> None:
    body = api.enrol_body(Signer.generate(), api.issue(owner), model="sdm999")
    r = api.client.post("/api/v1/enrolment", json=body)
    assert r.status_code == 422
    assert "known: " + ", ".join(METER_MODELS) in r.text


def test_token_is_scoped_to_its_owner(api: Api, owner: str) -> None:
    token = api.issue(owner)
    other = Signer.generate().address
    r = api.client.post(
        "/api/v1/enrolment", json=api.enrol_body(Signer.generate(), token, owner=other)
    )
    assert _error(r) == (403, "owner_mismatch")


def test_enrolment_needs_proof_of_the_device_key(api: Api, owner: str) -> None:
    gw, thief = Signer.generate(), Signer.generate()
    body = api.enrol_body(gw, api.issue(owner))
    body["proof"] = thief.enrolment_proof(str(body["token"]), gw.address)
    assert _error(api.client.post("/api/v1/enrolment", json=body)) == (401, "bad_proof")


def test_revocation_marks_device_and_removes_broker_account(
    api: Api, owner: str, engine: Engine
) -> None:
    gw = Signer.generate()
    api.client.post("/api/v1/enrolment", json=api.enrol_body(gw, api.issue(owner)))
    assert gw.address in api.broker.entries
    r = api.client.post(f"/api/v1/admin/gateways/{gw.address}/revoke", headers=api.admin())
    assert r.status_code == 200
    assert r.json()["status"] == "revoked"
    assert gw.address not in api.broker.entries
    with engine.connect() as conn:
        status = conn.execute(select(Device.status).where(Device.gateway_id == gw.address))
        assert status.scalar_one() == DeviceStatus.REVOKED
    # A revoked key cannot enrol again, even with a fresh token.
    again = api.client.post("/api/v1/enrolment", json=api.enrol_body(gw, api.issue(owner)))
    assert _error(again) == (403, "revoked_gateway")
    missing = api.client.post("/api/v1/admin/gateways/nope/revoke", headers=api.admin())
    assert _error(missing) == (404, "unknown_gateway")


def _rotation(gw_id: str, current: Signer, new: Signer, ts: int, **extra: object) -> dict:  # type: ignore[type-arg]
    message = rotation_message(b58decode(gw_id), new.public_key, ts)
    return {
        "new_public_key": new.address,
        "timestamp": ts,
        "signature_current": b58encode(current.sign(message)),
        "signature_new": b58encode(new.sign(message)),
        **extra,
    }


def test_key_rotation_keeps_the_id_and_caps_the_overlap(
    api: Api, owner: str, engine: Engine
) -> None:
    gw, new = Signer.generate(), Signer.generate()
    api.client.post("/api/v1/enrolment", json=api.enrol_body(gw, api.issue(owner)))
    ts = int(api.clock.now.timestamp())
    url = f"/api/v1/gateways/{gw.address}/keys"
    r = api.client.post(url, json=_rotation(gw.address, gw, new, ts, overlap_s=10**6))
    assert r.status_code == 200, r.text
    with engine.connect() as conn:
        assert (
            bytes(
                conn.execute(
                    select(Device.public_key).where(Device.gateway_id == gw.address)
                ).scalar_one()
            )
            == new.public_key
        )
        (row,) = conn.execute(select(KeyRotation).where(KeyRotation.gateway_id == gw.address)).all()
    assert (row.old_valid_until - api.clock.now).total_seconds() == 3600  # the configured cap
    # Re-sending is answered, not applied twice; a forged rotation is refused.
    again = api.client.post(url, json=_rotation(gw.address, gw, new, ts))
    assert again.status_code == 200
    assert again.json()["already_done"] is True
    forger = Signer.generate()
    forged = api.client.post(url, json=_rotation(gw.address, forger, Signer.generate(), ts))
    assert _error(forged) == (401, "bad_proof")
    stale = api.client.post(url, json=_rotation(gw.address, new, Signer.generate(), ts - 3600))
    assert _error(stale) == (401, "stale_request")


def test_reading_status_needs_a_gateway_signature(api: Api, owner: str) -> None:
    gw = Signer.generate()
    api.client.post("/api/v1/enrolment", json=api.enrol_body(gw, api.issue(owner)))
    path = f"/api/v1/gateways/{gw.address}/readings/1"
    now = api.clock.now.timestamp()
    ok = api.client.get(path, headers=gw.request_headers("GET", path, now))
    assert ok.status_code == 200
    assert ok.json()["status"] == "pending"
    other = api.client.get(path, headers=Signer.generate().request_headers("GET", path, now))
    assert _error(other) == (401, "bad_proof")


def test_key_rotation_is_refused_unless_enabled(engine: Engine, owner: str) -> None:

    app = create_app(Settings(key_rotation_enabled=False), engine, broker=MemoryBroker())
    with TestClient(app) as client:
        gw = Signer.generate()
        r = client.post(
            f"/api/v1/gateways/{gw.address}/keys",
            json=_rotation(gw.address, gw, Signer.generate(), 0),
        )
    assert _error(r) == (409, "rotation_disabled")


def test_production_refuses_a_placeholder_admin_token(engine: Engine) -> None:
    auth = AuthSettings(
        environment="production",
        jwt_secret=SecretStr(secrets.token_urlsafe(48)),
        auth_domain="gtx.example",
    )
    for token in (None, "changethis", "short", "r" * 32):
        secret = None if token is None else SecretStr(token)
        with pytest.raises(ConfigError, match="GTX_ADMIN_TOKEN"):
            create_app(
                Settings(environment="production", admin_token=secret), engine, auth_settings=auth
            )
    good = Settings(environment="production", admin_token=SecretStr(secrets.token_urlsafe(32)))
    create_app(good, engine, auth_settings=auth)

"""An API app on the real PostgreSQL with an in-memory broker and a settable clock."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from coordinator.api.auth.config import AuthSettings
from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.devices.broker_accounts import MemoryBroker
from provisioning.keys import Signer
from tests.conftest import RUN_ID
from wire.base58 import b58encode

ADMIN_TOKEN = "test-admin-token-" + "x" * 16


@dataclass
class FakeClock:
    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class Api:
    client: TestClient
    broker: MemoryBroker
    clock: FakeClock
    admin_wallet: Signer
    rec_wallet: Signer

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def issue(self, owner: str, **extra: object) -> str:
        r = self.client.post(
            "/api/v1/admin/enrolment-tokens", json={"owner": owner, **extra}, headers=self.admin()
        )
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token

    def login(self, signer: Signer) -> dict[str, str]:
        """Sign in with `signer`'s wallet; the bearer header of the session."""
        nonce = self.client.post("/api/v1/auth/nonce", json={"address": signer.address})
        assert nonce.status_code == 200, nonce.text
        message = nonce.json()["message"]
        r = self.client.post(
            "/api/v1/auth/login",
            json={"message": message, "signature": b58encode(signer.sign(message.encode()))},
        )
        assert r.status_code == 200, r.text
        self.client.cookies.clear()  # tests authenticate explicitly
        return {"Authorization": f"Bearer {r.json()['token']}"}

    def enrol_body(self, signer: Signer, token: str, **meter: object) -> dict[str, object]:
        m = {"meter_id": "sdm630-0001", "model": "sdm630", "rated_power_w": 63_000, **meter}
        return {
            "token": token,
            "gateway_id": signer.address,
            "proof": signer.enrolment_proof(token, signer.address),
            "meters": [m],
        }


def auth_settings(request: pytest.FixtureRequest, **overrides: object) -> AuthSettings:
    """Auth settings with a Redis key prefix no other test or run shares."""
    values: dict[str, object] = {
        "redis_prefix": f"gtxtest:{RUN_ID}:{request.node.name}",
        "auth_domain": "gtx.test",
        "rate_limit_requests": 100_000,
        **overrides,
    }
    return AuthSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def api(engine: Engine, request: pytest.FixtureRequest) -> Iterator[Api]:
    broker = MemoryBroker()
    admin_wallet, rec_wallet = Signer.generate(), Signer.generate()
    clock = FakeClock(dt.datetime.now(dt.UTC))
    settings = Settings(
        admin_token=SecretStr(ADMIN_TOKEN),
        key_overlap_default_s=600,
        key_overlap_max_s=3600,
        key_rotation_enabled=True,
    )
    auth = auth_settings(
        request, admin_wallets=admin_wallet.address, rec_authority_wallets=rec_wallet.address
    )
    app = create_app(settings, engine, broker=broker, clock=clock, auth_settings=auth)
    with TestClient(app) as client:
        yield Api(client, broker, clock, admin_wallet, rec_wallet)


@pytest.fixture
def owner() -> str:
    return Signer.generate().address

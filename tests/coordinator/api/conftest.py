"""An API app on the real PostgreSQL with an in-memory broker and a settable clock."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from coordinator.api.main import create_app
from coordinator.broker_credentials import MemoryBroker
from coordinator.config import Settings
from provisioning.keys import Signer

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

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def issue(self, owner: str, **extra: object) -> str:
        r = self.client.post(
            "/api/v1/admin/enrolment-tokens", json={"owner": owner, **extra}, headers=self.admin()
        )
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token

    def enrol_body(self, signer: Signer, token: str, **meter: object) -> dict[str, object]:
        m = {"meter_id": "sdm630-0001", "model": "sdm630", "rated_power_w": 63_000, **meter}
        return {
            "token": token,
            "gateway_id": signer.address,
            "proof": signer.enrolment_proof(token, signer.address),
            "meters": [m],
        }


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    broker = MemoryBroker()
    clock = FakeClock(dt.datetime.now(dt.UTC))
    settings = Settings(
        admin_token=ADMIN_TOKEN,
        key_overlap_default_s=600,
        key_overlap_max_s=3600,
        key_rotation_enabled=True,
    )
    app = create_app(settings, engine, broker=broker, clock=clock)
    with TestClient(app) as client:
        yield Api(client, broker, clock)


@pytest.fixture
def owner() -> str:
    return Signer.generate().address

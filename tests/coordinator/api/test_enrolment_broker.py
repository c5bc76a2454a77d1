"""What enrolment hands the broker and the gateway for the production broker:
the password just issued (the dynamic security plugin takes it in clear) and
the broker's CA certificate, so the gateway's config needs no hand edit."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.devices.broker_accounts import MemoryBroker, check_password
from provisioning.keys import Signer
from tests.coordinator.api.conftest import ADMIN_TOKEN, auth_settings

pytestmark = pytest.mark.services

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_enrolment_gives_the_broker_the_password_and_the_gateway_the_ca(
    engine: Engine, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    (tmp_path / "ca.crt").write_text(PEM)
    settings = Settings(
        admin_token=SecretStr(ADMIN_TOKEN),
        gateway_mqtt_host="broker.example",
        gateway_mqtt_port=8883,
        gateway_mqtt_tls=True,
        gateway_mqtt_ca_file=tmp_path / "ca.crt",
    )
    broker = MemoryBroker()
    app = create_app(settings, engine, broker=broker, auth_settings=auth_settings(request))
    gw, owner = Signer.generate(), Signer.generate().address
    with TestClient(app) as client:
        r = client.post(
            "/api/v1/admin/enrolment-tokens",
            json={"owner": owner},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        token = r.json()["token"]
        body = {
            "token": token,
            "gateway_id": gw.address,
            "proof": gw.enrolment_proof(token, gw.address),
            "meters": [{"meter_id": "m-1", "model": "sdm630", "rated_power_w": 5000}],
        }
        r = client.post("/api/v1/enrolment", json=body)
    assert r.status_code == 200, r.text
    mqtt = r.json()["mqtt"]
    assert (mqtt["host"], mqtt["port"], mqtt["tls"]) == ("broker.example", 8883, True)
    assert mqtt["ca_certificate"] == PEM
    assert broker.fresh == {gw.address: mqtt["password"]}
    assert check_password(mqtt["password"], broker.entries[gw.address])

"""The installer's flow end to end: init -> enroll -> check (simulated meter,
Mosquitto, coordinator ingest, PostgreSQL) -> revoke -> rotate-key."""

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import Engine

from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.db.models import RejectedReading
from coordinator.devices.broker_accounts import MemoryBroker
from coordinator.runner import run_ingest
from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer
from edge.config import load_config
from provisioning import cli
from provisioning.check import run_check
from provisioning.enroll import EnrolOptions, enroll
from provisioning.errors import RefusedError
from provisioning.gateway_config import MeterSpec
from provisioning.keys import Signer
from provisioning.rotate import rotate_key
from tests.provisioning.conftest import AppTransport
from tests.utils.services import MQTT_HOST, MQTT_PORT, async_wait_until
from wire import topics
from wire.reading import Reading, encode_payload

pytestmark = pytest.mark.services

ADMIN = "integration-admin-token-0123456789"


def _settings(database_url: str, topic_root: str, name: str) -> Settings:
    return Settings(
        database_url=database_url,
        mqtt_host=MQTT_HOST,
        mqtt_port=MQTT_PORT,
        mqtt_client_id=f"gtx-test-prov-{name}",
        mqtt_session_expiry_s=30,
        topic_root=topic_root,
        admin_token=SecretStr(ADMIN),
        key_overlap_default_s=0,
        key_rotation_enabled=True,
    )


@pytest.fixture
def client(engine: Engine, database_url: str, topic_root: str) -> Iterator[TestClient]:
    app = create_app(_settings(database_url, topic_root, "api"), engine, broker=MemoryBroker())
    with TestClient(app) as c:
        yield c


@contextlib.asynccontextmanager
async def _ingest(settings: Settings, engine: Engine) -> AsyncIterator[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(run_ingest(settings, engine, ready=ready), name="ingest")
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _token(client: TestClient, owner: str) -> str:
    r = client.post(
        "/api/v1/admin/enrolment-tokens",
        json={"owner": owner},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def _enrol(tmp_path: Path, client: TestClient, port: int) -> tuple[Path, Signer]:
    key_file = tmp_path / "device.pem"
    assert cli.main(["init", "--key-file", str(key_file)]) == cli.EXIT_OK
    owner = Signer.generate().address
    options = EnrolOptions(
        config_file=tmp_path / "gateway.toml",
        key_file=key_file,
        state_file=tmp_path / "state.sqlite",
        coordinator_url="http://testserver",
        token=_token(client, owner),
        meters=(MeterSpec("sdm630-0001", "127.0.0.1", port, 1, "sdm630", 63_000),),
    )
    report = enroll(options, AppTransport(client))
    assert report.ok
    # Re-running with the same token is safe.
    assert enroll(options, AppTransport(client)).data["first_time"] is False
    return options.config_file, Signer.load(key_file)


def _rejections(engine: Engine, gateway_id: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(RejectedReading.reason).where(RejectedReading.gateway_id == gateway_id)
            ).scalars()
        )


async def test_enroll_check_then_revoke(
    tmp_path: Path, engine: Engine, database_url: str, topic_root: str, client: TestClient
) -> None:
    meter = SimulatedMeter.fixed(import_wh=12_345_500, export_wh=987_250)
    async with ModbusSimServer({1: meter}, map_name="sdm630") as sim:
        config_file, signer = _enrol(tmp_path, client, sim.port)
        config = load_config(config_file)
        assert config.broker.username == signer.address
        assert config.broker.password
        assert oct(config_file.stat().st_mode & 0o777) == "0o600"
        async with _ingest(_settings(database_url, topic_root, signer.address[:8]), engine):
            report = await run_check(config_file, AppTransport(client), accept_timeout_s=20)
            assert [(s.name, s.ok) for s in report.steps] == [
                ("config", True),
                ("device key", True),
                ("meter sdm630-0001", True),
                ("broker login", True),
                ("publish", True),
                ("coordinator", True),
            ], report.steps

            r = client.post(
                f"/api/v1/admin/gateways/{signer.address}/revoke",
                headers={"Authorization": f"Bearer {ADMIN}"},
            )
            assert r.status_code == 200
            reading = Reading(signer.address, "sdm630-0001", 99, 1764000000, 12_345_600, 987_250)
            async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as mqtt:
                await mqtt.publish(
                    topics.gateway_readings(topic_root, signer.address),
                    encode_payload(signer.sign_reading(reading)),
                    qos=1,
                )
            await async_wait_until(
                lambda: "revoked_device" in _rejections(engine, signer.address),
                within_s=20,
                what="the revoked gateway's reading rejected",
            )
            again = await run_check(config_file, AppTransport(client), accept_timeout_s=5)
    assert not again.ok
    assert again.steps[-1].name == "coordinator"
    assert "revoked" in again.steps[-1].detail


async def test_rotated_key_is_accepted_and_old_key_rejected_after_overlap(
    tmp_path: Path, engine: Engine, database_url: str, topic_root: str, client: TestClient
) -> None:
    config_file, old = _enrol(tmp_path, client, 5020)
    gateway_id = old.address
    report = rotate_key(
        config_file=config_file,
        key_file=tmp_path / "device.pem",
        transport=AppTransport(client),
        overlap_s=0,
    )
    assert report.ok
    new = Signer.load(tmp_path / "device.pem")
    assert new.address != gateway_id
    assert not (tmp_path / "device.pem.new").exists()
    until = dt.datetime.fromisoformat(report.data["old_key_valid_until"])
    assert until <= dt.datetime.now(dt.UTC)  # overlap 0: the old key is already out

    topic = topics.gateway_readings(topic_root, gateway_id)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    by_new = Reading(gateway_id, "sdm630-0001", 1, now, 1000, 0)
    by_old = Reading(gateway_id, "sdm630-0001", 2, now, 1001, 0)
    async with _ingest(_settings(database_url, topic_root, gateway_id[:8]), engine):
        async with aiomqtt.Client(MQTT_HOST, MQTT_PORT) as mqtt:
            await mqtt.publish(topic, encode_payload(new.sign_reading(by_new)), qos=1)
            await mqtt.publish(topic, encode_payload(old.sign_reading(by_old)), qos=1)
        transport = AppTransport(client)

        def status(seq: int) -> str:
            path = f"/api/v1/gateways/{gateway_id}/readings/{seq}"
            answer = transport.request("GET", path, None, new.request_headers("GET", path))
            return str(answer["status"]) + ":" + str(answer["reason"])

        await async_wait_until(
            lambda: status(1) != "pending:None" and status(2) != "pending:None",
            within_s=20,
            what="both readings screened",
        )
    assert status(1) == "accepted:None"
    assert status(2) == "rejected:bad_signature"
    # The retired key can no longer authenticate to the API either.
    path = f"/api/v1/gateways/{gateway_id}/readings/1"
    with pytest.raises(RefusedError) as refused:
        transport.request("GET", path, None, old.request_headers("GET", path))
    assert refused.value.code == "bad_proof"

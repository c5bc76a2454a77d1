"""The production profile end to end, set up as docs/operations.md tells an
operator to, then attacked by a tenant and broken by crashes.

Real processes on loopback: Mosquitto running mosquitto/production.conf (TLS
with a development CA made by mosquitto/make-dev-ca.sh, the dynamic security
plugin, autosave on every change), a fresh PostgreSQL database, Redis, the API
(uvicorn), `gtx-coordinator run`, simulated meters (`gtx-sim`) and three
gateways enrolled with `gtx-provision` from tokens the admin issued: A and B
run `gtx-edge`; C's credentials are the hostile tenant's.

The gateways start before the coordinator ever ran (the broker queues for the
session `broker-init` made). The tenant subscribes to `#`, `$SYS/#`, the
coordinator's shared subscription and A's topics; publishes on A's readings,
the coordinator's retained topics and the plugin's control topic; logs in
with the coordinator's and A's client ids; an outsider logs in anonymously and
with a wrong password. Then the coordinator, the broker and gateway A are each
killed with SIGKILL mid-stream and started again.

Asserted: every reading A and B signed is accepted exactly once (by gateway
id and sequence number), none rejected; nothing the tenant did reached a
subscriber, the database, a retained topic or the broker's accounts; and
every refusal shows in the broker's log as `gtx-coordinator broker-audit`
reads it.
"""

import asyncio
import contextlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from coordinator.config import MqttTls
from coordinator.db.models import RejectedReading
from coordinator.db.session import make_engine
from coordinator.devices import dynsec
from coordinator.devices.broker_control import MqttDynsecControl
from coordinator.ops.broker_audit import LOGIN, PUBLISH, SUBSCRIBE, audit_lines
from edge.config import load_config
from provisioning.keys import Signer
from tests.utils.gateway import accepted_readings, outbox_seqs
from tests.utils.mosquitto import PrivateBroker, free_port, make_dev_ca, production_broker
from tests.utils.services import async_wait_until, fresh_database, wait_until
from wire import topics
from wire.alerts import decode_stats

pytestmark = [
    pytest.mark.services,
    pytest.mark.timeout(180),
]

REPO = Path(__file__).resolve().parents[2]
SCRIPTS: dict[str, str] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
COORDINATOR_ID = "gtx-coordinator-1"


def _secret() -> str:
    return secrets.token_urlsafe(32)


class Processes:
    """The system's processes, each started as its console entry point with the
    test's environment, its output in `logs/<name>.log`."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs = logs
        self.env = env
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        logs.mkdir(parents=True, exist_ok=True)

    def _argv(self, script: str, args: list[str]) -> list[str]:
        if script == "uvicorn":
            return [sys.executable, "-m", "uvicorn", *args]
        module, func = SCRIPTS[script].split(":")
        code = (
            f"import sys; from {module} import {func} as m; sys.argv[0] = {script!r}; sys.exit(m())"
        )
        return [sys.executable, "-c", code, *args]

    def start(self, name: str, script: str, *args: str, **env: str) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self._procs[name] = subprocess.Popen(
                self._argv(script, list(args)),
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def run(self, name: str, script: str, *args: str, **env: str) -> str:
        """Run to completion; fail the test with its output unless it succeeds."""
        result = subprocess.run(
            self._argv(script, list(args)),
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        (self.logs / f"{name}.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            pytest.fail(f"{name} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
        return result.stdout

    def kill(self, name: str) -> None:
        """SIGKILL: no chance to flush, acknowledge or say goodbye."""
        proc = self._procs.pop(name)
        proc.kill()
        proc.wait(10)

    def stop(self, name: str) -> None:
        proc = self._procs.pop(name)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def alive(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        for name in list(self._procs):
            self.kill(name)


def _http(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST" if body else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _api_up(url: str) -> bool:
    try:
        return bool(_http(url + "/api/v1/health")["status"] == "ok")
    except OSError:
        return False


class Site:
    """Everything the test set up, and the handles it needs later."""

    def __init__(self, tmp: Path, database_url: str) -> None:
        self.tmp = tmp
        self.root = f"gtxprod{secrets.token_hex(3)}"
        self.certs = make_dev_ca(tmp / "certs")
        self.ca_file = self.certs / "ca.crt"
        self.port = free_port()
        self.api = f"http://127.0.0.1:{free_port()}"
        self.sim_port = free_port()
        self.passwords = {
            "admin": _secret(),
            "coordinator": _secret(),
            "operator": _secret(),
        }
        self.admin_token = _secret()
        self.database_url = database_url
        env = {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}
        env.update(
            GTX_ENVIRONMENT="production",
            GTX_DATABASE_URL=database_url,
            GTX_TOPIC_ROOT=self.root,
            GTX_REDIS_PREFIX=f"gtxtest:{self.root}",
            GTX_LEDGER="off",
            GTX_LOG_JSON="true",
            GTX_MQTT_HOST="localhost",
            GTX_MQTT_PORT=str(self.port),
            GTX_MQTT_TLS="true",
            GTX_MQTT_CA_FILE=str(self.ca_file),
            GTX_BROKER_ADMIN_USERNAME="gtx-broker-admin",
            GTX_BROKER_ADMIN_PASSWORD=self.passwords["admin"],
        )
        self.procs = Processes(tmp / "logs", env)
        self.coordinator_env = {
            "GTX_MQTT_USERNAME": "gtx-coordinator",
            "GTX_MQTT_PASSWORD": self.passwords["coordinator"],
            "GTX_MQTT_CLIENT_ID": COORDINATOR_ID,
            # A plain subscription: Mosquitto before 2.0.19 loses shared ones at a
            # restart (docs/operations.md, "Durability").
            "GTX_MQTT_SHARED": "false",
        }
        self.broker: PrivateBroker | None = None
        self.gateways: dict[str, Path] = {}  # name -> gateway config file

    # --- the operator's steps -------------------------------------------------

    def configure_broker(self) -> None:
        self.procs.run(
            "broker-config", "gtx-coordinator", "broker-config",
            str(self.tmp / "broker" / "data" / "dynamic-security.json"),
            GTX_BROKER_OPERATOR_USERNAME="alice",
            GTX_BROKER_OPERATOR_PASSWORD=self.passwords["operator"],
            **self.coordinator_env,
        )  # fmt: skip

    def init_broker(self) -> str:
        return self.procs.run(
            "broker-init", "gtx-coordinator", "broker-init", **self.coordinator_env
        )

    def start_api(self) -> None:
        self.procs.start(
            "api", "uvicorn", "--factory", "coordinator.api.main:app_from_environment",
            "--host", "127.0.0.1", "--port", self.api.rsplit(":", 1)[1], "--log-level", "warning",
            GTX_ADMIN_TOKEN=self.admin_token,
            GTX_JWT_SECRET=_secret(),
            GTX_AUTH_DOMAIN=self.api.removeprefix("http://"),
            GTX_GATEWAY_MQTT_HOST="localhost",
            GTX_GATEWAY_MQTT_PORT=str(self.port),
            GTX_GATEWAY_MQTT_TLS="true",
            GTX_GATEWAY_MQTT_CA_FILE=str(self.ca_file),
        )  # fmt: skip
        wait_until(lambda: _api_up(self.api), 30, "the API to answer")

    def enrol(self, name: str, unit: int) -> Path:
        """An installer at gateway `name`: device key, a token from the admin, enrol."""
        home = self.tmp / "gw" / name
        owner = Signer.generate().address
        token = _http(
            self.api + "/api/v1/admin/enrolment-tokens", {"owner": owner}, self.admin_token
        )["token"]
        self.procs.run(
            f"init-{name}", "gtx-provision", "init", "--key-file", str(home / "device.pem")
        )
        self.procs.run(
            f"enroll-{name}", "gtx-provision", "enroll",
            "--config", str(home / "gateway.toml"), "--key-file", str(home / "device.pem"),
            "--coordinator", self.api, "--token", token, "--poll-interval", "1",
            "--meter", f"meter_id={name}-meter,host=127.0.0.1,port={self.sim_port},unit={unit},"
            "model=sdm630,rated_w=63000",
        )  # fmt: skip
        self.gateways[name] = home / "gateway.toml"
        return home / "gateway.toml"

    def start_gateway(self, name: str) -> None:
        self.procs.start(f"edge-{name}", "gtx-edge", "run", "--config", str(self.gateways[name]))

    def start_coordinator(self) -> None:
        self.procs.start("coordinator", "gtx-coordinator", "run", **self.coordinator_env)

    # --- what the test looks at -------------------------------------------------

    def gateway_id(self, name: str) -> str:
        return load_config(self.gateways[name]).gateway_id or ""

    def acknowledged(self, name: str) -> int:
        """Readings gateway `name` signed and the broker acknowledged."""
        state_file = load_config(self.gateways[name]).state_file
        try:
            pending, next_seq = outbox_seqs(state_file)
        except (sqlite3.Error, TypeError):  # the agent is still creating it
            return 0
        return next_seq - 1 - len(pending)

    def client(self, user: str | None, password: str | None, client_id: str) -> aiomqtt.Client:
        return aiomqtt.Client(
            "localhost", self.port, username=user, password=password, identifier=client_id,
            protocol=aiomqtt.ProtocolVersion.V5, tls_context=MqttTls(self.ca_file).context(),
            timeout=5,
        )  # fmt: skip

    def as_gateway(self, name: str, client_id: str | None = None) -> aiomqtt.Client:
        broker = load_config(self.gateways[name]).broker
        gateway_id = self.gateway_id(name)
        return self.client(
            broker.username, broker.password, client_id or topics.gateway_client_id(gateway_id)
        )

    def operator(self) -> aiomqtt.Client:
        return self.client("alice", self.passwords["operator"], "gtx-monitor-alice")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with fresh_database("gtx_prod") as url:
        s = Site(tmp_path, url)
        try:
            yield s
        finally:
            s.procs.close()


def _seqs_accepted(engine: Engine, gateway_id: str) -> list[int]:
    return [r.seq for r in accepted_readings(engine, gateway_id)]


async def _refused_login(client: aiomqtt.Client) -> bool:
    try:
        async with client:
            return False
    except aiomqtt.MqttError:
        return True


@contextlib.asynccontextmanager
async def _watch(client: aiomqtt.Client, filters: list[str]) -> AsyncIterator[list[bytes]]:
    """Every payload `client` receives on `filters` (retained ones first) until exit."""
    got: list[bytes] = []
    async with client:
        for f in filters:
            await client.subscribe(f, qos=1)

        async def gather() -> None:
            async for m in client.messages:
                got.append(bytes(m.payload))

        task = asyncio.create_task(gather(), name="watch")
        try:
            yield got
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _retained(site: Site, wanted: str) -> dict[str, bytes]:
    """The retained messages under `wanted`, as an operator reads them."""
    got: dict[str, bytes] = {}
    async with site.operator() as client:
        await client.subscribe(wanted, qos=1)
        # The broker sends a subscription's retained messages before its answer
        # to the next SUBSCRIBE, and aiomqtt queues them before that answer.
        await client.subscribe("$SYS/broker/version", qos=0)
        while len(client.messages):
            message = await anext(client.messages)
            if message.retain and not message.topic.value.startswith("$SYS"):
                got[message.topic.value] = bytes(message.payload)
    return got


async def _more(site: Site, names: list[str], n: int, within_s: float = 20) -> None:
    """Wait until each gateway has `n` more readings acknowledged by the broker."""
    start = {name: site.acknowledged(name) for name in names}
    await async_wait_until(
        lambda: all(site.acknowledged(name) >= start[name] + n for name in names),
        within_s,
        f"{n} more acknowledged readings from {names}",
    )


async def _hostile_tenant(site: Site) -> None:
    """Gateway C's credentials, used against everyone else; each attempt refused."""
    root, a = site.root, site.gateway_id("A")
    async with site.as_gateway("C") as tenant:
        for wanted in ("#", "$SYS/#", topics.readings_subscription(root),
                       topics.readings_subscription(root, shared=False),
                       topics.gateway_readings(root, a), f"{root}/v1/coord/#"):  # fmt: skip
            codes = await tenant.subscribe(wanted, qos=1)
            assert all(c.is_failure for c in codes), (wanted, codes)  # type: ignore[union-attr]
        forged = b"forged-by-tenant"
        for topic in (
            topics.gateway_readings(root, a),
            topics.coordinator_stats(root),
            topics.epoch_summary(root, 1),
            topics.gateway_status(root, a),
        ):
            await tenant.publish(topic, forged, qos=1, retain=True)
        create = {"command": "createClient", "username": "evil", "password": "evil-password"}
        await tenant.publish(dynsec.CONTROL_TOPIC, json.dumps({"commands": [create]}), qos=1)
    # Taking over the coordinator's or A's client id; the operator account too;
    # an outsider without an account, and with a wrong password.
    assert await _refused_login(site.as_gateway("C", COORDINATOR_ID))
    assert await _refused_login(site.as_gateway("C", topics.gateway_client_id(a)))
    assert await _refused_login(site.client("alice", site.passwords["operator"], COORDINATOR_ID))
    assert await _refused_login(site.client(None, None, "outsider"))
    broker = load_config(site.gateways["C"]).broker
    assert await _refused_login(
        site.client(broker.username, "not-" + str(broker.password), "outsider-2")
    )


async def test_production_profile_with_hostile_tenant_and_crashes(site: Site) -> None:
    # The operator's set-up (docs/operations.md, "Production set-up").
    site.configure_broker()
    with production_broker(site.tmp / "broker", None, site.certs, port=site.port) as broker:
        site.broker = broker
        assert "coordinator session gtx-coordinator-1: created" in site.init_broker()
        site.start_api()
        site.procs.start(
            "meters", "gtx-sim", "serve", "--meters", "3", "--map", "sdm630",
            "--port", str(site.sim_port),
        )  # fmt: skip
        for name, unit in (("A", 1), ("B", 2), ("C", 3)):
            config = site.enrol(name, unit)
            assert load_config(config).broker.ca_file is not None  # no hand edit
        engine = make_engine(site.database_url)
        try:
            await _run(site, broker, engine)
        finally:
            engine.dispose()


async def _run(site: Site, broker: PrivateBroker, engine: Engine) -> None:
    honest = ["A", "B"]
    ids = {name: site.gateway_id(name) for name in ("A", "B", "C")}

    # Gateways first: the coordinator has never run, its session queues for it.
    for name in honest:
        site.start_gateway(name)
    await _more(site, honest, 3)
    site.start_coordinator()
    await async_wait_until(
        lambda: all(len(_seqs_accepted(engine, ids[n])) >= 3 for n in honest), 30,
        "the queued readings accepted",
    )  # fmt: skip

    # The hostile tenant, watched by an operator who sees every topic.
    log_from = len(broker.log_text())
    async with _watch(site.operator(), [f"{site.root}/v1/#"]) as seen:
        await _hostile_tenant(site)
        await _more(site, honest, 1)
    hostile_log = broker.log_text()[log_from:]

    # Crashes, mid-stream: the coordinator; the broker while readings queue for
    # the absent coordinator; then gateway A.
    site.procs.kill("coordinator")
    await _more(site, honest, 2)
    broker.kill()
    broker.start()
    await _more(site, honest, 2, within_s=30)
    site.start_coordinator()
    await _more(site, honest, 1)
    site.procs.kill("edge-A")
    await _more(site, ["B"], 1)
    site.start_gateway("A")
    await _more(site, honest, 2, within_s=30)

    # The meters go quiet: nothing more is signed; the gateways empty their outboxes.
    site.procs.stop("meters")
    signed: dict[str, int] = {}

    def drained() -> bool:
        for name in honest:
            pending, next_seq = outbox_seqs(load_config(site.gateways[name]).state_file)
            if pending:
                return False
            signed[name] = next_seq - 1
        return True

    await async_wait_until(drained, 30, "the gateways' outboxes to empty")

    def missing() -> dict[str, list[int]]:
        return {
            n: sorted(set(range(1, signed[n] + 1)) - set(_seqs_accepted(engine, ids[n])))
            for n in honest
        }

    try:
        await async_wait_until(lambda: not any(missing().values()), 30, "all readings accepted")
    except AssertionError as exc:
        with engine.connect() as conn:
            rejected = conn.execute(
                select(RejectedReading.gateway_id, RejectedReading.reason, RejectedReading.detail)
            ).all()
        raise AssertionError(
            f"{exc}: missing {missing()}; signed {signed}; rejected {rejected}"
        ) from None

    # Every reading each honest gateway signed, accepted exactly once; none rejected.
    for name in honest:
        seqs = _seqs_accepted(engine, ids[name])
        assert sorted(seqs) == list(range(1, signed[name] + 1)), name
        assert signed[name] >= 10
    with engine.connect() as conn:
        refused = conn.execute(select(RejectedReading.gateway_id, RejectedReading.payload)).all()
    assert [r for r in refused if r.gateway_id in (ids["A"], ids["B"])] == []
    assert not any(b"forged" in r.payload for r in refused)

    # Nothing the tenant sent reached a subscriber or a retained topic.
    assert not any(b"forged" in p for p in seen)
    retained = await _retained(site, f"{site.root}/v1/#")
    assert not any(b"forged" in p for p in retained.values())
    stats_topic = topics.coordinator_stats(site.root)
    assert stats_topic not in retained or _is_stats(retained[stats_topic])
    status_a = retained[topics.gateway_status(site.root, ids["A"])]
    assert json.loads(status_a)["state"] == "online"

    # The operator's monitor reaches the TLS broker with an operator account.
    snapshot = json.loads(
        site.procs.run(
            "monitor", "gtx-coordinator", "monitor", "--once", "--json",
            GTX_MQTT_USERNAME="alice", GTX_MQTT_PASSWORD=site.passwords["operator"],
        )
    )  # fmt: skip
    assert {ids["A"], ids["B"]} <= set(snapshot["gateways"])

    # The broker's accounts are what enrolment made: the tenant created none.
    control = MqttDynsecControl(
        host="localhost", port=site.port, username="gtx-broker-admin",
        password=site.passwords["admin"], tls=MqttTls(site.ca_file),
    )  # fmt: skip
    (listing,) = await asyncio.to_thread(control.run, [{"command": "listClients", "verbose": True}])
    clients = {c["username"]: c for c in listing["data"]["clients"]}
    assert set(clients) == {"gtx-broker-admin", "gtx-coordinator", "alice", *ids.values()}
    assert not any(c.get("disabled") for c in clients.values())

    # Every refusal is visible to operators (broker-audit over the broker's log).
    refusals = [r for _, rs in audit_lines(hostile_log.splitlines()) for r in rs]
    tenant = topics.gateway_client_id(ids["C"])
    found = {(r.kind, r.topic) for r in refusals if r.client_id == tenant}
    root, a = site.root, ids["A"]
    assert found >= {
        (SUBSCRIBE, "#"),
        (SUBSCRIBE, "$SYS/#"),
        (SUBSCRIBE, topics.readings_subscription(root)),
        (SUBSCRIBE, topics.readings_subscription(root, shared=False)),
        (SUBSCRIBE, topics.gateway_readings(root, a)),
        (SUBSCRIBE, f"{root}/v1/coord/#"),
        (PUBLISH, topics.gateway_readings(root, a)),
        (PUBLISH, topics.coordinator_stats(root)),
        (PUBLISH, topics.epoch_summary(root, 1)),
        (PUBLISH, topics.gateway_status(root, a)),
        (PUBLISH, dynsec.CONTROL_TOPIC),
    }, found
    assert sum(r.kind == LOGIN for r in refusals) == 5
    # And no session was taken over: the broker never closed the coordinator's or
    # A's connection for a newcomer with the same id.
    assert "already connected, closing old connection" not in hostile_log


def _is_stats(payload: bytes) -> bool:
    try:
        decode_stats(payload)
    except ValueError:
        return False
    return True

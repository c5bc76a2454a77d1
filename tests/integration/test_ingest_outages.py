"""Ingest through outages of what it depends on (`gtx-coordinator run` subprocesses):
PostgreSQL restarted mid-stream, Redis killed mid-stream, the coordinator itself
down while gateways publish. Every reading published is stored exactly once."""

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
import redis
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from tests.integration.test_ingest_resilience import (
    _accepted,
    _coordinator,
    _energy,
    _gateway,
    _payloads,
    _Publisher,
    _rejected,
    _wait_subscribed,
)
from tests.utils.mosquitto import free_port
from tests.utils.services import MQTT_HOST, MQTT_PORT, PG_ADMIN_URL, wait_until
from tests.utils.tools import require_tool
from wire import topics

pytestmark = pytest.mark.services


def _all_stored(engine: Engine, gw: str, n: int) -> bool:
    try:
        return len(_accepted(engine, gw)) >= n
    except DBAPIError:  # the database may be restarting: not yet
        return False


def _pg_accepts() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=1) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _clusters() -> list[str]:
    versions = Path("/etc/postgresql")
    return sorted(p.name for p in versions.iterdir()) if versions.is_dir() else []


def test_postgres_restart_mid_stream_loses_nothing(
    engine: Engine, database_url: str, topic_root: str
) -> None:
    require_tool("pg_ctlcluster", "the test restarts the local PostgreSQL cluster")
    key = _gateway(engine)
    n = 300
    with _coordinator(database_url, topic_root, key.gateway_id[:10]):
        _wait_subscribed(engine, topic_root)
        with _Publisher(topic_root, [key], n, rate=100):
            wait_until(lambda: len(_accepted(engine, key.gateway_id)) >= 50, 30, "some stored")
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", _clusters()[-1], "main", "restart"],
                check=True,
                capture_output=True,
                timeout=60,
            )
            wait_until(_pg_accepts, 30, "PostgreSQL accepting connections again")
            engine.dispose()  # the pool's connections died with the server
            wait_until(
                lambda: _all_stored(engine, key.gateway_id, n), 60, "ingest resumed, all stored"
            )
    assert sorted(_accepted(engine, key.gateway_id)) == list(range(1, n + 1))
    assert _rejected(engine, key.gateway_id) == []
    assert _energy(engine, key.gateway_id) == 10 * n - 10


class _Redis:
    """A private, non-persistent redis-server on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = require_tool("redis-server", "the test runs a private Redis")
        self._proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        wait_until(lambda: self._pong(client), 10, "redis-server up")

    @staticmethod
    def _pong(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None


@contextmanager
def _private_redis() -> Iterator[_Redis]:
    server = _Redis()
    server.start()
    try:
        yield server
    finally:
        server.kill()


def test_redis_killed_mid_stream_ingest_goes_on_and_cache_catches_up(
    engine: Engine, database_url: str, topic_root: str
) -> None:
    key = _gateway(engine)
    n = 300
    meter_key = f"{topic_root}:meter:{key.gateway_id}:m1"
    with _private_redis() as server:
        cache = redis.Redis(port=server.port, socket_timeout=0.5, decode_responses=True)
        with _coordinator(database_url, topic_root, key.gateway_id[:10], redis_url=server.url):
            _wait_subscribed(engine, topic_root)
            with _Publisher(topic_root, [key], n, rate=100):
                wait_until(lambda: bool(cache.hget(meter_key, "seq")), 30, "cache written")
                server.kill()
                stored = len(_accepted(engine, key.gateway_id))
                # Ingest does not wait for the cache.
                wait_until(
                    lambda: len(_accepted(engine, key.gateway_id)) >= stored + 100,
                    30,
                    "ingest going on without Redis",
                )
                server.start()  # same port, empty: nothing was persisted
            wait_until(lambda: _all_stored(engine, key.gateway_id, n), 60, "all stored")
            # Redis came back empty: the pending newest reading is written.
            wait_until(lambda: _safe_hget(cache, meter_key, "seq") == str(n), 30, "cache caught up")
            latest = cache.hgetall(meter_key)
    assert latest["import_wh"] == str(10 * n)
    assert sorted(_accepted(engine, key.gateway_id)) == list(range(1, n + 1))
    assert _rejected(engine, key.gateway_id) == []


def _safe_hget(client: redis.Redis, name: str, key: str) -> str | None:
    try:
        value = client.hget(name, key)
    except redis.RedisError:
        return None
    return None if value is None else str(value)


def test_broker_keeps_qos1_readings_while_the_coordinator_is_down(
    engine: Engine, database_url: str, topic_root: str
) -> None:
    key = _gateway(engine)
    n = 200
    with _coordinator(database_url, topic_root, key.gateway_id[:10]) as first:
        _wait_subscribed(engine, topic_root)
        first.terminate()
        first.wait(10)
    # Down: the broker acknowledges every reading and keeps it for the session.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(MQTT_HOST, MQTT_PORT)
    client.loop_start()
    try:
        topic = topics.gateway_readings(topic_root, key.gateway_id)
        infos = [client.publish(topic, p, qos=1) for p in _payloads(key, n)]
        for info in infos:
            info.wait_for_publish(10)
        assert all(info.is_published() for info in infos)
    finally:
        client.loop_stop()
        client.disconnect()
    assert _accepted(engine, key.gateway_id) == []
    with _coordinator(database_url, topic_root, key.gateway_id[:10]):
        wait_until(lambda: len(_accepted(engine, key.gateway_id)) >= n, 30, "backlog stored")
    assert sorted(_accepted(engine, key.gateway_id)) == list(range(1, n + 1))
    assert _rejected(engine, key.gateway_id) == []
    assert _energy(engine, key.gateway_id) == 10 * n - 10

"""The coordinator as operators run it (`gtx-coordinator run` subprocesses) on the
real Mosquitto, PostgreSQL and (absent) Redis: kill -9 mid-stream, database
connections killed mid-stream, two instances sharing the stream. Every reading
published is stored exactly once and its energy counted exactly once."""

import contextlib
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, make_url, select
from sqlalchemy.engine import Engine

from coordinator.db.models import MeterEpochEnergyRow, RejectedReading
from coordinator.db.models import Reading as ReadingRow
from coordinator.devices.registry import register_device, register_meter
from coordinator.readings.ingest.routing import owner
from edge.signing import DeviceKey
from tests.utils.mosquitto import free_port, private_broker
from tests.utils.services import MQTT_HOST, MQTT_PORT, wait_until
from wire import topics
from wire.reading import Reading, encode_payload

pytestmark = pytest.mark.services
EXE = Path(sys.executable).with_name("gtx-coordinator")


@contextmanager
def _coordinator(
    database_url: str,
    topic_root: str,
    name: str,
    metrics_port: int = 0,
    redis_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    mqtt_port: int = MQTT_PORT,
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "GTX_DATABASE_URL": database_url,
        "GTX_MQTT_HOST": MQTT_HOST,
        "GTX_MQTT_PORT": str(mqtt_port),
        "GTX_MQTT_CLIENT_ID": f"gtx-test-{name}",
        "GTX_MQTT_SESSION_EXPIRY_S": "60",
        "GTX_TOPIC_ROOT": topic_root,
        # By default nothing listens there: Redis down.
        "GTX_REDIS_URL": redis_url or f"redis://127.0.0.1:{free_port()}/0",
        "GTX_METRICS_PORT": str(metrics_port),
        "GTX_EPOCH_LENGTH_S": "60",
        "GTX_EPOCH_GRACE_S": "2",
        "GTX_EPOCH_CHECK_INTERVAL_S": "0.5",
        "GTX_LEDGER": "off",  # ingest only: minting is tested on its own
        **(extra_env or {}),
    }
    proc = subprocess.Popen([str(EXE), "run"], env=env, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _gateway(engine: Engine) -> DeviceKey:
    return _register(engine, DeviceKey.generate())


def _payloads(key: DeviceKey, n: int) -> list[bytes]:
    start = int(time.time()) - n  # one reading a second up to now, 10 Wh each
    return [
        encode_payload(key.sign(Reading(key.gateway_id, "m1", i, start + i, 10 * i, 0)))
        for i in range(1, n + 1)
    ]


class _Publisher:
    """A gateway stand-in publishing QoS 1 in a thread, at a bounded rate."""

    def __init__(
        self, topic_root: str, keys: list[DeviceKey], n: int, rate: float, port: int = MQTT_PORT
    ) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.connect(MQTT_HOST, port)
        self.client.loop_start()
        self.jobs = [
            (topics.gateway_readings(topic_root, k.gateway_id), _payloads(k, n)) for k in keys
        ]
        self.n, self.rate, self.sent = n, rate, 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for i in range(self.n):
            for topic, payloads in self.jobs:
                self.client.publish(topic, payloads[i], qos=1).wait_for_publish(10)
                self.sent += 1
            time.sleep(1 / self.rate)

    def __enter__(self) -> "_Publisher":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.thread.join(60)
        self.client.loop_stop()
        self.client.disconnect()


def _accepted(engine: Engine, gw: str) -> list[int]:
    with engine.connect() as conn:
        return [
            s for (s,) in conn.execute(select(ReadingRow.seq).where(ReadingRow.gateway_id == gw))
        ]


def _energy(engine: Engine, gw: str) -> int:
    with engine.connect() as conn:
        total = conn.execute(
            select(func.sum(MeterEpochEnergyRow.import_wh)).where(
                MeterEpochEnergyRow.gateway_id == gw
            )
        ).scalar_one()
    return int(total or 0)


def _rejected(engine: Engine, gw: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(select(RejectedReading.reason).where(RejectedReading.gateway_id == gw))
        return [r for (r,) in rows]


@pytest.mark.parametrize("workers", ["0", "2"])
def test_kill_9_and_restart_lose_nothing_count_nothing_twice(
    engine: Engine, database_url: str, topic_root: str, workers: str
) -> None:
    """With worker processes too: they go when their parent is killed (its pipe
    closes), and what they had not committed is redelivered by the broker."""
    key = _gateway(engine)
    n = 300
    env = {"GTX_INGEST_WORKERS": workers}
    with _coordinator(database_url, topic_root, key.gateway_id[:10], extra_env=env) as first:
        _wait_subscribed(engine, topic_root)
        with _Publisher(topic_root, [key], n, rate=100) as pub:
            wait_until(lambda: len(_accepted(engine, key.gateway_id)) >= 50, 30, "some stored")
            first.kill()  # SIGKILL: no clean shutdown
            first.wait(10)
            wait_until(lambda: pub.sent >= 150, 30, "more published while down")
            with _coordinator(database_url, topic_root, key.gateway_id[:10], extra_env=env):
                wait_until(
                    lambda: len(_accepted(engine, key.gateway_id)) == n,
                    60,
                    f"all stored: {len(_accepted(engine, key.gateway_id))}, "
                    f"{_rejected(engine, key.gateway_id)[:5]}",
                )
    seqs = _accepted(engine, key.gateway_id)
    assert sorted(seqs) == list(range(1, n + 1))
    assert _rejected(engine, key.gateway_id) == []
    assert _energy(engine, key.gateway_id) == 10 * n - 10  # first reading is the baseline


def _wait_subscribed(
    engine: Engine, topic_root: str, probe: DeviceKey | None = None, port: int = MQTT_PORT
) -> None:
    # Ready once a probe from an unknown gateway comes back rejected: the
    # shared subscription is in place (nothing published before it is routed).
    probe = probe or DeviceKey.generate()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect(MQTT_HOST, port)
    client.loop_start()
    try:
        topic = topics.gateway_readings(topic_root, probe.gateway_id)
        payload = _payloads(probe, 1)[0]

        def seen() -> bool:
            client.publish(topic, payload, qos=1).wait_for_publish(5)
            return bool(_rejected(engine, probe.gateway_id))

        wait_until(seen, 30, "the coordinator subscribed")
    finally:
        client.loop_stop()
        client.disconnect()


def test_two_instances_share_the_stream_and_survive_dropped_connections(
    engine: Engine, database_url: str, topic_root: str
) -> None:
    keys = [_gateway(engine) for _ in range(4)]
    n = 100
    ports = [free_port(), free_port()]
    shared = {"GTX_MQTT_SHARED": "true"}  # round-robin, the case this test is about
    with (
        _coordinator(
            database_url, topic_root, keys[0].gateway_id[:8] + "a", ports[0], extra_env=shared
        ),
        _coordinator(
            database_url, topic_root, keys[0].gateway_id[:8] + "b", ports[1], extra_env=shared
        ),
    ):
        wait_until(lambda: all(_metric(p) is not None for p in ports), 30, "both instances up")
        _wait_subscribed(engine, topic_root)
        _wait_subscribed(engine, topic_root)
        with _Publisher(topic_root, keys, n, rate=50):
            wait_until(lambda: len(_accepted(engine, keys[0].gateway_id)) >= 20, 30, "some")
            _terminate_backends(database_url)
        for k in keys:

            def decided(gw: str = k.gateway_id) -> bool:
                return _decided(engine, gw) >= n

            wait_until(decided, 60, "every reading decided")
        counts = [_metric(p) or 0 for p in ports]
    assert all(c > 0 for c in counts), counts  # both instances took a share
    for k in keys:
        seqs = _accepted(engine, k.gateway_id)
        rejected = _rejected(engine, k.gateway_id)
        assert len(seqs) == len(set(seqs))  # none stored twice
        # Across instances a reading can overtake an older one of the same meter:
        # the older is refused as stale (kept, energy covered by the newer).
        assert set(rejected) <= {"stale_reading"}
        assert len(seqs) + len(rejected) == n
        assert _energy(engine, k.gateway_id) == 10 * max(seqs) - 10 * min(seqs)


def _gateway_of_partition(partition: int, partitions: int) -> DeviceKey:
    while True:
        key = DeviceKey.generate()
        if owner(key.gateway_id, partitions) == partition:
            return key


@pytest.mark.parametrize("mode", ["partitions", "workers", "workers-mqtt-3.1.1"])
def test_sticky_ingest_decides_each_gateway_in_order(
    engine: Engine, database_url: str, topic_root: str, mode: str, tmp_path: Path
) -> None:
    """Gateways flushing their backlog at full speed (what splits one gateway across
    round-robin instances), into two instances with GTX_INGEST_PARTITIONS=2 or one
    with two worker processes: every reading is accepted exactly once, none refused
    as stale; with partitions each instance took exactly its own gateways.

    On a broker with the project's settings (`max_inflight_messages 0`): with
    Mosquitto's default window of 20, a 3.1.1 session's queued messages were seen
    delivered out of order, which the oracle then refuses as stale."""
    keys = [_register(engine, _gateway_of_partition(p, 2)) for p in (0, 0, 1, 1)]
    n = 150
    ports = [free_port(), free_port()]
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(private_broker(tmp_path)).port
        if mode == "partitions":
            for p in (0, 1):
                env = {"GTX_INGEST_PARTITIONS": "2", "GTX_INGEST_PARTITION": str(p)}
                name = f"{keys[0].gateway_id[:8]}p{p}"
                stack.enter_context(
                    _coordinator(
                        database_url, topic_root, name, ports[p], extra_env=env, mqtt_port=port
                    )
                )
        else:
            ports = ports[:1]
            env = {"GTX_INGEST_WORKERS": "2"}
            if mode.endswith("3.1.1"):
                env["GTX_MQTT_PROTOCOL"] = "3.1.1"
            name = f"{keys[0].gateway_id[:8]}w"
            stack.enter_context(
                _coordinator(
                    database_url, topic_root, name, ports[0], extra_env=env, mqtt_port=port
                )
            )
        wait_until(lambda: all(_metric(p) is not None for p in ports), 30, "instances up")
        for partition in (0, 1):
            _wait_subscribed(engine, topic_root, _gateway_of_partition(partition, 2), port)
        with _Publisher(topic_root, keys, n, rate=10_000, port=port):
            pass
        for k in keys:

            def decided(gw: str = k.gateway_id) -> bool:
                return _decided(engine, gw) >= n

            wait_until(decided, 60, "every reading decided")
        # The metric counts a batch after its commit is reported back: wait for it.
        wait_until(lambda: sum(_metric(p) or 0 for p in ports) >= 4 * n, 30, "every batch reported")
        counts = [_metric(p) or 0 for p in ports]
    assert counts == ([2 * n, 2 * n] if mode == "partitions" else [4 * n]), counts
    for k in keys:
        seqs = _accepted(engine, k.gateway_id)
        assert sorted(seqs) == list(range(1, n + 1))  # all, once each
        assert _rejected(engine, k.gateway_id) == []
        assert _energy(engine, k.gateway_id) == 10 * n - 10


def _register(engine: Engine, key: DeviceKey) -> DeviceKey:
    register_device(engine, key.gateway_id)
    register_meter(engine, key.gateway_id, "m1", model="sdm630", rated_power_w=100_000)
    return key


def _decided(engine: Engine, gw: str) -> int:
    return len(_accepted(engine, gw)) + len(_rejected(engine, gw))


def _metric(port: int) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("gtx_readings_accepted_total "):
            return float(line.split()[1])
    return None


def _terminate_backends(database_url: str) -> None:
    url = make_url(database_url)
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND application_name = ''",
            (url.database,),
        ).fetchone()
    assert killed is not None

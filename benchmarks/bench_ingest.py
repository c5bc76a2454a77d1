"""Ingest: pre-signed readings through a real Mosquitto into `gtx-coordinator run` and PostgreSQL.

Target (docs/DESIGN): 10,000 signed readings/s verified and stored, p99 under
1 s, on this 2-core machine. Baseline measured in the same run: raw Ed25519
verifications per second of one core (solders `Signature.verify` in a loop),
the costliest step a reading cannot avoid.

For 1 and 2 coordinator instances (each on a fresh database and a fresh
private broker with the project's settings, `max_inflight_messages 0`); two
instances run twice: sharing the readings round-robin through the shared
subscription, then with sticky partitions (`GTX_INGEST_PARTITIONS`, each
instance receives every reading and keeps its own gateways'):

1. capacity: the coordinators subscribe, are stopped, the readings are
   published into their persistent sessions (QoS 1), the coordinators start
   again and drain the backlog. Accepted readings/s is counted in the
   database between 10% and 90% of the backlog: the gateways' own CPU is not
   on this machine's account, as it is not in the field.
2. latency: gateways publish live at a fixed rate (default: the target or
   80% of the measured capacity, whichever is lower), with a probe reading
   every 20 ms whose publish -> commit time is taken by polling its
   (gateway, seq) row; accepted/s is counted over the same window.

    .venv/bin/python benchmarks/bench_ingest.py [--gateways 500] [--backlog 100000]
        [--live-s 15] [--instances 1 2] [--workers 0 3] [--sticky] [--batch-max 8000]
        [--batch-wait-s 0.25] [--live-rate R] [--mqtt-protocol 5|3.1.1]
"""

import argparse
import multiprocessing as mp
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from paho.mqtt.enums import CallbackAPIVersion
from psycopg import sql
from solders.keypair import Keypair

from wire import topics
from wire.base58 import b58encode
from wire.reading import Reading, SignedReading, encode_payload

PG_ADMIN = os.environ.get("GTX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("GTX_BENCH_REDIS", "redis://127.0.0.1:6379/0")
EXE = Path(sys.executable).with_name("gtx-coordinator")
ROOT = f"gtxbench/{os.getpid()}"
METER = "m1"
TARGET = 10_000

Job = tuple[str, list[bytes]]  # topic, payloads in publish order


# --- baseline --------------------------------------------------------------


def ed25519_verifications_per_s(seconds: float = 1.0) -> float:
    kp = Keypair()
    message = bytes(range(56))
    sig, pub = kp.sign_message(message), kp.pubkey()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(500):
            sig.verify(pub, message)
        n += 500
    return n / (time.perf_counter() - start)


# --- gateways and pre-signed readings ----------------------------------------


def _sign_gateway(args: tuple[bytes, int, int]) -> tuple[str, bytes, list[bytes]]:
    seed, count, base_ts = args
    key = Ed25519PrivateKey.from_private_bytes(seed)
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    gw = b58encode(pub)
    out = []
    for k in range(1, count + 1):
        r = Reading(gw, METER, k, base_ts + k, 10 * k, 0)
        out.append(encode_payload(SignedReading(r, key.sign(r.signing_bytes()))))
    return gw, pub, out


def presign(gateways: int, per_gateway: int) -> list[tuple[str, bytes, list[bytes]]]:
    base_ts = int(time.time()) - per_gateway - 5
    work = [(os.urandom(32), per_gateway, base_ts) for _ in range(gateways)]
    with mp.get_context("fork").Pool(2) as pool:
        return pool.map(_sign_gateway, work, chunksize=max(1, gateways // 8))


# --- services ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def private_broker(workdir: Path) -> Iterator[int]:
    """Mosquitto with the settings of tests/utils/mosquitto.py (unbounded queue)."""
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", "persistence false",
             "max_inflight_messages 0", "max_queued_messages 0", "log_type error"]  # fmt: skip
    if os.geteuid() == 0:
        lines.append("user root")
    conf.write_text("\n".join(lines) + "\n")
    exe = shutil.which("mosquitto")
    if exe is None:
        sys.exit("mosquitto is not installed")
    proc = subprocess.Popen([exe, "-c", str(conf)])
    try:
        _wait(lambda: _port_open(port), 10, "mosquitto listening")
        yield port
    finally:
        proc.kill()
        proc.wait(10)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(predicate: "object", timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def fresh_database(gateways: Sequence[tuple[str, bytes, list[bytes]]]) -> Iterator[str]:
    name = f"gtx_bench_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base = PG_ADMIN.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    try:
        env = {**os.environ, "GTX_DATABASE_URL": _sa(url)}
        subprocess.run([str(EXE), "migrate"], env=env, check=True, capture_output=True)
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            with cur.copy("COPY devices (gateway_id, public_key, status) FROM STDIN") as copy:
                for gw, pub, _ in gateways:
                    copy.write_row((gw, pub, "active"))
            with cur.copy(
                "COPY meters (gateway_id, meter_id, model, rated_power_w) FROM STDIN"
            ) as c:
                for gw, _, _ in gateways:
                    c.write_row((gw, METER, "sdm630", 100_000))
        yield url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _sa(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


class Coordinators:
    """`gtx-coordinator run` processes with stable client ids (persistent sessions)."""

    def __init__(
        self,
        n: int,
        db: str,
        port: int,
        batch_max: int,
        batch_wait_s: float,
        sticky: bool,
        workers: int = 0,
        protocol: str = "5",
    ) -> None:
        self.metrics_ports = [_free_port() for _ in range(n)]
        self._env = [
            {**os.environ, "GTX_DATABASE_URL": _sa(db), "GTX_MQTT_PORT": str(port),
             "GTX_MQTT_HOST": "127.0.0.1", "GTX_MQTT_CLIENT_ID": f"gtx-bench-{os.getpid()}-{i}",
             "GTX_TOPIC_ROOT": ROOT, "GTX_REDIS_URL": REDIS_URL, "GTX_METRICS_PORT": str(mp_),
             "GTX_BATCH_MAX": str(batch_max), "GTX_BATCH_WAIT_S": str(batch_wait_s),
             "GTX_LOG_JSON": "true", "GTX_LEDGER": "off",
             # Sticky routing (coordinator.readings.ingest.routing) or the shared subscription.
             "GTX_INGEST_PARTITIONS": str(n if sticky else 0), "GTX_INGEST_PARTITION": str(i),
             "GTX_MQTT_SHARED": "true" if n > 1 and not sticky else "false",
             "GTX_INGEST_WORKERS": str(workers), "GTX_MQTT_PROTOCOL": protocol}
            for i, mp_ in enumerate(self.metrics_ports)
        ]  # fmt: skip
        self.procs: list[subprocess.Popen[bytes]] = []
        self.sticky = sticky
        self.workers = workers

    def start(self) -> None:
        self.procs = [
            subprocess.Popen([str(EXE), "run"], env=env, stderr=subprocess.DEVNULL)
            for env in self._env
        ]
        _wait(lambda: all(_metric(p, "gtx_readings_accepted_total") is not None
                          for p in self.metrics_ports), 30, "coordinators up")  # fmt: skip

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait(10)
        self.procs = []


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name):
            total += float(line.split()[-1])
    return total


def _client(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(0)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def wait_subscribed(port: int, coordinators: Coordinators) -> None:
    """Probe from unknown gateways (a new one each time, so that every partition gets
    some) until every instance has rejected one."""
    client = _client(port)
    payload = b'{"v":1}'
    name = 'gtx_readings_rejected_total{reason="malformed"}'
    try:

        def seen() -> bool:
            for _ in range(8):
                probe = b58encode(os.urandom(32))
                client.publish(topics.gateway_readings(ROOT, probe), payload, qos=1)
            return all((_metric(p, name) or 0) > 0 for p in coordinators.metrics_ports)

        _wait(seen, 30, "every instance subscribed")
    finally:
        client.loop_stop()
        client.disconnect()


# --- publishing ----------------------------------------------------------------


def publish_all(port: int, jobs: Sequence[Job]) -> float:
    """Publish every payload (QoS 1) as fast as the broker acknowledges; rate/s."""
    client = _client(port)
    start = time.perf_counter()
    # At most 30,000 unacknowledged: MQTT message ids wrap at 65,535.
    infos: deque[mqtt.MQTTMessageInfo] = deque()
    count = 0
    longest = max(len(p) for _, p in jobs)
    for i in range(longest):
        for topic, payloads in jobs:
            if i < len(payloads):
                if len(infos) >= 30_000:
                    infos.popleft().wait_for_publish(60)
                infos.append(client.publish(topic, payloads[i], qos=1))
                count += 1
    for info in infos:
        info.wait_for_publish(60)
    elapsed = time.perf_counter() - start
    client.loop_stop()
    client.disconnect()
    return count / elapsed


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _mqtt_publish_qos1(topic: str, payload: bytes, packet_id: int) -> bytes:
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name + packet_id.to_bytes(2, "big") + payload
    return b"\x32" + _varint(len(body)) + body


def _mqtt_connect(client_id: str) -> bytes:
    ident = client_id.encode()
    # MQTT 3.1.1, clean session, keep-alive 60 s.
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(ident).to_bytes(2, "big") + ident
    return b"\x10" + _varint(len(body)) + body


def _publish_paced(port: int, jobs: Sequence[Job], rate: float, probe: Job,
                   sent_at: "mp.Queue[list[float]]") -> None:  # fmt: skip
    """Live gateways (round robin) at `rate`/s, a probe every 20 ms; probe send times out.

    The load generator must not take the cores it measures: paho spends ~30 us of
    Python per publish, a third of a core at 10,000/s. So the QoS 1 PUBLISH packets
    are encoded before the clock starts and written to one socket in 5 ms slices;
    a thread drains the broker's PUBACKs (the broker acknowledges every one).
    """
    order = [(t, p) for i in range(max(len(p) for _, p in jobs))
             for t, ps in jobs for p in ps[i:i + 1]]  # fmt: skip
    packets = [_mqtt_publish_qos1(t, p, n % 65535 + 1) for n, (t, p) in enumerate(order)]
    probe_topic, probes = probe
    probe_packets = [
        _mqtt_publish_qos1(probe_topic, p, (len(order) + n) % 65535 + 1)
        for n, p in enumerate(probes)
    ]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(_mqtt_connect(f"gtx-bench-load-{os.getpid()}"))
    if sock.recv(4)[:1] != b"\x20":
        raise SystemExit("the broker refused the load generator")

    def drain() -> None:
        while sock.recv(65536):
            pass

    threading.Thread(target=drain, daemon=True).start()
    probe_times: list[float] = []
    start_wall, start = time.time(), time.monotonic()
    sent = 0
    while sent < len(packets):
        now = time.monotonic()
        due = min(len(packets), int((now - start) * rate) + 1)
        chunk = packets[sent:due]
        wanted = min(len(probe_packets), int((now - start) / 0.02) + 1)
        while len(probe_times) < wanted:
            chunk.append(probe_packets[len(probe_times)])
            probe_times.append(time.time())
        sock.sendall(b"".join(chunk))
        sent = due
        time.sleep(0.005)
    sent_at.put([start_wall, time.time(), *probe_times])
    time.sleep(0.5)
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()


# Decided readings: accepted, or rejected (across instances a reading can
# overtake an older one of the same meter, which is then `stale_reading`);
# the subscription probes (malformed) are not counted.
_DECIDED = (
    "SELECT (SELECT count(*) FROM reading_seqs)"
    " + (SELECT count(*) FROM rejected_readings WHERE reason <> 'malformed')"
)
_PROBES = (
    "SELECT seq FROM reading_seqs WHERE gateway_id = %(gw)s UNION ALL "
    "SELECT (convert_from(payload, 'UTF8')::json->>'seq')::bigint FROM rejected_readings "
    "WHERE gateway_id = %(gw)s"
)


def accepted(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute(_DECIDED).fetchone()
    assert row is not None
    return int(row[0])


def capacity(db: str, expected: int, timeout: float) -> tuple[float, float]:
    """Accepted/s between 10% and 90% of `expected`, and the seconds to store all."""
    marks: list[tuple[float, int]] = []
    start = time.monotonic()
    while True:
        n = accepted(db)
        marks.append((time.monotonic(), n))
        if n >= expected or time.monotonic() - start > timeout:
            break
        time.sleep(0.5)
    lo = next(m for m in marks if m[1] >= expected * 0.1)
    hi = next((m for m in marks if m[1] >= expected * 0.9), marks[-1])
    rate = (hi[1] - lo[1]) / (hi[0] - lo[0]) if hi[0] > lo[0] else 0.0
    return rate, marks[-1][0] - start


def live(port: int, db: str, jobs: Sequence[Job], rate: float, probe: Job) -> dict[str, float]:
    probe_gw = topics.gateway_id_from_topic(ROOT, probe[0])
    queue: mp.Queue[list[float]] = mp.get_context("fork").Queue()
    before = accepted(db)
    proc = mp.get_context("fork").Process(
        target=_publish_paced, args=(port, jobs, rate, probe, queue)
    )
    proc.start()
    seen: dict[int, float] = {}
    counts: list[tuple[float, int]] = []
    stop = threading.Event()

    def poll() -> None:
        with psycopg.connect(db, autocommit=True) as conn:
            while not stop.is_set():
                # Sparing: this poller shares the two cores it measures (a count(*)
                # twice a second; the probes, sent every 20 ms, looked for every 10 ms).
                if not counts or time.time() - counts[-1][0] > 0.5:
                    row = conn.execute(_DECIDED).fetchone()
                    counts.append((time.time(), int(row[0]) if row else 0))
                for (seq,) in conn.execute(_PROBES, {"gw": probe_gw}).fetchall():
                    seen.setdefault(int(seq), time.time())
                time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    pub_start, pub_end, *probe_times = queue.get(timeout=120)
    proc.join(30)
    total = sum(len(p) for _, p in jobs)
    _wait(lambda: accepted(db) - before >= total + len(probe_times), 60, "live readings decided")
    # Kept up if the last reading is in soon after the last publish (no backlog left).
    tail = time.time() - pub_end
    _wait(lambda: len(seen) >= len(probe_times), 10, "probes seen")
    stop.set()
    poller.join(5)
    lat = sorted(seen[i + 1] - t for i, t in enumerate(probe_times))
    # Accepted/s while the gateways published, after a second of ramp-up.
    window = [c for c in counts if pub_start + 1 <= c[0] <= pub_end]
    rate = (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0]) if len(window) > 1 else 0
    return {
        "rate": rate,
        "offered": total / (pub_end - pub_start),
        "tail": tail,
        "p50": statistics.median(lat),
        "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        "probes": len(lat),
    }


# --- main ----------------------------------------------------------------------


def run_config(
    instances: int,
    sticky: bool,
    workers: int,
    signed: Sequence[tuple[str, bytes, list[bytes]]],
    backlog_per_gw: int,
    live_rate: float | None,
    args: argparse.Namespace,
) -> None:
    gws = signed[:-1]
    probe_gw = signed[-1]
    backlog = [(topics.gateway_readings(ROOT, gw), p[:backlog_per_gw]) for gw, _, p in gws]
    live_jobs = [(topics.gateway_readings(ROOT, gw), p[backlog_per_gw:]) for gw, _, p in gws]
    probe = (topics.gateway_readings(ROOT, probe_gw[0]), probe_gw[2])
    with (
        tempfile.TemporaryDirectory() as tmp,
        private_broker(Path(tmp)) as port,
        fresh_database(signed) as db,
    ):
        coord = Coordinators(
            instances,
            db,
            port,
            args.batch_max,
            args.batch_wait_s,
            sticky,
            workers,
            args.mqtt_protocol,
        )
        try:
            _measure(coord, port, db, backlog, live_jobs, probe, live_rate)
        finally:
            coord.stop()


def _measure(coord: Coordinators, port: int, db: str, backlog: Sequence[Job],
             live_jobs: Sequence[Job], probe: Job, live_rate: float | None) -> None:  # fmt: skip
    instances = len(coord.metrics_ports)
    mode = "" if instances == 1 else (", sticky partitions" if coord.sticky else ", shared sub.")
    if coord.workers:
        mode += f", {coord.workers} worker processes each"
    coord.start()
    wait_subscribed(port, coord)
    coord.stop()
    total = sum(len(p) for _, p in backlog)
    pub_rate = publish_all(port, backlog)
    coord.start()
    rate, took = capacity(db, total, timeout=90)
    print(f"  {instances} instance(s){mode}: backlog of {total:,} published at "
          f"{pub_rate:,.0f}/s, drained in {took:.1f} s")  # fmt: skip
    print(f"    sustained decided readings/s (capacity): {rate:10,.0f}")
    offered = live_rate or min(TARGET, 0.8 * rate)
    result = live(port, db, live_jobs, offered, probe)
    print(f"    live at {offered:,.0f}/s offered ({result['offered']:,.0f}/s sent): "
          f"{result['rate']:,.0f}/s decided, publish->commit p50 {result['p50'] * 1000:.0f} ms, "
          f"p99 {result['p99'] * 1000:.0f} ms ({result['probes']:.0f} probes); "
          f"all in {result['tail']:.1f} s after the last publish")  # fmt: skip
    rejected = _rejected(db)
    if rejected:
        print(f"    rejections: {rejected}")


def _rejected(db: str) -> dict[str, int]:
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT reason, count(*) FROM rejected_readings WHERE reason <> 'malformed' "
            "GROUP BY reason"
        ).fetchall()
    return {str(r): int(n) for r, n in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gateways", type=int, default=500)
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--live-s", type=float, default=15.0)
    parser.add_argument("--live-rate", type=float, default=None)
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[0, 3], help="GTX_INGEST_WORKERS, one instance"
    )
    parser.add_argument("--sticky", action="store_true", help="also 2 sticky partitions")
    parser.add_argument("--batch-max", type=int, default=8000)
    parser.add_argument("--batch-wait-s", type=float, default=0.25)
    parser.add_argument("--mqtt-protocol", choices=["5", "3.1.1"], default="5")
    args = parser.parse_args()

    verify_rate = ed25519_verifications_per_s()
    backlog_per_gw = max(1, args.backlog // args.gateways)
    live_per_gw = max(1, int(args.live_s * (args.live_rate or TARGET)) // args.gateways)
    start = time.perf_counter()
    signed = presign(args.gateways + 1, backlog_per_gw + live_per_gw)
    # The probe gateway: only its first readings, one every 20 ms of the live phase.
    probe = signed[-1]
    signed[-1] = (probe[0], probe[1], probe[2][: int(args.live_s / 0.02) + 1])
    print(f"ingest benchmark: {args.gateways} gateways, pre-signed "
          f"{args.gateways * (backlog_per_gw + live_per_gw):,} readings in "
          f"{time.perf_counter() - start:.1f} s; batch_max {args.batch_max}, "
          f"batch_wait {args.batch_wait_s} s, coordinator MQTT {args.mqtt_protocol}")  # fmt: skip
    print(f"  baseline: raw Ed25519 verifications/s, one core (solders): {verify_rate:10,.0f}")
    for n in args.instances:
        for workers in args.workers if n == 1 else [0]:
            run_config(n, False, workers, signed, backlog_per_gw, args.live_rate, args)
        if n > 1 and args.sticky:
            run_config(n, True, 0, signed, backlog_per_gw, args.live_rate, args)
    print(f"  target: {TARGET:,}/s on 2 cores; baseline again: "
          f"{ed25519_verifications_per_s():,.0f} verifications/s")  # fmt: skip


if __name__ == "__main__":
    main()

"""API throughput and latency under load from wrk: requests/s and p50 / p95 / p99
of the main read endpoints with 200 closed-loop clients, beside the trivial
/api/v1/health measured in the same run, and the server's CPU per request.

The coordinator API runs as production runs it (`gtx-coordinator api`, one
worker per core unless `--workers` says otherwise), with its real middleware
(authentication with the session check, rate limiting in Redis, request ids,
access log) against a fresh PostgreSQL database seeded with 200 users, each with
a gateway, a meter, readings, closed epochs, trades and orders in the book. The
load comes from Debian's `wrk` (C, a fraction of the server's CPU; installed
with apt where missing and this runs as root), one run per endpoint: every
request carries the bearer token of one of the 200 users in turn
(`wrk_api.lua`). Target: p95 under 200 ms with no think time.

The rate limit is raised for the benchmark (`GTX_RATE_LIMIT_REQUESTS`, below):
200 users at full speed would each spend the production budget (600 a minute)
in seconds, and a benchmark of 429 answers measures nothing. The limiter still
counts every request in Redis. Answers of 400 and above and socket errors are
counted and printed; they should be 0.

    .venv/bin/python benchmarks/bench_api.py [--clients 200] [--duration 10] [--workers N]
        [--think-ms 1000] [--endpoints me,energy]

Two passes: saturated (each client sends its next request as soon as the answer
is in: latency is then clients / throughput), then clients pausing `--think-ms`
(0.5 to 1.5 times) between requests, as dashboard users do.
"""

import argparse
import datetime as dt
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coordinator.api import repository as repo
from coordinator.db.migrate import upgrade
from coordinator.db.models import (
    ClearingRecord,
    EpochRecord,
    MarketOrder,
    MatchRow,
    MeterEpochEnergyRow,
    MeterStateRow,
    Reading,
    ReadingSeq,
)
from coordinator.db.partitions import meter_time
from coordinator.db.session import make_engine
from coordinator.readings.oracle.epochs import epoch_of
from provisioning.keys import Signer
from tests.utils.procfs import descendants
from tests.utils.services import fresh_database
from wire.base58 import b58decode, b58encode
from wire.reading import Reading as WireReading

HERE = Path(__file__).resolve().parent
LUA = HERE / "wrk_api.lua"
EPOCH_S = 900
# High enough that no user of the benchmark reaches it; see the docstring.
BENCH_RATE_LIMIT = 100_000_000


@dataclass(frozen=True, slots=True)
class User:
    signer: Signer
    gateway: str
    meter: str


def _ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found is None and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if found is None:
        sys.exit("bench_api needs wrk: apt-get install wrk (Debian's package)")
    return found


def _seed(database_url: str, clients: int, epochs: int) -> list[User]:
    """`clients` users, each with a gateway and a meter, `epochs` closed epochs of
    two signed readings a meter, a trade a user an epoch, and orders in the book."""
    engine = make_engine(database_url)
    upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    current = epoch_of(int(now.timestamp()), EPOCH_S)
    first = current - epochs - 1
    users: list[User] = []
    for i in range(clients):
        owner, gw = Signer.generate(), Signer.generate()
        token = repo.issue_token(engine, owner=owner.address, ttl_s=600, note="bench", now=now)
        meter = f"sdm630-{i:04d}"
        repo.enrol(
            engine, token=token.token, gateway_id=gw.address,
            proof=b58decode(gw.enrolment_proof(token.token, gw.address)),
            meters=[repo.MeterSpec(meter, "sdm630", 63_000, owner.address)], now=now,
        )  # fmt: skip
        users.append(User(owner, gw.address, meter))
        readings, seqs, energy = [], [], []
        for e in range(epochs):
            for k in range(2):
                seq = 2 * e + k + 1
                ts = (first + e) * EPOCH_S + 10 + 400 * k
                signed = gw.sign_reading(WireReading(gw.address, meter, seq, ts, 5 * seq, 7 * seq))
                readings.append(dict(
                    gateway_id=gw.address, seq=seq, meter_time=meter_time(ts), meter_id=meter,
                    meter_ts=ts, import_wh=5 * seq, export_wh=7 * seq,
                    signature=signed.signature, received_at=now, flags="", epoch=first + e,
                    first_open_epoch=None,
                ))  # fmt: skip
                seqs.append(dict(gateway_id=gw.address, seq=seq, meter_time=meter_time(ts)))
            energy.append(dict(epoch=first + e, gateway_id=gw.address, meter_id=meter,
                               import_wh=10, export_wh=14))  # fmt: skip
        last = readings[-1]
        with engine.begin() as conn:
            conn.execute(insert(Reading), readings)
            conn.execute(insert(ReadingSeq), seqs)
            conn.execute(insert(MeterEpochEnergyRow), energy)
            conn.execute(insert(MeterStateRow).values(
                gateway_id=gw.address, meter_id=meter, seq=last["seq"], meter_ts=last["meter_ts"],
                import_wh=last["import_wh"], export_wh=last["export_wh"]))  # fmt: skip
    with engine.begin() as conn:
        for e in range(first, first + epochs):
            conn.execute(insert(EpochRecord).values(
                epoch=e, length_s=EPOCH_S, closed_at=now, reading_count=2 * clients,
                total_import_wh=10 * clients, total_export_wh=14 * clients,
                mint_base_units=14 * clients * 10**6, merkle_root=bytes(32),
                summary_json="{}"))  # fmt: skip
            conn.execute(insert(ClearingRecord).values(
                epoch=e, inputs=b"{}", result=b"{}", inputs_hash="0" * 64, result_hash="0" * 64,
                pricing="uniform", clearing_price=100, volume=clients, turnover=100 * clients,
                order_count=2 * clients, match_count=clients, cleared_at=now))  # fmt: skip
            conn.execute(insert(MatchRow), [dict(
                epoch=e, idx=i, buy_order_id=f"b{e}-{i}", sell_order_id=f"s{e}-{i}",
                buyer=users[i].signer.address, seller=users[(i + 1) % clients].signer.address,
                quantity=10**9, price=100, payment=100, status="settled", settlement_key=None,
                signature=None, error=None) for i in range(clients)])  # fmt: skip
        # The book of the next epochs (the clock may cross a close during the run).
        conn.execute(insert(MarketOrder), [dict(
            order_id=f"o{e}-{i}", owner=u.signer.address, side="buy" if i % 2 else "sell",
            epoch=e, quantity=10**9, limit_price=80 + i % 40, status="open", reason=None,
            settlement_status=None, settlement_error=None, expires_at=None, created_at=now,
            updated_at=now) for e in (current, current + 1, current + 2)
            for i, u in enumerate(users)])  # fmt: skip
    engine.dispose()
    return users


def _login(base: str, users: list[User]) -> list[str]:
    tokens = []
    with httpx.Client(base_url=base) as client:
        for u in users:
            nonce = client.post("/api/v1/auth/nonce", json={"address": u.signer.address})
            message = nonce.raise_for_status().json()["message"]
            r = client.post(
                "/api/v1/auth/login",
                json={"message": message, "signature": b58encode(u.signer.sign(message.encode()))},
            )
            tokens.append(str(r.raise_for_status().json()["token"]))
    return tokens


ENDPOINTS: dict[str, Callable[[User], str]] = {
    "health": lambda u: "/api/v1/health",
    "me": lambda u: "/api/v1/me",
    "energy": lambda u: "/api/v1/me/energy?limit=48",
    "readings": lambda u: f"/api/v1/readings?gateway_id={u.gateway}&meter_id={u.meter}&limit=50",
    "epochs": lambda u: "/api/v1/epochs?limit=48",
    "order book": lambda u: "/api/v1/orders/book",
    "trades": lambda u: "/api/v1/trades?limit=50",
}


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of `pids` so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _busy_cores_s() -> float:
    """CPU seconds the whole machine spent busy so far (wrk, PostgreSQL, Redis too)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Result:
    endpoint: str
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    server_cpu_us: float
    wrk_cpu_us: float
    machine_cores: float


def _run_wrk(
    wrk: str, base: str, lines: list[str], clients: int, duration_s: int, think_ms: int,
    server: list[int], endpoint: str,
) -> Result:  # fmt: skip
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        cpu0, busy0, t0 = _cpu_s(server), _busy_cores_s(), time.monotonic()
        wrk0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [wrk, "-t", "2", "-c", str(clients), "-d", f"{duration_s}s", "--timeout", "10s",
             "-s", str(LUA), base, "--", f.name, str(think_ms)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        cpu1, busy1, t1 = _cpu_s(server), _busy_cores_s(), time.monotonic()
        wrk1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, the one child waited for
    finally:
        os.unlink(f.name)
    figures = json.loads(out.strip().splitlines()[-1])
    n = max(1, figures["requests"])
    return Result(
        endpoint, figures["requests"], figures["requests"] / (figures["duration_us"] / 1e6),
        figures["p50_us"] / 1000, figures["p95_us"] / 1000, figures["p99_us"] / 1000,
        figures["status_errors"] + figures["socket_errors"], (cpu1 - cpu0) / n * 1e6,
        (wrk1.ru_utime + wrk1.ru_stime - wrk0.ru_utime - wrk0.ru_stime) / n * 1e6,
        (busy1 - busy0) / (t1 - t0),
    )  # fmt: skip


def _report(title: str, results: list[Result]) -> None:
    print(f"\n{title}")
    print("(server CPU: the server's processes; wrk: the load generator's own; busy cores: the")
    print(" whole machine's, other work included)")
    print(f"{'endpoint':<12} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'errors':>6} {'server CPU us/req':>18} {'wrk us/req':>10} "
          f"{'busy cores':>10}")  # fmt: skip
    for r in results:
        print(f"{r.endpoint:<12} {r.requests:>8} {r.rps:>7.0f} {r.p50_ms:>7.1f} "
              f"{r.p95_ms:>7.1f} {r.p99_ms:>7.1f} {r.errors:>6} {r.server_cpu_us:>18.0f} "
              f"{r.wrk_cpu_us:>10.0f} {r.machine_cores:>10.2f}")  # fmt: skip
    reads = [r for r in results if r.endpoint != "health"]
    health = next((r for r in results if r.endpoint == "health"), None)
    if reads:
        worst = max(reads, key=lambda r: r.p95_ms)
        print(f"worst read endpoint p95 {worst.p95_ms:.1f} ms ({worst.endpoint}; target < 200 ms)"
              + ("" if health is None else f"; /health p95 {health.p95_ms:.1f} ms, "
                 f"{health.rps:.0f} req/s in the same run"))  # fmt: skip


def _wait_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + "/api/v1/health").raise_for_status()
            return
        except httpx.HTTPError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint and pass")
    parser.add_argument("--epochs", type=int, default=48)
    parser.add_argument("--workers", type=int, default=0, help="0: the command's default")
    parser.add_argument("--think-ms", type=int, default=1000, help="0: the saturated pass only")
    parser.add_argument(
        "--endpoints", default=",".join(ENDPOINTS), help=f"of {', '.join(ENDPOINTS)}"
    )
    parser.add_argument(
        "--profile", type=Path,
        help="write py-spy's collapsed stacks of the server's last process per endpoint here",
    )  # fmt: skip
    parser.add_argument(
        "--server", choices=("gtx", "uvicorn"), default="gtx",
        help="gtx: `gtx-coordinator api`; uvicorn: the app factory under plain uvicorn on "
        "asyncio and h11 (how the coordinator was served before `gtx-coordinator api`)",
    )  # fmt: skip
    args = parser.parse_args()
    wrk = _ensure_wrk()
    endpoints = [e.strip() for e in args.endpoints.split(",")]
    if "health" not in endpoints:
        endpoints.insert(0, "health")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1 and 5 min) "
          f"on {os.cpu_count()} cores")  # fmt: skip
    with fresh_database("gtx_bench") as url:
        started = time.monotonic()
        users = _seed(url, args.clients, args.epochs)
        print(f"seeded {len(users)} users in {time.monotonic() - started:.0f} s")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "GTX_DATABASE_URL": url, "GTX_EPOCH_LENGTH_S": str(EPOCH_S),
               "GTX_RATE_LIMIT_REQUESTS": str(BENCH_RATE_LIMIT),
               "GTX_REDIS_PREFIX": f"gtxbench:{secrets.token_hex(4)}"}  # fmt: skip
        workers = [] if args.workers == 0 else ["--workers", str(args.workers)]
        if args.server == "gtx":
            command = [str(Path(sys.executable).parent / "gtx-coordinator"), "api", "--host",
                       "127.0.0.1", "--port", str(port), *workers]  # fmt: skip
        else:
            command = [sys.executable, "-m", "uvicorn", "--factory",
                       "coordinator.api.main:app_from_environment", "--host", "127.0.0.1",
                       "--port", str(port), "--log-level", "warning", "--no-access-log",
                       "--loop", "asyncio", "--http", "h11", *workers]  # fmt: skip
        log = tempfile.TemporaryFile()  # noqa: SIM115 (closed below, after the server)
        # The access lines are written, as in production.
        server = subprocess.Popen(command, env=env, stderr=log)
        base = f"http://127.0.0.1:{port}"
        passes: dict[str, list[Result]] = {}
        try:
            _wait_ready(base, server)
            tokens = _login(base, users)
            # gtx-coordinator api: one per core by default; plain uvicorn: one.
            workers_wanted = args.workers or (
                1 if args.server == "uvicorn" else len(os.sched_getaffinity(0))
            )
            processes = (
                1 if args.server == "uvicorn" and workers_wanted == 1 else 1 + workers_wanted
            )
            deadline = time.monotonic() + 60
            while len(pids := descendants(server.pid)) < processes:
                if time.monotonic() > deadline:
                    sys.exit(f"the server has {len(pids)} processes, not {processes}")
                time.sleep(0.1)
            print(
                f"server: {' '.join(Path(c).name for c in command[:3])}..., {len(pids)} processes"
            )
            pass_list = [("saturated (no think time)", 0)]
            if args.think_ms:
                pass_list.append((f"think time {args.think_ms} ms", args.think_ms))
            for title, think in pass_list:
                results = []
                for name in endpoints:
                    lines = [
                        f"{ENDPOINTS[name](u)}\t{t}" for u, t in zip(users, tokens, strict=True)
                    ]
                    # warm-up: connections, caches, the pool
                    _run_wrk(wrk, base, lines, args.clients, 2, 0, pids, name)
                    spy = None
                    if args.profile and not think:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        spy = subprocess.Popen(
                            [str(Path(sys.executable).parent / "py-spy"), "record",
                             "--pid", str(pids[-1]), "--rate", "200",
                             "--duration", str(args.duration), "--format", "raw", "--nonblocking",
                             "--output", str(args.profile / f"{name.replace(' ', '_')}.txt")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        )  # fmt: skip
                    results.append(_run_wrk(wrk, base, lines, args.clients, args.duration,
                                            think, pids, name))  # fmt: skip
                    if spy is not None:
                        spy.wait(timeout=60)
                passes[f"{title}: {args.clients} clients, {args.duration} s an endpoint"] = results
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.seek(0)
            lines = log.read().decode(errors="replace").splitlines()
            log.close()
            errors = [x for x in lines if "Traceback" in x or "ERROR" in x]
            print(f"server log: {len(lines)} lines, {len(errors)} errors")
    for title, results in passes.items():
        _report(title, results)
    print(f"\nload after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1 and 5 min)")


if __name__ == "__main__":
    main()

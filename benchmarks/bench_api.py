"""API latency under load: p50 / p95 / p99 of the main read endpoints with 200
concurrent clients, beside the trivial /api/v1/health measured in the same run.

The coordinator API runs in its own process (uvicorn, one worker) on loopback
against a fresh PostgreSQL database (Redis for rate limits); the load comes from
httpx in this process. Target: p95 under 200 ms.

    .venv/bin/python benchmarks/bench_api.py [--clients 200] [--requests 1000] [--think-ms 1000]

Two runs: clients pausing `--think-ms` between requests (dashboard users: the
target's meaning), then saturated (each client fires its next request at once,
so latency is simply clients / throughput).
"""

import argparse
import asyncio
import datetime as dt
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coordinator.api import repository as repo
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from provisioning.keys import Signer
from tests.coordinator.api.factories import store_epoch
from tests.utils.services import fresh_database
from wire.base58 import b58decode, b58encode


def _serve(database_url: str, port: int) -> None:
    import uvicorn  # noqa: PLC0415

    from coordinator.api.main import create_app  # noqa: PLC0415
    from coordinator.config import Settings  # noqa: PLC0415

    settings = Settings(database_url=database_url)
    app = create_app(settings, make_engine(database_url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _seed(database_url: str, owner: Signer, epochs: int) -> tuple[str, str]:
    engine = make_engine(database_url)
    upgrade(engine)
    gw = Signer.generate()
    now = dt.datetime.now(dt.UTC)
    token = repo.issue_token(engine, owner=owner.address, ttl_s=600, note="bench", now=now).token
    repo.enrol(
        engine, token=token, gateway_id=gw.address,
        proof=b58decode(gw.enrolment_proof(token, gw.address)),
        meters=[repo.MeterSpec("sdm630-0001", "sdm630", 63_000, owner.address)], now=now,
    )  # fmt: skip
    first = 3_000_000
    for i in range(epochs):
        store_epoch(engine, gw, "sdm630-0001", first + i, 2, seq0=2 * i + 1)
    engine.dispose()
    return gw.address, "sdm630-0001"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _login(client: httpx.AsyncClient, owner: Signer) -> str:
    nonce = await client.post("/api/v1/auth/nonce", json={"address": owner.address})
    message = nonce.json()["message"]
    r = await client.post(
        "/api/v1/auth/login",
        json={"message": message, "signature": b58encode(owner.sign(message.encode()))},
    )
    r.raise_for_status()
    token: str = r.json()["token"]
    return token


class _Connection:
    """A minimal HTTP/1.1 keep-alive GET client: the load generator must cost far
    less CPU than the server it measures (httpx's pool does not, at 200 clients)."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self._host, self._port, self._token = host, port, token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Authorization: Bearer {self._token}\r\n\r\n".encode()
        )
        status = int((await self._reader.readline()).split()[1])
        length = 0
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await self._reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            await self._writer.wait_closed()


async def _load(
    port: int, paths: list[str], token: str, clients: int, total: int, think_s: float = 0.0
) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    errors = 0
    queue: asyncio.Queue[str] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(paths[i % len(paths)])

    async def worker() -> None:
        nonlocal errors
        conn = _Connection("127.0.0.1", port, token)
        if think_s:  # users arrive spread over one think time, not all in one instant
            await asyncio.sleep(random.uniform(0, think_s))
        try:
            while not queue.empty():
                path = queue.get_nowait()
                started = time.perf_counter()
                status = await conn.get(path)
                latencies[path].append((time.perf_counter() - started) * 1000)
                errors += status != 200
                if think_s:
                    await asyncio.sleep(think_s * random.uniform(0.5, 1.5))
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(clients)))
    if errors:
        print(f"  ({errors} non-200 answers)")
    return latencies


def _report(title: str, latencies: dict[str, list[float]]) -> None:
    print(f"API latency, {title}, ms (one uvicorn worker, loopback)")
    print(f"{'endpoint':<72} {'n':>6} {'p50':>7} {'p95':>7} {'p99':>7}")
    for path, values in latencies.items():
        print(f"{path[:72]:<72} {len(values):>6} {statistics.median(values):>7.1f} "
              f"{_pct(values, 0.95):>7.1f} {_pct(values, 0.99):>7.1f}")  # fmt: skip
    reads = [v for p, vs in latencies.items() if "health" not in p for v in vs]
    print(f"main read endpoints together: p95 {_pct(reads, 0.95):.1f} ms (target < 200 ms); "
          f"health baseline p95 {_pct(latencies['/api/v1/health'], 0.95):.1f} ms\n")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=3000, help="per endpoint")
    parser.add_argument("--epochs", type=int, default=96)
    parser.add_argument(
        "--think-ms", type=float, default=1000.0,
        help="pause of each client between requests (a dashboard user); 0 = saturate",
    )  # fmt: skip
    parser.add_argument("--serve", nargs=2, metavar=("DATABASE_URL", "PORT"))
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve[0], int(args.serve[1]))
        return
    owner = Signer.generate()
    with fresh_database("gtx_bench") as url:
        gateway, meter = _seed(url, owner, args.epochs)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "GTX_RATE_LIMIT_REQUESTS": "100000000",
               "GTX_REDIS_PREFIX": f"gtxbench:{secrets.token_hex(4)}"}  # fmt: skip
        server = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(base + "/api/v1/health").raise_for_status()
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

            async def run(think_s: float) -> dict[str, list[float]]:
                async with httpx.AsyncClient(base_url=base) as client:
                    token = await _login(client, owner)
                paths = [
                    "/api/v1/health",
                    "/api/v1/me",
                    "/api/v1/me/energy?limit=48",
                    f"/api/v1/readings?gateway_id={gateway}&meter_id={meter}&limit=50",
                    "/api/v1/epochs?limit=48",
                ]
                await _load(port, paths, token, args.clients, 400)  # warm-up
                total = args.requests * len(paths)
                return await _load(port, paths, token, args.clients, total, think_s)

            runs = {"with think time": asyncio.run(run(args.think_ms / 1000))}
            if args.think_ms:
                runs["saturated (no think time)"] = asyncio.run(run(0.0))
        finally:
            server.terminate()
            server.wait(timeout=10)
    for name, latencies in runs.items():
        _report(f"{name}: {args.clients} concurrent clients", latencies)


if __name__ == "__main__":
    main()

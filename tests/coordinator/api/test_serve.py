"""`gtx-coordinator api` as production runs it: worker processes on one port,
any of which answers any request (a session one worker issued is good at all),
each on a listening socket of its own so that connections spread over them, and
a worker that dies replaced."""

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from provisioning.keys import Signer
from tests.conftest import RUN_ID
from tests.utils.procfs import children
from tests.utils.services import migrated_database, wait_until
from wire.base58 import b58encode

pytestmark = pytest.mark.services


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def metrics_port() -> int:
    return _free_port()


@dataclass(frozen=True)
class Served:
    base: str
    port: int
    pid: int  # the parent
    process: subprocess.Popen[bytes]


@pytest.fixture
def served(server: Served) -> str:
    return server.base


@pytest.fixture
def server(request: pytest.FixtureRequest, metrics_port: int) -> Iterator[Served]:
    # The project's own entry point, installed beside this interpreter.
    command = Path(sys.executable).parent / "gtx-coordinator"
    assert command.is_file(), command
    port = _free_port()
    with migrated_database() as url:
        env = {k: v for k, v in os.environ.items() if k != "GTX_JWT_SECRET"}
        env |= {"GTX_DATABASE_URL": url, "GTX_ENVIRONMENT": "development",
                "GTX_REDIS_PREFIX": f"gtxtest:{RUN_ID}:{request.node.name}",
                "GTX_METRICS_PORT": str(metrics_port)}  # fmt: skip
        server = subprocess.Popen([command, "api", "--port", str(port), "--workers", "2"], env=env)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            assert server.poll() is None, "the server exited"
            try:
                return httpx.get(base + "/api/v1/health").status_code == 200
            except httpx.TransportError:
                return False

        try:
            wait_until(up, timeout=60, what="gtx-coordinator api to answer")
            served = Served(base, port, server.pid, server)
            wait_until(lambda: len(_workers(served)) == 2, timeout=60, what="both workers")
            yield served
        finally:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=30)


def test_a_session_from_one_worker_is_good_at_every_worker(served: str) -> None:
    """Without GTX_JWT_SECRET in development each worker would draw its own key."""
    user = Signer.generate()
    with httpx.Client(base_url=served) as client:
        message = client.post("/api/v1/auth/nonce", json={"address": user.address}).json()
        signature = b58encode(user.sign(message["message"].encode()))
        r = client.post("/api/v1/auth/login",
                        json={"message": message["message"], "signature": signature})  # fmt: skip
        assert r.status_code == 200, r.text
        token = r.json()["token"]
    # Each request on a connection of its own, so both workers take some.
    statuses = [
        httpx.get(served + "/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
        for _ in range(24)
    ]
    assert statuses == [200] * 24


def test_the_workers_metrics_are_served_summed_on_one_port(served: str, metrics_port: int) -> None:
    """Each worker binding GTX_METRICS_PORT itself would fail; the parent serves the
    sum of what every worker counted."""

    def health_count() -> float:
        body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        found = re.findall(
            r'gtx_api_request_seconds_count\{method="GET",route="/api/v1/health",'
            r'status="2xx"\} ([0-9.e+]+)',
            body,
        )
        assert len(found) == 1, found  # one series: the workers' sum, not one each
        return float(found[0])

    before = health_count()
    for _ in range(40):  # a connection each: both workers take some
        assert httpx.get(served + "/api/v1/health").status_code == 200
    assert health_count() == before + 40


# --- who holds which socket, from /proc (Linux) --------------------------------------


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _tcp(port: int) -> list[tuple[int, int, str]]:
    """(remote port, inode, state) of the IPv4 TCP sockets whose local port is `port`."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if int(local.split(":")[1], 16) == port:
            rows.append((int(remote.split(":")[1], 16), inode, state))
    return rows


_LISTEN, _ESTABLISHED = "0A", "01"


def _listening(server: Served) -> set[int]:
    return {inode for _, inode, state in _tcp(server.port) if state == _LISTEN}


def _workers(server: Served) -> list[int]:
    """The server's processes holding a listening socket of its port (not, say,
    multiprocessing's resource tracker)."""
    listening = _listening(server)
    return [pid for pid in children(server.pid) if listening & _socket_inodes(pid)]


def test_each_worker_listens_on_a_socket_of_its_own(server: Served) -> None:
    """One shared socket let whichever worker woke first accept: under 200 clients one
    worker held about two connections for the other's one."""
    listening = _listening(server)
    workers = _workers(server)
    held = [listening & _socket_inodes(pid) for pid in workers]
    assert [len(h) for h in held] == [1, 1], held
    assert held[0] != held[1]


def test_connections_spread_over_the_workers(server: Served) -> None:
    workers = _workers(server)
    clients = [httpx.Client(base_url=server.base) for _ in range(64)]
    try:
        for client in clients:  # a connection each, kept open
            assert client.get("/api/v1/health").status_code == 200
        ours = {inode: pid for pid in workers for inode in _socket_inodes(pid)}
        per_worker = {pid: 0 for pid in workers}
        for _, inode, state in _tcp(server.port):
            if state == _ESTABLISHED and inode in ours:
                per_worker[ours[inode]] += 1
    finally:
        for client in clients:
            client.close()
    assert sum(per_worker.values()) == 64, per_worker
    # By a hash of the addresses: about 32 each (fewer than 16 is a 1 in 100,000 event).
    assert min(per_worker.values()) >= 16, per_worker


def test_a_worker_that_dies_is_replaced_on_its_socket(server: Served) -> None:
    before = _workers(server)
    listening = _listening(server)
    os.kill(before[0], signal.SIGKILL)

    def replaced() -> bool:
        now = _workers(server)
        return len(now) == 2 and before[0] not in now

    wait_until(replaced, timeout=60, what="a worker in place of the one killed")
    newcomer = next(pid for pid in _workers(server) if pid not in before)
    assert listening & _socket_inodes(newcomer)  # the dead worker's socket, not a new one

    def answers() -> bool:
        # A connection each: every one of them answered, wherever the kernel put it.
        return all(httpx.get(server.base + "/api/v1/health").status_code == 200
                   for _ in range(16))  # fmt: skip

    wait_until(answers, timeout=60, what="both workers to answer")


def test_a_stop_cuts_open_event_streams_within_the_grace(server: Served) -> None:
    """A dashboard's event stream never ends by itself: uvicorn waited for it without
    bound, so a worker told to stop outlived it as long as anyone watched."""
    with (
        httpx.Client(base_url=server.base, timeout=30) as client,
        client.stream("GET", "/api/v1/market/events") as stream,
    ):
        lines = stream.iter_lines()
        assert next(lines) == "event: hello"
        server.process.terminate()
        wait_until(lambda: server.process.poll() is not None, timeout=40,
                   what="the server to stop with a stream open")  # fmt: skip
    assert server.process.returncode == 0

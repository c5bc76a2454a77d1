"""`gtx-coordinator api` as production runs it: worker processes on one port,
any of which answers any request (a session one worker issued is good at all)."""

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from provisioning.keys import Signer
from tests.conftest import RUN_ID
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


@pytest.fixture
def served(request: pytest.FixtureRequest, metrics_port: int) -> Iterator[str]:
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
            yield base
        finally:
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

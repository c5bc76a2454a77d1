"""`gtx-coordinator ledger serve`: the embedded ledger as a Solana JSON-RPC endpoint,
run as an operator runs it. One process writes (here with airdrops); a second that
would write too is refused; a read-only one follows the first through the database
and refuses transactions as a validator refuses a method it does not offer."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from solders.pubkey import Pubkey
from sqlalchemy.engine import Engine

from coordinator.db.session import make_engine
from coordinator.errors import ConfigError
from coordinator.onchain.ledger import embedded_writer
from tests.utils.services import wait_until

_CLI = "import sys; from coordinator.cli import main; sys.exit(main(sys.argv[1:]))"


class _Server:
    """A `ledger serve` process and the lines it printed."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CLI, "ledger", "serve", "--listen", "127.0.0.1:0", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(
            lambda: self.url is not None or self.process.poll() is not None,
            30,
            "the server to say where it listens",
        )
        assert self.url is not None, "".join(self.lines)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def url(self) -> str | None:
        for line in self.lines:
            found = re.search(r"serving the embedded ledger: (http://127\.0\.0\.1:\d+)", line)
            if found:
                return found.group(1)
        return None

    def call(self, method: str, *params: object) -> dict[str, Any]:
        assert self.url is not None
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        answer: dict[str, Any] = httpx.post(self.url, json=body, timeout=10).json()
        return answer

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}
    env.update(GTX_DATABASE_URL=f"sqlite:///{tmp_path / 'gtx.db'}", GTX_LOG_JSON="false", **extra)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _CLI, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ledger_serve_writes_once_and_replicas_follow(tmp_path: Path) -> None:
    env = _env(tmp_path)
    writer = _Server(env, "--allow-airdrop", "--pubsub-port", "0")
    replica = None
    try:
        assert "airdrops" in "".join(writer.lines)
        wallet = str(Pubkey.new_unique())
        signature = writer.call("requestAirdrop", wallet, 10**9)["result"]
        status = writer.call("getSignatureStatuses", [signature])["result"]["value"][0]
        assert status["err"] is None
        # Without --allow-send the writer takes no transactions all the same.
        refused = writer.call("sendTransaction", "AAAA", {"encoding": "base64"})
        assert refused["error"]["code"] == -32601

        second = _cli(env, "ledger", "serve", "--listen", "127.0.0.1:0", "--allow-send")
        assert second.returncode == 2
        assert "written by another process" in second.stderr

        replica = _Server(env, "--poll", "0.05")
        assert "read-only" in "".join(replica.lines)

        def replica_balance() -> int:
            return int(replica.call("getBalance", wallet)["result"]["value"])

        wait_until(lambda: replica_balance() == 10**9, 10, "the replica to follow")
        again = writer.call("requestAirdrop", wallet, 10**9)["result"]
        wait_until(lambda: replica_balance() == 2 * 10**9, 10, "the replica to follow")
        listed = replica.call("getSignaturesForAddress", wallet)["result"]
        assert [s["signature"] for s in listed] == [again, signature]
        assert replica.call("requestAirdrop", wallet, 1)["error"] == {
            "code": -32600,
            "message": "Invalid request",
        }
    finally:
        assert writer.stop() == 0
        if replica is not None:
            assert replica.stop() == 0


def test_ledger_serve_is_for_the_embedded_ledger(tmp_path: Path) -> None:
    done = _cli(_env(tmp_path, GTX_LEDGER="rpc"), "ledger", "serve")
    assert done.returncode == 2
    assert "serves the embedded ledger" in done.stderr


async def _one_writer_at_a_time(engine: Engine) -> None:
    async with embedded_writer(engine):
        with pytest.raises(ConfigError, match="written by another process"):
            async with embedded_writer(engine):
                pass
    async with embedded_writer(engine):  # released: taken again
        pass


@pytest.mark.services
def test_one_writer_at_a_time_on_postgres(engine: Engine) -> None:
    asyncio.run(_one_writer_at_a_time(engine))


def test_one_writer_at_a_time_on_sqlite(tmp_path: Path) -> None:
    sqlite = make_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
    asyncio.run(_one_writer_at_a_time(sqlite))
    sqlite.dispose()

"""The one-process demo survives governance: the REC authority freezes a producer
through the API while `gridtokenx demo` runs (everything embedded), the others are
minted and trade on, the frozen one's energy is withheld and their orders refused,
then minted once thawed; the demo ends with every epoch and balance reconciled."""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from solders.keypair import Keypair

from demo.campus import campus_plan
from tests.utils.services import wait_until

_GATEWAYS, _METERS, _SEED = 1, 10, 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _call(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _answers(url: str) -> bool:
    try:
        return bool(_call(url)["status"] == "ok")
    except OSError:
        return False


def _login(api: str, key: Keypair) -> str:
    issued = _call(api + "/auth/nonce", {"address": str(key.pubkey())})
    signature = key.sign_message(issued["message"].encode())
    session = _call(
        api + "/auth/login", {"message": issued["message"], "signature": str(signature)}
    )
    assert "rec_authority" in session["roles"]
    token: str = session["token"]
    return token


class _Output:
    """The demo's stdout, read line by line until a pattern shows up."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.seen: list[str] = []

    def until(self, pattern: str) -> re.Match[str]:
        while True:
            line = self.stream.readline()
            if not line:
                raise AssertionError(
                    f"the demo ended before {pattern!r}:\n" + "".join(self.seen[-40:])
                )
            self.seen.append(line)
            found = re.search(pattern, line)
            if found is not None:
                return found


@pytest.fixture
def producer(tmp_path: Path) -> Keypair:
    """The wallet of the demo's first producer, placed before the demo starts."""
    first = next(m for m in campus_plan(_GATEWAYS, _METERS, _SEED) if m.kind == "prosumer")
    key = Keypair()
    wallets = tmp_path / "demo" / "wallets"
    wallets.mkdir(parents=True)
    (wallets / f"{first.meter_id}.json").write_text(bytes(key).hex())
    return key


@pytest.fixture
def rec_authority() -> Keypair:
    return Keypair()


@pytest.fixture
def demo(tmp_path: Path, rec_authority: Keypair) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}
    env |= {
        "GTX_AUTH_DOMAIN": "127.0.0.1",
        "GTX_REC_AUTHORITY_WALLETS": str(rec_authority.pubkey()),
    }
    argv = [
        sys.executable, "-c", "from demo import main; raise SystemExit(main())",
        "demo", "--workdir", str(tmp_path / "demo"), "--gateways", str(_GATEWAYS),
        "--meters-per-gateway", str(_METERS), "--epoch-seconds", "8", "--poll-seconds", "2",
        "--api-port", str(port), "--epochs", "7",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield proc, f"http://127.0.0.1:{port}/api/v1"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_the_demo_survives_a_freeze_and_mints_the_withheld_energy_on_thaw(
    demo: tuple[subprocess.Popen[str], str], producer: Keypair, rec_authority: Keypair
) -> None:
    proc, api = demo
    assert proc.stdout is not None
    out = _Output(proc.stdout)
    wallet = str(producer.pubkey())
    out.until(r"^epoch \d+ (\[[^]]*\] )?closed")
    wait_until(lambda: _answers(api + "/health"), timeout=20, what="the API")
    token = _login(api, rec_authority)
    _call(api + "/governance/freeze", {"owner": wallet, "reason": "test"}, token)
    withheld = out.until(rf"withheld [\d.]+ kWh of {wallet[:8]}\.\.\.: account_frozen")
    assert withheld is not None
    _call(api + "/governance/thaw", {"owner": wallet, "reason": "test"}, token)
    out.until(r"withheld energy minted \(account thawed\)")
    out.until(r"^balances reconcile: ")
    rest, _ = proc.communicate(timeout=60)
    report = "".join(out.seen) + rest
    assert proc.returncode == 0, report[-4000:]
    assert "balances reconcile: yes" in report
    assert "MISMATCH" not in report

"""A headless `gridtokenx demo` in a child process, driven through its API as
the REC authority would: the integration tests of governance in a running system."""

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from solders.keypair import Keypair

__all__ = ["DemoOutput", "answers", "call", "login", "running_demo"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def call(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    """GET (or POST `body` as JSON) and the JSON answer."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def answers(url: str) -> bool:
    """Whether the health endpoint at `url` says ok yet."""
    try:
        return bool(call(url)["status"] == "ok")
    except OSError:
        return False


def login(api: str, key: Keypair) -> str:
    """Sign in with `key` (a REC authority's wallet); its bearer token."""
    issued = call(api + "/auth/nonce", {"address": str(key.pubkey())})
    signature = key.sign_message(issued["message"].encode())
    session = call(api + "/auth/login", {"message": issued["message"], "signature": str(signature)})
    assert "rec_authority" in session["roles"]
    token: str = session["token"]
    return token


class DemoOutput:
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


@contextmanager
def running_demo(
    workdir: Path, rec_authority: Keypair, args: list[str]
) -> Iterator[tuple["subprocess.Popen[str]", str]]:
    """`gridtokenx demo --workdir workdir *args` on embedded defaults with
    `rec_authority` as the REC authority; yields the process (stdout with
    stderr) and the API's base URL; kills it if it is still running."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GTX_")}
    env |= {
        "GTX_AUTH_DOMAIN": "127.0.0.1",
        "GTX_REC_AUTHORITY_WALLETS": str(rec_authority.pubkey()),
    }
    argv = [
        sys.executable, "-c", "from demo import main; raise SystemExit(main())",
        "demo", "--workdir", str(workdir), "--api-port", str(port), *args,
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

"""A private Mosquitto for tests that need their own broker (restarts, ACLs, TLS).

    with private_broker(tmp_path) as broker:          # anonymous, like mosquitto/dev.conf
        ... broker.port ...
        broker.stop(); broker.start()                 # same port, same persistence file

`extra_conf` lines are appended to the generated config (e.g. password_file,
acl_file, listener options), so tests can run the project's mosquitto/ files.
"""

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.utils.tools import require_tool

__all__ = ["PrivateBroker", "free_port", "private_broker", "publish_qos1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class PrivateBroker:
    def __init__(self, workdir: Path, extra_conf: str = "", anonymous: bool = True) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if anonymous else 'false'}",
            "persistence true",
            f"persistence_location {workdir}/",
            "max_inflight_messages 0",
            "max_queued_messages 100000",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            # As root, Mosquitto would drop to user "mosquitto", which cannot
            # write into the test's private directory.
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n" + extra_conf)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, within_s: float = 10.0) -> None:
        exe = require_tool("mosquitto", "the test runs a private broker")
        self._proc = subprocess.Popen([exe, "-c", str(self.conf)])
        deadline = time.monotonic() + within_s
        while not _port_open(self.port):
            if self._proc.poll() is not None:
                pytest.fail(f"mosquitto exited with {self._proc.returncode}: {self.log_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not listen on {self.port}: {self.log_text()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM): the broker saves its persistence file."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
        self._proc = None

    def kill(self) -> None:
        """Kill without warning (SIGKILL)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._proc = None

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@contextmanager
def private_broker(
    workdir: Path, extra_conf: str = "", anonymous: bool = True
) -> Iterator[PrivateBroker]:
    broker = PrivateBroker(workdir, extra_conf, anonymous)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


def publish_qos1(port: int, topic: str, payloads: list[bytes]) -> None:
    """Publish `payloads` at QoS 1 to the broker on `port`; return once it has acked all."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gtx-test-pub-{os.getpid()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(topic, p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(10)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()

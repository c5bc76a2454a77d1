"""A private Mosquitto for tests that need their own broker (restarts, ACLs, TLS).

    with private_broker(tmp_path) as broker:          # anonymous, like mosquitto/dev.conf
        ... broker.port ...
        broker.stop(); broker.start()                 # same port, same persistence file

`extra_conf` lines are appended to the generated config (e.g. password_file,
acl_file, listener options), so tests can run the project's mosquitto/ files.

`production_conf` maps mosquitto/production.conf itself onto a test's
directories and a free port; `PrivateBroker(..., config_text=...)` runs it.
"""

import os
import re
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

__all__ = [
    "DYNSEC_PLUGIN",
    "PRODUCTION_CONF",
    "PrivateBroker",
    "free_port",
    "make_dev_ca",
    "private_broker",
    "production_broker",
    "production_conf",
    "publish_qos1",
]

PRODUCTION_CONF = Path(__file__).resolve().parents[2] / "mosquitto" / "production.conf"
# Where Debian installs the dynamic security plugin (the image's path is in the conf).
DYNSEC_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")


def production_conf(*, port: int, data_dir: Path, certs_dir: Path) -> str:
    """mosquitto/production.conf with its container paths mapped onto this
    machine and its TLS listener on `port` (loopback); nothing else changed."""
    text = PRODUCTION_CONF.read_text()
    text = re.sub(r"^plugin /\S+$", f"plugin {DYNSEC_PLUGIN}", text, count=1, flags=re.M)
    text = text.replace("/mosquitto/data/", f"{data_dir}/").replace(
        "/mosquitto/certs/", f"{certs_dir}/"
    )
    text, n = re.subn(r"^listener 8883$", f"listener {port} 127.0.0.1", text, flags=re.M)
    assert n == 1, "production.conf has no `listener 8883` line"
    assert "/mosquitto/" not in text, "an unmapped path in production.conf"
    if os.geteuid() == 0:
        text += "user root\n"  # see PrivateBroker
    return text


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
    def __init__(
        self,
        workdir: Path,
        extra_conf: str = "",
        anonymous: bool = True,
        *,
        config_text: str | None = None,
        port: int | None = None,
    ) -> None:
        """`config_text` (with its listener on `port`) replaces the generated config;
        the broker's stdout and stderr go to `log` as well."""
        self.port = free_port() if port is None else port
        self.workdir = workdir
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.pid: int | None = None
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
        if config_text is None:
            self.conf.write_text("\n".join(lines) + "\n" + extra_conf)
        else:
            self.conf.write_text(config_text + extra_conf)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, within_s: float = 10.0) -> None:
        exe = require_tool("mosquitto", "the test runs a private broker")
        with self.log.open("ab") as log:
            self._proc = subprocess.Popen(
                [exe, "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        self.pid = self._proc.pid
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


def make_dev_ca(out: Path) -> Path:
    """A development CA and broker certificate (localhost, 127.0.0.1), made by
    mosquitto/make-dev-ca.sh as an operator would make it."""
    script = PRODUCTION_CONF.parent / "make-dev-ca.sh"
    require_tool("openssl", "mosquitto/make-dev-ca.sh makes the test's CA with it")
    subprocess.run(["sh", str(script), str(out)], check=True, capture_output=True)
    return out


@contextmanager
def production_broker(
    workdir: Path, state: str | None, certs: Path, *, port: int | None = None
) -> Iterator[PrivateBroker]:
    """mosquitto/production.conf on a free loopback port, with the dynamic
    security plugin's initial `state` (JSON, as `gtx-coordinator broker-config`
    writes it; None: already in workdir/data/dynamic-security.json) and the
    broker certificate in `certs` (make_dev_ca)."""
    if not DYNSEC_PLUGIN.exists():
        pytest.skip(f"the dynamic security plugin is not installed ({DYNSEC_PLUGIN})")
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    if state is not None:
        (data / "dynamic-security.json").write_text(state)
    port = free_port() if port is None else port
    text = production_conf(port=port, data_dir=data, certs_dir=certs)
    broker = PrivateBroker(workdir, config_text=text, port=port)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()

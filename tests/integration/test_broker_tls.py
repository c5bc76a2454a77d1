"""The production TLS listener, with certificates made at test time by
mosquitto/make-dev-ca.sh: a gateway configured with `tls = true` and the CA
publishes through it; plain MQTT and an untrusted CA are refused."""

import asyncio
import ssl
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from edge.config import BrokerConfig
from edge.errors import BrokerError
from edge.publisher import MqttPublisher
from edge.signing import DeviceKey
from tests.utils.mosquitto import free_port, private_broker
from tests.utils.tools import require_tool

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _openssl() -> None:
    require_tool("openssl", "mosquitto/make-dev-ca.sh makes the test's certificates with it")


def _certs(out: Path, host: str = "localhost") -> Path:
    subprocess.run(
        ["sh", str(ROOT / "mosquitto" / "make-dev-ca.sh"), str(out), host],
        check=True,
        capture_output=True,
    )
    return out


def _tls_conf(certs: Path, port: int) -> str:
    # The production listener's TLS settings, on a free port of this test.
    return (
        f"listener {port} 127.0.0.1\n"
        f"cafile {certs / 'ca.crt'}\n"
        f"certfile {certs / 'server.crt'}\n"
        f"keyfile {certs / 'server.key'}\n"
        "tls_version tlsv1.2\n"
    )


async def test_gateway_publishes_over_tls_and_plain_or_untrusted_is_refused(
    tmp_path: Path,
) -> None:
    certs = _certs(tmp_path / "certs")
    other_ca = _certs(tmp_path / "other")
    tls_port = free_port()
    (tmp_path / "broker").mkdir()
    with private_broker(tmp_path / "broker", extra_conf=_tls_conf(certs, tls_port)) as broker:
        key = DeviceKey.generate()
        root = "tlstest"
        config = BrokerConfig(
            host="localhost", port=tls_port, topic_root=root, tls=True,
            ca_file=certs / "ca.crt", ack_timeout_s=5,
        )  # fmt: skip
        topic = f"{root}/v1/gw/{key.gateway_id}/readings"
        async with aiomqtt.Client("127.0.0.1", broker.port) as watcher:
            await watcher.subscribe(topic, qos=1)
            async with MqttPublisher(config, key.gateway_id) as publisher:
                await publisher.publish(topic, b"over-tls")
            received = b""
            async with asyncio.timeout(10):
                async for message in watcher.messages:
                    received = bytes(message.payload)
                    break
        assert received == b"over-tls"

        # Plain MQTT to the TLS port is not a connection.
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", tls_port, timeout=3):
                pass
        # A gateway trusting another CA refuses the broker's certificate.
        wrong = BrokerConfig(
            host="localhost", port=tls_port, topic_root=root, tls=True,
            ca_file=other_ca / "ca.crt", ack_timeout_s=3,
        )  # fmt: skip
        with pytest.raises((BrokerError, ssl.SSLError), match=r"(?i)certificate"):
            async with MqttPublisher(wrong, key.gateway_id):
                pass

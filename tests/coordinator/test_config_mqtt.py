"""The MQTT / TLS settings every MQTT client of the coordinator uses."""

import ssl
from pathlib import Path

import pytest

from coordinator.config import MqttTls, Settings, monitor_client_id
from tests.utils.mosquitto import make_dev_ca

REPO = Path(__file__).resolve().parents[2]


def test_plain_by_default_tls_when_asked(tmp_path: Path) -> None:
    assert Settings().mqtt_tls_config() is None
    tls = Settings(mqtt_tls=True, mqtt_ca_file=tmp_path / "ca.crt").mqtt_tls_config()
    assert tls == MqttTls(tmp_path / "ca.crt", None, None)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mqtt_ca_file": "ca.crt"}, "GTX_MQTT_TLS"),
        ({"mqtt_cert_file": "c.crt", "mqtt_key_file": "c.key"}, "GTX_MQTT_TLS"),
        ({"mqtt_tls": True, "mqtt_key_file": "c.key"}, "GTX_MQTT_CERT_FILE"),
    ],
)
def test_inconsistent_tls_settings_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**values)  # type: ignore[arg-type]


def test_tls_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GTX_MQTT_TLS", "true")
    monkeypatch.setenv("GTX_MQTT_CA_FILE", "/etc/gtx/ca.crt")
    assert Settings().mqtt_tls_config() == MqttTls(Path("/etc/gtx/ca.crt"))


def test_context_verifies_the_broker_with_the_ca(tmp_path: Path) -> None:
    make_dev_ca(tmp_path)
    ctx = MqttTls(tmp_path / "ca.crt").context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    # A client certificate, for brokers that ask for one (here: the broker's own pair).
    MqttTls(tmp_path / "ca.crt", tmp_path / "server.crt", tmp_path / "server.key").context()
    with pytest.raises(FileNotFoundError):
        MqttTls(tmp_path / "missing.crt").context()


def test_operators_monitor_under_their_bound_client_id() -> None:
    assert monitor_client_id("alice") == "gtx-monitor-alice"
    assert monitor_client_id(None) is None

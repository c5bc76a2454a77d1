"""`enroll` writes a gateway config that reaches a TLS broker with no hand edit:
the CA certificate the coordinator hands out is stored beside the config."""

import stat
from pathlib import Path
from typing import Any

import pytest

from edge.config import load_config
from provisioning.enroll import EnrolOptions, ca_certificate_path, enroll
from provisioning.errors import LocalError, UsageError
from provisioning.gateway_config import MeterSpec
from provisioning.keys import Signer

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


class _Coordinator:
    def __init__(self, *, tls: bool, ca: str | None) -> None:
        self.tls, self.ca = tls, ca

    def request(self, method: str, path: str, body: Any = None, headers: Any = None) -> Any:
        return {
            "gateway_id": body["gateway_id"],
            "owner": "owner",
            "first_time": True,
            "meters": body["meters"],
            "mqtt": {
                "host": "broker.example",
                "port": 8883,
                "tls": self.tls,
                "username": body["gateway_id"],
                "password": "pw",
                "topic_root": "gtx",
                "ca_certificate": self.ca,
            },
        }


def _options(tmp_path: Path, ca_file: Path | None = None) -> EnrolOptions:
    key = tmp_path / "device.pem"
    if not key.exists():
        Signer.generate().save(key)
    return EnrolOptions(
        config_file=tmp_path / "gateway.toml",
        key_file=key,
        state_file=tmp_path / "state.sqlite",
        coordinator_url="https://c",
        token="t",
        meters=(MeterSpec("m-1", "127.0.0.1", 502, 1, "sdm630", 5000),),
        ca_file=ca_file,
    )


def test_the_coordinators_ca_is_written_and_used(tmp_path: Path) -> None:
    options = _options(tmp_path)
    enroll(options, _Coordinator(tls=True, ca=PEM))
    config = load_config(options.config_file)
    ca = ca_certificate_path(options.config_file)
    assert config.broker.tls is True
    assert config.broker.ca_file == ca.resolve()
    assert ca.read_text() == PEM
    assert stat.S_IMODE(ca.stat().st_mode) == 0o644


def test_an_installers_ca_file_wins_and_plain_brokers_get_none(tmp_path: Path) -> None:
    mine = tmp_path / "site-ca.crt"
    mine.write_text(PEM)
    enroll(_options(tmp_path, mine), _Coordinator(tls=True, ca=None))
    assert load_config(tmp_path / "gateway.toml").broker.ca_file == mine.resolve()
    with pytest.raises(LocalError, match="no such file"):
        enroll(_options(tmp_path, tmp_path / "missing.crt"), _Coordinator(tls=True, ca=PEM))
    enroll(_options(tmp_path), _Coordinator(tls=False, ca=PEM))
    config = load_config(tmp_path / "gateway.toml")
    assert (config.broker.tls, config.broker.ca_file) == (False, None)


def test_something_else_than_a_certificate_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="PEM"):
        enroll(_options(tmp_path), _Coordinator(tls=True, ca="<html>"))
    assert not (tmp_path / "gateway.toml").exists()

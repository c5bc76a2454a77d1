"""`gtx-provision enroll`: redeem a one-time token, register the gateway and
its meters, receive broker credentials, write the gateway config.

Safe to re-run: the key is never replaced, the config is replaced atomically
only after the coordinator accepted, and the coordinator lets the same
gateway present the same token again (a fresh broker password results).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import load_config
from edge.errors import ConfigError
from provisioning.client import Transport
from provisioning.errors import LocalError, UsageError
from provisioning.gateway_config import (
    DEFAULT_POLL_INTERVAL_S,
    GatewayFile,
    MeterSpec,
    meters_of,
    recorded_gateway_id,
    write_ca_certificate,
    write_config,
)
from provisioning.keys import Signer
from provisioning.output import Report

__all__ = ["EnrolOptions", "enroll"]


@dataclass(frozen=True, slots=True)
class EnrolOptions:
    config_file: Path
    key_file: Path
    state_file: Path
    coordinator_url: str
    token: str
    meters: tuple[MeterSpec, ...]
    owner: str | None = None
    # The broker's CA certificate, when the installer brings one; else the one
    # the coordinator hands out (written beside the config), else the system's.
    ca_file: Path | None = None
    # Seconds between meter polls (default: an existing config's, else 900).
    poll_interval_s: int | None = None


def _poll_interval(options: EnrolOptions) -> int:
    if options.poll_interval_s is not None:
        if options.poll_interval_s < 1:
            raise UsageError("--poll-interval must be at least 1 second")
        return options.poll_interval_s
    if options.config_file.exists():
        try:
            return load_config(options.config_file).poll_interval_s
        except ConfigError:
            pass
    return DEFAULT_POLL_INTERVAL_S


def _meters(options: EnrolOptions) -> tuple[MeterSpec, ...]:
    if options.meters:
        return options.meters
    if options.config_file.exists():
        try:
            return meters_of(load_config(options.config_file))
        except ConfigError as exc:
            raise LocalError(str(exc)) from exc
    raise UsageError("no meters: give --meter (one per meter) or an existing --config")


def ca_certificate_path(config_file: Path) -> Path:
    """Where `enroll` keeps the broker CA certificate the coordinator hands out."""
    return config_file.with_name("broker-ca.crt")


def _ca_file(options: EnrolOptions, mqtt: dict[str, Any], report: Report) -> Path | None:
    if not mqtt["tls"]:
        return None
    if options.ca_file is not None:
        if not options.ca_file.is_file():
            raise LocalError(f"--ca-file {options.ca_file}: no such file")
        report.add("broker CA", True, f"{options.ca_file} (given)")
        return options.ca_file.resolve()
    pem = mqtt.get("ca_certificate")
    if pem:
        path = write_ca_certificate(ca_certificate_path(options.config_file), pem).resolve()
        report.add("broker CA", True, f"from the coordinator, written to {path}")
        return path
    report.add("broker CA", True, "none given: the broker's certificate must chain to a public CA")
    return None


def enroll(options: EnrolOptions, transport: Transport) -> Report:
    report = Report("enroll")
    try:
        signer = Signer.load(options.key_file)
    except ConfigError as exc:
        raise LocalError(f"{exc}; run `gtx-provision init` first") from exc
    gateway_id = recorded_gateway_id(options.config_file) or signer.address
    report.add("device key", True, f"gateway id {gateway_id}")
    meters = _meters(options)
    body = {
        "token": options.token,
        "gateway_id": gateway_id,
        "proof": signer.enrolment_proof(options.token, gateway_id),
        "meters": [
            {
                "meter_id": m.meter_id,
                "model": m.model,
                "rated_power_w": m.rated_power_w,
                "owner": m.owner or options.owner,
            }
            for m in meters
        ],
    }
    answer = transport.request("POST", "/api/v1/enrolment", body)
    mqtt = answer["mqtt"]
    report.add(
        "enrolment",
        True,
        f"{len(answer['meters'])} meter(s) registered for owner {answer['owner']}"
        + ("" if answer["first_time"] else " (re-run: details updated, new broker password)"),
    )
    ca_file = _ca_file(options, mqtt, report)
    write_config(
        options.config_file,
        GatewayFile(
            gateway_id=gateway_id,
            coordinator_url=options.coordinator_url,
            key_file=options.key_file.resolve(),
            state_file=options.state_file.resolve(),
            broker_host=mqtt["host"],
            broker_port=mqtt["port"],
            broker_tls=mqtt["tls"],
            username=mqtt["username"],
            password=mqtt["password"],
            topic_root=mqtt["topic_root"],
            meters=meters,
            ca_file=ca_file,
            poll_interval_s=_poll_interval(options),
        ),
    )
    report.add("gateway config", True, f"written to {options.config_file} (mode 0600)")
    report.data.update(
        gateway_id=gateway_id,
        config_file=str(options.config_file),
        broker=f"{mqtt['host']}:{mqtt['port']}",
        first_time=answer["first_time"],
    )
    return report

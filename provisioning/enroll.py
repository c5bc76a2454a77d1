"""`gtx-provision enroll`: redeem a one-time token, register the gateway and
its meters, receive broker credentials, write the gateway config.

Safe to re-run: the key is never replaced, the config is replaced atomically
only after the coordinator accepted, and the coordinator lets the same
gateway present the same token again (a fresh broker password results).
"""

from dataclasses import dataclass
from pathlib import Path

from edge.config import load_config
from edge.errors import ConfigError
from provisioning.client import Transport
from provisioning.errors import LocalError, UsageError
from provisioning.gateway_config import (
    GatewayFile,
    MeterSpec,
    meters_of,
    recorded_gateway_id,
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


def _meters(options: EnrolOptions) -> tuple[MeterSpec, ...]:
    if options.meters:
        return options.meters
    if options.config_file.exists():
        try:
            return meters_of(load_config(options.config_file))
        except ConfigError as exc:
            raise LocalError(str(exc)) from exc
    raise UsageError("no meters: give --meter (one per meter) or an existing --config")


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

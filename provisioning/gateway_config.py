"""The gateway config file `enroll` writes: meter specs parsed from the
command line, and the TOML `edge.config.parse_config` reads. Pure rendering,
one atomic write (mode 0600: it holds the broker password)."""

import json
import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from edge.config import GatewayConfig, parse_config
from edge.errors import ConfigError
from provisioning.errors import UsageError
from wire import topics
from wire.reading import ProtocolError, check_meter_id

__all__ = [
    "DEFAULT_POLL_INTERVAL_S",
    "GatewayFile",
    "MeterSpec",
    "meters_of",
    "parse_meter_spec",
    "recorded_broker_tls",
    "recorded_coordinator_url",
    "recorded_gateway_id",
    "render_config",
    "render_sidecar",
    "sidecar_path",
    "write_ca_certificate",
    "write_config",
]

DEFAULT_POLL_INTERVAL_S = 900
_METER_KEYS = {"meter_id", "host", "port", "unit", "model", "rated_w", "owner"}


@dataclass(frozen=True, slots=True)
class MeterSpec:
    meter_id: str
    host: str
    port: int
    unit_id: int
    model: str
    rated_power_w: int
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayFile:
    """Everything `enroll` writes into the gateway config."""

    gateway_id: str
    coordinator_url: str
    key_file: Path
    state_file: Path
    broker_host: str
    broker_port: int
    broker_tls: bool
    username: str
    password: str
    topic_root: str
    meters: tuple[MeterSpec, ...]
    poll_interval_s: int = DEFAULT_POLL_INTERVAL_S
    # The CA that signed the broker's certificate (None: the system's trust store).
    ca_file: Path | None = None


def _int(key: str, value: str, spec: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"--meter {spec!r}: {key} must be an integer") from None


def parse_meter_spec(spec: str) -> MeterSpec:
    """`meter_id=sdm630-0001,host=10.0.0.5,port=502,unit=1,model=sdm630,rated_w=63000[,owner=W]`"""
    fields: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in _METER_KEYS:
            raise UsageError(
                f"--meter {spec!r}: expected key=value pairs among {', '.join(sorted(_METER_KEYS))}"
            )
        fields[key] = value.strip()
    for required in ("meter_id", "host", "rated_w"):
        if not fields.get(required):
            raise UsageError(f"--meter {spec!r}: {required} is required")
    try:
        check_meter_id(fields["meter_id"])
    except ProtocolError as exc:
        raise UsageError(f"--meter {spec!r}: meter_id: {exc.detail}") from None
    port = _int("port", fields.get("port", "502"), spec)
    unit = _int("unit", fields.get("unit", "1"), spec)
    rated = _int("rated_w", fields["rated_w"], spec)
    if not 1 <= port <= 65535 or not 0 <= unit <= 247 or rated <= 0:
        raise UsageError(f"--meter {spec!r}: port 1..65535, unit 0..247, rated_w > 0")
    return MeterSpec(
        meter_id=fields["meter_id"],
        host=fields["host"],
        port=port,
        unit_id=unit,
        model=fields.get("model", "sdm630"),
        rated_power_w=rated,
        owner=fields.get("owner") or None,
    )


def _s(value: str | Path) -> str:
    # A JSON string is a valid TOML basic string for everything we write.
    return json.dumps(str(value))


def render_config(f: GatewayFile) -> str:
    """The agent's config (only settings `edge.config` knows: it refuses others;
    the coordinator URL lives in the sidecar)."""
    lines = [
        "# Written by `gtx-provision enroll`; holds the broker password: keep it 0600.",
        "# gateway_id is the enrolled identity; it stays the same after rotate-key.",
        f"gateway_id = {_s(f.gateway_id)}",
        f"key_file = {_s(f.key_file)}",
        f"state_file = {_s(f.state_file)}",
        f"poll_interval_s = {f.poll_interval_s}",
        "",
        "[broker]",
        f"host = {_s(f.broker_host)}",
        f"port = {f.broker_port}",
        f"username = {_s(f.username)}",
        f"password = {_s(f.password)}",
        f"topic_root = {_s(f.topic_root or topics.DEFAULT_ROOT)}",
        f"tls = {'true' if f.broker_tls else 'false'}",
    ]
    if f.broker_tls and f.ca_file is not None:
        lines.append(f"ca_file = {_s(f.ca_file)}")
    for m in f.meters:
        lines += [
            "",
            "[[meters]]",
            f"meter_id = {_s(m.meter_id)}",
            f"host = {_s(m.host)}",
            f"port = {m.port}",
            f"unit_id = {m.unit_id}",
            f"register_map = {_s(m.model)}",
            f"rated_power_w = {m.rated_power_w}",
        ]
    return "\n".join(lines) + "\n"


def sidecar_path(config_file: Path) -> Path:
    """Where provisioning keeps what the agent's config has no field for yet."""
    return config_file.with_name(config_file.stem + ".provisioning.toml")


def render_sidecar(f: GatewayFile) -> str:
    return "\n".join(
        [
            "# Written by `gtx-provision enroll`: read by `check` and `rotate-key`.",
            "# The gateway id stays its first key's after a key rotation.",
            f"gateway_id = {_s(f.gateway_id)}",
            f"coordinator_url = {_s(f.coordinator_url)}",
            f"broker_tls = {'true' if f.broker_tls else 'false'}",
            "",
        ]
    )


def _atomic_write(path: Path, text: str, mode: int = 0o600) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_ca_certificate(path: Path, pem: str) -> Path:
    """Store the broker's CA certificate the coordinator handed out (public:
    mode 0644), atomically; refuse anything that is not a PEM certificate."""
    text = pem.strip() + "\n"
    begins, ends = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    if not text.startswith(begins) or ends not in text:
        raise UsageError("the coordinator's broker CA certificate is not a PEM certificate")
    _atomic_write(path, text, mode=0o644)
    return path


def write_config(path: Path, f: GatewayFile) -> GatewayConfig:
    """Check the config parses as the agent will parse it, then replace it and
    its sidecar atomically (sidecar first: a config never lacks its gateway id)."""
    text = render_config(f)
    try:
        parsed = parse_config(tomllib.loads(text), base=path.parent)
    except (ConfigError, tomllib.TOMLDecodeError) as exc:  # pragma: no cover - a bug here
        raise UsageError(f"refusing to write an invalid gateway config: {exc}") from exc
    _atomic_write(sidecar_path(path), render_sidecar(f))
    _atomic_write(path, text)
    return parsed


def meters_of(config: GatewayConfig) -> tuple[MeterSpec, ...]:
    """The meters of an existing config, for re-running `enroll` without --meter."""
    return tuple(
        MeterSpec(m.meter_id, m.host, m.port, m.unit_id, m.register_map, m.rated_power_w)
        for m in config.meters
    )


def _sidecar(config_file: Path) -> dict[str, object]:
    try:
        with sidecar_path(config_file).open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def recorded_gateway_id(config_file: Path) -> str | None:
    """The gateway id recorded at enrolment: a rotated gateway keeps its first
    key's id while a newer key signs."""
    value = _sidecar(config_file).get("gateway_id")
    return value if isinstance(value, str) else None


def recorded_coordinator_url(config_file: Path) -> str | None:
    value = _sidecar(config_file).get("coordinator_url")
    return value if isinstance(value, str) and value else None


def recorded_broker_tls(config_file: Path) -> bool:
    return _sidecar(config_file).get("broker_tls") is True

"""Gateway configuration: a TOML file parsed once into frozen dataclasses.

    key_file = "/var/lib/gtx/device.pem"
    state_file = "/var/lib/gtx/state.sqlite"
    poll_interval_s = 900          # polls at wall-clock multiples of this
    health_interval_s = 60         # health message period
    shutdown_flush_s = 10          # on SIGTERM, publish what is queued for this long

    [broker]
    host = "127.0.0.1"
    port = 1883
    topic_root = "gtx"
    session_expiry_s = 86400       # MQTT v5 persistent session
    ack_timeout_s = 10             # give up on a PUBACK after this long, reconnect
    reconnect_initial_s = 1        # reconnect backoff: doubling, jittered, capped
    reconnect_max_s = 60

    [polling]                      # per-meter retries within one poll
    timeout_s = 2                  # Modbus response timeout (an attempt: 2x + 0.5 s at most)
    max_attempts = 3
    backoff_initial_s = 0.5
    backoff_max_s = 10

    [outbox]
    max_entries = 100000           # full: the oldest readings are dropped and counted

    [[meters]]
    meter_id = "sdm630-0001"
    transport = "tcp"              # or "serial" with device = "/dev/ttyUSB0", baudrate
    host = "127.0.0.1"
    port = 5020
    unit_id = 1
    register_map = "sdm630"        # a shipped map name or a path to a map file
    rated_power_w = 63000
    clock = "gateway"              # or "meter": uint32 UTC seconds at clock_register (FC 3)

Every error names the field (`meters[2].unit_id: 300 is outside 0..247`).
"""

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from wire import topics
from wire.base58 import b58decode, b58encode
from wire.reading import ProtocolError, check_meter_id

__all__ = [
    "CLOCK_SOURCES",
    "DEFAULT_CLOCK_REGISTER",
    "TRANSPORTS",
    "BrokerConfig",
    "GatewayConfig",
    "MeterConfig",
    "OutboxConfig",
    "PollingConfig",
    "load_config",
    "parse_config",
]

TRANSPORTS = ("tcp", "serial")
CLOCK_SOURCES = ("gateway", "meter")
# The simulator serves its clock here (device_sim.encoding.CLOCK_ADDRESS).
DEFAULT_CLOCK_REGISTER = 0xFF00


MQTT_PROTOCOLS = ("5", "3.1.1")


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    topic_root: str = topics.DEFAULT_ROOT
    session_expiry_s: int = 86_400
    keepalive_s: int = 60
    ack_timeout_s: float = 10.0
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 60.0
    # "5" (persistent session with expiry) or "3.1.1" (clean_session off), for
    # brokers without MQTT 5 such as the embedded demo broker.
    protocol: str = "5"
    # TLS to the broker (production listens on TLS only); `ca_file` verifies a
    # private CA's server certificate, else the system's trust store is used.
    tls: bool = False
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class PollingConfig:
    timeout_s: float = 2.0
    max_attempts: int = 3
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 10.0


@dataclass(frozen=True, slots=True)
class OutboxConfig:
    max_entries: int = 100_000


@dataclass(frozen=True, slots=True)
class MeterConfig:
    meter_id: str
    host: str
    port: int
    unit_id: int
    register_map: str
    rated_power_w: int
    transport: str = "tcp"
    device: str | None = None  # serial port, transport "serial"
    baudrate: int = 9600
    clock: str = "gateway"
    clock_register: int = DEFAULT_CLOCK_REGISTER


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    key_file: Path
    state_file: Path
    broker: BrokerConfig
    meters: tuple[MeterConfig, ...]
    # The enrolled identity: the gateway's first public key. Kept for life, so
    # after a key rotation the gateway signs with a new key under the same id.
    # None means the device key's own id (a gateway that never rotated).
    gateway_id: str | None = None
    poll_interval_s: int = 900
    health_interval_s: float = 60.0
    shutdown_flush_s: float = 10.0
    polling: PollingConfig = field(default_factory=PollingConfig)
    outbox: OutboxConfig = field(default_factory=OutboxConfig)


def load_config(path: Path) -> GatewayConfig:
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read gateway config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    return parse_config(raw, base=path.parent)


def _take(table: dict[str, Any], key: str, kind: type, where: str, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ConfigError(f"{where}{key}: missing")
        return default
    value = table[key]
    if kind in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}{key}: expected a number, got {value!r}")
    if kind is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}{key}: expected {kind.__name__}, got {value!r}")
    return value


def _bounded(
    table: dict[str, Any], key: str, kind: type, where: str, default: Any, low: float
) -> Any:
    value = _take(table, key, kind, where, default)
    if value < low:
        raise ConfigError(f"{where}{key}: must be at least {low}, got {value}")
    return value


def _choice(table: dict[str, Any], key: str, where: str, choices: tuple[str, ...]) -> str:
    value: str = _take(table, key, str, where, choices[0])
    if value not in choices:
        raise ConfigError(f"{where}{key}: {value!r} is not one of {', '.join(choices)}")
    return value


def _port(table: dict[str, Any], where: str, default: Any = ...) -> int:
    port: int = _take(table, "port", int, where, default)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{where}port: {port} is not a TCP port")
    return port


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def _unknown(table: dict[str, Any], known: set[str], where: str) -> None:
    # A misspelt key silently taking its default is how a gateway ends up
    # polling the wrong meter for months: refuse it.
    extra = sorted(set(table) - known)
    if extra:
        raise ConfigError(f"{where}{extra[0]}: unknown setting")


def _path_or_none(value: str | None, base: Path) -> Path | None:
    return None if value is None else base / value


def _gateway_id(raw: dict[str, Any]) -> str | None:
    value: str | None = _take(raw, "gateway_id", str, "", None)
    if value is None:
        return None
    try:
        raw_key = b58decode(value)
    except ValueError:
        raw_key = b""
    if len(raw_key) != 32 or b58encode(raw_key) != value:
        raise ConfigError("gateway_id: must be a base58 Ed25519 public key (the enrolled id)")
    return value


def _broker(raw: dict[str, Any], base: Path) -> BrokerConfig:
    b = _take(raw, "broker", dict, "", {})
    w = "broker."
    _unknown(b, _names(BrokerConfig), w)
    initial = _bounded(b, "reconnect_initial_s", float, w, 1.0, 0.01)
    maximum = _bounded(b, "reconnect_max_s", float, w, 60.0, 0.01)
    if maximum < initial:
        raise ConfigError(f"{w}reconnect_max_s: must not be below reconnect_initial_s")
    return BrokerConfig(
        host=_take(b, "host", str, w, "127.0.0.1"),
        port=_port(b, w, 1883),
        username=_take(b, "username", str, w, None),
        password=_take(b, "password", str, w, None),
        topic_root=_take(b, "topic_root", str, w, topics.DEFAULT_ROOT),
        session_expiry_s=_bounded(b, "session_expiry_s", int, w, 86_400, 0),
        keepalive_s=_bounded(b, "keepalive_s", int, w, 60, 5),
        ack_timeout_s=_bounded(b, "ack_timeout_s", float, w, 10.0, 0.1),
        reconnect_initial_s=initial,
        reconnect_max_s=maximum,
        protocol=_choice(b, "protocol", w, MQTT_PROTOCOLS),
        tls=_take(b, "tls", bool, w, False),
        ca_file=_path_or_none(_take(b, "ca_file", str, w, None), base),
    )


def _polling(raw: dict[str, Any]) -> PollingConfig:
    p = _take(raw, "polling", dict, "", {})
    w = "polling."
    _unknown(p, _names(PollingConfig), w)
    initial = _bounded(p, "backoff_initial_s", float, w, 0.5, 0.0)
    maximum = _bounded(p, "backoff_max_s", float, w, 10.0, 0.0)
    if maximum < initial:
        raise ConfigError(f"{w}backoff_max_s: must not be below backoff_initial_s")
    return PollingConfig(
        timeout_s=_bounded(p, "timeout_s", float, w, 2.0, 0.05),
        max_attempts=_bounded(p, "max_attempts", int, w, 3, 1),
        backoff_initial_s=initial,
        backoff_max_s=maximum,
    )


def _meter(m: Any, i: int, base: Path) -> MeterConfig:
    where = f"meters[{i}]."
    if not isinstance(m, dict):
        raise ConfigError(f"meters[{i}]: expected a table")
    _unknown(m, _names(MeterConfig), where)
    meter_id = _take(m, "meter_id", str, where)
    try:
        check_meter_id(meter_id)
    except ProtocolError as exc:
        raise ConfigError(f"{where}meter_id: {exc.detail}") from None
    unit_id = _take(m, "unit_id", int, where, 1)
    if not 0 <= unit_id <= 247:
        raise ConfigError(f"{where}unit_id: {unit_id} is outside 0..247")
    rated = _take(m, "rated_power_w", int, where)
    if rated <= 0:
        raise ConfigError(f"{where}rated_power_w: must be positive")
    transport = _choice(m, "transport", where, TRANSPORTS)
    if transport == "tcp":
        host, port, device = _take(m, "host", str, where), _port(m, where, 502), None
    else:
        host, port, device = "", 0, _take(m, "device", str, where)
    register_map: str = _take(m, "register_map", str, where, "sdm630")
    if "/" in register_map or register_map.endswith(".json"):
        register_map = str(base / register_map)  # relative to the config file
    clock_register = _take(m, "clock_register", int, where, DEFAULT_CLOCK_REGISTER)
    if not 0 <= clock_register <= 0xFFFE:
        raise ConfigError(f"{where}clock_register: {clock_register} is outside 0..65534")
    return MeterConfig(
        meter_id=meter_id,
        host=host,
        port=port,
        unit_id=unit_id,
        register_map=register_map,
        rated_power_w=rated,
        transport=transport,
        device=device,
        baudrate=_bounded(m, "baudrate", int, where, 9600, 300),
        clock=_choice(m, "clock", where, CLOCK_SOURCES),
        clock_register=clock_register,
    )


_TOP = {
    "gateway_id",
    "key_file",
    "state_file",
    "poll_interval_s",
    "health_interval_s",
    "shutdown_flush_s",
    "broker",
    "polling",
    "outbox",
    "meters",
}


def parse_config(raw: dict[str, Any], base: Path = Path()) -> GatewayConfig:
    """Validate a parsed TOML document; errors name the offending field."""
    _unknown(raw, _TOP, "")
    broker = _broker(raw, base)
    meters_raw = _take(raw, "meters", list, "")
    if not meters_raw:
        raise ConfigError("meters: at least one meter is required")
    meters = [_meter(m, i, base) for i, m in enumerate(meters_raw)]
    ids = [m.meter_id for m in meters]
    if len(set(ids)) != len(ids):
        raise ConfigError("meters: meter_id values must be unique")
    outbox_raw = _take(raw, "outbox", dict, "", {})
    _unknown(outbox_raw, {"max_entries"}, "outbox.")
    return GatewayConfig(
        gateway_id=_gateway_id(raw),
        key_file=base / _take(raw, "key_file", str, ""),
        state_file=base / _take(raw, "state_file", str, ""),
        broker=broker,
        meters=tuple(meters),
        poll_interval_s=_bounded(raw, "poll_interval_s", int, "", 900, 1),
        health_interval_s=_bounded(raw, "health_interval_s", float, "", 60.0, 0.1),
        shutdown_flush_s=_bounded(raw, "shutdown_flush_s", float, "", 10.0, 0.0),
        polling=_polling(raw),
        outbox=OutboxConfig(_bounded(outbox_raw, "max_entries", int, "outbox.", 100_000, 1)),
    )

"""Gateway configuration: a TOML file parsed once into frozen dataclasses.

key_file = "/var/lib/gtx/device.pem"
state_file = "/var/lib/gtx/state.sqlite"
poll_interval_s = 900

[broker]
host = "127.0.0.1"
port = 1883
topic_root = "gtx"

[[meters]]
meter_id = "sdm630-0001"
host = "127.0.0.1"
port = 5020
unit_id = 1
register_map = "sdm630"
rated_power_w = 63000
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge import topics
from edge.errors import ConfigError
from edge.protocol import ProtocolError, check_meter_id

__all__ = ["BrokerConfig", "GatewayConfig", "MeterConfig", "load_config", "parse_config"]


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    topic_root: str = topics.DEFAULT_ROOT


@dataclass(frozen=True, slots=True)
class MeterConfig:
    meter_id: str
    host: str
    port: int
    unit_id: int
    register_map: str
    rated_power_w: int


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    key_file: Path
    state_file: Path
    broker: BrokerConfig
    meters: tuple[MeterConfig, ...]
    poll_interval_s: int = 900


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
    if kind is int and isinstance(value, bool):
        raise ConfigError(f"{where}{key}: expected an integer, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}{key}: expected {kind.__name__}, got {value!r}")
    return value


def _port(table: dict[str, Any], where: str, default: Any = ...) -> int:
    port: int = _take(table, "port", int, where, default)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{where}port: {port} is not a TCP port")
    return port


def parse_config(raw: dict[str, Any], base: Path = Path()) -> GatewayConfig:
    """Validate a parsed TOML document; errors name the offending field."""
    broker_raw = _take(raw, "broker", dict, "", {})
    broker = BrokerConfig(
        host=_take(broker_raw, "host", str, "broker.", "127.0.0.1"),
        port=_port(broker_raw, "broker.", 1883),
        username=_take(broker_raw, "username", str, "broker.", None),
        password=_take(broker_raw, "password", str, "broker.", None),
        topic_root=_take(broker_raw, "topic_root", str, "broker.", topics.DEFAULT_ROOT),
    )
    meters_raw = _take(raw, "meters", list, "")
    if not meters_raw:
        raise ConfigError("meters: at least one meter is required")
    meters = []
    for i, m in enumerate(meters_raw):
        where = f"meters[{i}]."
        if not isinstance(m, dict):
            raise ConfigError(f"meters[{i}]: expected a table")
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
        meters.append(
            MeterConfig(
                meter_id=meter_id,
                host=_take(m, "host", str, where),
                port=_port(m, where, 502),
                unit_id=unit_id,
                register_map=_take(m, "register_map", str, where, "sdm630"),
                rated_power_w=rated,
            )
        )
    ids = [m.meter_id for m in meters]
    if len(set(ids)) != len(ids):
        raise ConfigError("meters: meter_id values must be unique")
    interval = _take(raw, "poll_interval_s", int, "", 900)
    if interval < 1:
        raise ConfigError("poll_interval_s: must be at least 1")
    return GatewayConfig(
        key_file=base / _take(raw, "key_file", str, ""),
        state_file=base / _take(raw, "state_file", str, ""),
        broker=broker,
        meters=tuple(meters),
        poll_interval_s=interval,
    )

"""Which services to use: the configured servers, or the embedded fallbacks.

A service counts as configured when its environment variable is set
(``GTX_DATABASE_URL``, ``GTX_REDIS_URL``, ``GTX_MQTT_HOST`` / ``GTX_MQTT_PORT``);
an unconfigured one is embedded without probing, so the demo on a bare machine
never waits on a connection timeout. A configured one is probed and used when
it answers; when it does not, the demo falls back to the embedded one (and says
why), or, with ``fallback=False``, refuses to start.

`plan_services` is the pure decision; `probe_*` and `detect_services` are the
thin I/O around it.
"""

import asyncio
import contextlib
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import psycopg
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from coordinator.errors import ConfigError

__all__ = [
    "Choice",
    "Probes",
    "ServiceConfig",
    "ServicePlan",
    "detect_services",
    "plan_services",
    "probe_postgres",
    "probe_services",
    "probe_tcp",
    "service_config_from_env",
]

PROBE_TIMEOUT_S = 0.5
_DEFAULT_MQTT_PORT = 1883
_DEFAULT_REDIS_PORT = 6379


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The servers named in the environment; None where none is configured."""

    database_url: str | None = None
    redis_url: str | None = None
    mqtt_host: str | None = None
    mqtt_port: int = _DEFAULT_MQTT_PORT


@dataclass(frozen=True, slots=True)
class Probes:
    """Probe outcomes: None = answered, a string = why not; absent = not probed."""

    database: str | None = None
    cache: str | None = None
    broker: str | None = None


@dataclass(frozen=True, slots=True)
class Choice:
    """One service's decision. `address` is the server's URL or host:port, or
    for an embedded database the SQLite URL; None for other embedded services."""

    kind: Literal["server", "embedded"]
    address: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ServicePlan:
    database: Choice
    broker: Choice
    cache: Choice

    def lines(self) -> list[str]:
        """One human-readable line per service, for the demo to print."""
        return [
            f"{name:<8} {c.kind:<8} {c.address or '(in process)'}  - {c.reason}"
            for name, c in (
                ("database", self.database),
                ("broker", self.broker),
                ("cache", self.cache),
            )
        ]


def service_config_from_env(environ: Mapping[str, str]) -> ServiceConfig:
    """Read the service variables from an environment mapping (pure)."""

    def _get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    port_text = _get("GTX_MQTT_PORT")
    mqtt_port = _DEFAULT_MQTT_PORT
    if port_text is not None:
        try:
            mqtt_port = int(port_text)
        except ValueError:
            raise ConfigError(f"GTX_MQTT_PORT={port_text!r} is not a port number") from None
        if not 1 <= mqtt_port <= 65535:
            raise ConfigError(f"GTX_MQTT_PORT={mqtt_port} is out of range")
    mqtt_host = _get("GTX_MQTT_HOST")
    if mqtt_host is None and port_text is not None:
        mqtt_host = "127.0.0.1"
    return ServiceConfig(
        database_url=_get("GTX_DATABASE_URL"),
        redis_url=_get("GTX_REDIS_URL"),
        mqtt_host=mqtt_host,
        mqtt_port=mqtt_port,
    )


def _is_sqlite(database_url: str) -> bool:
    try:
        return make_url(database_url).get_backend_name() == "sqlite"
    except ArgumentError as exc:
        raise ConfigError(f"GTX_DATABASE_URL is not a database URL: {exc}") from None


def _mqtt_address(config: ServiceConfig) -> str | None:
    return None if config.mqtt_host is None else f"{config.mqtt_host}:{config.mqtt_port}"


def _decide(
    variable: str,
    configured: str | None,
    probe: str | None,
    embedded_address: str | None,
    embedded_what: str,
    fallback: bool,
) -> Choice:
    if configured is None:
        return Choice("embedded", embedded_address, f"{variable} not set: {embedded_what}")
    if probe is None:
        return Choice("server", configured, f"{variable} set and reachable")
    if not fallback:
        raise ConfigError(f"{variable} is set but {configured} is unreachable: {probe}")
    return Choice(
        "embedded", embedded_address, f"{variable} set but unreachable ({probe}): {embedded_what}"
    )


def plan_services(
    config: ServiceConfig,
    probes: Probes,
    *,
    embedded_database_url: str,
    fallback: bool = True,
) -> ServicePlan:
    """Decide each service. A configured SQLite database needs no probe."""
    if config.database_url is not None and _is_sqlite(config.database_url):
        database = Choice("server", config.database_url, "GTX_DATABASE_URL names a SQLite file")
    else:
        database = _decide(
            "GTX_DATABASE_URL",
            config.database_url,
            probes.database,
            embedded_database_url,
            "SQLite through the same models",
            fallback,
        )
    return ServicePlan(
        database=database,
        broker=_decide(
            "GTX_MQTT_HOST",
            _mqtt_address(config),
            probes.broker,
            None,
            "in-process MQTT broker (amqtt)",
            fallback,
        ),
        cache=_decide(
            "GTX_REDIS_URL",
            config.redis_url,
            probes.cache,
            None,
            "in-process cache",
            fallback,
        ),
    )


# --- probes: the only I/O in this module ----------------------------------


async def probe_tcp(host: str, port: int, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """None when a TCP connection to host:port opens within `timeout_s`, else why not."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except TimeoutError:
        return f"no answer from {host}:{port} within {timeout_s} s"
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def probe_postgres(database_url: str, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """None when PostgreSQL at the SQLAlchemy URL answers ``SELECT 1``, else why not."""
    url = make_url(database_url).set(drivername="postgresql")
    dsn = url.render_as_string(hide_password=False)
    # libpq's connect_timeout is whole seconds (minimum 2); the asyncio timeout is tighter.
    try:
        async with asyncio.timeout(timeout_s):
            conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=2)
            async with conn:
                await conn.execute("SELECT 1")
    except TimeoutError:
        return f"no answer from PostgreSQL within {timeout_s} s"
    except psycopg.Error as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return f"PostgreSQL: {first_line}"
    return None


def _redis_host_port(redis_url: str) -> tuple[str, int]:
    parts = urlsplit(redis_url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigError(f"GTX_REDIS_URL={redis_url!r} is not a redis:// URL")
    try:
        return parts.hostname or "127.0.0.1", parts.port or _DEFAULT_REDIS_PORT
    except ValueError as exc:  # a port that is not a number
        raise ConfigError(f"GTX_REDIS_URL={redis_url!r}: {exc}") from None


async def probe_services(config: ServiceConfig, timeout_s: float = PROBE_TIMEOUT_S) -> Probes:
    """Probe, concurrently, each configured server (a SQLite database is not probed)."""

    async def _not_probed() -> str | None:
        return None

    database = _not_probed
    if config.database_url is not None and not _is_sqlite(config.database_url):
        database = functools.partial(probe_postgres, config.database_url, timeout_s)
    cache = _not_probed
    if config.redis_url is not None:
        cache = functools.partial(probe_tcp, *_redis_host_port(config.redis_url), timeout_s)
    broker = _not_probed
    if config.mqtt_host is not None:
        broker = functools.partial(probe_tcp, config.mqtt_host, config.mqtt_port, timeout_s)
    db, ca, br = await asyncio.gather(database(), cache(), broker())
    return Probes(database=db, cache=ca, broker=br)


async def detect_services(
    config: ServiceConfig,
    *,
    embedded_database_url: str,
    fallback: bool = True,
    timeout_s: float = PROBE_TIMEOUT_S,
) -> ServicePlan:
    """Probe what is configured, then plan."""
    probes = await probe_services(config, timeout_s)
    return plan_services(
        config, probes, embedded_database_url=embedded_database_url, fallback=fallback
    )

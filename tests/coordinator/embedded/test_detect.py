"""Service detection: the pure plan, the environment parsing, and the probes."""

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.embedded.detect import (
    Probes,
    ServiceConfig,
    detect_services,
    plan_services,
    probe_postgres,
    probe_tcp,
    service_config_from_env,
)
from coordinator.errors import ConfigError

SQLITE = "sqlite:///var/demo.db"
# The maintenance database every PostgreSQL server has: the probe needs no set-up.
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FULL = ServiceConfig(
    database_url=PG, redis_url="redis://127.0.0.1:6379/0", mqtt_host="127.0.0.1", mqtt_port=1883
)


def test_nothing_configured_is_all_embedded() -> None:
    plan = plan_services(ServiceConfig(), Probes(), embedded_database_url=SQLITE)
    assert (plan.database.kind, plan.broker.kind, plan.cache.kind) == ("embedded",) * 3
    assert plan.database.address == SQLITE
    assert plan.broker.address is None
    assert "GTX_DATABASE_URL not set" in plan.database.reason
    assert len(plan.lines()) == 3


def test_configured_and_reachable_servers_are_used() -> None:
    plan = plan_services(FULL, Probes(), embedded_database_url=SQLITE)
    assert plan.database.kind == plan.broker.kind == plan.cache.kind == "server"
    assert plan.database.address == PG
    assert plan.broker.address == "127.0.0.1:1883"
    assert plan.cache.address == "redis://127.0.0.1:6379/0"


def test_unreachable_server_falls_back_with_its_reason() -> None:
    probes = Probes(broker="127.0.0.1:1883: Connection refused")
    plan = plan_services(FULL, probes, embedded_database_url=SQLITE)
    assert plan.broker.kind == "embedded"
    assert "Connection refused" in plan.broker.reason
    assert plan.database.kind == "server"


def test_unreachable_server_without_fallback_is_an_error() -> None:
    with pytest.raises(ConfigError, match="GTX_REDIS_URL"):
        plan_services(FULL, Probes(cache="down"), embedded_database_url=SQLITE, fallback=False)


def test_configured_sqlite_is_used_as_the_server() -> None:
    plan = plan_services(
        ServiceConfig(database_url="sqlite:////data/gtx.db"),
        Probes(database="ignored"),
        embedded_database_url=SQLITE,
    )
    assert (plan.database.kind, plan.database.address) == ("server", "sqlite:////data/gtx.db")


@given(
    db=st.booleans(), cache=st.booleans(), broker=st.booleans(),
    db_up=st.booleans(), cache_up=st.booleans(), broker_up=st.booleans(),
)  # fmt: skip
def test_server_is_chosen_exactly_when_configured_and_reachable(
    db: bool, cache: bool, broker: bool, db_up: bool, cache_up: bool, broker_up: bool
) -> None:
    config = ServiceConfig(
        database_url=PG if db else None,
        redis_url="redis://h:1/0" if cache else None,
        mqtt_host="h" if broker else None,
    )
    probes = Probes(
        database=None if db_up else "x", cache=None if cache_up else "x",
        broker=None if broker_up else "x",
    )  # fmt: skip
    plan = plan_services(config, probes, embedded_database_url=SQLITE)
    assert (plan.database.kind == "server") == (db and db_up)
    assert (plan.cache.kind == "server") == (cache and cache_up)
    assert (plan.broker.kind == "server") == (broker and broker_up)
    for choice in (plan.database, plan.cache, plan.broker):
        assert choice.reason


def test_config_from_environment() -> None:
    assert service_config_from_env({}) == ServiceConfig()
    env = {
        "GTX_DATABASE_URL": PG,
        "GTX_REDIS_URL": "redis://r:6380/1",
        "GTX_MQTT_HOST": "broker",
        "GTX_MQTT_PORT": "8883",
        "UNRELATED": "x",
    }
    assert service_config_from_env(env) == ServiceConfig(PG, "redis://r:6380/1", "broker", 8883)
    assert service_config_from_env({"GTX_MQTT_PORT": "1884"}).mqtt_host == "127.0.0.1"
    assert service_config_from_env({"GTX_REDIS_URL": "  "}).redis_url is None


@pytest.mark.parametrize("port", ["x", "0", "70000"])
def test_bad_mqtt_port_is_a_config_error(port: str) -> None:
    with pytest.raises(ConfigError, match="GTX_MQTT_PORT"):
        service_config_from_env({"GTX_MQTT_PORT": port})


def test_bad_database_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="GTX_DATABASE_URL"):
        plan_services(
            ServiceConfig(database_url="nonsense"), Probes(), embedded_database_url=SQLITE
        )


async def _closed_port() -> int:
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    server.close()
    await server.wait_closed()
    return port


async def test_probe_tcp_open_and_closed() -> None:
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    async with server:
        assert await probe_tcp("127.0.0.1", server.sockets[0].getsockname()[1]) is None
    reason = await probe_tcp("127.0.0.1", await _closed_port())
    assert reason is not None
    assert "127.0.0.1" in reason


async def test_probe_postgres_unreachable_is_reported_quickly() -> None:
    port = await _closed_port()
    loop = asyncio.get_running_loop()
    started = loop.time()
    reason = await probe_postgres(f"postgresql+psycopg://postgres@127.0.0.1:{port}/x", 0.5)
    assert reason is not None
    assert reason.startswith(("PostgreSQL", "no answer"))
    assert loop.time() - started < 3


async def test_detect_with_unreachable_broker_and_redis_falls_back() -> None:
    port = await _closed_port()
    config = ServiceConfig(redis_url=f"redis://127.0.0.1:{port}/0", mqtt_host="127.0.0.1",
                           mqtt_port=port)  # fmt: skip
    plan = await detect_services(config, embedded_database_url=SQLITE)
    assert (plan.database.kind, plan.cache.kind, plan.broker.kind) == ("embedded",) * 3


@pytest.mark.services
async def test_detect_real_services() -> None:
    plan = await detect_services(FULL, embedded_database_url=SQLITE, fallback=False)
    assert plan.database.kind == plan.cache.kind == plan.broker.kind == "server"

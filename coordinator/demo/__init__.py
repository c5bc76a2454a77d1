"""`gridtokenx demo`: the whole system in one process, for trying it out.

Today: a simulated campus of Modbus meters, one gateway polling them and
publishing signed readings, and the coordinator ingesting them into
PostgreSQL through the MQTT broker, printing each reading as it is stored.
"""

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import make_url
from sqlalchemy.exc import OperationalError

from coordinator.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.errors import CoordinatorError
from coordinator.ingest.screen import Accepted, Rejected
from coordinator.registry import register_device, register_meter
from coordinator.runner import run_ingest
from device_sim.clock import SimClock
from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer
from edge.agent import GatewayAgent, Publisher
from edge.config import BrokerConfig, GatewayConfig, MeterConfig
from edge.errors import GatewayError
from edge.meter_reader import ModbusMeterReader
from edge.outbox import Outbox
from edge.publisher import MqttPublisher
from edge.signing import DeviceKey

__all__ = ["main"]

log = logging.getLogger("gridtokenx.demo")

RATED_POWER_W = 100_000


def _campus() -> dict[int, tuple[str, SimulatedMeter]]:
    """Unit id -> (meter id, meter): prosumers with PV and buildings that only consume."""
    return {
        1: ("dorm-a-pv", SimulatedMeter.prosumer(pv_kwp=30, load="dormitory", seed=1)),
        2: ("library-pv", SimulatedMeter.prosumer(pv_kwp=80, load="campus", seed=2)),
        3: ("lab-b", SimulatedMeter.consumer(load="campus", peak_load_w=40_000, seed=3)),
        4: ("dorm-c", SimulatedMeter.consumer(load="dormitory", peak_load_w=15_000, seed=4)),
    }


def _ensure_database(database_url: str) -> None:
    """Create the PostgreSQL database named in the URL when it does not exist."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        return
    admin = url.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
        ).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))


def _print_batch(accepted: list[Accepted], rejected: list[Rejected]) -> None:
    for a in accepted:
        r = a.signed.reading
        print(
            f"stored  seq={r.seq:<5} meter={r.meter_id:<11} ts={r.ts} "
            f"import={r.import_wh / 1000:>10.3f} kWh  export={r.export_wh / 1000:>10.3f} kWh",
            flush=True,
        )
    for j in rejected:
        print(f"REJECTED {j.reason}: {j.detail} (gateway {j.gateway_id})", flush=True)


async def _run(settings: Settings, workdir: Path, poll_s: int, accel: float) -> None:
    _ensure_database(settings.database_url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    key_file = workdir / "gateway-1" / "device.pem"
    if not key_file.exists():
        DeviceKey.generate().save(key_file)
    key = DeviceKey.load(key_file)
    register_device(engine, key.gateway_id)

    campus = _campus()
    for name, _meter in campus.values():
        register_meter(engine, key.gateway_id, name, model="sdm630", rated_power_w=RATED_POWER_W)
    clock = SimClock(accel=accel)
    broker = BrokerConfig(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        username=settings.mqtt_username,
        password=settings.mqtt_password,
        topic_root=settings.topic_root,
    )

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Publisher]:
        async with MqttPublisher(broker, key.gateway_id) as publisher:
            yield publisher

    async with (
        ModbusSimServer({u: m for u, (_, m) in campus.items()}, clock=clock) as sim,
        ModbusMeterReader() as reader,
    ):
        config = GatewayConfig(
            key_file=key_file,
            state_file=workdir / "gateway-1" / "state.sqlite",
            broker=broker,
            meters=tuple(
                MeterConfig(name, "127.0.0.1", sim.port, unit, "sdm630", RATED_POWER_W)
                for unit, (name, _) in campus.items()
            ),
            poll_interval_s=poll_s,
        )
        outbox = Outbox(config.state_file)
        agent = GatewayAgent(
            config=config,
            key=key,
            reader=reader,
            outbox=outbox,
            connect=connect,
            clock=clock.now,
        )
        print(f"simulated campus: {len(campus)} meters on Modbus TCP 127.0.0.1:{sim.port}")
        print(f"gateway {key.gateway_id}, polling every {poll_s} s; simulated time x{accel:g}")
        print(f"coordinator: MQTT {settings.mqtt_host}:{settings.mqtt_port} -> {engine.url!r}")
        print("readings as they are stored (Ctrl-C to stop):", flush=True)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(run_ingest(settings, engine, _print_batch), name="coordinator")
                tg.create_task(agent.run(), name="gateway")
        finally:
            outbox.close()
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gridtokenx", description="GridTokenX")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the whole system on a simulated campus")
    demo.add_argument("--workdir", type=Path, default=Path("var/demo"))
    demo.add_argument("--poll-seconds", type=int, default=5)
    demo.add_argument("--accel", type=float, default=60.0, help="simulated time speed-up")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        asyncio.run(_run(Settings(), args.workdir, args.poll_seconds, args.accel))
    except KeyboardInterrupt:
        print("\nstopped")
    except (CoordinatorError, GatewayError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, psycopg.OperationalError) as exc:
        print(f"error: database unavailable: {exc}", file=sys.stderr)
        return 2
    return 0

"""Helpers for gateway integration tests: a coordinator, config files, readings in PostgreSQL."""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine, Row

from coordinator.config import Settings
from coordinator.db.models import Reading as ReadingRow
from coordinator.devices.registry import register_device, register_meter
from coordinator.runner import run_ingest
from edge.signing import DeviceKey

__all__ = [
    "accepted_readings",
    "coordinator",
    "enrol",
    "outbox_seqs",
    "write_gateway_config",
]


@contextlib.asynccontextmanager
async def coordinator(
    database_url: str, topic_root: str, engine: Engine, *, host: str, port: int, name: str
) -> AsyncIterator[None]:
    """The coordinator's ingest, subscribed and ready, until the block ends."""
    settings = Settings(
        database_url=database_url,
        mqtt_host=host,
        mqtt_port=port,
        mqtt_client_id=f"gtx-test-coord-{name}",
        mqtt_session_expiry_s=300,
        topic_root=topic_root,
    )
    ready = asyncio.Event()
    task = asyncio.create_task(run_ingest(settings, engine, ready=ready), name="ingest")
    try:
        await asyncio.wait_for(ready.wait(), 15)
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def enrol(engine: Engine, key: DeviceKey, meters: Sequence[tuple[str, int]]) -> None:
    """Register the gateway and its (meter_id, rated_power_w) meters."""
    register_device(engine, key.gateway_id)
    for meter_id, rated in meters:
        register_meter(engine, key.gateway_id, meter_id, model="sdm630", rated_power_w=rated)


def accepted_readings(engine: Engine, gateway_id: str) -> list[Row[Any]]:
    """The gateway's accepted readings (rows with .seq, .meter_id, .meter_ts, ...)
    in arrival order."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(ReadingRow)
                .where(ReadingRow.gateway_id == gateway_id)
                .order_by(ReadingRow.received_at, ReadingRow.seq)
            ).all()
        )


def outbox_seqs(state_file: Path) -> tuple[list[int], int]:
    """(pending sequence numbers, next sequence number) in a gateway's state file,
    read without writing, so it works on the file of a running or killed agent."""
    db = sqlite3.connect(f"file:{state_file}?mode=ro", uri=True, timeout=10)
    try:
        pending = [s for (s,) in db.execute("SELECT seq FROM outbox ORDER BY seq")]
        (next_seq,) = db.execute("SELECT value FROM meta WHERE name = 'next_seq'").fetchone()
    finally:
        db.close()
    return pending, int(next_seq)


def write_gateway_config(
    path: Path,
    *,
    key_file: Path,
    state_file: Path,
    broker_port: int,
    topic_root: str,
    modbus_port: int,
    meters: Sequence[tuple[str, int, int]],  # (meter_id, unit_id, rated_power_w)
    poll_interval_s: int = 1,
) -> Path:
    """A gateway TOML config for fast tests: 1 s polls, short timeouts and backoffs."""
    lines = [
        f'key_file = "{key_file}"',
        f'state_file = "{state_file}"',
        f"poll_interval_s = {poll_interval_s}",
        "health_interval_s = 1",
        "shutdown_flush_s = 5",
        "[broker]",
        'host = "127.0.0.1"',
        f"port = {broker_port}",
        f'topic_root = "{topic_root}"',
        "ack_timeout_s = 2",
        "reconnect_initial_s = 0.2",
        "reconnect_max_s = 1",
        "[polling]",
        "timeout_s = 0.3",
        "max_attempts = 2",
        "backoff_initial_s = 0.05",
        "backoff_max_s = 0.1",
    ]
    for meter_id, unit_id, rated in meters:
        lines += [
            "[[meters]]",
            f'meter_id = "{meter_id}"',
            'host = "127.0.0.1"',
            f"port = {modbus_port}",
            f"unit_id = {unit_id}",
            f"rated_power_w = {rated}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path

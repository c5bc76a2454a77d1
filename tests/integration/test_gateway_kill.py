"""`kill -9` of a real gateway process with readings in its outbox, then a restart:
nothing lost, nothing accepted twice, no sequence number reused; SIGTERM then
flushes and exits cleanly, and `gtx-edge status` shows the state."""

import asyncio
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer
from edge.signing import DeviceKey
from tests.utils.gateway import (
    accepted_readings,
    coordinator,
    enrol,
    outbox_seqs,
    write_gateway_config,
)
from tests.utils.mosquitto import private_broker
from tests.utils.services import async_wait_until

pytestmark = pytest.mark.services

METERS = (("hall-1", 1, 63_000), ("dorm-2", 2, 63_000))


@contextmanager
def _gateway(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _seqs(engine: Engine, gateway_id: str) -> list[int]:
    return [r.seq for r in accepted_readings(engine, gateway_id)]


async def test_kill_9_and_restart_loses_and_repeats_nothing(
    tmp_path: Path, engine: Engine, database_url: str, topic_root: str
) -> None:
    key = DeviceKey.generate()
    key.save(tmp_path / "device.pem")
    enrol(engine, key, [(m, rated) for m, _, rated in METERS])
    state = tmp_path / "state.sqlite"
    log = tmp_path / "gateway.log"
    sim_meters = {u: SimulatedMeter.fixed(import_wh=5_000_000, export_wh=u) for _, u, _ in METERS}
    with private_broker(tmp_path) as broker:
        async with ModbusSimServer(sim_meters) as sim, AsyncExitStack() as stack:

            async def start_coordinator() -> None:
                await stack.enter_async_context(
                    coordinator(database_url, topic_root, engine, host="127.0.0.1",
                                port=broker.port, name=key.gateway_id[:8])
                )  # fmt: skip

            config = write_gateway_config(
                tmp_path / "gateway.toml", key_file=tmp_path / "device.pem", state_file=state,
                broker_port=broker.port, topic_root=topic_root, modbus_port=sim.port,
                meters=METERS,
            )  # fmt: skip
            await start_coordinator()
            with _gateway(config, log) as first:
                await async_wait_until(
                    lambda: len(_seqs(engine, key.gateway_id)) >= 2,
                    within_s=20, what="readings from the first run",
                )  # fmt: skip
                # Broker away: the outbox fills while the gateway keeps polling.
                await stack.aclose()
                broker.stop()
                await async_wait_until(
                    lambda: len(outbox_seqs(state)[0]) >= 4,
                    within_s=15, what="readings queued in the outbox",
                )  # fmt: skip
                first.send_signal(signal.SIGKILL)
                await asyncio.to_thread(first.wait, 10)
            pending_at_kill, next_at_kill = outbox_seqs(state)
            assert pending_at_kill, "the outbox was empty at kill time"
            broker.start()
            await start_coordinator()

            with _gateway(config, log) as second:
                await async_wait_until(
                    lambda: set(_seqs(engine, key.gateway_id))
                    >= set(pending_at_kill) | {next_at_kill, next_at_kill + 1},
                    within_s=30, what="the outbox at kill time and new readings",
                )  # fmt: skip
                second.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(second.wait, 15) == 0, log.read_text()

    seqs = _seqs(engine, key.gateway_id)
    assert len(seqs) == len(set(seqs)), "a reading was accepted twice"
    assert sorted(seqs) == list(range(1, max(seqs) + 1)), "a reading was lost"
    assert outbox_seqs(state)[0] == []  # SIGTERM flushed the outbox
    status = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "edge.cli", "status", "--config", str(config)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    assert "outbox depth:   0" in status.stdout
    assert f"next sequence:  {max(seqs) + 1}" in status.stdout
    assert "meter hall-1: ok" in status.stdout

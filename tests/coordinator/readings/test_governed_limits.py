"""The oracle limits the REC authority governs reach ingest: the worker processes decide
each batch under the limits in force when it was submitted, and the runner keeps the
service's limits to those in force at the current epoch."""

import asyncio
import datetime as dt
import time
from pathlib import Path

from coordinator.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.devices.registry import register_device, register_meter
from coordinator.governance import (
    GovernanceReader,
    GovernedParams,
    MemoryGovernance,
    Param,
    ParamChange,
)
from coordinator.readings.ingest.mqtt_source import Delivery
from coordinator.readings.ingest.screen import Incoming
from coordinator.readings.ingest.workers import WorkerPool
from coordinator.readings.oracle import OracleConfig
from coordinator.runner import _governed_limits
from edge.signing import DeviceKey
from tests.utils.services import async_wait_until
from wire.reading import Reading, encode_payload
from wire.topics import gateway_readings

ROOT = "gtxtest"


def _delivery(key: DeviceKey, seq: int, ts: int, export_wh: int) -> Delivery:
    signed = key.sign(Reading(key.gateway_id, "pv", seq, ts, 0, export_wh))
    incoming = Incoming(
        gateway_readings(ROOT, key.gateway_id), encode_payload(signed), dt.datetime.now(dt.UTC)
    )
    return Delivery(incoming, seq, 1, 0)


async def test_worker_processes_decide_under_the_limits_set_for_the_next_batches(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'gtx.db'}"
    engine = make_engine(url)
    upgrade(engine)
    key = DeviceKey.generate()
    register_device(engine, key.gateway_id)
    register_meter(engine, key.gateway_id, "pv", model="sdm630", rated_power_w=3600, owner=None)
    engine.dispose()
    now = int(time.time())
    # 3600 W for 60 s is 60 Wh (+2 Wh tolerance): 100 Wh fits only at 200 %.
    batches = [[_delivery(key, 1, now - 120, 0)], [_delivery(key, 2, now - 60, 100)]]
    async with WorkerPool(
        1, database_url=url, root=ROOT, oracle=OracleConfig(), length_s=60, log_json=False
    ) as pool:
        await pool.submit(0, batches[0])
        assert (await pool.result())[1].accepted == 1
        pool.set_oracle(OracleConfig(rated_power_pct=200))
        await pool.submit(0, batches[1])
        _, outcome = await pool.result()
    assert (outcome.accepted, outcome.rejected) == (1, [])


class Recorder:
    def __init__(self) -> None:
        self.configs: list[OracleConfig] = []

    def set_oracle(self, config: OracleConfig) -> None:
        self.configs.append(config)


async def test_the_runner_applies_the_limits_in_force_at_the_current_epoch() -> None:
    governance = MemoryGovernance()
    now = int(time.time()) // 900
    governance.changes += [
        ParamChange(
            name=Param.RATED_POWER_PCT, value="150", from_epoch=now, authority="W", issued_at=0
        ),
        ParamChange(
            name=Param.LATENESS_WINDOW_S,
            value="3600",
            from_epoch=now + 5,
            authority="W",
            issued_at=0,
        ),
    ]
    reader = GovernanceReader(governance, GovernedParams(), ttl_s=0)
    service = Recorder()
    settings = Settings(epoch_length_s=900, epoch_check_interval_s=0.01)
    task = asyncio.create_task(
        _governed_limits(service, reader, OracleConfig(), settings)  # type: ignore[arg-type]
    )
    try:
        await async_wait_until(lambda: bool(service.configs), 10, "the limits applied")
    finally:
        task.cancel()
    assert service.configs[0].rated_power_pct == 150
    assert service.configs[0].lateness_window_s == GovernedParams().lateness_window_s

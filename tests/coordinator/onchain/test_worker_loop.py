"""The chain worker's loop against the real PostgreSQL: leadership, one step
(mint and attest a closed epoch, clear the market), and every SQL statement of
it off the event loop's thread."""

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from solders.keypair import Keypair
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.models import EpochOnchain, EpochRecord, MeterEpochEnergyRow
from coordinator.devices.registry import register_device, register_meter
from coordinator.onchain.worker import run_chain_worker
from edge.signing import DeviceKey
from tests.utils.sql_threads import sql_threads

pytestmark = pytest.mark.services
EPOCH = 1_900_000


def _closed_epoch(engine: Engine) -> None:
    gw = DeviceKey.generate().gateway_id
    register_device(engine, gw)
    owner = str(Keypair().pubkey())
    register_meter(engine, gw, "pv", model="sdm630", rated_power_w=50_000, owner=owner)
    with engine.begin() as conn:
        conn.execute(
            insert(MeterEpochEnergyRow).values(
                epoch=EPOCH, gateway_id=gw, meter_id="pv", import_wh=0, export_wh=700
            )
        )
        conn.execute(
            insert(EpochRecord).values(
                epoch=EPOCH, length_s=900, closed_at=dt.datetime.now(dt.UTC), reading_count=1,
                total_import_wh=0, total_export_wh=700, mint_base_units=700_000_000,
                merkle_root=b"\x22" * 32, summary_json="{}",
            )
        )  # fmt: skip


async def test_a_worker_step_runs_no_sql_on_the_event_loop(
    tmp_path: Path, own_engine: Engine
) -> None:
    engine = own_engine
    _closed_epoch(engine)
    settings = Settings(
        database_url=str(engine.url), key_dir=tmp_path / "keys", chain_check_interval_s=0.05
    )
    reports: list[tuple[str, int]] = []
    stepped = asyncio.Event()

    def on_epoch(kind: str, epoch: int) -> None:
        reports.append((kind, epoch))
        if kind == "cleared":
            stepped.set()

    with sql_threads(engine) as seen:
        worker = asyncio.create_task(run_chain_worker(settings, engine, on_epoch=on_epoch))
        try:
            await asyncio.wait_for(stepped.wait(), timeout=60)
        finally:
            worker.cancel()
            with pytest.raises(asyncio.CancelledError):
                await worker
    # Minted, then retired (issue 21: nothing to retire here, the run is still recorded).
    assert reports[:2] == [("minted", EPOCH), ("retired", EPOCH)]
    assert reports[2][0] == "cleared"
    assert seen.ran > 0
    assert seen.on_thread == []
    with engine.connect() as conn:
        minted = conn.execute(select(EpochOnchain.minted_base_units)).scalar_one()
    assert minted == 700_000_000

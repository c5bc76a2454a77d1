"""The chain worker under the emergency controls, against the real PostgreSQL: minting
paused holds a closed epoch back; resumed, it is minted exactly once."""

import asyncio
import datetime as dt
import threading
from pathlib import Path

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.models import EpochOnchain, EpochRecord, MeterEpochEnergyRow
from coordinator.devices.registry import register_device, register_meter
from coordinator.governance import Controls, Pause, Scope, SqlGovernance
from coordinator.onchain.ledger import Chain
from coordinator.onchain.worker import run_chain_worker
from edge.signing import DeviceKey
from programs.roles.deployment import user_accounts
from tests.utils.services import async_wait_until

pytestmark = pytest.mark.services
EPOCH = 1_900_000


def _closed_epoch(engine: Engine, owner: str) -> None:
    gw = DeviceKey.generate().gateway_id
    register_device(engine, gw)
    register_meter(engine, gw, "pv", model="sdm630", rated_power_w=50_000, owner=owner)
    with engine.begin() as conn:
        conn.execute(
            insert(MeterEpochEnergyRow).values(
                epoch=EPOCH, gateway_id=gw, meter_id="pv", import_wh=0, export_wh=700
            )
        )
        conn.execute(
            insert(EpochRecord).values(
                epoch=EPOCH,
                length_s=900,
                closed_at=dt.datetime.now(dt.UTC),
                reading_count=1,
                total_import_wh=0,
                total_export_wh=700,
                mint_base_units=700_000_000,
                merkle_root=b"\x22" * 32,
                summary_json="{}",
            )
        )


class CountingGovernance(SqlGovernance):
    """Counts the worker's reads of the controls: one or two a pass."""

    reads = 0
    lock = threading.Lock()

    def controls(self) -> Controls:
        with CountingGovernance.lock:
            CountingGovernance.reads += 1
        return super().controls()


async def test_minting_paused_then_resumed_mints_the_epoch_once(
    tmp_path: Path, own_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = own_engine
    owner = Keypair().pubkey()
    _closed_epoch(engine, str(owner))
    governance = SqlGovernance(engine)
    now = dt.datetime.now(dt.UTC)
    governance.pause([Pause(Scope.MINTING, now, 0, "authority", "audit of meter pv")], "")
    monkeypatch.setattr("coordinator.onchain.worker.SqlGovernance", CountingGovernance)
    monkeypatch.setattr(CountingGovernance, "reads", 0)
    settings = Settings(
        database_url=str(engine.url), key_dir=tmp_path / "keys", chain_check_interval_s=0.05
    )
    reports: list[tuple[str, int]] = []
    chains: list[Chain] = []

    async def balance() -> int:
        accounts = user_accounts(chains[0].deployment, Pubkey.from_bytes(bytes(owner)))
        account = await chains[0].ledger.get_token_account(accounts.energy)
        return 0 if account is None else account.amount

    def mints() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(EpochOnchain)).scalar_one())

    worker = asyncio.create_task(
        run_chain_worker(
            settings, engine, on_epoch=lambda k, e: reports.append((k, e)), on_chain=chains.append
        )
    )
    try:
        # Passes go by (the market clears) while minting is paused: nothing minted.
        await async_wait_until(lambda: CountingGovernance.reads >= 5, 60, "passes while paused")
        assert ("minted", EPOCH) not in reports
        assert await asyncio.to_thread(mints) == 0
        assert await balance() == 0

        await asyncio.to_thread(governance.resume, [Scope.MINTING])
        await async_wait_until(lambda: ("minted", EPOCH) in reports, 60, "the epoch minted")
        seen = CountingGovernance.reads
        await async_wait_until(lambda: CountingGovernance.reads >= seen + 6, 60, "more passes")
    finally:
        worker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await worker
    assert reports.count(("minted", EPOCH)) == 1
    assert await asyncio.to_thread(mints) == 1
    assert await balance() == 700 * 10**6

"""The reconciliation never looks away: the arithmetic of an epoch's account (pure), and
a freeze in a running system (real PostgreSQL, embedded ledger, the chain worker
running) reconciled throughout, by the function and by `gtx-coordinator reconcile`,
until a mint is tampered with."""

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from solders.pubkey import Pubkey
from sqlalchemy import update
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.models import MintGrant
from coordinator.onchain.grants import Grant, MintStatus
from coordinator.onchain.ledger import Chain, open_chain
from coordinator.onchain.minting import mint_closed_epochs
from coordinator.onchain.reconcile import Reconciliation, Recorded, account_epoch, reconcile
from coordinator.onchain.worker import run_chain_worker
from coordinator.readings.oracle import epoch_of
from demo.reconcile import reconcile as demo_reconcile
from programs.roles.oracle import mint_energy
from tests.coordinator.onchain.world import (
    LATENESS,
    LENGTH,
    Campus,
    energy_of,
    freeze,
    producers,
    thaw,
)
from tests.utils.services import async_wait_until, cancel_and_wait

WH = 1_000_000
E = 77


def _grant(owner: str, wh: int, status: MintStatus, reason: str | None = None) -> Grant:
    return Grant(E, owner, wh * WH, status, reason)


def test_an_epoch_is_minted_withheld_or_pending_to_the_unit() -> None:
    exports = [("a", 100), ("b", 200), ("b", 50), ("c", 0), (None, 7), ("d", 30)]
    grants = [
        _grant("a", 100, MintStatus.MINTED),
        _grant("b", 250, MintStatus.WITHHELD, "account_frozen"),
        _grant("d", 30, MintStatus.PENDING),
    ]
    account, problems = account_epoch(E, exports, grants, Recorded(100 * WH, 7 * WH))
    assert problems == []
    assert (account.export_base_units, account.minted, account.pending) == (
        387 * WH,
        100 * WH,
        30 * WH,
    )
    assert account.withheld == (("account_frozen", 250 * WH), ("no_owner", 7 * WH))


def test_an_epoch_not_planned_yet_is_pending() -> None:
    account, problems = account_epoch(E, [("a", 100), (None, 1)], [], None)
    assert problems == []
    assert (account.minted, account.withheld, account.pending) == (0, (), 101 * WH)


def test_each_record_that_disagrees_is_named_by_epoch_and_owner() -> None:
    exports = [("a", 100), ("b", 200), (None, 7)]
    grants = [_grant("a", 101, MintStatus.MINTED), _grant("x", 5, MintStatus.MINTED)]
    account, problems = account_epoch(E, exports, grants, Recorded(100 * WH, 0))
    assert problems == [
        f"epoch {E}, a: verified export {100 * WH} base units, mint record {101 * WH}",
        f"epoch {E}, b: verified export {200 * WH} base units, no mint record",
        f"epoch {E}, x: mint record of {5 * WH} base units without verified export",
        f"epoch {E}: {7 * WH} base units exported by meters with no owner, recorded 0",
        f"epoch {E}: recorded as {100 * WH} base units minted, its grants minted {106 * WH}",
        f"epoch {E}: verified export {307 * WH} base units, but minted {106 * WH} + withheld 0"
        " + pending 0",
    ]
    assert account.minted == 106 * WH


@pytest.fixture
def engine(own_engine: Engine) -> Engine:
    return own_engine


def _settings(tmp_path: Path, engine: Engine) -> Settings:
    return Settings(
        database_url=str(engine.url), key_dir=tmp_path / "keys", chain_check_interval_s=0.05,
        epoch_length_s=LENGTH, lateness_window_s=LATENESS,
    )  # fmt: skip


async def _reconciled(engine: Engine, chain: Chain) -> Reconciliation:
    return await reconcile(
        engine, chain.ledger, chain.deployment, length_s=LENGTH, lateness_s=LATENESS
    )


async def _cli_reconcile(settings: Settings) -> tuple[int, str]:
    """`gtx-coordinator reconcile` as an operator runs it, beside the running worker."""
    env = {
        **os.environ, "GTX_DATABASE_URL": settings.database_url,
        "GTX_KEY_DIR": str(settings.key_dir), "GTX_EPOCH_LENGTH_S": str(LENGTH),
        "GTX_LATENESS_WINDOW_S": str(LATENESS),
    }  # fmt: skip
    exe = Path(sys.executable).with_name("gtx-coordinator")
    process = await asyncio.create_subprocess_exec(
        str(exe), "reconcile", env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode() + err.decode()


@pytest.mark.services
async def test_an_epoch_whose_batch_was_refused_is_reconciled_not_skipped(
    tmp_path: Path, engine: Engine
) -> None:
    settings = _settings(tmp_path, engine)
    async with open_chain(settings, engine) as chain:
        owners = await producers(chain, 2)
        campus = Campus(engine, owners)
        epoch = epoch_of(int(time.time()), LENGTH) - 10
        await freeze(chain, owners[0])
        campus.export(epoch, {owners[0]: 300, owners[1]: 500})
        await mint_closed_epochs(chain, engine)
        result = await demo_reconcile(engine, chain, {}, owners, settings=settings)
    assert result.ok, result.lines()
    ledger = result.ledger
    assert len(ledger.epochs) == 1
    assert ledger.verified_export_wh == 800
    assert ledger.minted_base_units == 500 * WH
    assert ledger.withheld == {"account_frozen": 300 * WH}
    # Their bills: exports sold to the grid at feed-in, nothing bought or sold.
    assert result.bill_problems == ()
    assert "grid-only -48000, actual -48000, savings 0 " in result.bills_line


@pytest.mark.services
async def test_a_freeze_in_a_running_system_reconciles_throughout(
    tmp_path: Path, engine: Engine
) -> None:
    settings = _settings(tmp_path, engine)
    events: list[tuple[str, int]] = []
    chains: list[Chain] = []
    worker = asyncio.create_task(
        run_chain_worker(
            settings, engine, on_epoch=lambda k, e: events.append((k, e)), on_chain=chains.append
        ),
        name="chain-worker",
    )
    try:
        await async_wait_until(lambda: bool(chains), within_s=60, what="the chain opened")
        chain = chains[0]
        owners = await producers(chain, 4)
        frozen, *others = owners
        campus = Campus(engine, owners)
        first = epoch_of(int(time.time()), LENGTH) - 20
        exported = dict.fromkeys(owners, 0)

        async def step(epoch: int, wh: int) -> None:
            campus.export(epoch, dict.fromkeys(owners, wh))
            for owner in owners:
                exported[owner] += wh
            await async_wait_until(
                lambda: ("minted", epoch) in events, within_s=60, what=f"epoch {epoch} minted"
            )

        await step(first, 100)
        result = await _reconciled(engine, chain)
        assert result.ok, result.mismatches
        assert result.withheld == {}

        await freeze(chain, frozen)
        await step(first + 1, 1000)
        await step(first + 2, 2000)
        # Every other producer minted in full; the frozen one's energy withheld.
        assert [await energy_of(chain, o) for o in others] == [3100 * WH] * 3
        assert await energy_of(chain, frozen) == 100 * WH
        result = await _reconciled(engine, chain)
        assert result.ok, result.mismatches
        assert result.withheld == {"account_frozen": 3000 * WH}
        assert result.verified_export_wh == 4 * 3100
        code, report = await _cli_reconcile(settings)
        assert code == 0, report
        assert "withheld 3000000000 (account_frozen 3000000000)" in report

        await thaw(chain, frozen)

        async def thawed_and_minted() -> bool:
            # The worker reports a withheld grant once it is minted *and* recorded;
            # the balance alone moves before the record does.
            recorded = {("withheld_minted", first + 1), ("withheld_minted", first + 2)}
            return recorded <= set(events) and await energy_of(chain, frozen) == 3100 * WH

        await async_wait_until(thawed_and_minted, within_s=60, what="the withheld energy minted")
        result = await _reconciled(engine, chain)
        assert result.ok, result.mismatches
        assert (result.withheld, result.pending_base_units) == ({}, 0)
        assert result.minted_base_units == 4 * 3100 * WH

        # Tampered: a record says one producer was minted more than their export.
        with engine.begin() as conn:
            conn.execute(
                update(MintGrant)
                .where(MintGrant.epoch == first + 1, MintGrant.owner == others[0])
                .values(base_units=MintGrant.base_units + 1)
            )
        result = await _reconciled(engine, chain)
        assert not result.ok
        assert any(m.startswith(f"epoch {first + 1}, {others[0]}:") for m in result.mismatches)
        code, report = await _cli_reconcile(settings)
        assert code == 1
        assert f"MISMATCH epoch {first + 1}, {others[0]}: verified export" in report
        with engine.begin() as conn:
            conn.execute(
                update(MintGrant)
                .where(MintGrant.epoch == first + 1, MintGrant.owner == others[0])
                .values(base_units=MintGrant.base_units - 1)
            )
        assert (await _reconciled(engine, chain)).ok

        # Tampered on chain: energy minted to a producer outside every record.
        keys = chain.keys
        await mint_energy(
            chain.ledger, chain.deployment, payer=keys.payer, oracle=keys.oracle,
            epoch=first + 1, grants=[(Pubkey.from_string(others[1]), 5 * WH)],
        )  # fmt: skip
        result = await _reconciled(engine, chain)
        assert not result.ok
        assert f"{others[1]}: energy balance {3105 * WH}, expected {3100 * WH}" in (
            result.mismatches
        )
        assert any(m.startswith("energy mint supply") for m in result.mismatches)
    finally:
        await cancel_and_wait(worker)

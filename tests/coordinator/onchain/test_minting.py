"""A frozen account isolates its owner (real PostgreSQL, embedded ledger): every other
producer is minted in full, the frozen one's energy is withheld with its reason and
minted once thawed, exactly once, across refused batches and crashes; a grant the
ledger keeps refusing is parked where an operator sees it, until retried."""

from dataclasses import replace
from pathlib import Path

import pytest
from solders.keypair import Keypair
from sqlalchemy import select
from sqlalchemy.engine import Engine

from coordinator.config import Settings
from coordinator.db.models import EpochOnchain, MintGrant
from coordinator.onchain.grants import MINT_ATTEMPTS
from coordinator.onchain.ledger import Chain, open_chain
from coordinator.onchain.minting import mint_closed_epochs, mint_withheld, retry_parked
from coordinator.ops import metrics
from coordinator.ops.alerts.rules import AlertRules, evaluate
from coordinator.ops.alerts.storage import SqlAlertSource
from programs.ledger.store import chain_jobs
from tests.coordinator.onchain.world import (
    CrashAfterSend,
    CrashError,
    StaleFreezeState,
    closed_epoch,
    energy_of,
    freeze,
    producers,
    thaw,
)
from wire.alerts import AlertKind

pytestmark = pytest.mark.services

E = 2_000_000
WH = 1_000_000  # base units per Wh


@pytest.fixture
def engine(own_engine: Engine) -> Engine:
    return own_engine


def _settings(tmp_path: Path, engine: Engine) -> Settings:
    return Settings(database_url=str(engine.url), key_dir=tmp_path / "keys")


def _grants(engine: Engine) -> dict[tuple[int, str], tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(MintGrant.epoch, MintGrant.owner, MintGrant.status, MintGrant.reason)
        ).all()
    return {(e, o): (s, r) for e, o, s, r in rows}


def _minted_of(engine: Engine, epoch: int) -> tuple[int, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(EpochOnchain.minted_base_units, EpochOnchain.error).where(
                EpochOnchain.epoch == epoch
            )
        ).one()
    return int(row[0]), row[1]


async def _balances(chain: Chain, owners: list[str]) -> list[int]:
    return [await energy_of(chain, o) for o in owners]


async def test_a_frozen_producer_is_withheld_and_the_others_are_minted_in_full(
    tmp_path: Path, engine: Engine
) -> None:
    async with open_chain(_settings(tmp_path, engine), engine) as chain:
        frozen, *others = owners = await producers(chain, 3)
        await freeze(chain, frozen)
        closed_epoch(engine, E, {frozen: 1000, others[0]: 2000, others[1]: 3000, None: 7})

        assert await mint_closed_epochs(chain, engine) == [E]
        assert await _balances(chain, owners) == [0, 2000 * WH, 3000 * WH]
        assert _grants(engine) == {
            (E, frozen): ("withheld", "account_frozen"),
            (E, others[0]): ("minted", None),
            (E, others[1]): ("minted", None),
        }
        assert _minted_of(engine, E) == (5000 * WH, None)
        assert await mint_withheld(chain, engine) == []  # still frozen
        assert metrics.MINT_WITHHELD.labels("account_frozen")._value.get() == 1000 * WH

        await thaw(chain, frozen)
        (minted,) = await mint_withheld(chain, engine)
        assert (minted.epoch, minted.owner, minted.base_units) == (E, frozen, 1000 * WH)
        assert await _balances(chain, owners) == [1000 * WH, 2000 * WH, 3000 * WH]
        assert _grants(engine)[(E, frozen)] == ("minted", None)
        assert _minted_of(engine, E) == (6000 * WH, None)
        assert await mint_withheld(chain, engine) == []
        assert metrics.MINT_WITHHELD.labels("account_frozen")._value.get() == 0

    async with open_chain(_settings(tmp_path, engine), engine) as chain:  # a restart
        assert await mint_closed_epochs(chain, engine) == []
        assert await mint_withheld(chain, engine) == []
        assert await _balances(chain, owners) == [1000 * WH, 2000 * WH, 3000 * WH]


async def test_a_batch_refused_on_a_freeze_is_split_and_each_grant_minted_once(
    tmp_path: Path, engine: Engine
) -> None:
    async with open_chain(_settings(tmp_path, engine), engine) as chain:
        frozen, *others = owners = await producers(chain, 3)
        await freeze(chain, frozen)
        closed_epoch(engine, E, {frozen: 1000, others[0]: 2000, others[1]: 3000})
        # The plan was read before the freeze landed: the batch carries the frozen account.
        stale = StaleFreezeState(chain.ledger).on(chain)

        assert await mint_closed_epochs(stale, engine) == [E]
        assert await _balances(chain, owners) == [0, 2000 * WH, 3000 * WH]
        assert _grants(engine)[(E, frozen)] == ("withheld", "account_frozen")
        with engine.connect() as conn:
            jobs = dict(conn.execute(select(chain_jobs.c.job_key, chain_jobs.c.status)).all())
        assert jobs[f"mint:epoch:{E}:batch:0"] == "failed"  # all or nothing: nothing
        assert jobs[f"mint:epoch:{E}:owner:{others[0]}:attempt:1"] == "confirmed"
        assert jobs[f"mint:epoch:{E}:owner:{frozen}:attempt:1"] == "failed"

        await thaw(chain, frozen)
        assert len(await mint_withheld(chain, engine)) == 1
        assert await mint_withheld(chain, engine) == []
        assert await _balances(chain, owners) == [1000 * WH, 2000 * WH, 3000 * WH]
        assert _minted_of(engine, E) == (6000 * WH, None)


async def test_a_mint_that_crashed_after_sending_lands_once(tmp_path: Path, engine: Engine) -> None:
    async with open_chain(_settings(tmp_path, engine), engine) as chain:
        (owner,) = await producers(chain, 1)
        await freeze(chain, owner)
        closed_epoch(engine, E, {owner: 1234})
        await mint_closed_epochs(chain, engine)
        await thaw(chain, owner)
        with pytest.raises(CrashError):
            await mint_withheld(CrashAfterSend(chain.ledger).on(chain), engine)
        assert await energy_of(chain, owner) == 1234 * WH  # it landed; the record did not
        assert _grants(engine)[(E, owner)] == ("pending", None)  # its attempt in flight

    async with open_chain(_settings(tmp_path, engine), engine) as chain:  # restarted
        (minted,) = await mint_withheld(chain, engine)
        assert minted.attempts == 1  # the job it had sent, confirmed: no second one
        assert await energy_of(chain, owner) == 1234 * WH
        assert _minted_of(engine, E) == (1234 * WH, None)


async def test_a_grant_the_ledger_keeps_refusing_is_parked_until_retried(
    tmp_path: Path, engine: Engine
) -> None:
    async with open_chain(_settings(tmp_path, engine), engine) as chain:
        (owner,) = await producers(chain, 1)
        await freeze(chain, owner)
        closed_epoch(engine, E, {owner: 500})
        await mint_closed_epochs(chain, engine)
        await thaw(chain, owner)
        # A fee payer with no account: every transaction it pays for is refused.
        broke = replace(chain, keys=replace(chain.keys, payer=Keypair()))
        for n in range(1, MINT_ATTEMPTS + 1):
            assert await mint_withheld(broke, engine) == []
            status, reason = _grants(engine)[(E, owner)]
            assert str(reason).startswith("mint_failed: ")
            assert status == ("withheld" if n == MINT_ATTEMPTS else "pending")
        assert await mint_withheld(broke, engine) == []  # parked: no further attempt
        with engine.connect() as conn:
            attempts = conn.execute(select(MintGrant.attempts)).scalar_one()
        assert attempts == MINT_ATTEMPTS
        assert metrics.MINT_WITHHELD.labels("mint_failed")._value.get() == 500 * WH

        alerts = evaluate(SqlAlertSource(engine), AlertRules(), now=E, since_s=0)
        (parked,) = [a for a in alerts if a.kind is AlertKind.MINT_WITHHELD]
        assert parked.severity == "critical"
        assert f"{owner}'s energy withheld over 1 epoch(s)" in parked.message
        assert "mint_failed" in parked.message

        assert retry_parked(engine, owner=owner) == 1
        (minted,) = await mint_withheld(chain, engine)
        assert minted.attempts == MINT_ATTEMPTS + 1
        assert await energy_of(chain, owner) == 500 * WH
        assert _minted_of(engine, E) == (500 * WH, None)

"""Retirement on the embedded ledger and PostgreSQL: a consumer's metered import meets
the tokens they hold (minted or bought) under the policy and their own approval; the
burn lands once, across a crash; a user without approval is reported, not burned;
every retired unit is a certificate whose proof checks against the committed root;
and minted = held + retired, on chain and in the lots."""

import asyncio
import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pytest
from solders.keypair import Keypair
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from coordinator.config import Settings
from coordinator.db.models import (
    Certificate,
    EpochRecord,
    MatchRow,
    MeterEpochEnergyRow,
    MintGrant,
    RetirementRow,
    RetirementRun,
)
from coordinator.devices.registry import register_device, register_meter
from coordinator.lifecycle import queries, store
from coordinator.lifecycle.audit import compare, provenance
from coordinator.lifecycle.matching import MatchingPolicy, Window, total
from coordinator.market.sql_store import SqlMarketStore
from coordinator.onchain import retirement
from coordinator.onchain.ledger import Chain, open_chain
from coordinator.onchain.minting import mint_closed_epochs
from coordinator.onchain.retirement import retire_epochs
from coordinator.readings.oracle import EpochCalendar
from coordinator.readings.oracle.merkle import verify_proof
from edge.signing import DeviceKey
from programs import spl
from programs.roles.deployment import user_accounts
from programs.roles.registry import register_user
from programs.roles.token import ENERGY_DECIMALS
from programs.roles.trading import approve_escrow
from programs.roles.transactions import send_instructions
from tests.coordinator.onchain.world import CrashAfterSend, CrashError, energy_of, freeze
from wire.certificate import certificate_leaf_hash

pytestmark = pytest.mark.services

E = 2_000_000  # the first quarter of an hour (E * 900 is a multiple of 3600)
WH = 1_000_000
HOURLY = MatchingPolicy(Window.HOUR, 900)


@pytest.fixture
def engine(own_engine: Engine) -> Engine:
    return own_engine


def _settings(tmp_path: Path, engine: Engine) -> Settings:
    return Settings(database_url=str(engine.url), key_dir=tmp_path / "keys")


class Users:
    """Wallets with keys, each with one meter behind one gateway."""

    def __init__(self, engine: Engine, names: list[str]) -> None:
        self.engine = engine
        self.keys = {name: Keypair() for name in names}
        self.gateway = DeviceKey.generate().gateway_id
        register_device(engine, self.gateway)
        for name in names:
            register_meter(engine, self.gateway, f"m-{name}", model="sdm630",
                           rated_power_w=50_000, owner=self.wallet(name))  # fmt: skip

    def wallet(self, name: str) -> str:
        return str(self.keys[name].pubkey())

    def meter(self, name: str) -> str:
        return f"{self.gateway}/m-{name}"

    def epoch(self, epoch: int, exports: Mapping[str, int], imports: Mapping[str, int]) -> None:
        """A closed epoch with these exports and imports (Wh)."""
        names = sorted(set(exports) | set(imports))
        with self.engine.begin() as conn:
            conn.execute(insert(MeterEpochEnergyRow), [
                {"epoch": epoch, "gateway_id": self.gateway, "meter_id": f"m-{n}",
                 "import_wh": imports.get(n, 0), "export_wh": exports.get(n, 0)}
                for n in names
            ])  # fmt: skip
            conn.execute(insert(EpochRecord).values(
                epoch=epoch, length_s=900, closed_at=dt.datetime.now(dt.UTC), reading_count=0,
                total_import_wh=sum(imports.values()), total_export_wh=sum(exports.values()),
                mint_base_units=sum(exports.values()) * WH,
                merkle_root=epoch.to_bytes(32, "big"), summary_json="{}",
            ))  # fmt: skip

    async def register(self, chain: Chain) -> None:
        for keypair in self.keys.values():
            await register_user(chain.ledger, chain.deployment, payer=chain.keys.payer,
                                owner=keypair.pubkey())  # fmt: skip

    async def approve(self, chain: Chain, name: str, wh: int) -> None:
        await approve_escrow(chain.ledger, chain.deployment, payer=chain.keys.payer,
                             owner=self.keys[name], energy=wh * WH, payment=0)  # fmt: skip

    async def sell(self, chain: Chain, epoch: int, idx: int, seller: str, buyer: str,
                   wh: int) -> None:  # fmt: skip
        """A settled trade as settlement leaves it: tokens moved, the match recorded."""
        src = user_accounts(chain.deployment, self.keys[seller].pubkey()).energy
        dst = user_accounts(chain.deployment, self.keys[buyer].pubkey()).energy
        move = spl.transfer_checked(source=src, mint=chain.deployment.energy_mint,
                                    destination=dst, authority=self.keys[seller].pubkey(),
                                    amount=wh * WH, decimals=ENERGY_DECIMALS)  # fmt: skip
        await send_instructions(chain.ledger, [move], chain.keys.payer, [self.keys[seller]])
        with self.engine.begin() as conn:
            conn.execute(insert(MatchRow).values(
                epoch=epoch, idx=idx, buy_order_id=f"b{idx}", sell_order_id=f"s{idx}",
                buyer=self.wallet(buyer), seller=self.wallet(seller), quantity=wh * WH,
                price=1, payment=1, status="settled",
            ))  # fmt: skip


def _rows(engine: Engine, epoch: int) -> dict[str, tuple[int, int, str, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(RetirementRow.holder, RetirementRow.import_base_units,
                   RetirementRow.matched_base_units, RetirementRow.status,
                   RetirementRow.reason).where(RetirementRow.epoch == epoch)
        ).all()  # fmt: skip
    return {h: (i // WH, m // WH, s, r) for h, i, m, s, r in rows}


def _minted(engine: Engine) -> int:
    with engine.connect() as conn:
        total_ = conn.execute(
            select(func.sum(MintGrant.base_units)).where(MintGrant.status == "minted")
        ).scalar_one()
    return int(total_ or 0)


def _retired(engine: Engine) -> int:
    with engine.connect() as conn:
        total_ = conn.execute(
            select(func.sum(Certificate.base_units)).where(Certificate.status == "retired")
        ).scalar_one()
    return int(total_ or 0)


async def _check_conservation(chain: Chain, engine: Engine, users: Users) -> None:
    lots = store.load_lots(engine)
    assert _minted(engine) == sum(total(v) for v in lots.values()) + _retired(engine)
    # Per meter and production epoch: exported = held + retired (nothing in flight here).
    audited = provenance(engine)
    assert audited.problems == ()
    assert (audited.minted, audited.retiring) == (_minted(engine), 0)
    for name in users.keys:  # the lots are what the chain holds
        wallet = users.wallet(name)
        assert await energy_of(chain, wallet) == total(lots.get(wallet, ()))


async def test_import_meets_held_tokens_under_approval(tmp_path: Path, engine: Engine) -> None:
    users = Users(engine, ["producer", "consumer", "revoked"])
    p, c, r = (users.wallet(n) for n in ("producer", "consumer", "revoked"))
    async with open_chain(_settings(tmp_path, engine), engine) as chain:
        await users.register(chain)
        users.epoch(E, {"producer": 1000, "revoked": 500}, {})
        await mint_closed_epochs(chain, engine)
        await users.sell(chain, E, 0, "producer", "consumer", 400)
        users.epoch(E + 1, {}, {"consumer": 300, "revoked": 200, "producer": 100})
        await mint_closed_epochs(chain, engine)
        await users.approve(chain, "consumer", 10_000)
        await users.approve(chain, "producer", 50)  # less than it could retire
        await users.approve(chain, "revoked", 0)  # revoked

        assert await retire_epochs(chain, SqlMarketStore(engine), engine, HOURLY) == [E, E + 1]
        assert _rows(engine, E + 1) == {
            c: (300, 300, "retired", None),
            p: (100, 50, "retired", "approval_short"),
            r: (200, 0, "unmatched", "no_approval"),
        }
        assert await energy_of(chain, c) == 100 * WH
        assert await energy_of(chain, p) == 550 * WH
        assert await energy_of(chain, r) == 500 * WH  # not burned without approval
        await _check_conservation(chain, engine, users)

        # Each retired Wh names the producer's meter, its production and consumption epoch.
        certs = queries.list_certificates(engine, c)
        assert [(x.facts.meter, x.facts.production_epoch, x.facts.epoch, x.facts.base_units)
                for x in certs] == [(users.meter("producer"), E, E + 1, 300 * WH)]  # fmt: skip
        assert queries.matched_wh_by_epoch(engine, None, E, E + 1) == {
            (c, E + 1): 300, (p, E + 1): 50,
        }  # fmt: skip
        assert queries.matched_wh_by_epoch(engine, c, E + 2, E + 9) == {}

        proof = queries.certificate_proof(engine, certs[0].leaf)
        assert proof is not None
        assert proof.leaf_count == 2
        assert certificate_leaf_hash(proof.leaf_bytes) == proof.leaf
        assert verify_proof(proof.leaf, proof.proof, proof.merkle_root)
        assert proof.attestation_signature is not None
        assert not verify_proof(proof.leaf, proof.proof, bytes(32))

        (line,) = queries.statement(engine, c, 900, "hour", E, E + 1)
        assert (line.import_wh, line.matched_wh, line.share) == (300, 300, 1.0)
        assert line.start == dt.datetime.fromtimestamp(E * 900, dt.UTC)
        # Dated by the calendar in force: hour-long epochs from E on put E + 1 an hour on.
        hourly = EpochCalendar.uniform(900).with_length(E, 3600)
        (line,) = queries.statement(engine, c, hourly, "hour", E, E + 1)
        assert line.start == dt.datetime.fromtimestamp(E * 900 + 3600, dt.UTC)
        (total_e1,) = [t for t in queries.campus_totals(engine, E, E + 1) if t.epoch == E + 1]
        assert (total_e1.import_wh, total_e1.matched_wh, total_e1.unapproved) == (600, 350, 2)

        # Again: nothing retired twice.
        assert await retire_epochs(chain, SqlMarketStore(engine), engine, HOURLY) == []
        assert await energy_of(chain, c) == 100 * WH
        await _check_conservation(chain, engine, users)


async def test_a_certificate_is_retired_once(tmp_path: Path, engine: Engine) -> None:
    users = Users(engine, ["prosumer"])
    async with open_chain(_settings(tmp_path, engine), engine) as chain:
        await users.register(chain)
        users.epoch(E, {"prosumer": 100}, {"prosumer": 40})
        await mint_closed_epochs(chain, engine)
        await users.approve(chain, "prosumer", 1000)
        await retire_epochs(chain, SqlMarketStore(engine), engine, HOURLY)
    with engine.connect() as conn:
        (leaf, units) = conn.execute(select(Certificate.leaf, Certificate.base_units)).one()
    assert units == 40 * WH
    assert not store.save_plan(engine, E, "hour", [], {})  # the epoch is planned already
    with pytest.raises(IntegrityError), engine.begin() as conn:  # the same certificate again
        conn.execute(insert(Certificate).values(
            epoch=E + 5, holder=users.wallet("prosumer"), production_epoch=E,
            meter=users.meter("prosumer"), base_units=units, leaf=leaf, status="planned",
        ))  # fmt: skip


async def test_a_crash_mid_retirement_resumes_exactly_once(tmp_path: Path, engine: Engine) -> None:
    users = Users(engine, ["a", "b"])
    async with open_chain(_settings(tmp_path, engine), engine) as chain:
        await users.register(chain)
        users.epoch(E, {"a": 100, "b": 100}, {"a": 30, "b": 60})
        await mint_closed_epochs(chain, engine)
        await users.approve(chain, "a", 1000)
        await users.approve(chain, "b", 1000)
        with pytest.raises(CrashError):
            await retire_epochs(CrashAfterSend(chain.ledger).on(chain), SqlMarketStore(engine),
                                engine, HOURLY)  # fmt: skip
        with engine.connect() as conn:
            assert conn.execute(select(RetirementRun.status)).scalar_one() == "planned"

    async with open_chain(_settings(tmp_path, engine), engine) as chain:  # restarted
        assert await retire_epochs(chain, SqlMarketStore(engine), engine, HOURLY) == [E]
        assert await energy_of(chain, users.wallet("a")) == 70 * WH
        assert await energy_of(chain, users.wallet("b")) == 40 * WH
        assert {h: v[1] for h, v in _rows(engine, E).items()} == {
            users.wallet("a"): 30, users.wallet("b"): 60,
        }  # fmt: skip
        await _check_conservation(chain, engine, users)


async def test_a_burn_the_ledger_refuses_puts_the_lots_back(tmp_path: Path, engine: Engine) -> None:
    users = Users(engine, ["a", "b"])
    a, b = users.wallet("a"), users.wallet("b")
    async with open_chain(_settings(tmp_path, engine), engine) as chain:
        await users.register(chain)
        users.epoch(E, {"a": 100, "b": 100}, {"a": 30, "b": 20})
        await mint_closed_epochs(chain, engine)
        await users.approve(chain, "a", 1000)
        await users.approve(chain, "b", 1000)
        market = SqlMarketStore(engine)
        await asyncio.to_thread(retirement.sync_lots, engine)
        await retirement.plan_epoch(chain, market, engine, E, HOURLY)  # approvals read
        await users.approve(chain, "a", 0)  # a revokes before the burn ran
        assert await retire_epochs(chain, market, engine, HOURLY) == [E]
        rows = _rows(engine, E)
        # Their shared batch was refused; each was then burned alone: b retired, a not.
        assert rows[b] == (20, 20, "retired", None)
        assert rows[a][1:3] == (30, "refused")
        assert (rows[a][3] or "").startswith("burn_failed")
        assert await energy_of(chain, a) == 100 * WH
        assert await energy_of(chain, b) == 80 * WH
        assert queries.list_certificates(engine, a)[0].status == "void"
        await _check_conservation(chain, engine, users)


def test_compare_names_each_meter_and_epoch_that_does_not_add_up() -> None:
    exported = {("g/a", 1): 100, ("g/b", 1): 50}
    assert compare(exported, {("g/a", 1): 60}, {("g/a", 1): 40, ("g/b", 1): 50}) == []
    assert compare(exported, {("g/a", 1): 60}, {("g/b", 1): 50, ("g/c", 2): 1}) == [
        "meter g/a epoch 1: exported 100 base units, held 60 + retired 0",
        "meter g/c epoch 2: exported 0 base units, held 0 + retired 1",
    ]


async def test_a_frozen_consumer_is_reported_and_not_retired(
    tmp_path: Path, engine: Engine
) -> None:
    users = Users(engine, ["a"])
    async with open_chain(_settings(tmp_path, engine), engine) as chain:
        await users.register(chain)
        users.epoch(E, {"a": 100}, {"a": 30})
        await mint_closed_epochs(chain, engine)
        await users.approve(chain, "a", 1000)
        await freeze(chain, users.wallet("a"))
        assert await retire_epochs(chain, SqlMarketStore(engine), engine, HOURLY) == [E]
        assert _rows(engine, E)[users.wallet("a")] == (30, 0, "unmatched", "account_frozen")
        assert await energy_of(chain, users.wallet("a")) == 100 * WH
        await _check_conservation(chain, engine, users)

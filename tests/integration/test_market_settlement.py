"""The market end to end on the embedded ledger and PostgreSQL: orders escrowed by the
users' own approvals, clearing stored and attested, settlement exactly as cleared,
crashes between every two steps, and failures with clear statuses."""

import datetime as dt
import json
from collections.abc import Sequence
from typing import cast

import pytest
from solders.keypair import Keypair
from solders.signature import Signature
from sqlalchemy.engine import Engine

from coordinator.db.models import SettlementJob
from coordinator.market import (
    MatchStatus,
    OrderStatus,
    SettlementStatus,
    clear,
    list_orders,
    list_settlements,
    list_trades,
    recompute,
    run_market_epoch,
)
from coordinator.market.rules import Match, Side, decode_result
from coordinator.market.rules.canonical import encode_result
from coordinator.market.rules.orders import PricingRule
from coordinator.market.rules.results import ClearingResult
from coordinator.market.settlement import settle_epoch
from coordinator.market.sql_store import SqlMarketJobStore, SqlMarketStore
from programs import spl
from programs.errors import TransactionExpired, TransactionFailed
from programs.jobs import Job
from programs.ledger import EmbeddedLedger
from programs.ledger.base import AnyTransaction, Ledger, TxStatus
from programs.roles.deployment import user_accounts
from programs.roles.governance import freeze_user
from programs.roles.transactions import sign
from tests.coordinator.market.world import CREDIT, KWH, Market, make_market
from tests.programs.conftest import run

pytestmark = pytest.mark.services


async def _expected_balances(
    market: Market, users: list[Keypair], before: dict[str, tuple[int, int]]
) -> dict[str, tuple[int, ...]]:
    stored = market.ctx.store.get_clearing_bytes(market.epoch)
    assert stored is not None
    result = decode_result(stored[1])
    want = {str(u.pubkey()): list(before[str(u.pubkey())]) for u in users}
    for m in result.matches:
        want[m.seller][0] -= m.quantity
        want[m.buyer][0] += m.quantity
        want[m.buyer][1] -= m.payment
        want[m.seller][1] += m.payment
    return {k: tuple(v) for k, v in want.items()}


async def _book(market: Market) -> tuple[list[Keypair], dict[str, tuple[int, int]]]:
    sellers = await market.users(6, kwh=5, credit=1)
    buyers = await market.users(6, credit=100)
    for i, s in enumerate(sellers):
        await market.order(s, Side.SELL, 1.5 + i, 20_000 + 1000 * i)
        await market.order(s, Side.SELL, 0.25, 30_000)
    for i, b in enumerate(buyers):
        await market.order(b, Side.BUY, 2 + 0.5 * i, 40_000 - 1000 * i)
    users = sellers + buyers
    before = {str(u.pubkey()): await market.balances(u) for u in users}
    return users, before


def test_balances_after_settlement_are_what_the_clearing_says(engine: Engine) -> None:
    async def scenario() -> None:
        market = await make_market(SqlMarketStore(engine))
        users, before = await _book(market)
        orders = await list_orders(market.ctx, epoch=market.epoch)
        assert {o.status for o in orders} == {OrderStatus.OPEN}
        report = await run_market_epoch(market.ctx, market.epoch, market.keys)
        assert report.clearing.match_count >= 8
        # Several matches per transaction (v0 over the parties' lookup tables).
        assert len(report.settlement.settled) > report.settlement.transactions >= 1
        assert report.settlement.failed == ()
        assert report.settlement.pending == ()
        assert len(report.settlement.settled) == report.clearing.match_count
        want = await _expected_balances(market, users, before)
        assert {str(u.pubkey()): await market.balances(u) for u in users} == want
        trades = await list_trades(market.ctx, epoch=market.epoch)
        assert {t.status for t in trades} == {MatchStatus.SETTLED}
        settlements = await list_settlements(market.ctx, market.epoch)
        assert len(settlements) == report.settlement.transactions
        assert {s.status for s in settlements} == {"confirmed"}
        for o in await list_orders(market.ctx, epoch=market.epoch):
            if o.filled:
                assert o.settlement_status is SettlementStatus.SETTLED
                assert o.settled == o.filled
        assert recompute(market.ctx.store, market.epoch).agrees
        assert report.clearing.attestation_signature == str(report.attestation)
        # Running the epoch again changes nothing.
        again = await run_market_epoch(market.ctx, market.epoch, market.keys)
        assert again.settlement.settled == report.settlement.settled
        assert {str(u.pubkey()): await market.balances(u) for u in users} == want

    run(scenario())


class CrashError(Exception):
    pass


def test_a_crash_between_any_two_steps_settles_every_match_exactly_once(engine: Engine) -> None:
    async def scenario() -> None:
        market = await make_market(SqlMarketStore(engine))
        users, before = await _book(market)
        revoker = users[0]  # one failing seller puts the retry-one-by-one path in play too
        crashes = 0
        for k in range(200):
            calls = {"n": 0}

            def hook(point: str, job: Job, k: int = k, calls: dict[str, int] = calls) -> None:
                calls["n"] += 1
                if calls["n"] == k + 1:
                    raise CrashError(f"{point} {job.key}")

            if k == 1:
                accounts = user_accounts(market.world.deployment, revoker.pubkey())
                revoke = spl.revoke(source=accounts.energy, owner=revoker.pubkey())
                tx = sign(
                    [revoke],
                    market.world.payer,
                    [revoker],
                    await market.world.ledger.latest_blockhash(),
                )
                await market.world.ledger.send_transaction(tx)
            try:
                report = await run_market_epoch(market.ctx, market.epoch, market.keys, hook=hook)
            except CrashError:
                crashes += 1
                await market.restart()
                continue
            break
        assert crashes > 8
        assert report.settlement.pending == ()
        failed = {i for i, _ in report.settlement.failed}
        trades = await list_trades(market.ctx, epoch=market.epoch)
        assert failed == {t.idx for t in trades if t.seller == str(revoker.pubkey())} != set()
        # Expected: the clearing's moves, less those of the failed matches.
        stored = market.ctx.store.get_clearing_bytes(market.epoch)
        assert stored is not None
        result = decode_result(stored[1])
        want = {str(u.pubkey()): list(before[str(u.pubkey())]) for u in users}
        for idx, m in enumerate(result.matches):
            if idx in failed:
                continue
            want[m.seller][0] -= m.quantity
            want[m.buyer][0] += m.quantity
            want[m.buyer][1] -= m.payment
            want[m.seller][1] += m.payment
        got = {str(u.pubkey()): await market.balances(u) for u in users}
        assert got == {k: tuple(v) for k, v in want.items()}

    run(scenario())


def test_revoked_drained_and_frozen_accounts_fail_with_clear_statuses(engine: Engine) -> None:
    async def scenario() -> None:
        market = await make_market(SqlMarketStore(engine))
        sellers = await market.users(4, kwh=2)
        buyers = await market.users(4, credit=10)
        # i-th cheapest ask meets i-th highest bid: pairs (sellers[i], buyers[i]).
        for i in range(4):
            await market.order(sellers[i], Side.SELL, 1, 10_000 + 1000 * i)
            await market.order(buyers[i], Side.BUY, 1, 50_000 - 1000 * i)
        ledger, world = market.world.ledger, market.world
        # after the orders are live, before settlement: pair 1 revoked, 2 drained, 3 frozen
        await clear(market.ctx, market.epoch)
        seller1 = user_accounts(world.deployment, sellers[1].pubkey())
        await ledger.send_transaction(
            sign(
                [spl.revoke(source=seller1.energy, owner=sellers[1].pubkey())],
                world.payer,
                [sellers[1]],
                await ledger.latest_blockhash(),
            )
        )
        buyer2 = user_accounts(world.deployment, buyers[2].pubkey())
        sink = user_accounts(world.deployment, buyers[0].pubkey())
        drain = spl.transfer_checked(
            source=buyer2.payment,
            mint=world.deployment.payment_mint,
            destination=sink.payment,
            authority=buyers[2].pubkey(),
            amount=10 * CREDIT,
            decimals=6,
        )
        await ledger.send_transaction(
            sign([drain], world.payer, [buyers[2]], await ledger.latest_blockhash())
        )
        await freeze_user(
            ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=sellers[3].pubkey(),
        )
        report = await run_market_epoch(market.ctx, market.epoch, market.keys)
        trades = {t.seller: t for t in await list_trades(market.ctx, epoch=market.epoch)}
        status = {
            i: (trades[str(sellers[i].pubkey())].status, trades[str(sellers[i].pubkey())].error)
            for i in range(4)
        }
        assert status[0] == (MatchStatus.SETTLED, None)
        assert status[1][0] is MatchStatus.FAILED
        assert (status[1][1] or "").startswith("approval_revoked (energy")
        assert status[2][0] is MatchStatus.FAILED
        assert (status[2][1] or "").startswith("insufficient_funds (payment")
        assert status[3][0] is MatchStatus.FAILED
        assert (status[3][1] or "").startswith("account_frozen (energy")
        assert len(report.settlement.failed) == 3
        orders = {(o.owner, o.side): o for o in await list_orders(market.ctx, epoch=market.epoch)}
        for i in (1, 2, 3):
            for owner, side in ((sellers[i], Side.SELL), (buyers[i], Side.BUY)):
                o = orders[(str(owner.pubkey()), side)]
                assert o.status is OrderStatus.FILLED
                assert o.settlement_status is SettlementStatus.FAILED
                assert o.settlement_error == status[i][1]
                assert o.settled == 0
        good = orders[(str(sellers[0].pubkey()), Side.SELL)]
        assert (good.settlement_status, good.settled) == (SettlementStatus.SETTLED, KWH)
        assert await market.balances(sellers[0]) == (KWH, 30 * 10**3)
        assert await market.balances(sellers[1]) == (2 * KWH, 0)

    run(scenario())


def test_an_epoch_planned_without_batches_is_finished_without_them(engine: Engine) -> None:
    """A plan's shape travels with its jobs: after a restart (or an upgrade) on a ledger
    that takes token batches, an epoch planned one instruction per transfer is built
    the same way, so every rebuilt transaction matches what was packed."""

    async def scenario() -> None:
        market = await make_market(SqlMarketStore(engine))
        users, before = await _book(market)
        await clear(market.ctx, market.epoch)

        def crash_at_first_send(point: str, job: Job) -> None:
            if point == "signed" and job.key.startswith("settle:"):
                raise CrashError(job.key)

        with pytest.raises(CrashError):
            await settle_epoch(
                market.ctx.store, market.ctx.ledger, market.ctx.deployment, market.epoch,
                market.keys, hook=crash_at_first_send, token_batch=False,
            )  # fmt: skip
        await market.restart()
        assert market.ctx.ledger.token_batch
        report = await settle_epoch(
            market.ctx.store, market.ctx.ledger, market.ctx.deployment, market.epoch, market.keys
        )
        assert report.failed == ()
        assert report.pending == ()
        settlements = await list_settlements(market.ctx, market.epoch)
        assert {s.status for s in settlements} == {"confirmed"}
        jobs = SqlMarketJobStore(engine, SettlementJob)
        for settlement in settlements:
            job = jobs.get(settlement.key)
            assert job is not None
            assert "batch" not in json.loads(job.payload)
        want = await _expected_balances(market, users, before)
        assert {str(u.pubkey()): await market.balances(u) for u in users} == want

    run(scenario())


class _OriginalTokenProgram:
    """The embedded ledger as a cluster on the original token program would answer a
    coordinator wrongly set to batch: a Batch instruction is invalid instruction
    data, refused before any fee (as preflight refuses it)."""

    token_batch = True

    def __init__(self, inner: EmbeddedLedger) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    @staticmethod
    def _refused(tx: AnyTransaction) -> TransactionFailed | None:
        keys = tx.message.account_keys
        for ix in tx.message.instructions:
            if keys[ix.program_id_index] == spl.TOKEN_PROGRAM_ID and bytes(ix.data)[:1] == b"\xff":
                error = "TransactionErrorInstructionError((1, InvalidInstructionData))"
                return TransactionFailed(str(tx.signatures[0]), error)
        return None

    async def send_transactions(
        self, txs: Sequence[AnyTransaction]
    ) -> list[TxStatus | TransactionFailed | TransactionExpired]:
        out: list[TxStatus | TransactionFailed | TransactionExpired] = []
        for tx in txs:
            refused = self._refused(tx)
            out += [refused] if refused else await self._inner.send_transactions([tx])
        return out

    async def send_transaction(self, tx: AnyTransaction) -> Signature:
        refused = self._refused(tx)
        if refused:
            raise refused
        return await self._inner.send_transaction(tx)


def test_batches_on_a_ledger_that_refuses_them_still_settle_every_match(engine: Engine) -> None:
    """A wrong GTX_SOLANA_TOKEN_BATCH costs speed, not correctness: every batched job
    is refused, and every match, even one alone in its job, is settled on its own."""

    async def scenario() -> None:
        market = await make_market(SqlMarketStore(engine))
        users, before = await _book(market)
        await clear(market.ctx, market.epoch)
        assert isinstance(market.ctx.ledger, EmbeddedLedger)
        ledger = cast(Ledger, _OriginalTokenProgram(market.ctx.ledger))  # delegates the rest
        report = await settle_epoch(
            market.ctx.store,
            ledger,
            market.ctx.deployment,
            market.epoch,
            market.keys,
        )
        assert report.failed == ()
        assert report.pending == ()
        trades = await list_trades(market.ctx, epoch=market.epoch)
        assert {t.status for t in trades} == {MatchStatus.SETTLED}
        assert report.transactions == len(trades) + len(
            [s for s in await list_settlements(market.ctx, market.epoch) if ":batch:" in s.key]
        )
        want = await _expected_balances(market, users, before)
        assert {str(u.pubkey()): await market.balances(u) for u in users} == want

        # An epoch of one match: its one job is batched too, and is retried alone.
        seller, buyer = str(users[0].pubkey()), str(users[-1].pubkey())
        lone = Match("b-lone", "s-lone", buyer, seller, 10**6, 1000, 1)
        epoch = market.epoch + 1
        result = ClearingResult(
            epoch, PricingRule.PAY_AS_CLEAR, 1000, 10**6, 1, (lone,), (), "", ""
        )
        now = dt.datetime.now(dt.UTC)
        market.ctx.store.save_clearing(result, b"{}", encode_result(result), now)
        report = await settle_epoch(
            market.ctx.store,
            ledger,
            market.ctx.deployment,
            epoch,
            market.keys,
        )
        assert (report.settled, report.failed, report.transactions) == ((0,), (), 2)
        assert ":batch:" in (await list_settlements(market.ctx, epoch))[0].key

    run(scenario())

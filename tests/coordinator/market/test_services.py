"""The trading services on the in-memory store and the embedded ledger (no database):
orders placed, approved, cancelled and listed; an epoch cleared, stored once, settled;
what owners owe between clearing and settlement."""

import datetime as dt

import pytest
from prometheus_client import REGISTRY
from solders.keypair import Keypair

from coordinator.market import (
    MemoryMarketStore,
    OrderNotFound,
    OrderStateError,
    OrderStatus,
    SettlementKeys,
    SettlementStatus,
    approval_for,
    cancel_order,
    clear,
    list_orders,
    list_settlements,
    list_trades,
    place_order,
    recompute,
    run_market_epoch,
)
from coordinator.market.errors import OrderError
from coordinator.market.orders_service import UNKNOWN_USER
from coordinator.market.rules import Side, payment_for
from coordinator.market.rules.orders import EPOCH_CLOSED
from programs.jobs import JobsFailed
from tests.coordinator.market.world import KWH, Market, make_market
from tests.programs.conftest import run


async def _market() -> Market:
    return await make_market(MemoryMarketStore())


def test_an_order_is_pending_until_its_approval_is_signed_then_open() -> None:
    async def scenario() -> None:
        market = await _market()
        (buyer,) = await market.users(1, credit=100)
        owner = str(buyer.pubkey())
        unsigned = await market.order(buyer, Side.BUY, 2, 40_000, sign=False)
        assert unsigned.status is OrderStatus.PENDING
        approval = await approval_for(market.ctx, owner)
        assert (approval.need.energy, approval.need.payment) == (0, payment_for(2 * KWH, 40_000))
        signed = await market.order(buyer, Side.BUY, 1, 30_000)  # its approval covers both
        assert signed.status is OrderStatus.OPEN
        listed = await list_orders(market.ctx, owner=owner)
        assert [(o.order_id, o.status) for o in listed] == [
            (signed.order_id, OrderStatus.OPEN),
            (unsigned.order_id, OrderStatus.OPEN),
        ]
        assert listed[0].seq > listed[1].seq
        need = (await approval_for(market.ctx, owner)).need
        assert need.payment == payment_for(2 * KWH, 40_000) + payment_for(KWH, 30_000)

    run(scenario())


def test_orders_of_unknown_users_and_of_cleared_epochs_are_refused() -> None:
    async def scenario() -> None:
        market = await _market()
        with pytest.raises(OrderError) as refused:
            await market.order(Keypair(), Side.SELL, 1, 20_000)
        assert refused.value.code == UNKNOWN_USER
        await clear(market.ctx, market.epoch)
        (seller,) = await market.users(1, kwh=1)
        with pytest.raises(OrderError) as closed:
            await market.order(seller, Side.SELL, 1, 20_000)
        assert closed.value.code == EPOCH_CLOSED
        assert await list_orders(market.ctx) == []

    run(scenario())


def test_an_order_cancels_once_by_its_owner_only_and_not_once_cleared() -> None:
    async def scenario() -> None:
        market = await _market()
        seller, other = await market.users(2, kwh=2)
        owner = str(seller.pubkey())
        order = await market.order(seller, Side.SELL, 1, 20_000)
        with pytest.raises(OrderNotFound):
            await cancel_order(market.ctx, owner=str(other.pubkey()), order_id=order.order_id)
        for _ in range(2):
            cancelled = await cancel_order(market.ctx, owner=owner, order_id=order.order_id)
            assert cancelled.status is OrderStatus.CANCELLED
        assert (await approval_for(market.ctx, owner)).need.energy == 0
        kept = await market.order(seller, Side.SELL, 1, 20_000)
        await clear(market.ctx, market.epoch)
        with pytest.raises(OrderStateError):
            await cancel_order(market.ctx, owner=owner, order_id=kept.order_id)

    run(scenario())


def _count(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_clearing_is_stored_once_and_expires_what_may_not_enter() -> None:
    async def scenario() -> None:
        market = await _market()
        seller = (await market.users(1, kwh=5))[0]
        buyer, idle = await market.users(2, credit=100)
        placed = {s: _count("gtx_orders_placed_total", side=s) for s in ("buy", "sell")}
        ask = await market.order(seller, Side.SELL, 2, 20_000)
        bid = await market.order(buyer, Side.BUY, 3, 40_000)
        unsigned = await market.order(idle, Side.BUY, 1, 40_000, sign=False)
        late = await place_order(
            market.ctx, owner=str(buyer.pubkey()), side=Side.BUY, epoch=market.epoch,
            quantity=KWH, limit_price=40_000, open_epoch=market.epoch,
            expires_at=market.ctx.clock() - dt.timedelta(seconds=1),
        )  # fmt: skip
        cleared = {n: _count(f"gtx_cleared_{n}_total") for n in ("orders", "matches")}
        turnover = _count("gtx_cleared_turnover_base_units_total")
        view = await clear(market.ctx, market.epoch)
        assert (view.order_count, view.match_count, view.volume) == (2, 1, 2 * KWH)
        assert {n: _count(f"gtx_cleared_{n}_total") - c for n, c in cleared.items()} == {
            "orders": 2, "matches": 1,
        }  # fmt: skip
        assert _count("gtx_cleared_turnover_base_units_total") - turnover == view.turnover > 0
        # The ask, the bid, the unsigned bid and the late one.
        assert {s: _count("gtx_orders_placed_total", side=s) - n for s, n in placed.items()} == {
            "buy": 3, "sell": 1,
        }  # fmt: skip
        assert view.clearing_price == 30_000
        assert await clear(market.ctx, market.epoch) == view  # stored once
        orders = {o.order_id: o for o in await list_orders(market.ctx, epoch=market.epoch)}
        assert (orders[ask.order_id].status, orders[ask.order_id].filled) == ("filled", 2 * KWH)
        assert (orders[bid.order_id].status, orders[bid.order_id].filled) == ("partial", 2 * KWH)
        assert orders[bid.order_id].settlement_status is SettlementStatus.PENDING
        assert (orders[unsigned.order_id].status, orders[unsigned.order_id].reason) == (
            OrderStatus.EXPIRED, "escrow_not_verified",
        )  # fmt: skip
        assert (orders[late.order.order_id].status, orders[late.order.order_id].reason) == (
            OrderStatus.EXPIRED, "expired",
        )  # fmt: skip
        # Matched, not yet settled: what each party owes stays in their approval.
        owed_energy = (await approval_for(market.ctx, str(seller.pubkey()))).need.energy
        owed_payment = (await approval_for(market.ctx, str(buyer.pubkey()))).need.payment
        assert (owed_energy, owed_payment) == (2 * KWH, payment_for(2 * KWH, 30_000))
        assert recompute(market.ctx.store, market.epoch).agrees

    run(scenario())


def test_an_epoch_settles_through_the_in_memory_store_exactly_once() -> None:
    async def scenario() -> None:
        market = await _market()
        sellers = await market.users(2, kwh=5)
        buyers = await market.users(2, credit=100)
        for i, s in enumerate(sellers):
            await market.order(s, Side.SELL, 1 + i, 20_000 + 1000 * i)
        for i, b in enumerate(buyers):
            await market.order(b, Side.BUY, 2, 40_000 - 1000 * i)
        before = {str(u.pubkey()): await market.balances(u) for u in sellers + buyers}
        report = await run_market_epoch(market.ctx, market.epoch, market.keys)
        assert report.clearing.attestation_signature == str(report.attestation)
        assert report.settlement.failed == ()
        assert report.settlement.pending == ()
        assert len(report.settlement.settled) == report.clearing.match_count > 0
        trades = await list_trades(market.ctx, epoch=market.epoch)
        assert {t.status for t in trades} == {"settled"}
        settlements = await list_settlements(market.ctx, market.epoch)
        assert {s.status for s in settlements} == {"confirmed"}
        assert sorted(i for s in settlements for i in s.match_indices) == [t.idx for t in trades]
        for o in await list_orders(market.ctx, epoch=market.epoch):
            if o.filled:
                assert (o.settlement_status, o.settled) == (SettlementStatus.SETTLED, o.filled)
        after = {str(u.pubkey()): await market.balances(u) for u in sellers + buyers}
        for t in trades:
            before[t.seller] = (before[t.seller][0] - t.quantity, before[t.seller][1] + t.payment)
            before[t.buyer] = (before[t.buyer][0] + t.quantity, before[t.buyer][1] - t.payment)
        assert after == before
        for u in sellers + buyers:  # settled: nothing owed any more
            need = (await approval_for(market.ctx, str(u.pubkey()))).need
            assert (need.energy, need.payment) == (0, 0)
        again = await run_market_epoch(market.ctx, market.epoch, market.keys)
        assert again.settlement.settled == report.settlement.settled
        assert {str(u.pubkey()): await market.balances(u) for u in sellers + buyers} == after

    run(scenario())


def test_a_refused_clearing_attestation_is_retried_and_the_epoch_settles() -> None:
    async def scenario() -> None:
        market = await _market()
        (seller,) = await market.users(1, kwh=2)
        (buyer,) = await market.users(1, credit=100)
        await market.order(seller, Side.SELL, 1, 20_000)
        await market.order(buyer, Side.BUY, 1, 40_000)
        broke = SettlementKeys(Keypair(), market.keys.settlement_authority)  # no fee account
        with pytest.raises(JobsFailed):
            await run_market_epoch(market.ctx, market.epoch, broke)
        report = await run_market_epoch(market.ctx, market.epoch, market.keys)
        assert report.clearing.attestation_signature == str(report.attestation)
        assert len(report.settlement.settled) == 1
        jobs = market.ctx.store.attestation_jobs()
        refused = jobs.get(f"clearing:epoch:{market.epoch}")
        retried = jobs.get(f"clearing:epoch:{market.epoch}:attempt:1")
        assert refused is not None
        assert retried is not None
        assert (refused.status, retried.status) == ("failed", "confirmed")

    run(scenario())

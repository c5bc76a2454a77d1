"""A frozen account in the market (in-memory store, embedded ledger): its owner is
refused in the market's words (`account_frozen`, a MarketError, never a raw ledger
failure), their orders are excluded from the clearing with that reason, and everyone
else trades and settles as if they were not there."""

from collections.abc import Awaitable

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from coordinator.market import (
    MatchStatus,
    MemoryMarketStore,
    OrderStatus,
    clear,
    list_orders,
    list_trades,
    place_order,
    run_market_epoch,
    settle,
    submit_approval,
)
from coordinator.market.errors import MarketError, OrderError
from coordinator.market.escrow import read_escrow
from coordinator.market.records import MatchToSettle
from coordinator.market.rules import ACCOUNT_FROZEN, Side
from coordinator.market.settlement import retry_job, settle_parked
from programs.roles.governance import freeze_user, thaw_user
from tests.coordinator.market.world import KWH, Market, make_market
from tests.programs.conftest import run


async def _freeze(market: Market, user: Keypair) -> None:
    world = market.world
    await freeze_user(
        world.ledger, world.deployment, payer=world.payer, rec_authority=world.rec,
        owner=user.pubkey(),
    )  # fmt: skip


def test_a_frozen_owner_is_refused_orders_and_approvals_as_account_frozen() -> None:
    async def scenario() -> None:
        market = await make_market(MemoryMarketStore())
        seller, late = await market.users(2, kwh=2)
        await _freeze(market, seller)
        with pytest.raises(MarketError) as refused:
            await market.order(seller, Side.SELL, 1, 20_000)
        assert isinstance(refused.value, OrderError)
        assert refused.value.code == ACCOUNT_FROZEN
        # Placed before the freeze, approved after it: the approval is refused alike.
        placed = await place_order(
            market.ctx, owner=str(late.pubkey()), side=Side.SELL, epoch=market.epoch,
            quantity=KWH, limit_price=20_000, open_epoch=market.epoch,
        )  # fmt: skip
        assert placed.approval is not None
        await _freeze(market, late)
        tx = Transaction.from_bytes(placed.approval.tx)
        tx.partial_sign([late], tx.message.recent_blockhash)
        with pytest.raises(OrderError) as approval:
            await submit_approval(market.ctx, str(late.pubkey()), bytes(tx))
        assert approval.value.code == ACCOUNT_FROZEN

    run(scenario())


def test_a_frozen_owners_orders_are_excluded_and_the_others_trade() -> None:
    async def scenario() -> None:
        market = await make_market(MemoryMarketStore())
        frozen, seller = await market.users(2, kwh=2)
        (buyer,) = await market.users(1, credit=100)
        ask = await market.order(frozen, Side.SELL, 1, 10_000)  # the cheapest ask
        pending = await market.order(frozen, Side.SELL, 1, 10_000, sign=False)
        other = await market.order(seller, Side.SELL, 1, 20_000)
        bid = await market.order(buyer, Side.BUY, 1, 40_000)
        await _freeze(market, frozen)
        report = await run_market_epoch(market.ctx, market.epoch, market.keys)
        orders = {o.order_id: o for o in await list_orders(market.ctx, epoch=market.epoch)}
        for order in (ask, pending):
            assert (orders[order.order_id].status, orders[order.order_id].reason) == (
                OrderStatus.EXCLUDED, ACCOUNT_FROZEN,
            )  # fmt: skip
        assert orders[other.order_id].status is OrderStatus.FILLED
        assert orders[bid.order_id].status is OrderStatus.FILLED
        assert report.settlement.failed == ()
        assert len(report.settlement.settled) == 1
        (trade,) = await list_trades(market.ctx, epoch=market.epoch)
        assert (trade.seller, trade.status) == (str(seller.pubkey()), MatchStatus.SETTLED)
        assert (await market.balances(seller))[0] == KWH

    run(scenario())


async def _frozen_on_chain(market: Market, owner: str) -> bool:
    escrow = await read_escrow(
        market.world.ledger, market.world.deployment, Pubkey.from_string(owner)
    )
    return escrow.energy.frozen or escrow.payment.frozen


def test_a_trade_frozen_after_its_clearing_is_parked_and_settled_once_after_the_thaw() -> None:
    async def scenario() -> None:
        market = await make_market(MemoryMarketStore())
        (seller,) = await market.users(1, kwh=2)
        (buyer,) = await market.users(1, credit=100)
        await market.order(seller, Side.SELL, 1, 10_000)
        await market.order(buyer, Side.BUY, 1, 40_000)
        await clear(market.ctx, market.epoch)
        await _freeze(market, seller)  # after the clearing, before settlement
        report = await settle(market.ctx, market.epoch, market.keys)
        ((_, reason),) = report.failed
        assert reason.startswith(ACCOUNT_FROZEN)
        store = market.ctx.store
        assert [m.idx for _, m, _ in store.parked_matches()] == [0]

        def frozen(owner: str) -> Awaitable[bool]:
            return _frozen_on_chain(market, owner)

        args = (store, market.world.ledger, market.world.deployment, market.keys, frozen)
        assert await settle_parked(*args) == []  # still frozen: it waits
        world = market.world
        await thaw_user(world.ledger, world.deployment, payer=world.payer,
                        rec_authority=world.rec, owner=seller.pubkey())  # fmt: skip
        (outcome,) = await settle_parked(*args)
        assert outcome.status is MatchStatus.SETTLED
        assert outcome.settlement_key.endswith(":retry:1")
        assert await settle_parked(*args) == []  # settled once, never again
        assert store.parked_matches() == []
        (trade,) = await list_trades(market.ctx, epoch=market.epoch)
        assert trade.status is MatchStatus.SETTLED
        assert (await market.balances(seller))[0] == KWH
        orders = await list_orders(market.ctx, epoch=market.epoch)
        assert {o.status for o in orders} == {OrderStatus.FILLED}

    run(scenario())


def test_the_retry_key_counts_the_attempts() -> None:
    match = MatchToSettle(3, "S", "B", KWH, 10)
    first = retry_job(7, match, "settle:epoch:7:match:0000003")
    assert first.key == "settle:epoch:7:match:0000003:retry:1"
    assert retry_job(7, match, first.key).key == "settle:epoch:7:match:0000003:retry:2"

"""A frozen account in the market (in-memory store, embedded ledger): its owner is
refused in the market's words (`account_frozen`, a MarketError, never a raw ledger
failure), their orders are excluded from the clearing with that reason, and everyone
else trades and settles as if they were not there."""

import pytest
from solders.keypair import Keypair
from solders.transaction import Transaction

from coordinator.market import (
    MatchStatus,
    MemoryMarketStore,
    OrderStatus,
    list_orders,
    list_trades,
    place_order,
    run_market_epoch,
    submit_approval,
)
from coordinator.market.errors import MarketError, OrderError
from coordinator.market.rules import ACCOUNT_FROZEN, Side
from programs.roles.governance import freeze_user
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

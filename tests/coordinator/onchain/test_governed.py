"""The leader's market work under the emergency controls and the governed parameters,
on the in-memory market store and the embedded ledger: a pause that lands while a
clearing runs, clearing paused over several gate closures then resumed, orders
placed while placing is paused, and a parameter change scheduled two epochs ahead."""

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from solders.keypair import Keypair

from coordinator.api.reasons import describe
from coordinator.governance import (
    GovernanceReader,
    GovernedParams,
    MemoryGovernance,
    Param,
    ParamChange,
    Pause,
    Scope,
)
from coordinator.market import MarketPaused, MatchStatus, MemoryMarketStore
from coordinator.market.rules import Side
from coordinator.onchain.governed import GovernedMarket
from tests.coordinator.market.world import KWH, Market, make_market
from wire.controls import decode_controls
from wire.topics import market_controls

AT = dt.datetime(2026, 12, 4, 10, tzinfo=dt.UTC)


def pause(scope: Scope, since_epoch: int = 1) -> Pause:
    return Pause(scope, AT, since_epoch, "authority-wallet", "incident 42")


class PausingStore(MemoryMarketStore):
    """A store during whose clearing the REC authority pauses settlement."""

    def __init__(self, governance: MemoryGovernance) -> None:
        super().__init__()
        self.governance = governance

    def save_clearing(self, *args: Any, **kwargs: Any) -> bool:
        saved: bool = super().save_clearing(*args, **kwargs)
        self.governance.pause(pause(Scope.SETTLEMENT))
        return saved


async def _trade(market: Market, price: int = 120_000) -> tuple[Keypair, Keypair]:
    (seller,) = await market.users(1, kwh=5)
    (buyer,) = await market.users(1, credit=100)
    await market.order(seller, Side.SELL, 1, 100_000)
    await market.order(buyer, Side.BUY, 1, price)
    return seller, buyer


def _governed(market: Market, governance: MemoryGovernance, **kwargs: Any) -> GovernedMarket:
    reader = GovernanceReader(governance, GovernedParams(), ttl_s=0)
    return GovernedMarket(market.ctx, market.keys, reader, **kwargs)


async def _pass(governed: GovernedMarket, current: int) -> list[int]:
    await governed.read()
    return await governed.step(current)


def _statuses(market: Market, epoch: int) -> list[MatchStatus]:
    return [m.status for m in market.ctx.store.list_matches(epoch=epoch)]


async def test_a_pause_during_clearing_holds_settlement_back_until_resumed_then_once() -> None:
    governance = MemoryGovernance()
    market = await make_market(PausingStore(governance))
    epoch = market.epoch
    _, buyer = await _trade(market)
    governed = _governed(market, governance)

    assert await _pass(governed, epoch) == [epoch]

    # The clearing is whole (stored at once); its settlement waits for the authority.
    assert market.ctx.store.get_clearing(epoch) is not None
    assert _statuses(market, epoch) == [MatchStatus.PENDING]
    assert await market.balances(buyer) == (0, 100 * 10**6)
    assert await _pass(governed, epoch) == []
    assert _statuses(market, epoch) == [MatchStatus.PENDING]

    governance.resume(Scope.SETTLEMENT)
    assert await _pass(governed, epoch) == []
    assert _statuses(market, epoch) == [MatchStatus.SETTLED]
    settled = await market.balances(buyer)
    assert settled[0] == KWH
    await _pass(governed, epoch)
    assert await market.balances(buyer) == settled  # settled once


async def test_clearing_paused_over_gate_closures_catches_up_once_oldest_first() -> None:
    governance = MemoryGovernance()
    market = await make_market(MemoryMarketStore())
    first = market.epoch
    await _trade(market)
    market.epoch = first + 1
    await _trade(market)
    governed = _governed(market, governance)
    governance.pause(pause(Scope.CLEARING, first))

    assert await _pass(governed, first) == []
    assert await _pass(governed, first + 1) == []
    assert await _pass(governed, first + 2) == []
    assert market.ctx.store.get_clearing(first) is None

    governance.resume(Scope.CLEARING)
    assert await _pass(governed, first + 2) == [first, first + 1, first + 2]
    assert _statuses(market, first) == _statuses(market, first + 1) == [MatchStatus.SETTLED]
    assert await _pass(governed, first + 2) == []
    # A leader taking over later finds nothing left to catch up.
    assert await _pass(_governed(market, governance), first + 2) == [first + 2]


async def test_epochs_without_orders_a_pause_held_back_are_cleared_once_after_it() -> None:
    governance = MemoryGovernance()
    market = await make_market(MemoryMarketStore())
    first = market.epoch
    await _trade(market)
    governed = _governed(market, governance)
    governance.pause(pause(Scope.CLEARING, first))
    assert await _pass(governed, first + 1) == []
    governance.resume(Scope.CLEARING)
    # first + 1 and first + 2 had no orders: cleared empty, as if never paused.
    assert await _pass(governed, first + 3) == [first, first + 1, first + 2, first + 3]
    assert [market.ctx.store.get_clearing(e) is not None for e in range(first, first + 4)] == [
        True
    ] * 4
    assert governance.held == {}
    assert await _pass(governed, first + 3) == []
    # A pause and a resume both between two passes: the next pass still catches up.
    governance.pause(pause(Scope.CLEARING, first + 4))
    governance.resume(Scope.CLEARING)
    assert await _pass(governed, first + 6) == [first + 4, first + 5, first + 6]
    assert await _pass(_governed(market, governance), first + 6) == [first + 6]


async def test_orders_are_refused_in_words_while_placing_is_paused() -> None:
    governance = MemoryGovernance()
    market = await make_market(MemoryMarketStore())
    reader = GovernanceReader(governance, GovernedParams(), ttl_s=0)
    market.ctx = replace(market.ctx, terms=reader.placement_terms)
    (seller,) = await market.users(1, kwh=5)
    governance.pause(pause(Scope.ORDERS))
    with pytest.raises(MarketPaused, match=r"orders is paused by the REC authority .*incident 42"):
        await market.order(seller, Side.SELL, 1, 100_000)
    governance.resume(Scope.ORDERS)
    assert (await market.order(seller, Side.SELL, 1, 100_000)).quantity == KWH


async def test_a_parameter_change_two_epochs_ahead_clears_that_epoch_under_it() -> None:
    governance = MemoryGovernance()
    market = await make_market(MemoryMarketStore())
    first = market.epoch
    governance.changes.append(
        ParamChange(
            name=Param.PRICING,
            value="pay_as_bid",
            from_epoch=first + 2,
            authority="authority-wallet",
            issued_at=0,
        )
    )
    governed = _governed(market, governance)
    for epoch in (first, first + 1, first + 2):
        market.epoch = epoch
        await _trade(market, price=140_000)
        assert await _pass(governed, epoch) == [epoch]
    pricing = [market.ctx.store.get_clearing(e) for e in (first, first + 1, first + 2)]
    assert [v.pricing if v else None for v in pricing] == [
        "pay_as_clear",
        "pay_as_clear",
        "pay_as_bid",
    ]


async def test_an_order_outside_a_band_changed_after_it_was_placed_is_excluded() -> None:
    governance = MemoryGovernance()
    market = await make_market(MemoryMarketStore())
    first = market.epoch
    await _trade(market, price=140_000)
    (other,) = await market.users(1, credit=100)
    inside = await market.order(other, Side.BUY, 1, 110_000)
    # After the orders were placed, the authority caps prices at 120_000 from `first`.
    governance.changes.append(
        ParamChange(
            name=Param.PRICE_MAX, value="120000", from_epoch=first,
            authority="authority-wallet", issued_at=0,
        )
    )  # fmt: skip
    assert await _pass(_governed(market, governance), first) == [first]
    orders = {o.order_id: o for o in market.ctx.store.list_orders(epoch=first)}
    dear = next(o for o in orders.values() if o.limit_price == 140_000)
    assert (dear.status.value, dear.reason) == ("excluded", "price_out_of_band")
    assert describe(dear.reason) == ("the limit price is outside the band the REC authority allows")
    # The order inside the band trades.
    assert orders[inside.order_id].status.value != "excluded"
    assert market.ctx.store.get_clearing(first).match_count == 1  # type: ignore[union-attr]


async def test_operators_see_the_controls_retained_when_they_change() -> None:
    governance = MemoryGovernance()
    market = await make_market(MemoryMarketStore())
    published: list[tuple[str, bytes]] = []

    async def publish(topic: str, body: bytes) -> bool:
        published.append((topic, body))
        return True

    governed = _governed(market, governance, publish=publish, root="gtxtest")
    await governed.read()
    governance.pause(pause(Scope.MINTING))
    await governed.read()
    await governed.read()
    assert not governed.may_mint
    assert [t for t, _ in published] == [market_controls("gtxtest")] * 2
    report = decode_controls(published[-1][1])
    assert list(report.paused) == ["minting"]
    assert report.paused["minting"].reason == "incident 42"
    assert not report.maintenance


async def test_retirement_stops_while_settlement_or_minting_is_paused() -> None:
    governance = MemoryGovernance()
    governed = _governed(await make_market(MemoryMarketStore()), governance)
    await governed.read()
    assert governed.may_retire
    governance.pause(pause(Scope.SETTLEMENT))
    await governed.read()
    assert not governed.may_retire
    assert governed.may_mint

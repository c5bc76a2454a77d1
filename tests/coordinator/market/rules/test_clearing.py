import random
from collections import defaultdict
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.market.rules import (
    ClearingInputs,
    ClearingResult,
    Escrow,
    FillStatus,
    MarketRules,
    Match,
    Order,
    PricingRule,
    Side,
    clear_epoch,
    encode_result,
    k_price,
    max_buy_quantity,
    payment_for,
)
from coordinator.market.rules.orders import OFF_TICK_PRICE
from coordinator.market.rules.results import ESCROW_CAPPED, INSUFFICIENT_ESCROW, WRONG_EPOCH
from tests.coordinator.market.rules.books import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    EPOCH,
    KWH,
    ask,
    bid,
    book,
    books,
    order,
)
from tests.coordinator.market.rules.reference import assert_agrees

PAY_AS_BID = MarketRules(pricing=PricingRule.PAY_AS_BID)


def outcomes(result: ClearingResult) -> dict[str, tuple[FillStatus, int, str | None]]:
    return {o.order_id: (o.status, o.filled, o.reason) for o in result.outcomes}


# --- hand-written examples ------------------------------------------------------


def test_one_cross_trades_at_the_midpoint() -> None:
    result = clear_epoch(book([bid("b", ALICE, 10, 200_000), ask("s", BOB, 6, 100_000)]))
    assert result.clearing_price == 150_000
    assert result.matches == (Match("b", "s", ALICE, BOB, 6 * KWH, 150_000, 900_000),)
    assert result.volume == 6 * KWH
    assert result.turnover == 900_000
    assert outcomes(result) == {
        "b": (FillStatus.PARTIAL, 6 * KWH, None),
        "s": (FillStatus.FILLED, 6 * KWH, None),
    }


def test_marginal_pair_sets_the_price_and_lower_bids_stop() -> None:
    orders = [
        bid("b1", ALICE, 5, 300_000),
        bid("b2", CAROL, 5, 200_000),
        ask("a1", BOB, 4, 100_000),
        ask("a2", DAVE, 4, 250_000),
    ]
    result = clear_epoch(book(orders))
    assert [(m.buy_order_id, m.sell_order_id, m.quantity) for m in result.matches] == [
        ("b1", "a1", 4 * KWH),
        ("b1", "a2", 1 * KWH),
    ]
    # marginal bid 300_000 (b1), marginal ask 250_000 (a2)
    assert result.clearing_price == 275_000
    assert result.volume == 5 * KWH
    assert [m.payment for m in result.matches] == [1_100_000, 275_000]
    assert outcomes(result)["b2"] == (FillStatus.UNFILLED, 0, None)
    assert outcomes(result)["a2"] == (FillStatus.PARTIAL, KWH, None)


def test_pay_as_bid_prices_each_match_at_its_bid() -> None:
    orders = [
        bid("b1", ALICE, 1, 300_000),
        bid("b2", CAROL, 1, 200_000),
        ask("a1", BOB, 2, 100_000),
    ]
    result = clear_epoch(book(orders, rules=PAY_AS_BID))
    assert result.clearing_price is None
    assert [(m.buy_order_id, m.price, m.payment) for m in result.matches] == [
        ("b1", 300_000, 300_000),
        ("b2", 200_000, 200_000),
    ]


def test_time_then_order_id_break_ties_at_equal_price() -> None:
    orders = [
        ask("a-late", BOB, 1, 100_000, seq=9),
        ask("a-z", CAROL, 1, 100_000, seq=3),
        ask("a-y", DAVE, 1, 100_000, seq=3),
        bid("b", ALICE, 2, 100_000, seq=1),
    ]
    result = clear_epoch(book(orders))
    assert [m.sell_order_id for m in result.matches] == ["a-y", "a-z"]
    assert outcomes(result)["a-late"] == (FillStatus.UNFILLED, 0, None)


def test_self_trade_skips_to_the_next_seller() -> None:
    orders = [
        bid("bx", ALICE, 1, 300_000, seq=1),
        ask("ax", ALICE, 1, 100_000, seq=1),
        ask("ay", BOB, 1, 200_000, seq=1),
        bid("bz", CAROL, 1, 150_000, seq=1),
    ]
    result = clear_epoch(book(orders))
    assert result.matches == (Match("bx", "ay", ALICE, BOB, KWH, 250_000, 250_000),)
    # bz (150_000) is below the matched ask ay (200_000): no one price suits both.
    assert outcomes(result)["bz"] == (FillStatus.UNFILLED, 0, None)
    assert outcomes(result)["ax"] == (FillStatus.UNFILLED, 0, None)

    by_bid = clear_epoch(book(orders, rules=PAY_AS_BID))
    assert [(m.buy_order_id, m.sell_order_id, m.price) for m in by_bid.matches] == [
        ("bx", "ay", 300_000),
        ("bz", "ax", 150_000),
    ]


def test_self_trade_leaves_own_ask_for_the_next_bidder() -> None:
    orders = [
        bid("bx", ALICE, 1, 300_000, seq=1),
        ask("ax", ALICE, 1, 100_000, seq=1),
        ask("ay", BOB, 1, 400_000, seq=1),
        bid("bz", CAROL, 1, 150_000, seq=2),
    ]
    result = clear_epoch(book(orders))
    assert result.matches == (Match("bz", "ax", CAROL, ALICE, KWH, 125_000, 125_000),)
    assert outcomes(result)["bx"] == (FillStatus.UNFILLED, 0, None)


def test_escrow_caps_and_excludes() -> None:
    orders = [
        bid("b-rich", ALICE, 3, 100_000, seq=1),
        bid("b-poor", CAROL, 3, 100_000, seq=2),
        bid("b-broke", DAVE, 1, 100_000, seq=3),
        ask("a1", BOB, 10, 50_000),
    ]
    escrow = Escrow(
        energy={BOB: 4 * KWH + 1},  # the odd base unit is below the lot: unused
        payment={ALICE: 10**9, CAROL: 150_000},  # CAROL: 1.5 kWh at her limit
    )
    result = clear_epoch(book(orders, escrow))
    by_id = {o.order_id: o for o in result.outcomes}
    assert by_id["a1"].eligible == 4 * KWH
    assert by_id["a1"].reason == ESCROW_CAPPED
    assert by_id["b-poor"].eligible == 1_500_000_000
    assert by_id["b-poor"].status is FillStatus.PARTIAL
    assert by_id["b-broke"].status is FillStatus.EXCLUDED
    assert by_id["b-broke"].reason == INSUFFICIENT_ESCROW
    assert result.volume == 4 * KWH
    assert result.clearing_price == 75_000
    assert sum(m.payment for m in result.matches if m.buyer == CAROL) <= 150_000


def test_rule_breakers_and_other_epochs_are_excluded() -> None:
    orders = [
        bid("b", ALICE, 1, 100_000),
        ask("off-tick", BOB, 1, 100_001),
        order("later", BOB, Side.SELL, 1, 100_000, epoch=EPOCH + 1),
    ]
    result = clear_epoch(book(orders))
    assert result.matches == ()
    assert result.clearing_price is None
    assert outcomes(result)["off-tick"] == (FillStatus.EXCLUDED, 0, OFF_TICK_PRICE)
    assert outcomes(result)["later"] == (FillStatus.EXCLUDED, 0, WRONG_EPOCH)


def test_empty_book() -> None:
    result = clear_epoch(book([]))
    assert (result.volume, result.turnover, result.matches, result.outcomes) == (0, 0, (), ())


def test_payment_rounds_down_and_never_exceeds_escrow() -> None:
    rules = MarketRules(lot=1, tick=1)
    orders = [bid("b", ALICE, Fraction(3, KWH), 333_333_333), ask("a", BOB, 1, 1)]
    escrow = Escrow(energy={BOB: KWH}, payment={ALICE: 0})  # 3 units cost 0.999999999
    result = clear_epoch(book(orders, escrow, rules))
    assert result.matches[0].quantity == 3
    assert result.matches[0].payment == 0
    assert payment_for(3, 333_333_333) == 0
    assert payment_for(3 * KWH, 333_333_333) == 999_999_999


@pytest.mark.parametrize(
    ("ask_price", "bid_price", "k", "tick", "expected"),
    [
        (100, 101, Fraction(1, 2), 1, 100),  # exact half: down, toward the ask
        (100, 103, Fraction(1, 2), 1, 101),
        (1000, 4000, Fraction(1, 2), 1000, 2000),
        (1000, 4000, Fraction(1, 3), 1000, 2000),
        (1000, 4000, Fraction(2, 3), 1000, 3000),
        (1000, 5000, Fraction(1, 4), 1000, 2000),
        (1000, 5000, Fraction(0), 1000, 1000),
        (1000, 5000, Fraction(1), 1000, 5000),
        (7, 21, Fraction(3, 4), 7, 14),  # 17.5 -> 14 (2.5 ticks, half down)
    ],
)
def test_k_price(ask_price: int, bid_price: int, k: Fraction, tick: int, expected: int) -> None:
    assert k_price(ask_price, bid_price, k, tick) == expected


@given(st.integers(0, 10**12), st.integers(1, 10**12))
def test_max_buy_quantity_is_the_largest_that_fits(budget: int, price: int) -> None:
    quantity = max_buy_quantity(budget, price)
    assert payment_for(quantity, price) <= budget
    assert payment_for(quantity + 1, price) > budget


# --- properties -----------------------------------------------------------------


def _orders(inputs: ClearingInputs) -> dict[str, Order]:
    return {o.order_id: o for o in inputs.orders}


@settings(max_examples=300, deadline=None)
@given(books())
def test_fills_respect_quantities_escrow_and_sides(inputs: ClearingInputs) -> None:
    result = clear_epoch(inputs)
    orders = _orders(inputs)
    filled: dict[str, int] = defaultdict(int)
    paid: dict[str, int] = defaultdict(int)
    spent: dict[str, int] = defaultdict(int)
    sold: dict[str, int] = defaultdict(int)
    for m in result.matches:
        b, a = orders[m.buy_order_id], orders[m.sell_order_id]
        assert (b.side, a.side) == (Side.BUY, Side.SELL)
        assert (m.buyer, m.seller) == (b.owner, a.owner)
        assert m.buyer != m.seller
        assert m.quantity > 0
        assert m.payment == payment_for(m.quantity, m.price)
        assert b.limit_price >= m.price >= a.limit_price
        if inputs.rules.pricing is PricingRule.PAY_AS_CLEAR:
            assert m.price == result.clearing_price
        else:
            assert m.price == b.limit_price
        for oid in (m.buy_order_id, m.sell_order_id):
            filled[oid] += m.quantity
            paid[oid] += m.payment
        spent[m.buyer] += m.payment
        sold[m.seller] += m.quantity
    bought = sum(q for oid, q in filled.items() if orders[oid].side is Side.BUY)
    sold_total = sum(q for oid, q in filled.items() if orders[oid].side is Side.SELL)
    assert bought == sold_total == result.volume
    assert result.turnover == sum(m.payment for m in result.matches)
    for owner, amount in spent.items():
        assert amount <= inputs.escrow.payment[owner]
    for owner, amount in sold.items():
        assert amount <= inputs.escrow.energy[owner]
    assert [o.order_id for o in result.outcomes] == sorted(orders)
    for o in result.outcomes:
        assert o.filled == filled[o.order_id] <= o.eligible <= o.quantity
        assert o.payment == paid[o.order_id]
        expected = (
            FillStatus.EXCLUDED
            if o.eligible == 0
            else FillStatus.FILLED
            if o.filled == o.quantity
            else FillStatus.PARTIAL
            if o.filled
            else FillStatus.UNFILLED
        )
        assert o.status is expected
        assert (o.reason is None) == (0 < o.eligible == o.quantity)


@settings(max_examples=300, deadline=None)
@given(books(pricing=PricingRule.PAY_AS_CLEAR))
def test_uniform_price_lies_between_the_marginal_bid_and_ask(inputs: ClearingInputs) -> None:
    result = clear_epoch(inputs)
    orders = _orders(inputs)
    if not result.matches:
        assert result.clearing_price is None
        return
    marginal_bid = min(orders[m.buy_order_id].limit_price for m in result.matches)
    marginal_ask = max(orders[m.sell_order_id].limit_price for m in result.matches)
    assert result.clearing_price is not None
    assert marginal_ask <= result.clearing_price <= marginal_bid
    assert result.clearing_price % inputs.rules.tick == 0
    assert result.clearing_price == k_price(
        marginal_ask, marginal_bid, inputs.rules.k, inputs.rules.tick
    )


@settings(max_examples=200, deadline=None)
@given(books(), st.randoms(use_true_random=False))
def test_result_bytes_do_not_depend_on_input_order(
    inputs: ClearingInputs, rnd: random.Random
) -> None:
    shuffled = list(inputs.orders)
    rnd.shuffle(shuffled)
    again = ClearingInputs(inputs.epoch, reversed(shuffled), inputs.escrow, inputs.rules)
    first, second = clear_epoch(inputs), clear_epoch(again)
    assert encode_result(first) == encode_result(second)
    assert first.result_hash == second.result_hash
    assert first == second


def _max_volume(inputs: ClearingInputs) -> int:
    """Brute force over every limit price: max over p of min(demand(p), supply(p))."""
    orders = [o for o in inputs.orders if o.epoch == inputs.epoch]
    best = 0
    for price in {o.limit_price for o in orders}:
        demand = sum(o.quantity for o in orders if o.side is Side.BUY and o.limit_price >= price)
        supply = sum(o.quantity for o in orders if o.side is Side.SELL and o.limit_price <= price)
        best = max(best, min(demand, supply))
    return best


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        books(owners=(ALICE,), ample=True),
        books(owners=(BOB, CAROL), ample=True),
    ),
    st.sampled_from(list(PricingRule)),
)
def test_volume_is_the_maximum_without_self_trades(
    inputs: ClearingInputs, pricing: PricingRule
) -> None:
    # Sellers and buyers drawn from disjoint owners so no self-trade can arise.
    sellers = [o for o in inputs.orders if o.side is Side.SELL]
    renamed = [
        Order(o.order_id, DAVE, o.side, o.epoch, o.quantity, o.limit_price, o.seq)
        for o in inputs.orders
        if o.side is Side.BUY
    ]
    rules = MarketRules(
        lot=inputs.rules.lot, tick=inputs.rules.tick, pricing=pricing, k=inputs.rules.k
    )
    disjoint = ClearingInputs(
        inputs.epoch,
        sellers + renamed,
        Escrow(energy=dict.fromkeys((ALICE, BOB, CAROL), 10**18), payment={DAVE: 10**18}),
        rules,
    )
    result = clear_epoch(disjoint)
    assert result.volume == _max_volume(disjoint)
    if result.clearing_price is not None:
        price = result.clearing_price
        demand = sum(o.quantity for o in renamed if o.limit_price >= price)
        supply = sum(o.quantity for o in sellers if o.limit_price <= price)
        assert result.volume == min(demand, supply)


@settings(max_examples=200, deadline=None)
@given(books(ample=True, pricing=PricingRule.PAY_AS_CLEAR))
def test_uniform_volume_never_exceeds_the_maximum(inputs: ClearingInputs) -> None:
    # With self-trades skipped the greedy may trade less, never more; under
    # pay-as-bid (several prices) the single-price bound does not apply.
    result = clear_epoch(inputs)
    assert result.volume <= _max_volume(inputs)
    if result.clearing_price is not None:
        demand = sum(
            o.quantity
            for o in inputs.orders
            if o.side is Side.BUY and o.limit_price >= result.clearing_price
        )
        supply = sum(
            o.quantity
            for o in inputs.orders
            if o.side is Side.SELL and o.limit_price <= result.clearing_price
        )
        assert result.volume <= min(demand, supply)


@settings(max_examples=400, deadline=None)
@given(books(max_orders=20))
def test_clearing_equals_an_independent_reference(inputs: ClearingInputs) -> None:
    assert_agrees(inputs)

"""Clearing of one delivery epoch: a double auction over integers, pure and deterministic.

The rules, in the order they apply:

1. Exclusion. An order for another epoch (WRONG_EPOCH) or breaking a market
   rule (`orders.order_problem` codes) is excluded with that reason.
2. Priority. Bids by limit price descending, asks ascending; at equal price
   the lower `seq` (earlier) first, then the lower `order_id` (code points).
3. Escrow. Each owner's escrow is spent on their own orders in priority
   order. A sell order is capped to the owner's energy escrow left; a buy
   order to the largest quantity whose payment at its *limit* price fits the
   payment escrow left (no fill can cost more: prices never exceed the bid).
   Caps round down to the lot. A cap of 0 excludes the order
   (INSUFFICIENT_ESCROW); a smaller cap is recorded as ESCROW_CAPPED.
4. Matching. Bids in priority order each take the best eligible ask left,
   with partial fills, while the ask's price is not above the bid's.
   Self-trades: a bid skips the asks of its own owner (they stay in the book
   for later bids) and takes the next ask of another owner; if that one is
   above its limit, the bid stops and the next bid goes on. Matching ends at
   the first bid below the cheapest ask left, and, under pay-as-clear, at the
   first bid below the highest ask already matched, so that one price can
   suit every match. Without self-trades this is the classic greedy that
   trades the maximum volume.
5. Price. Pay-as-clear (default), a k-double auction: with the marginal bid
   (lowest matched bid price) and ask (highest matched ask price),
   price = ask + k * (bid - ask), k = 1/2 by default, computed exactly and
   rounded to the nearest tick, exact halves down (toward the ask, in the
   buyers' favour); bid and ask lie on the tick, so the price stays between
   them. Pay-as-bid: each match is priced at its bid's limit.
6. Payment. Each match pays `payment_for(quantity, price)`, rounded down:
   the buyer pays and the seller receives the same integer; the dust (under
   one payment base unit per match, none with the default lot and tick)
   stays with the buyer.
"""

from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction
from functools import partial
from operator import attrgetter

from coordinator.market.rules.book import ClearingInputs
from coordinator.market.rules.canonical import inputs_hash, result_hash
from coordinator.market.rules.orders import (
    ENERGY_BASE_UNITS_PER_KWH,
    Order,
    PricingRule,
    Side,
    order_problem,
    payment_for,
)
from coordinator.market.rules.results import (
    ESCROW_CAPPED,
    INSUFFICIENT_ESCROW,
    WRONG_EPOCH,
    ClearingResult,
    FillStatus,
    Match,
    OrderOutcome,
)

__all__ = ["clear_epoch", "k_price", "max_buy_quantity"]

_seq = attrgetter("seq")
_price = attrgetter("limit_price")
_order_id = attrgetter("order_id")
# NamedTuple's generated __new__ is a Python function; building the tuple directly
# saves a frame per match and per outcome (hundreds of thousands at 100k orders).
_new_match = partial(tuple.__new__, Match)
_new_outcome = partial(tuple.__new__, OrderOutcome)


def k_price(ask: int, bid: int, k: Fraction, tick: int) -> int:
    """ask + k * (bid - ask), rounded to the nearest multiple of `tick`, halves down."""
    scaled = ask * k.denominator + k.numerator * (bid - ask)  # the exact price * denominator
    unit = k.denominator * tick
    ticks, rest = divmod(scaled, unit)
    if 2 * rest > unit:
        ticks += 1
    return ticks * tick


def max_buy_quantity(budget: int, price: int) -> int:
    """The largest quantity whose `payment_for` at `price` is at most `budget`."""
    # q * p // B <= budget  <=>  q * p < (budget + 1) * B
    return ((budget + 1) * ENERGY_BASE_UNITS_PER_KWH - 1) // price


def clear_epoch(inputs: ClearingInputs) -> ClearingResult:
    """Clear `inputs.epoch`: the same inputs always give the same result, byte for byte."""
    rules = inputs.rules
    reasons: dict[str, str] = {}
    bids, asks = _admit(inputs, reasons)
    buy = _cap_bids(bids, inputs.escrow.payment, rules.lot, reasons)
    sell = _cap_asks(asks, inputs.escrow.energy, rules.lot, reasons)
    ask_price = [order.limit_price for order, _ in sell]
    fills = _match(
        buy,
        ask_price,
        [order.owner for order, _ in sell],
        [quantity for _, quantity in sell],
        uniform=rules.pricing is PricingRule.PAY_AS_CLEAR,
    )

    clearing_price: int | None = None
    if fills and rules.pricing is PricingRule.PAY_AS_CLEAR:
        marginal_bid = buy[fills[-1][0]][0].limit_price  # bids were matched highest first
        marginal_ask = max(ask_price[a] for _, a, _ in fills)
        clearing_price = k_price(marginal_ask, marginal_bid, rules.k, rules.tick)

    buy_done = [0] * len(buy)
    buy_paid = [0] * len(buy)
    sell_done = [0] * len(sell)
    sell_paid = [0] * len(sell)
    matches: list[Match] = []
    append = matches.append
    for b, a, quantity in fills:
        bid = buy[b][0]
        ask = sell[a][0]
        price = bid.limit_price if clearing_price is None else clearing_price
        payment = payment_for(quantity, price)
        append(
            _new_match((bid.order_id, ask.order_id, bid.owner, ask.owner, quantity, price, payment))
        )
        buy_done[b] += quantity
        buy_paid[b] += payment
        sell_done[a] += quantity
        sell_paid[a] += payment
    # (eligible, filled, payment) of every order that took part
    fates: dict[str, tuple[int, int, int]] = {}
    for side, done, paid in ((buy, buy_done, buy_paid), (sell, sell_done, sell_paid)):
        orders, takes = zip(*side, strict=True) if side else ((), ())
        fates.update(zip(map(_order_id, orders), zip(takes, done, paid, strict=True), strict=True))

    result = ClearingResult(
        epoch=inputs.epoch,
        pricing=rules.pricing,
        clearing_price=clearing_price,
        volume=sum(m.quantity for m in matches),
        turnover=sum(m.payment for m in matches),
        matches=tuple(matches),
        outcomes=_outcomes(inputs.orders, reasons, fates),
        inputs_hash=inputs_hash(inputs),
        result_hash="",
    )
    return replace(result, result_hash=result_hash(result))


def _admit(inputs: ClearingInputs, reasons: dict[str, str]) -> tuple[list[Order], list[Order]]:
    """Bids and asks that may take part, each in priority order; records the others."""
    rules = inputs.rules
    epoch = inputs.epoch
    bids: list[Order] = []
    asks: list[Order] = []
    for order in inputs.orders:
        problem = WRONG_EPOCH if order.epoch != epoch else order_problem(order, rules)
        if problem is not None:
            reasons[order.order_id] = problem
        elif order.side is Side.BUY:
            bids.append(order)
        else:
            asks.append(order)
    # Orders arrive sorted by id; two stable sorts give (price, seq, id) order.
    bids.sort(key=_seq)
    bids.sort(key=_price, reverse=True)
    asks.sort(key=_seq)
    asks.sort(key=_price)
    return bids, asks


def _cap_bids(
    bids: list[Order],
    payment_escrow: Mapping[str, int],
    lot: int,
    reasons: dict[str, str],
) -> list[tuple[Order, int]]:
    left = dict(payment_escrow)
    out: list[tuple[Order, int]] = []
    for order in bids:
        owner, price, quantity = order.owner, order.limit_price, order.quantity
        budget = left[owner]
        cost = quantity * price // ENERGY_BASE_UNITS_PER_KWH
        if cost > budget:
            quantity = min(quantity, max_buy_quantity(budget, price))
            quantity -= quantity % lot
            cost = quantity * price // ENERGY_BASE_UNITS_PER_KWH
        if quantity == 0:
            reasons[order.order_id] = INSUFFICIENT_ESCROW
            continue
        left[owner] = budget - cost
        out.append((order, quantity))
    return out


def _cap_asks(
    asks: list[Order],
    energy_escrow: Mapping[str, int],
    lot: int,
    reasons: dict[str, str],
) -> list[tuple[Order, int]]:
    left = dict(energy_escrow)
    out: list[tuple[Order, int]] = []
    for order in asks:
        owner, quantity = order.owner, order.quantity
        budget = left[owner]
        if quantity > budget:
            quantity = budget - budget % lot
        if quantity == 0:
            reasons[order.order_id] = INSUFFICIENT_ESCROW
            continue
        left[owner] = budget - quantity
        out.append((order, quantity))
    return out


def _match(
    buy: list[tuple[Order, int]],
    ask_price: list[int],
    ask_owner: list[str],
    ask_left: list[int],
    *,
    uniform: bool,
) -> list[tuple[int, int, int]]:
    """(bid index, ask index, quantity) of each fill, in the order made; mutates ask_left.

    Asks are only ever consumed at `head` (the best ask left) or at `other`
    (the best ask left whose owner differs from the head's): every ask between
    them is either the head owner's and untouched, or already consumed. Both
    indices only move forward, so matching is linear after the sort, whatever
    the self-trades.
    """
    n = len(ask_price)
    fills: list[tuple[int, int, int]] = []
    head = 0
    other = _next_other(ask_owner, 1, ask_owner[0]) if n else 0
    highest_ask = 0
    for b, (bid, quantity_left) in enumerate(buy):
        remaining = quantity_left
        if head >= n:
            break
        bid_price = bid.limit_price
        if bid_price < ask_price[head] or (uniform and bid_price < highest_ask):
            break  # every later bid is lower still
        bidder = bid.owner
        while True:
            a = head if ask_owner[head] != bidder else other
            if a >= n or ask_price[a] > bid_price:
                break
            available = ask_left[a]
            quantity = remaining if remaining < available else available
            fills.append((b, a, quantity))
            remaining -= quantity
            highest_ask = max(highest_ask, ask_price[a])
            if quantity < available:
                ask_left[a] = available - quantity
                break  # the bid is filled
            ask_left[a] = 0
            if a == head:
                head += 1
                while head < n and ask_left[head] == 0:
                    head += 1  # an ask consumed earlier at `other`
                if head >= n:
                    break
                if head == other:
                    other = _next_other(ask_owner, head + 1, ask_owner[head])
            else:
                other = _next_other(ask_owner, other + 1, ask_owner[head])
            if remaining == 0:
                break
    return fills


def _next_other(owners: list[str], start: int, owner: str) -> int:
    n = len(owners)
    while start < n and owners[start] == owner:
        start += 1
    return start


def _outcomes(
    orders: tuple[Order, ...],
    reasons: dict[str, str],
    fates: dict[str, tuple[int, int, int]],
) -> tuple[OrderOutcome, ...]:
    out: list[OrderOutcome] = []
    append = out.append
    excluded = FillStatus.EXCLUDED
    filled, partial_, unfilled = FillStatus.FILLED, FillStatus.PARTIAL, FillStatus.UNFILLED
    get = fates.get
    for order in orders:
        order_id = order.order_id
        quantity = order.quantity
        fate = get(order_id)
        if fate is None:
            append(
                _new_outcome(
                    (
                        order_id,
                        order.owner,
                        order.side,
                        excluded,
                        quantity,
                        0,
                        0,
                        0,
                        reasons[order_id],
                    )
                )
            )
            continue
        take, done, paid = fate
        status = filled if done == quantity else partial_ if done else unfilled
        append(
            _new_outcome(
                (
                    order_id,
                    order.owner,
                    order.side,
                    status,
                    quantity,
                    take,
                    done,
                    paid,
                    ESCROW_CAPPED if take < quantity else None,
                )
            )
        )
    return tuple(out)

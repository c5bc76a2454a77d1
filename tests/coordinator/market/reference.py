"""A second clearing, written from the rules in `coordinator.market.clearing`'s
docstring alone: slow, plain and obvious (sorts by tuple keys, list scans, binary
search for escrow caps, `Fraction` for the price), sharing nothing with the
production code but the order validation (`order_problem`, tested on its own)."""

from dataclasses import dataclass
from fractions import Fraction
from math import floor

from coordinator.market import ClearingInputs, Order, PricingRule, Side, order_problem
from coordinator.market.results import (
    ESCROW_CAPPED,
    INSUFFICIENT_ESCROW,
    WRONG_EPOCH,
    FillStatus,
    Match,
    OrderOutcome,
)

KWH = 10**9


@dataclass(frozen=True)
class Reference:
    clearing_price: int | None
    matches: tuple[Match, ...]
    outcomes: tuple[OrderOutcome, ...]
    volume: int
    turnover: int


def pay(quantity: int, price: int) -> int:
    return quantity * price // KWH


def buy_cap(quantity: int, price: int, budget: int, lot: int) -> int:
    """The most lots of `quantity` whose cost at `price` fits `budget` (binary search)."""
    low, high = 0, quantity // lot
    while low < high:
        middle = (low + high + 1) // 2
        if pay(middle * lot, price) <= budget:
            low = middle
        else:
            high = middle - 1
    return low * lot


def uniform_price(ask: int, bid: int, k: Fraction, tick: int) -> int:
    exact = Fraction(ask) + k * (bid - ask)
    ticks = exact / tick
    whole = floor(ticks)
    if ticks - whole > Fraction(1, 2):  # exact halves go down, toward the ask
        whole += 1
    return whole * tick


def reference_clear(inputs: ClearingInputs) -> Reference:
    rules = inputs.rules
    reasons: dict[str, str] = {}
    live: list[Order] = []
    for o in inputs.orders:
        problem = WRONG_EPOCH if o.epoch != inputs.epoch else order_problem(o, rules)
        if problem is None:
            live.append(o)
        else:
            reasons[o.order_id] = problem

    bids = sorted(
        (o for o in live if o.side is Side.BUY), key=lambda o: (-o.limit_price, o.seq, o.order_id)
    )
    asks = sorted(
        (o for o in live if o.side is Side.SELL), key=lambda o: (o.limit_price, o.seq, o.order_id)
    )

    eligible: dict[str, int] = {}
    money = dict(inputs.escrow.payment)
    for o in bids:
        take = min(o.quantity, buy_cap(o.quantity, o.limit_price, money.get(o.owner, 0), rules.lot))
        if take == 0:
            reasons[o.order_id] = INSUFFICIENT_ESCROW
        else:
            eligible[o.order_id] = take
            money[o.owner] -= pay(take, o.limit_price)
    energy = dict(inputs.escrow.energy)
    for o in asks:
        budget = energy.get(o.owner, 0)
        take = min(o.quantity, budget // rules.lot * rules.lot)
        if take == 0:
            reasons[o.order_id] = INSUFFICIENT_ESCROW
        else:
            eligible[o.order_id] = take
            energy[o.owner] -= take
    bids = [o for o in bids if o.order_id in eligible]
    asks = [o for o in asks if o.order_id in eligible]

    uniform = rules.pricing is PricingRule.PAY_AS_CLEAR
    left = {a.order_id: eligible[a.order_id] for a in asks}
    highest_ask = 0
    fills: list[tuple[Order, Order, int]] = []
    for b in bids:
        remaining_asks = [a for a in asks if left[a.order_id] > 0]
        if not remaining_asks or b.limit_price < remaining_asks[0].limit_price:
            break
        if uniform and b.limit_price < highest_ask:
            break
        wanted = eligible[b.order_id]
        for a in remaining_asks:
            if wanted == 0 or a.limit_price > b.limit_price:
                break
            if a.owner == b.owner:
                continue  # no self-trades: the ask stays for the next bidder
            quantity = min(wanted, left[a.order_id])
            fills.append((b, a, quantity))
            wanted -= quantity
            left[a.order_id] -= quantity
            highest_ask = max(highest_ask, a.limit_price)

    price: int | None = None
    if uniform and fills:
        marginal_bid = min(b.limit_price for b, _, _ in fills)
        marginal_ask = max(a.limit_price for _, a, _ in fills)
        price = uniform_price(marginal_ask, marginal_bid, rules.k, rules.tick)
    matches = []
    for b, a, quantity in fills:
        at = b.limit_price if price is None else price
        matches.append(
            Match(b.order_id, a.order_id, b.owner, a.owner, quantity, at, pay(quantity, at))
        )

    outcomes = []
    for o in inputs.orders:
        if o.order_id in reasons:
            outcomes.append(
                OrderOutcome(
                    o.order_id,
                    o.owner,
                    o.side,
                    FillStatus.EXCLUDED,
                    o.quantity,
                    0,
                    0,
                    0,
                    reasons[o.order_id],
                )
            )
            continue
        mine = [m for m in matches if o.order_id in (m.buy_order_id, m.sell_order_id)]
        filled = sum(m.quantity for m in mine)
        status = (
            FillStatus.FILLED
            if filled == o.quantity
            else FillStatus.PARTIAL
            if filled
            else FillStatus.UNFILLED
        )
        take = eligible[o.order_id]
        outcomes.append(
            OrderOutcome(
                o.order_id,
                o.owner,
                o.side,
                status,
                o.quantity,
                take,
                filled,
                sum(m.payment for m in mine),
                ESCROW_CAPPED if take < o.quantity else None,
            )
        )
    return Reference(
        price,
        tuple(matches),
        tuple(outcomes),
        sum(m.quantity for m in matches),
        sum(m.payment for m in matches),
    )

"""An independent reference clearing, written from the rules documented in
`coordinator.market.rules.clearing` only (binary-searched escrow caps, a list-scan match,
the k-price in exact fractions), sharing nothing with the production code but the
order validation (`order_problem`, tested on its own)."""

from fractions import Fraction
from math import floor

from coordinator.market.rules import (
    ClearingInputs,
    FillStatus,
    Order,
    PricingRule,
    Side,
    clear_epoch,
)
from coordinator.market.rules.orders import order_problem
from coordinator.market.rules.results import ESCROW_CAPPED, INSUFFICIENT_ESCROW, WRONG_EPOCH

B = 10**9


def _pay(quantity: int, price: int) -> int:
    return floor(Fraction(quantity * price, B))


def _largest_affordable(quantity: int, price: int, budget: int, lot: int) -> int:
    lo, hi = 0, quantity // lot  # lots; payment grows with lots
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _pay(mid * lot, price) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return min(quantity, lo * lot) if _pay(quantity, price) > budget else quantity


def _round_to_tick(x: Fraction, tick: int) -> int:
    ticks = x / tick
    whole = floor(ticks)
    return (whole + 1 if ticks - whole > Fraction(1, 2) else whole) * tick


def reference(
    inputs: ClearingInputs,
) -> tuple[
    list[tuple[str, str, int, int, int]],
    int | None,
    dict[str, tuple[FillStatus, int, int, int, str | None]],
]:
    rules = inputs.rules
    reason: dict[str, str | None] = {}
    eligible: dict[str, int] = {}
    admitted = []
    for o in inputs.orders:
        why = WRONG_EPOCH if o.epoch != inputs.epoch else order_problem(o, rules)
        if why:
            reason[o.order_id] = why
            eligible[o.order_id] = 0
        else:
            admitted.append(o)
    bids = sorted(
        (o for o in admitted if o.side is Side.BUY),
        key=lambda o: (-o.limit_price, o.seq, o.order_id),
    )
    asks = sorted(
        (o for o in admitted if o.side is Side.SELL),
        key=lambda o: (o.limit_price, o.seq, o.order_id),
    )
    money = dict(inputs.escrow.payment)
    for b in bids:
        q = _largest_affordable(b.quantity, b.limit_price, money[b.owner], rules.lot)
        money[b.owner] -= _pay(q, b.limit_price)
        eligible[b.order_id] = q
    energy = dict(inputs.escrow.energy)
    for a in asks:
        q = min(a.quantity, energy[a.owner] - energy[a.owner] % rules.lot)
        energy[a.owner] -= q
        eligible[a.order_id] = q
    for o in admitted:
        q = eligible[o.order_id]
        reason[o.order_id] = (
            INSUFFICIENT_ESCROW if q == 0 else ESCROW_CAPPED if q < o.quantity else None
        )
    bids = [b for b in bids if eligible[b.order_id]]
    asks = [a for a in asks if eligible[a.order_id]]
    left = {a.order_id: eligible[a.order_id] for a in asks}
    uniform = rules.pricing is PricingRule.PAY_AS_CLEAR
    fills: list[tuple[Order, Order, int]] = []
    for b in bids:
        rest = [a for a in asks if left[a.order_id]]
        if not rest or b.limit_price < rest[0].limit_price:
            break
        if uniform and fills and b.limit_price < max(a.limit_price for _, a, _ in fills):
            break
        want = eligible[b.order_id]
        for a in rest:
            if want == 0 or a.limit_price > b.limit_price:
                break
            if a.owner == b.owner:
                continue
            q = min(want, left[a.order_id])
            fills.append((b, a, q))
            left[a.order_id] -= q
            want -= q
    price = None
    if fills and uniform:
        bid = min(b.limit_price for b, _, _ in fills)
        ask = max(a.limit_price for _, a, _ in fills)
        price = _round_to_tick(ask + rules.k * (bid - ask), rules.tick)
    matches = []
    filled: dict[str, int] = dict.fromkeys(eligible, 0)
    paid: dict[str, int] = dict.fromkeys(eligible, 0)
    for b, a, q in fills:
        p = price if price is not None else b.limit_price
        pay = _pay(q, p)
        matches.append((b.order_id, a.order_id, q, p, pay))
        for oid in (b.order_id, a.order_id):
            filled[oid] += q
            paid[oid] += pay
    outcome = {}
    for o in inputs.orders:
        e = eligible[o.order_id]
        f = filled[o.order_id]
        status = (
            FillStatus.EXCLUDED
            if e == 0
            else FillStatus.FILLED
            if f == o.quantity
            else FillStatus.PARTIAL
            if f
            else FillStatus.UNFILLED
        )
        outcome[o.order_id] = (status, e, f, paid[o.order_id], reason[o.order_id])
    return matches, price, outcome


def assert_agrees(inputs: ClearingInputs) -> bool:
    """Assert that `clear_epoch` and `reference` agree on `inputs`; whether it traded."""
    result = clear_epoch(inputs)
    matches, price, outcome = reference(inputs)
    got = [
        (m.buy_order_id, m.sell_order_id, m.quantity, m.price, m.payment) for m in result.matches
    ]
    assert got == matches, inputs
    assert result.clearing_price == price
    assert {
        o.order_id: (o.status, o.eligible, o.filled, o.payment, o.reason) for o in result.outcomes
    } == outcome
    return bool(matches)

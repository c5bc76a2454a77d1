"""Builders and hypothesis strategies of order books for the market tests."""

from fractions import Fraction

from hypothesis import strategies as st

from coordinator.market.rules import ClearingInputs, Escrow, MarketRules, Order, PricingRule, Side
from wire.base58 import b58encode

KWH = 10**9
EPOCH = 100

OWNERS = tuple(b58encode(bytes([i + 1]) * 32) for i in range(5))
ALICE, BOB, CAROL, DAVE, ERIN = OWNERS


def order(
    order_id: str,
    owner: str,
    side: Side,
    kwh: Fraction | int,
    price: int,
    seq: int = 0,
    epoch: int = EPOCH,
) -> Order:
    quantity = kwh * KWH
    assert quantity == int(quantity)
    return Order(order_id, owner, side, epoch, int(quantity), price, seq)


def bid(order_id: str, owner: str, kwh: Fraction | int, price: int, seq: int = 0) -> Order:
    return order(order_id, owner, Side.BUY, kwh, price, seq)


def ask(order_id: str, owner: str, kwh: Fraction | int, price: int, seq: int = 0) -> Order:
    return order(order_id, owner, Side.SELL, kwh, price, seq)


def ample_escrow(orders: list[Order]) -> Escrow:
    owners = {o.owner for o in orders}
    return Escrow(energy=dict.fromkeys(owners, 10**18), payment=dict.fromkeys(owners, 10**18))


def book(
    orders: list[Order], escrow: Escrow | None = None, rules: MarketRules | None = None
) -> ClearingInputs:
    return ClearingInputs(EPOCH, orders, ample_escrow(orders) if escrow is None else escrow, rules)


rules_strategy = st.builds(
    MarketRules,
    lot=st.sampled_from([1, 10**6]),
    tick=st.sampled_from([1, 7, 1000]),
    pricing=st.sampled_from(list(PricingRule)),
    k=st.sampled_from([Fraction(0), Fraction(1, 3), Fraction(1, 2), Fraction(1)]),
)


@st.composite
def books(
    draw: st.DrawFn,
    *,
    max_orders: int = 14,
    owners: tuple[str, ...] = OWNERS[:4],
    ample: bool | None = None,
    pricing: PricingRule | None = None,
) -> ClearingInputs:
    """Small books on a few owners and price levels, so ties and self-trades are common."""
    rules = draw(rules_strategy)
    if pricing is not None:
        rules = MarketRules(lot=rules.lot, tick=rules.tick, pricing=pricing, k=rules.k)
    count = draw(st.integers(0, max_orders))
    orders = []
    for i in range(count):
        side = draw(st.sampled_from(list(Side)))
        owner = draw(st.sampled_from(owners))
        lots = draw(st.integers(1, 3_000_000 // rules.lot + 5))
        ticks = draw(st.integers(1, 12))
        seq = draw(st.integers(0, 4))
        orders.append(
            Order(f"o{i:02d}", owner, side, EPOCH, lots * rules.lot, ticks * rules.tick * 10, seq)
        )
    if ample if ample is not None else draw(st.booleans()):
        escrow = ample_escrow(orders)
    else:
        amounts = st.integers(0, 4_000_000)
        escrow = Escrow(
            energy={o: draw(amounts) for o in owners},
            payment={o: draw(st.integers(0, 500)) for o in owners},
        )
    return ClearingInputs(EPOCH, orders, escrow, rules)

"""The independent reference clearing (`tests/coordinator/market/rules/reference.py`) agrees
with the production clearing on thousands of seeded random books: matches, price, and
every order's outcome."""

import random
from fractions import Fraction

from coordinator.market.rules import ClearingInputs, Escrow, MarketRules, Order, PricingRule, Side
from tests.coordinator.market.rules.reference import B, assert_agrees
from wire.base58 import b58encode

OWNERS = [b58encode(bytes([i + 7]) * 32) for i in range(5)]


def _random_book(rnd: random.Random) -> ClearingInputs:
    rules = MarketRules(
        lot=rnd.choice([1, 10**6]),
        tick=rnd.choice([1, 7, 1000]),
        pricing=rnd.choice(list(PricingRule)),
        k=rnd.choice([Fraction(0), Fraction(1, 3), Fraction(1, 2), Fraction(1)]),
    )
    owners = OWNERS[: rnd.randint(1, 5)]
    orders = []
    for i in range(rnd.randint(0, 24)):
        orders.append(
            Order(
                f"o{i:02d}",
                rnd.choice(owners),
                rnd.choice(list(Side)),
                rnd.choice([50, 50, 50, 50, 51]),
                rnd.randint(0, 4 * B // rules.lot) * rules.lot + rnd.choice([0, 0, 0, 0, 1]),
                rnd.randint(0, 15) * rules.tick * rnd.choice([1, 1, 1, 1000])
                + rnd.choice([0, 0, 0, 0, 1]),
                rnd.randint(0, 5),
            )
        )
    escrow = Escrow(
        energy={o: rnd.choice([0, rnd.randint(0, 6 * B), 10**18]) for o in owners},
        payment={o: rnd.choice([0, rnd.randint(0, 10**8), 10**18]) for o in owners},
    )
    return ClearingInputs(50, orders, escrow, rules)


def test_an_independent_reference_agrees_on_thousands_of_random_books() -> None:
    rnd = random.Random(20261125)
    traded = 0
    for _ in range(3000):
        traded += assert_agrees(_random_book(rnd))
    assert traded > 1000  # most books trade: the comparison is not vacuous

"""The verifier's clearing, written from docs/protocol.md, against the coordinator's
`clear_epoch`: byte-for-byte equal results on generated books (ties, self-trades,
escrow caps, both pricing rules, every exclusion reason) and on larger seeded books;
and the canonical form of the inputs enforced."""

import json
import random
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.market.rules import (
    ClearingInputs,
    Escrow,
    MarketRules,
    Order,
    PricingRule,
    Side,
    clear_epoch,
    encode_inputs,
    encode_result,
)
from tests.coordinator.market.rules.books import EPOCH, OWNERS, books
from verify.clearing import InputsError, canonical, clear, read_inputs

KWH = 10**9


def assert_same(inputs: ClearingInputs) -> None:
    encoded = encode_inputs(inputs)
    document = json.loads(encoded)
    assert canonical(document) == encoded
    assert canonical(clear(document)) == encode_result(clear_epoch(inputs))


@settings(max_examples=600, deadline=None)
@given(books(max_orders=20))
def test_equal_on_generated_books(inputs: ClearingInputs) -> None:
    assert_same(inputs)


@settings(max_examples=200, deadline=None)
@given(books(max_orders=12, owners=OWNERS[:2], pricing=PricingRule.PAY_AS_CLEAR))
def test_equal_on_books_of_two_owners_full_of_self_trades(inputs: ClearingInputs) -> None:
    assert_same(inputs)


_ODD = [  # (order_id, owner, epoch, quantity, price, seq): one per exclusion reason
    ("x-epoch", OWNERS[0], EPOCH + 1, KWH, 10_000, 0),
    ("x-zero", OWNERS[0], EPOCH, 0, 10_000, 0),
    ("x-dust", OWNERS[0], EPOCH, 10, 10_000, 0),
    ("x-lot", OWNERS[0], EPOCH, KWH + 1, 10_000, 0),
    ("x-huge", OWNERS[0], EPOCH, 1 << 64, 10_000, 0),
    ("x-price0", OWNERS[0], EPOCH, KWH, 0, 0),
    ("x-tick", OWNERS[0], EPOCH, KWH, 10_001, 0),
    ("x-notional", OWNERS[0], EPOCH, (1 << 63) // 10**6 * 10**6, 10**12, 0),
    ("x-seq", OWNERS[0], EPOCH, KWH, 10_000, -1),
    ("x bad id", OWNERS[0], EPOCH, KWH, 10_000, 0),
    ("x-owner", "not-an-address", EPOCH, KWH, 10_000, 0),
    ("x-é", OWNERS[0], EPOCH, KWH, 10_000, 0),
]


@settings(max_examples=200, deadline=None)
@given(books(max_orders=10), st.lists(st.sampled_from(_ODD), max_size=4, unique=True),
       st.sampled_from(list(Side)))  # fmt: skip
def test_equal_with_orders_that_break_the_rules(
    inputs: ClearingInputs, odd: list[tuple[str, str, int, int, int, int]], side: Side
) -> None:
    extra = [Order(i, owner, side, epoch, q, p, seq) for i, owner, epoch, q, p, seq in odd]
    escrow = Escrow(
        energy={**inputs.escrow.energy, "not-an-address": 10**18},
        payment={**inputs.escrow.payment, "not-an-address": 10**18},
    )
    assert_same(ClearingInputs(EPOCH, [*inputs.orders, *extra], escrow, inputs.rules))


@pytest.mark.parametrize("seed", range(40))
def test_equal_on_seeded_books_of_hundreds_of_orders(seed: int) -> None:
    rng = random.Random(seed)
    owners = OWNERS[: rng.randint(2, 5)]
    rules = MarketRules(
        lot=rng.choice([1, 10**6]),
        tick=rng.choice([1, 7, 1000]),
        pricing=rng.choice(list(PricingRule)),
        k=rng.choice([Fraction(0), Fraction(1, 3), Fraction(1, 2), Fraction(1)]),
    )
    orders = [
        Order(f"o{i:04d}", rng.choice(owners), rng.choice(list(Side)), EPOCH,
              rng.randint(1, 40) * rules.lot * 10**2, rng.randint(5, 60) * rules.tick * 10,
              rng.randint(0, 50))
        for i in range(rng.randint(50, 400))
    ]  # fmt: skip
    escrow = Escrow(
        energy={o: rng.randint(0, 10**11) for o in owners},
        payment={o: rng.randint(0, 10**7) for o in owners},
    )
    assert_same(ClearingInputs(EPOCH, orders, escrow, rules))


def _inputs() -> dict[str, Any]:
    orders = [
        Order("a", OWNERS[0], Side.SELL, EPOCH, KWH, 10_000, 0),
        Order("b", OWNERS[1], Side.BUY, EPOCH, KWH, 20_000, 1),
    ]
    inputs = ClearingInputs(EPOCH, orders, Escrow({OWNERS[0]: KWH}, {OWNERS[1]: 10**6}))
    document: dict[str, Any] = json.loads(encode_inputs(inputs))
    return document


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda d: d["orders"].reverse(), "sorted by id"),
        (lambda d: d["orders"].append(d["orders"][-1]), "sorted by id"),
        (lambda d: d["escrow"]["energy"].append([OWNERS[4], 1]), "exactly the owners"),
        (lambda d: d["escrow"]["payment"].clear(), "exactly the owners"),
        (lambda d: d["escrow"]["energy"][0].__setitem__(1, -1), "at least 0"),
        (lambda d: d["orders"][0].__setitem__(4, True), "integer"),
        (lambda d: d["orders"][0].__setitem__(5, 10_000.0), "integer"),
        (lambda d: d["orders"][0].__setitem__(2, "hold"), "side"),
        (lambda d: d["rules"].__setitem__("k", [2, 4]), "lowest terms"),
        (lambda d: d["rules"].__setitem__("k", [3, 2]), "[0, 1]"),
        (lambda d: d["rules"].__setitem__("pricing", "pay_as_ask"), "pricing"),
        (lambda d: d["rules"].__setitem__("tick", 0), "at least 1"),
        (lambda d: d.__setitem__("v", 2), "version"),
        (lambda d: d.__setitem__("extra", 1), "keys"),
    ],
)
def test_inputs_out_of_canonical_form_are_refused(change: Any, complaint: str) -> None:
    document = _inputs()
    read_inputs(document)
    change(document)
    with pytest.raises(InputsError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        clear(document)

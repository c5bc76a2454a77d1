from fractions import Fraction

import pytest

from coordinator.market.rules import (
    MarketRules,
    Order,
    OrderError,
    Side,
    check_grid_band,
    order_problem,
    validate_order,
)
from coordinator.market.rules import orders as o
from tests.coordinator.market.rules.books import ALICE, EPOCH, KWH

RULES = MarketRules()


def make(**changes: object) -> Order:
    fields: dict[str, object] = {
        "order_id": "ord-1",
        "owner": ALICE,
        "side": Side.BUY,
        "epoch": EPOCH,
        "quantity": KWH,
        "limit_price": 150_000,
        "seq": 1,
    }
    fields.update(changes)
    return Order(**fields)  # type: ignore[arg-type]


def test_a_good_order_is_returned() -> None:
    order = make()
    assert validate_order(order, RULES, open_epoch=EPOCH) is order
    assert order_problem(order, RULES) is None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"quantity": 0}, o.NON_POSITIVE_QUANTITY),
        ({"quantity": -KWH}, o.NON_POSITIVE_QUANTITY),
        ({"quantity": 999_999}, o.DUST_QUANTITY),
        ({"quantity": 1_500_001}, o.OFF_LOT_QUANTITY),
        ({"quantity": 2**64 * 10**6}, o.QUANTITY_TOO_LARGE),
        ({"limit_price": 0}, o.NON_POSITIVE_PRICE),
        ({"limit_price": 150_001}, o.OFF_TICK_PRICE),
        ({"quantity": 10**18, "limit_price": 10**12}, o.NOTIONAL_TOO_LARGE),
        ({"seq": -1}, o.BAD_SEQUENCE),
        ({"order_id": ""}, o.BAD_ORDER_ID),
        ({"order_id": "a b"}, o.BAD_ORDER_ID),
        ({"order_id": "x" * 65}, o.BAD_ORDER_ID),
        ({"owner": "0OIl" * 10}, o.BAD_OWNER),
        ({"owner": "2" * 32}, o.BAD_OWNER),  # base58, but 24 bytes
        ({"epoch": EPOCH - 1}, o.EPOCH_CLOSED),
    ],
)
def test_rule_breakers_are_rejected_with_their_code(changes: dict[str, object], code: str) -> None:
    with pytest.raises(OrderError) as caught:
        validate_order(make(**changes), RULES, open_epoch=EPOCH)
    assert caught.value.code == code
    assert code in str(caught.value)


def test_epoch_horizon_is_optional() -> None:
    far = make(epoch=EPOCH + 97)
    assert validate_order(far, RULES, open_epoch=EPOCH) is far
    with pytest.raises(OrderError, match=o.EPOCH_TOO_FAR):
        validate_order(far, RULES, open_epoch=EPOCH, max_epochs_ahead=96)


def test_configured_lot_and_tick_apply() -> None:
    rules = MarketRules(lot=1, tick=1)
    assert order_problem(make(quantity=1, limit_price=1), rules) is None
    assert order_problem(make(limit_price=150_500), MarketRules(tick=1000)) == o.OFF_TICK_PRICE


@pytest.mark.parametrize(
    "changes",
    [{"quantity": 1.0}, {"quantity": True}, {"order_id": 7}, {"side": "buy"}, {"seq": None}],
)
def test_wrong_types_fail_on_construction(changes: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        make(**changes)


@pytest.mark.parametrize(
    "changes",
    [{"lot": 0}, {"tick": -1}, {"k": Fraction(3, 2)}, {"k": 0.5}, {"pricing": "pay_as_bid"}],
)
def test_bad_rules_fail_on_construction(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        MarketRules(**changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("side", "price", "code"),
    [
        (Side.SELL, 59_000, o.SELL_BELOW_FEED_IN),
        (Side.BUY, 251_000, o.BUY_ABOVE_RETAIL),
    ],
)
def test_orders_the_grid_would_beat_are_refused(side: Side, price: int, code: str) -> None:
    with pytest.raises(OrderError) as refused:
        check_grid_band(make(side=side, limit_price=price), (60_000, 250_000))
    assert refused.value.code == code
    assert "in force for epoch" in str(refused.value)


@pytest.mark.parametrize(
    ("side", "price"),
    [(Side.SELL, 60_000), (Side.BUY, 250_000), (Side.BUY, 1_000), (Side.SELL, 900_000)],
)
def test_orders_the_grid_would_not_beat_pass(side: Side, price: int) -> None:
    order = make(side=side, limit_price=price)
    assert check_grid_band(order, (60_000, 250_000)) is order
    assert check_grid_band(make(side=side, limit_price=1), None).limit_price == 1

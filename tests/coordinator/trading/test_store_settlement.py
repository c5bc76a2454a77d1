"""Recording settlement outcomes: each order's settled quantity and status rolled up
from all of its epoch's matches, on PostgreSQL and on SQLite (the embedded demo)."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from solders.signature import Signature
from sqlalchemy.engine import Engine

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from coordinator.market import Match, Side
from coordinator.market.canonical import encode_result
from coordinator.market.orders import PricingRule
from coordinator.market.results import ClearingResult
from coordinator.trading import store
from coordinator.trading.records import MatchStatus, OrderStatus, SettlementStatus

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
EPOCH = 7


@pytest.fixture(params=["postgresql", "sqlite"])
def market_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "postgresql":
        request.applymarker(pytest.mark.services)
        yield request.getfixturevalue("engine")
        return
    eng = make_engine(f"sqlite:///{tmp_path / 'market.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


def _orders(engine: Engine) -> None:
    for order_id, side in (("b1", Side.BUY), ("b2", Side.BUY), ("s1", Side.SELL)):
        new = store.NewOrder(order_id, f"owner-{order_id}", side, EPOCH, 10, 1000, None)
        store.insert_order(engine, new, OrderStatus.OPEN, NOW)


def _outcome(idx: int, status: MatchStatus, error: str | None = None) -> store.MatchOutcome:
    signature = Signature.new_unique() if status is MatchStatus.SETTLED else None
    return store.MatchOutcome(idx, status, f"settle:{idx}", signature, error)


def _state(engine: Engine, order_id: str) -> tuple[int, SettlementStatus | None, str | None]:
    order = store.get_order(engine, order_id)
    assert order is not None
    return order.settled, order.settlement_status, order.settlement_error


def test_orders_roll_up_settled_failed_and_pending_matches(market_engine: Engine) -> None:
    _orders(market_engine)
    matches = (
        Match("b1", "s1", "owner-b1", "owner-s1", 5, 1000, 5),
        Match("b2", "s1", "owner-b2", "owner-s1", 3, 1000, 3),
        Match("b1", "s1", "owner-b1", "owner-s1", 2, 1000, 2),
    )
    result = ClearingResult(EPOCH, PricingRule.PAY_AS_CLEAR, 1000, 10, 10, matches, (), "", "")
    assert store.save_clearing(market_engine, result, b"{}", encode_result(result), NOW)
    assert store.matches_to_settle(market_engine, EPOCH) == [
        (0, "owner-s1", "owner-b1", 5, 5),
        (1, "owner-s1", "owner-b2", 3, 3),
        (2, "owner-s1", "owner-b1", 2, 2),
    ]

    revoked = "approval_revoked (payment leg, buyer -> seller)"
    first = [_outcome(0, MatchStatus.SETTLED), _outcome(1, MatchStatus.FAILED, revoked)]
    store.record_settlement(market_engine, EPOCH, first, NOW)  # match 2 still pending
    assert _state(market_engine, "b1") == (5, SettlementStatus.PENDING, None)
    assert _state(market_engine, "b2") == (0, SettlementStatus.FAILED, revoked)
    assert _state(market_engine, "s1") == (5, SettlementStatus.FAILED, revoked)

    store.record_settlement(market_engine, EPOCH, [_outcome(2, MatchStatus.SETTLED)], NOW)
    assert _state(market_engine, "b1") == (7, SettlementStatus.SETTLED, None)
    assert _state(market_engine, "s1") == (7, SettlementStatus.FAILED, revoked)
    statuses = [m.status for m in store.matches_of(market_engine, EPOCH)]
    assert statuses == [MatchStatus.SETTLED, MatchStatus.FAILED, MatchStatus.SETTLED]

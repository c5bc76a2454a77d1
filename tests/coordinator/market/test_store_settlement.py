"""Recording settlement outcomes: each order's settled quantity and status rolled up
from all of its epoch's matches, on PostgreSQL and on SQLite (the embedded demo),
and alike in the in-memory store the service tests use."""

import datetime as dt
import json
import secrets
from pathlib import Path

import psycopg
import pytest
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy import text
from sqlalchemy.engine import Engine

from coordinator.db.migrate import upgrade
from coordinator.db.models import SettlementJob
from coordinator.db.session import make_engine
from coordinator.market.records import MatchOutcome, MatchStatus, OrderStatus, SettlementStatus
from coordinator.market.rules import Match, Order, Side
from coordinator.market.rules.canonical import encode_result
from coordinator.market.rules.orders import PricingRule
from coordinator.market.rules.results import ClearingResult
from coordinator.market.sql_store import SqlMarketJobStore, SqlMarketStore
from coordinator.market.store import MarketStore
from programs.jobs import Job
from tests.utils.services import fresh_database, wait_until

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
EPOCH = 7


def _orders(market_store: MarketStore) -> None:
    for order_id, side in (("b1", Side.BUY), ("b2", Side.BUY), ("s1", Side.SELL)):
        order = Order(order_id, f"owner-{order_id}", side, EPOCH, 10, 1000, 0)
        market_store.insert_order(order, status=OrderStatus.OPEN, expires_at=None, now=NOW)


def _outcome(idx: int, status: MatchStatus, error: str | None = None) -> MatchOutcome:
    signature = Signature.new_unique() if status is MatchStatus.SETTLED else None
    return MatchOutcome(idx, status, f"settle:{idx}", signature, error)


def _state(
    market_store: MarketStore, order_id: str
) -> tuple[int, SettlementStatus | None, str | None]:
    order = market_store.get_order(order_id)
    assert order is not None
    return order.settled, order.settlement_status, order.settlement_error


def test_orders_roll_up_settled_failed_and_pending_matches(market_store: MarketStore) -> None:
    _orders(market_store)
    matches = (
        Match("b1", "s1", "owner-b1", "owner-s1", 5, 1000, 5),
        Match("b2", "s1", "owner-b2", "owner-s1", 3, 1000, 3),
        Match("b1", "s1", "owner-b1", "owner-s1", 2, 1000, 2),
    )
    result = ClearingResult(EPOCH, PricingRule.PAY_AS_CLEAR, 1000, 10, 10, matches, (), "", "")
    assert market_store.save_clearing(result, b"{}", encode_result(result), NOW)
    assert market_store.matches_to_settle(EPOCH) == [
        (0, "owner-s1", "owner-b1", 5, 5),
        (1, "owner-s1", "owner-b2", 3, 3),
        (2, "owner-s1", "owner-b1", 2, 2),
    ]

    revoked = "approval_revoked (payment leg, buyer -> seller)"
    first = [_outcome(0, MatchStatus.SETTLED), _outcome(1, MatchStatus.FAILED, revoked)]
    assert EPOCH in market_store.unsettled_epochs()
    market_store.record_settlement(EPOCH, first, NOW)  # match 2 still pending
    assert EPOCH in market_store.unsettled_epochs()
    assert _state(market_store, "b1") == (5, SettlementStatus.PENDING, None)
    assert _state(market_store, "b2") == (0, SettlementStatus.FAILED, revoked)
    assert _state(market_store, "s1") == (5, SettlementStatus.FAILED, revoked)

    market_store.record_settlement(EPOCH, [_outcome(2, MatchStatus.SETTLED)], NOW)
    assert _state(market_store, "b1") == (7, SettlementStatus.SETTLED, None)
    assert _state(market_store, "s1") == (7, SettlementStatus.FAILED, revoked)
    statuses = [m.status for m in market_store.list_matches(epoch=EPOCH)]
    assert statuses == [MatchStatus.SETTLED, MatchStatus.FAILED, MatchStatus.SETTLED]
    assert EPOCH not in market_store.unsettled_epochs()  # nothing left to resume


@pytest.mark.services
def test_settling_a_match_updates_its_row_in_place_on_postgres() -> None:
    """No column settlement writes is indexed and pages keep room: every update of a
    match is heap-only (HOT), adding nothing to any index."""
    with fresh_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        # As real as their sizes go: 20-hex-digit order ids, base58 wallets.
        owners = [str(Pubkey.new_unique()) for _ in range(20)]
        matches = tuple(
            Match(secrets.token_hex(10), secrets.token_hex(10), owners[i % 20],
                  owners[(i + 1) % 20], 5 * 10**9, 31_000, 155_000)
            for i in range(300)
        )  # fmt: skip
        result = ClearingResult(EPOCH, PricingRule.PAY_AS_CLEAR, 1000, 0, 0, matches, (), "", "")
        market_store = SqlMarketStore(engine)
        market_store.save_clearing(result, b"{}", encode_result(result), NOW)
        outcomes = [_outcome(i, MatchStatus.SETTLED) for i in range(300)]  # distinct signatures
        market_store.record_match_outcomes(EPOCH, outcomes)
        engine.dispose()  # a backend reports its statistics as it ends

        def updates() -> tuple[int, int]:
            with psycopg.connect(url.replace("+psycopg", "")) as conn:
                row = conn.execute(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                    "WHERE relname = 'matches'"
                ).fetchone()
            assert row is not None
            return int(row[0]), int(row[1])

        wait_until(lambda: updates()[0] >= 300, timeout=15, what="the updates' statistics")
        assert updates() == (300, 300)


def _epochs_before_0008(engine: Engine) -> None:
    """Epoch 1 fully settled, epoch 2 with a match pending, as revision 0007 kept them."""
    upgrade(engine, "0007_ledger_address_slots")
    clearing = text(
        "INSERT INTO clearings (epoch, inputs, result, inputs_hash, result_hash, pricing, "
        "clearing_price, volume, turnover, order_count, match_count, cleared_at) VALUES "
        "(:e, :b, :b, 'h', 'h', 'pay_as_clear', 1000, 5, 5, 2, 2, :t)"
    )
    match = text(
        "INSERT INTO matches (epoch, idx, buy_order_id, sell_order_id, buyer, seller, "
        "quantity, price, payment, status) VALUES (:e, :i, 'b', 's', 'x', 'y', 5, 1000, 5, :s)"
    )
    with engine.begin() as conn:
        for epoch, statuses in ((1, ("settled", "failed")), (2, ("settled", "pending"))):
            conn.execute(clearing, {"e": epoch, "b": b"{}", "t": NOW})
            for idx, status in enumerate(statuses):
                conn.execute(match, {"e": epoch, "i": idx, "s": status})
    upgrade(engine)


def test_upgrade_keeps_resuming_the_epochs_left_pending(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    _epochs_before_0008(engine)
    assert SqlMarketStore(engine).unsettled_epochs() == [2]


@pytest.mark.services
def test_upgrade_keeps_resuming_the_epochs_left_pending_on_postgres() -> None:
    with fresh_database() as url:
        engine = make_engine(url)
        _epochs_before_0008(engine)
        assert SqlMarketStore(engine).unsettled_epochs() == [2]
        engine.dispose()


@pytest.mark.services
def test_settlement_rows_of_a_few_kilobytes_stay_whole_on_postgres() -> None:
    with fresh_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        jobs = SqlMarketJobStore(engine, SettlementJob)
        wallets = [str(Pubkey.from_bytes(secrets.token_bytes(32))) for _ in range(60)]
        trades = [[i, wallets[2 * i], wallets[2 * i + 1], 10**9 + i, 31_000] for i in range(26)]
        payload = json.dumps({"epoch": EPOCH, "trades": trades})
        jobs.plan([Job(f"settle:{i}", "settle", payload) for i in range(20)])
        jobs.save_many(
            [
                Job(
                    f"settle:{i}",
                    "settle",
                    payload,
                    "sent",
                    Signature.new_unique(),
                    tx=secrets.token_bytes(1100),
                )
                for i in range(20)
            ]
        )
        with engine.connect() as conn:
            toasted = conn.execute(
                text(
                    "SELECT pg_relation_size(reltoastrelid) FROM pg_class "
                    "WHERE relname = 'settlements'"
                )
            ).scalar_one()
        engine.dispose()
    assert len(payload) > 2500
    assert toasted == 0


def test_a_match_failed_on_a_frozen_account_is_parked_with_its_outcome(
    market_store: MarketStore,
) -> None:
    # Its own epoch and orders (the PostgreSQL database is the run's), long past, so
    # that no other test finds its clearing the newest.
    epoch, tag = 1000 + secrets.randbelow(10**6), secrets.token_hex(4)
    for order_id, side in (
        (f"pb1{tag}", Side.BUY),
        (f"pb2{tag}", Side.BUY),
        (f"ps{tag}", Side.SELL),
    ):
        order = Order(order_id, f"owner-{order_id}", side, epoch, 10, 1000, 0)
        market_store.insert_order(order, status=OrderStatus.OPEN, expires_at=None, now=NOW)
    matches = (
        Match(f"pb1{tag}", f"ps{tag}", "owner-b1", "owner-s1", 5, 1000, 5),
        Match(f"pb2{tag}", f"ps{tag}", "owner-b2", "owner-s1", 3, 1000, 3),
    )
    result = ClearingResult(epoch, PricingRule.PAY_AS_CLEAR, 1000, 8, 8, matches, (), "", "")
    assert market_store.save_clearing(result, b"{}", encode_result(result), NOW)
    frozen = _outcome(0, MatchStatus.FAILED, "account_frozen (energy leg, seller -> buyer)")
    revoked = _outcome(1, MatchStatus.FAILED, "approval_revoked (payment leg, buyer -> seller)")
    assert frozen.parked
    assert not revoked.parked
    market_store.record_match_outcomes(epoch, [frozen, revoked])
    market_store.record_settlement(epoch, [frozen, revoked], NOW)  # again: parked once
    parked = [(m.idx, key) for e, m, key in market_store.parked_matches() if e == epoch]
    assert parked == [(0, "settle:0")]
    # Settled after the thaw: no longer parked.
    market_store.record_settlement(epoch, [_outcome(0, MatchStatus.SETTLED)], NOW)
    assert [e for e, _, _ in market_store.parked_matches() if e == epoch] == []
    market_store.resolve_parked(epoch, 0, NOW)

"""The market store's contract, on PostgreSQL, SQLite and in memory alike: orders
placed, opened, cancelled and listed; what owners owe; clearings stored once."""

import datetime as dt
import json
import secrets
from dataclasses import replace

from solders.signature import Signature

from coordinator.market.records import (
    ClearingView,
    MatchOutcome,
    MatchStatus,
    MatchToSettle,
    OrderStatus,
    OrderView,
    SettlementStatus,
)
from coordinator.market.rules import Match, Order, PricingRule, Side
from coordinator.market.rules.canonical import encode_result
from coordinator.market.rules.results import ClearingResult, FillStatus, OrderOutcome
from coordinator.market.store import MarketStore
from programs.jobs import Job

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(minutes=1)


def _utc(t: dt.datetime) -> dt.datetime:
    """SQLite keeps no time zone: its times read back naive, in UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


class Book:
    """Ids, owners and an epoch of this test's own (PostgreSQL is shared by the run)."""

    def __init__(self, store: MarketStore) -> None:
        self.store = store
        self.tag = secrets.token_hex(4)
        self.epoch = 10**6 + secrets.randbelow(10**9)

    def owner(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def place(
        self,
        name: str,
        owner: str,
        side: Side = Side.BUY,
        *,
        status: OrderStatus = OrderStatus.OPEN,
        epoch: int | None = None,
        expires_at: dt.datetime | None = None,
    ) -> str:
        order_id = f"{name}-{self.tag}"
        order = Order(
            order_id, self.owner(owner), side, epoch or self.epoch, 10**6, 1000, 0
        )  # seq 0: the store assigns it
        view = self.store.insert_order(order, status=status, expires_at=expires_at, now=NOW)
        assert (view.order_id, view.status, view.expires_at, view.created_at) == (
            order_id, status, expires_at, NOW,
        )  # fmt: skip
        assert (view.filled, view.settled, view.reason, view.settlement_status) == (
            0,
            0,
            None,
            None,
        )
        return order_id

    def ids(self, orders: list[OrderView]) -> list[str]:
        return [o.order_id for o in orders]


def test_orders_are_numbered_listed_newest_first_and_paged(market_store: MarketStore) -> None:
    book = Book(market_store)
    a = book.place("a", "alice")
    b = book.place("b", "alice", Side.SELL, status=OrderStatus.PENDING)
    c = book.place("c", "alice", epoch=book.epoch + 1)
    book.place("d", "bob")
    seqs = [o.seq for o in market_store.list_orders(owner=book.owner("alice"))][::-1]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 3
    assert market_store.get_order(f"none-{book.tag}") is None

    alice = book.owner("alice")
    assert book.ids(market_store.list_orders(owner=alice)) == [c, b, a]
    assert book.ids(market_store.list_orders(owner=alice, limit=2)) == [c, b]
    assert book.ids(market_store.list_orders(owner=alice, before_seq=seqs[2])) == [b, a]
    assert book.ids(market_store.list_orders(owner=alice, epoch=book.epoch)) == [b, a]
    pending = market_store.list_orders(owner=alice, statuses=[OrderStatus.PENDING])
    assert book.ids(pending) == [b]
    assert market_store.list_orders(owner=alice, statuses=[]) == []
    assert book.ids(market_store.list_orders(epoch=book.epoch)) == [f"d-{book.tag}", b, a]

    assert book.ids(market_store.live_orders(alice)) == [a, b, c]  # oldest first
    assert book.ids(market_store.open_orders_for(book.epoch)) == [a, b, f"d-{book.tag}"]


def test_pending_orders_open_and_live_orders_cancel_once(market_store: MarketStore) -> None:
    book = Book(market_store)
    pending = book.place("p", "alice", status=OrderStatus.PENDING)
    other = book.place("q", "alice", status=OrderStatus.PENDING)
    opened = book.place("o", "alice")
    assert market_store.set_open([pending, opened, f"none-{book.tag}"], LATER) == 1
    assert market_store.set_open([], LATER) == 0
    statuses = {o.order_id: o.status for o in market_store.live_orders(book.owner("alice"))}
    assert statuses == {
        pending: OrderStatus.OPEN,
        other: OrderStatus.PENDING,
        opened: OrderStatus.OPEN,
    }

    assert market_store.cancel_order(pending, book.owner("bob"), LATER) is None  # not bob's
    cancelled = market_store.cancel_order(pending, book.owner("alice"), LATER)
    assert cancelled is not None
    assert cancelled.status is OrderStatus.CANCELLED
    again = market_store.cancel_order(pending, book.owner("alice"), LATER)
    assert again is not None
    assert again.status is OrderStatus.CANCELLED
    assert market_store.cancel_order(f"none-{book.tag}", book.owner("alice"), LATER) is None
    assert book.ids(market_store.live_orders(book.owner("alice"))) == [other, opened]


def _clearing(
    book: Book, matches: tuple[Match, ...], outcomes: tuple[OrderOutcome, ...]
) -> ClearingResult:
    return ClearingResult(
        book.epoch, PricingRule.PAY_AS_CLEAR, 1000, sum(m.quantity for m in matches),
        sum(m.payment for m in matches), matches, outcomes, "ih", "rh",
    )  # fmt: skip


def test_a_clearing_is_stored_once_with_its_outcomes_and_expiries(
    market_store: MarketStore,
) -> None:
    book = Book(market_store)
    b = book.place("b", "alice")
    s = book.place("s", "bob", Side.SELL)
    x = book.place("x", "carol", Side.SELL)
    late = book.place("late", "carol", expires_at=NOW)
    unapproved = book.place("u", "carol", status=OrderStatus.PENDING)
    gone = book.place("gone", "carol")
    market_store.cancel_order(gone, book.owner("carol"), NOW)
    alice, bob = book.owner("alice"), book.owner("bob")
    match = Match(b, s, alice, bob, 10**6, 1000, 1)
    outcomes = (
        OrderOutcome(b, alice, Side.BUY, FillStatus.FILLED, 10**6, 10**6, 10**6, 1, None),
        OrderOutcome(s, bob, Side.SELL, FillStatus.PARTIAL, 10**6, 10**6, 10**6, 1, None),
        OrderOutcome(
            x, book.owner("carol"), Side.SELL, FillStatus.EXCLUDED, 10**6, 0, 0, 0,
            "insufficient_escrow",
        ),
    )  # fmt: skip
    result = _clearing(book, (match,), outcomes)
    expired = {late: "expired", unapproved: "escrow_not_verified", gone: "expired"}

    assert not market_store.is_cleared(book.epoch)
    assert market_store.get_clearing(book.epoch) is None
    assert market_store.save_clearing(result, b"in", encode_result(result), LATER, expired)
    assert not market_store.save_clearing(result, b"other", b"other", LATER, {b: "expired"})
    assert market_store.is_cleared(book.epoch)
    assert market_store.get_clearing_bytes(book.epoch) == (b"in", encode_result(result))
    view = market_store.get_clearing(book.epoch)
    assert view is not None
    assert replace(view, cleared_at=_utc(view.cleared_at)) == ClearingView(
        book.epoch, "ih", "rh", "pay_as_clear", 1000, 10**6, 1, 3, 1, LATER, None, None
    )

    def state(order_id: str) -> tuple[object, ...]:
        o = market_store.get_order(order_id)
        assert o is not None
        return o.status, o.reason, o.eligible, o.filled, o.payment, o.settlement_status

    pending = SettlementStatus.PENDING
    assert state(b) == (OrderStatus.FILLED, None, 10**6, 10**6, 1, pending)
    assert state(s) == (OrderStatus.PARTIAL, None, 10**6, 10**6, 1, pending)
    assert state(x) == (OrderStatus.EXCLUDED, "insufficient_escrow", 0, 0, 0, None)
    assert state(late) == (OrderStatus.EXPIRED, "expired", 0, 0, 0, None)
    assert state(unapproved) == (OrderStatus.EXPIRED, "escrow_not_verified", 0, 0, 0, None)
    assert state(gone) == (OrderStatus.CANCELLED, None, 0, 0, 0, None)  # only live orders expire
    assert market_store.open_orders_for(book.epoch) == []

    assert book.epoch in market_store.unpublished_epochs(limit=10**6)
    market_store.mark_published(book.epoch, LATER)
    assert book.epoch not in market_store.unpublished_epochs(limit=10**6)
    view = market_store.get_clearing(book.epoch)
    assert view is not None
    assert view.published_at is not None
    assert _utc(view.published_at) == LATER


def test_owners_owe_their_pending_matches_until_settled(market_store: MarketStore) -> None:
    book = Book(market_store)
    alice, bob, carol = (book.owner(n) for n in ("alice", "bob", "carol"))
    matches = (
        Match("b1", "s1", alice, bob, 3 * 10**6, 1000, 3),
        Match("b2", "s2", bob, alice, 2 * 10**6, 1000, 2),
        Match("b3", "s3", alice, bob, 5 * 10**6, 1000, 5),
    )
    result = _clearing(book, matches, ())
    assert market_store.save_clearing(result, b"in", encode_result(result), NOW)
    assert market_store.matches_to_settle(book.epoch) == [
        MatchToSettle(0, bob, alice, 3 * 10**6, 3),
        MatchToSettle(1, alice, bob, 2 * 10**6, 2),
        MatchToSettle(2, bob, alice, 5 * 10**6, 5),
    ]
    owed = market_store.owed_by_owner([alice, bob, carol, alice])
    assert {o: (n.energy, n.payment) for o, n in owed.items()} == {
        alice: (2 * 10**6, 8), bob: (8 * 10**6, 2), carol: (0, 0),
    }  # fmt: skip
    assert market_store.owed(alice) == owed[alice]
    assert market_store.owed_by_owner([]) == {}

    signature = Signature.new_unique()
    settled = MatchOutcome(2, MatchStatus.SETTLED, "settle:x", signature, None)
    market_store.record_match_outcomes(book.epoch, [settled])
    assert (market_store.owed(alice).payment, market_store.owed(bob).energy) == (3, 3 * 10**6)
    trades = market_store.list_matches(owner=alice, epoch=book.epoch)
    assert [(t.idx, t.status, t.signature) for t in trades] == [
        (0, MatchStatus.PENDING, None),
        (1, MatchStatus.PENDING, None),
        (2, MatchStatus.SETTLED, str(signature)),
    ]
    assert market_store.list_matches(owner=carol) == []
    assert len(market_store.list_matches(epoch=book.epoch, limit=2)) == 2


def test_chain_jobs_show_as_settlements_and_the_clearing_s_attestation(
    market_store: MarketStore,
) -> None:
    book = Book(market_store)
    result = _clearing(book, (), ())
    assert market_store.save_clearing(result, b"in", encode_result(result), NOW)
    trades = json.dumps({"epoch": book.epoch, "trades": [[0, "s", "b", 1, 1], [1, "s", "b", 1, 1]]})
    settlements = market_store.settlement_jobs()
    keys = [f"settle:epoch:{book.epoch}:batch:{n:06d}" for n in (1, 0)]
    settlements.plan([Job(key, "settle", trades) for key in keys])
    signature = Signature.new_unique()
    settlements.save(Job(keys[1], "settle", trades, "confirmed", signature, slot=7))
    listed = market_store.list_settlements(book.epoch)
    assert [(s.key, s.status, s.signature, s.slot, s.match_indices) for s in listed] == [
        (keys[1], "confirmed", str(signature), 7, (0, 1)),
        (keys[0], "planned", None, None, (0, 1)),
    ]
    assert market_store.list_settlements(book.epoch + 1) == []

    attestations = market_store.attestation_jobs()
    payload = json.dumps({"epoch": book.epoch, "inputs_hash": "ih", "result_hash": "rh"})
    key = f"clearing:epoch:{book.epoch}"
    attestations.plan([Job(key, "clearing", payload)])
    view = market_store.get_clearing(book.epoch)
    assert view is not None
    assert view.attestation_signature is None
    attestations.save(Job(key, "clearing", payload, "confirmed", signature))
    view = market_store.get_clearing(book.epoch)
    assert view is not None
    assert view.attestation_signature == str(signature)
    assert attestations.unfinished(prefix=key) == []

"""Which stored orders enter a clearing, and with what escrow (`rules.snapshot`)."""

import datetime as dt
import random
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from coordinator.market.rules import (
    ClearingInputs,
    Escrow,
    MarketRules,
    Order,
    Side,
    admit,
    encode_inputs,
    escrow_left,
    snapshot,
)
from coordinator.market.rules.orders import PRICE_OUT_OF_BAND
from coordinator.market.rules.snapshot import ACCOUNT_FROZEN, ESCROW_NOT_VERIFIED, EXPIRED
from tests.coordinator.market.rules.books import ALICE, BOB, EPOCH, OWNERS

NOW = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class Stored:
    """A stored live order as the service keeps it (`OrderView` has these fields)."""

    order_id: str
    owner: str
    side: Side
    epoch: int
    quantity: int
    limit_price: int
    seq: int
    expires_at: dt.datetime | None = None
    pending: bool = False

    @property
    def order(self) -> Order:
        return Order(
            self.order_id, self.owner, self.side, self.epoch, self.quantity, self.limit_price,
            self.seq,
        )  # fmt: skip


@dataclass(frozen=True)
class Sides:
    energy: int = 0
    payment: int = 0


def test_an_expired_order_is_expired_even_when_its_escrow_is_unverified() -> None:
    orders = [
        Stored("open", ALICE, Side.BUY, EPOCH, 10**6, 1000, 1),
        Stored("late", ALICE, Side.BUY, EPOCH, 10**6, 1000, 2, expires_at=NOW, pending=True),
        Stored("unapproved", BOB, Side.SELL, EPOCH, 10**6, 1000, 3, pending=True),
        Stored("future", BOB, Side.SELL, EPOCH, 10**6, 1000, 4, expires_at=NOW + SECOND),
    ]
    admitted = admit(orders, NOW)
    assert admitted.live == (orders[0].order, orders[3].order)
    assert admitted.expired == {"late": EXPIRED, "unapproved": ESCROW_NOT_VERIFIED}
    assert admitted.owners == {ALICE, BOB}


def test_a_frozen_owners_orders_are_excluded_as_account_frozen() -> None:
    orders = [
        Stored("open", ALICE, Side.SELL, EPOCH, 10**6, 1000, 1),
        Stored("unapproved", ALICE, Side.SELL, EPOCH, 10**6, 1000, 2, pending=True),
        Stored("late", ALICE, Side.SELL, EPOCH, 10**6, 1000, 3, expires_at=NOW),
        Stored("other", BOB, Side.BUY, EPOCH, 10**6, 1000, 4),
    ]
    admitted = admit(orders, NOW, frozen={ALICE})
    assert admitted.live == (orders[3].order,)
    assert admitted.excluded == {"open": ACCOUNT_FROZEN, "unapproved": ACCOUNT_FROZEN}
    assert admitted.expired == {"late": EXPIRED}
    assert admitted.owners == {BOB}


def test_orders_outside_the_band_in_force_are_excluded_as_price_out_of_band() -> None:
    orders = [
        Stored("cheap", ALICE, Side.SELL, EPOCH, 10**6, 1000, 1),
        Stored("low", ALICE, Side.SELL, EPOCH, 10**6, 2000, 2),
        Stored("high", BOB, Side.BUY, EPOCH, 10**6, 5000, 3),
        Stored("dear", BOB, Side.BUY, EPOCH, 10**6, 6000, 4),
        Stored("late", BOB, Side.BUY, EPOCH, 10**6, 9000, 5, expires_at=NOW),
    ]
    admitted = admit(orders, NOW, band=(2000, 5000))
    assert admitted.live == (orders[1].order, orders[2].order)  # the band is inclusive
    assert admitted.excluded == {"cheap": PRICE_OUT_OF_BAND, "dear": PRICE_OUT_OF_BAND}
    assert admitted.expired == {"late": EXPIRED}
    assert admit(orders[:4], NOW).live == tuple(o.order for o in orders[:4])


def test_escrow_left_is_usable_less_owed_per_side_never_below_zero() -> None:
    usable = {ALICE: Sides(10, 100), BOB: Sides(5, 50)}
    owed = {ALICE: Sides(3, 200)}  # BOB owes nothing: missing
    assert escrow_left(usable, owed) == Escrow(
        energy={ALICE: 7, BOB: 5}, payment={ALICE: 0, BOB: 50}
    )


def test_the_snapshot_is_the_clearing_inputs_of_what_enters() -> None:
    orders = [
        Stored("b", ALICE, Side.BUY, EPOCH, 10**6, 1000, 1),
        Stored("s", BOB, Side.SELL, EPOCH, 10**6, 1000, 2),
        Stored("x", BOB, Side.BUY, EPOCH, 10**6, 1000, 3, pending=True),
    ]
    rules = MarketRules(lot=10**3)
    usable = {ALICE: Sides(0, 10**6), BOB: Sides(10**9, 0)}
    inputs = snapshot(EPOCH, admit(orders, NOW), usable, {BOB: Sides(4, 0)}, rules)
    assert inputs == ClearingInputs(
        EPOCH,
        [orders[0].order, orders[1].order],
        Escrow(energy={BOB: 10**9 - 4}, payment={ALICE: 10**6}),
        rules,
    )


# --- properties -----------------------------------------------------------------

_times = st.one_of(st.none(), st.sampled_from([NOW - SECOND, NOW, NOW + SECOND]))
_stored = st.builds(
    Stored,
    order_id=st.text("abcdef", min_size=1, max_size=4),
    owner=st.sampled_from(OWNERS),
    side=st.sampled_from(Side),
    epoch=st.just(EPOCH),
    quantity=st.integers(1, 10).map(lambda n: n * 10**6),
    limit_price=st.integers(1, 10).map(lambda n: n * 1000),
    seq=st.integers(0, 100),
    expires_at=_times,
    pending=st.booleans(),
)
_books = st.lists(_stored, max_size=12, unique_by=lambda o: o.order_id)
_amounts = st.builds(Sides, st.integers(0, 10**6), st.integers(0, 10**6))
_escrow = st.dictionaries(st.sampled_from(OWNERS), _amounts)


@given(_books)
def test_every_order_enters_or_is_expired_exactly_once(orders: list[Stored]) -> None:
    admitted = admit(orders, NOW)
    live = [o.order_id for o in admitted.live]
    assert sorted(live + list(admitted.expired)) == sorted(o.order_id for o in orders)
    assert not set(live) & set(admitted.expired)
    assert admitted.owners == {o.owner for o in admitted.live}


@given(_books)
def test_an_expired_or_unverified_order_never_enters(orders: list[Stored]) -> None:
    admitted = admit(orders, NOW)
    for o in orders:
        if o.expires_at is not None and o.expires_at <= NOW:
            assert admitted.expired[o.order_id] == EXPIRED
        elif o.pending:
            assert admitted.expired[o.order_id] == ESCROW_NOT_VERIFIED
        else:
            assert o.order in admitted.live  # entered, every field as stored


@given(_escrow, _escrow)
def test_escrow_left_is_never_negative_and_never_more_than_usable(
    usable: dict[str, Sides], owed: dict[str, Sides]
) -> None:
    left = escrow_left(usable, owed)
    assert set(left.energy) == set(left.payment) == set(usable)
    for owner, has in usable.items():
        debt = owed.get(owner, Sides())
        assert left.energy[owner] == max(0, has.energy - debt.energy)
        assert left.payment[owner] == max(0, has.payment - debt.payment)
        assert 0 <= left.energy[owner] <= has.energy
        assert 0 <= left.payment[owner] <= has.payment


@given(_books, _escrow, _escrow, st.randoms(use_true_random=False))
def test_the_snapshot_is_deterministic_whatever_order_the_store_answers_in(
    orders: list[Stored], usable: dict[str, Sides], owed: dict[str, Sides], rnd: random.Random
) -> None:
    shuffled = list(orders)
    rnd.shuffle(shuffled)
    usable_shuffled = dict(reversed(list(usable.items())))
    first = snapshot(EPOCH, admit(orders, NOW), usable, owed, MarketRules())
    again = snapshot(EPOCH, admit(shuffled, NOW), usable_shuffled, owed, MarketRules())
    assert again == first
    assert encode_inputs(again) == encode_inputs(first)
    assert admit(shuffled, NOW).expired == admit(orders, NOW).expired

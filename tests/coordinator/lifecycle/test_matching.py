"""Provenance lots and consumption matching: conservation and each policy."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.lifecycle.matching import (
    Lot,
    MatchingPolicy,
    ShortOfLotsError,
    Window,
    add,
    conserved,
    match_import,
    take,
    total,
    transfer,
)
from coordinator.readings.oracle import EpochCalendar

HOUR_EPOCHS = MatchingPolicy(Window.HOUR, 900)  # four 15-minute epochs an hour

lots = st.lists(
    st.builds(
        Lot,
        st.integers(0, 200),
        st.sampled_from(["g1/m1", "g1/m2", "g2/m1"]),
        st.integers(1, 10_000),
    ),
    max_size=12,
).map(lambda found: add((), found))


@given(lots, st.integers(0, 50_000))
def test_take_is_oldest_first_and_loses_nothing(held: tuple[Lot, ...], units: int) -> None:
    taken, left = take(held, units)
    assert total(taken) == min(units, total(held))
    assert total(taken) + total(left) == total(held)
    if taken and left:
        # Nothing left is older than the newest piece taken, unless that lot was split.
        newest = max((lot.production_epoch, lot.meter) for lot in taken)
        assert all((lot.production_epoch, lot.meter) >= newest for lot in left)


@settings(max_examples=200)
@given(
    st.lists(st.tuples(st.sampled_from("abc"), lots), max_size=6),
    st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("abc"), st.integers(1, 20_000)),
             max_size=10),
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 200), st.integers(0, 20_000),
                       st.integers(0, 20_000)), max_size=10),
    st.sampled_from(list(Window)),
)  # fmt: skip
def test_minted_is_held_plus_retired_at_every_moment(
    mints: list[tuple[str, tuple[Lot, ...]]],
    trades: list[tuple[str, str, int]],
    imports: list[tuple[str, int, int, int]],
    window: Window,
) -> None:
    policy = MatchingPolicy(window, 900)
    held: dict[str, tuple[Lot, ...]] = {}
    minted = retired = 0
    certificates: list[tuple[str, int, Lot]] = []
    for holder, new in mints:
        held[holder] = add(held.get(holder, ()), new)
        minted += total(new)
        assert conserved(minted, held.values(), retired)
    for seller, buyer, units in trades:
        if seller == buyer:
            continue
        before = total(held.get(seller, ()))
        try:
            held[seller], held[buyer] = transfer(held.get(seller, ()), held.get(buyer, ()), units)
        except ShortOfLotsError:
            assert before < units  # refused only when the seller does not hold it
        assert conserved(minted, held.values(), retired)
    for holder, epoch, imported, approved in imports:
        match = match_import(held.get(holder, ()), imported, approved, policy, epoch)
        held[holder] = match.left
        retired += match.matched
        certificates += [(holder, epoch, lot) for lot in match.retired]
        assert match.matched <= min(imported, approved)
        assert match.matched + match.unmatched == imported
        assert all(policy.eligible(lot.production_epoch, epoch) for lot in match.retired)
        assert conserved(minted, held.values(), retired)
    # Every retired unit is in exactly one certificate naming one meter and epochs.
    assert sum(lot.units for _, _, lot in certificates) == retired


def test_a_trade_moves_the_sellers_oldest_lots() -> None:
    seller = add((), [Lot(5, "g/m2", 30), Lot(3, "g/m1", 20)])
    left, bought = transfer(seller, (), 35)
    assert bought == (Lot(3, "g/m1", 20), Lot(5, "g/m2", 15))
    assert left == (Lot(5, "g/m2", 15),)
    with pytest.raises(ShortOfLotsError):
        transfer(left, (), 16)


def _epoch(at: str) -> int:
    return int(dt.datetime.fromisoformat(at).timestamp()) // 900


def test_same_hour_policy_matches_only_that_hours_production() -> None:
    consumption = _epoch("2026-12-04T10:45:00+00:00")
    held = add((), [
        Lot(_epoch("2026-12-04T09:45:00+00:00"), "g/m", 100),  # the hour before
        Lot(_epoch("2026-12-04T10:00:00+00:00"), "g/m", 40),
        Lot(_epoch("2026-12-04T10:30:00+00:00"), "g/m", 40),
        Lot(_epoch("2026-12-04T11:00:00+00:00"), "g/m", 100),  # after: never
    ])  # fmt: skip
    match = match_import(held, 100, 1_000, HOUR_EPOCHS, consumption)
    assert match.matched == 80
    assert match.unmatched == 20
    assert {lot.production_epoch for lot in match.retired} == {consumption - 3, consumption - 1}
    assert total(match.left) == 200


def test_same_day_and_banked_policies() -> None:
    consumption = _epoch("2026-12-04T10:45:00+00:00")
    yesterday = _epoch("2026-12-03T23:45:00+00:00")
    morning = _epoch("2026-12-04T00:00:00+00:00")
    held = add((), [Lot(yesterday, "g/m", 50), Lot(morning, "g/m", 50)])
    day = match_import(held, 80, 80, MatchingPolicy(Window.DAY, 900), consumption)
    assert day.matched == 50
    assert day.retired == (Lot(morning, "g/m", 50),)
    banked = match_import(held, 80, 80, MatchingPolicy(Window.BANKED, 900), consumption)
    assert banked.retired == (Lot(yesterday, "g/m", 50), Lot(morning, "g/m", 30))


def test_approval_bounds_the_burn_and_is_reported_short() -> None:
    held = (Lot(1, "g/m", 100),)
    policy = MatchingPolicy(Window.BANKED, 900)
    none = match_import(held, 60, 0, policy, 2)
    assert none.matched == 0
    assert none.short_of_approval == 60
    assert none.left == held
    part = match_import(held, 60, 25, policy, 2)
    assert part.matched == 25
    assert part.short_of_approval == 35
    full = match_import(held, 60, 1_000, policy, 2)
    assert full.matched == 60
    assert full.short_of_approval == 0


def test_hour_and_day_windows_follow_the_calendar_across_a_length_change() -> None:
    # 900 s epochs, then 300 s ones from 10:00 (the governed epoch length): epoch
    # numbers past the change no longer count quarter hours.
    change = _epoch("2026-12-04T10:00:00+00:00")
    calendar = EpochCalendar.uniform(900).with_length(change, 300)
    assert calendar.start(change + 11) == _ts("2026-12-04T10:55:00+00:00")
    held = add((), [
        Lot(change - 1, "g/m", 100),  # 09:45, the hour before
        Lot(change, "g/m", 40),  # 10:00
        Lot(change + 6, "g/m", 40),  # 10:30
        Lot(change + 12, "g/m", 100),  # 11:00: after the consumption, never
    ])  # fmt: skip
    hour = match_import(held, 100, 1_000, MatchingPolicy(Window.HOUR, calendar), change + 11)
    assert {lot.production_epoch for lot in hour.retired} == {change, change + 6}
    assert hour.matched == 80
    # By the length alone, change + 11 would be 12:45, and 10:00's lot another hour.
    uniform = match_import(held, 100, 1_000, MatchingPolicy(Window.HOUR, 900), change + 11)
    assert uniform.matched == 0

    # Hour-long epochs from 20:00: the fifth of them is the next day.
    evening = _epoch("2026-12-04T20:00:00+00:00")
    hourly = EpochCalendar.uniform(900).with_length(evening, 3600)
    day = MatchingPolicy(Window.DAY, hourly)
    assert hourly.start(evening + 4) == _ts("2026-12-05T00:00:00+00:00")
    assert day.eligible(evening - 1, evening + 3)  # 19:45 and 23:00, the same day
    assert not day.eligible(evening + 3, evening + 4)  # 23:00, then midnight
    assert MatchingPolicy(Window.DAY, 900).eligible(evening + 3, evening + 4)  # 20:45, 21:00


def _ts(at: str) -> int:
    return int(dt.datetime.fromisoformat(at).timestamp())

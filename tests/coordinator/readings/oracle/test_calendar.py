"""The epoch calendar: numbering with length changes, and energy split at its boundaries."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.readings.oracle import (
    EpochCalendar,
    MeterState,
    Segment,
    epoch_span,
    interval_energy,
    split_pro_rata,
)

LENGTHS = st.sampled_from([10, 20, 30, 60, 300, 900, 3600])


@st.composite
def calendars(draw: st.DrawFn) -> EpochCalendar:
    """A uniform calendar with up to three length changes at increasing epochs."""
    calendar = EpochCalendar.uniform(draw(LENGTHS))
    epoch = draw(st.integers(0, 10**6))
    for _ in range(draw(st.integers(0, 3))):
        calendar = calendar.with_length(epoch, draw(LENGTHS))
        epoch += draw(st.integers(1, 1000))
    return calendar


def test_a_length_change_keeps_earlier_epochs_and_starts_at_the_boundary() -> None:
    calendar = EpochCalendar.uniform(60).with_length(100, 300)
    assert calendar.segments == (Segment(0, 0, 60), Segment(100, 6000, 300))
    assert [calendar.start(e) for e in (99, 100, 101)] == [5940, 6000, 6300]
    assert [calendar.epoch_of(t) for t in (5999, 6000, 6299, 6300)] == [99, 100, 100, 101]
    assert (calendar.length(99), calendar.length(100), calendar.end(100)) == (60, 300, 6300)
    assert epoch_span(100, calendar) == "1970-01-01 01:40:00\u201301:45:00 UTC"
    # A later change from an earlier epoch replaces what it covers.
    again = calendar.with_length(50, 30)
    assert again.segments == (Segment(0, 0, 60), Segment(50, 3000, 30))
    # The same length again is no boundary.
    assert calendar.with_length(200, 300) == calendar


def test_inconsistent_segments_are_refused() -> None:
    with pytest.raises(ValueError, match="does not continue"):
        EpochCalendar((Segment(0, 0, 60), Segment(100, 6001, 300)))
    with pytest.raises(ValueError, match="positive"):
        Segment(0, 0, 0)


@given(calendars(), st.integers(-(10**9), 10**10))
def test_each_instant_is_in_the_epoch_whose_span_holds_it(calendar: EpochCalendar, ts: int) -> None:
    epoch = calendar.epoch_of(ts)
    assert calendar.start(epoch) <= ts < calendar.end(epoch)


@given(calendars(), st.integers(-(10**6), 2 * 10**6))
def test_epochs_are_contiguous_and_start_is_inverted_by_epoch_of(
    calendar: EpochCalendar, epoch: int
) -> None:
    assert calendar.epoch_of(calendar.start(epoch)) == epoch
    assert calendar.end(epoch) == calendar.start(epoch + 1)
    assert calendar.length(epoch) > 0


@given(calendars(), st.integers(0, 10**10), st.integers(0, 10**10))
def test_numbering_is_monotone(calendar: EpochCalendar, a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert calendar.epoch_of(low) <= calendar.epoch_of(high)


@given(LENGTHS, LENGTHS, st.integers(1, 10**6), st.integers(0, 10**10))
def test_numbering_before_a_change_is_the_old_one(
    old: int, new: int, from_epoch: int, ts: int
) -> None:
    calendar = EpochCalendar.uniform(old).with_length(from_epoch, new)
    if ts < from_epoch * old:
        assert calendar.epoch_of(ts) == ts // old
    else:
        assert calendar.epoch_of(ts) == from_epoch + (ts - from_epoch * old) // new
    assert calendar.start(from_epoch - 1) == (from_epoch - 1) * old


@given(
    calendars(),
    st.integers(0, 10**7),
    st.integers(0, 10**10),
    st.integers(1, 10**5),
    st.none() | st.integers(0, 2 * 10**6),
)
def test_energy_split_at_the_calendars_boundaries_is_conserved(
    calendar: EpochCalendar, amount: int, start: int, span: int, first_open: int | None
) -> None:
    parts = split_pro_rata(amount, start, start + span, calendar, first_open)
    assert sum(wh for _, wh in parts) == amount
    assert all(wh >= 0 for _, wh in parts)
    epochs = [e for e, _ in parts]
    assert epochs == sorted(set(epochs))
    if first_open is None:
        assert epochs == list(
            range(calendar.epoch_of(start), calendar.epoch_of(start + span - 1) + 1)
        )


def test_an_interval_across_a_length_change_is_split_by_time_in_each_epoch() -> None:
    # 60 s epochs, then 300 s from epoch 100 (starting at 6000).
    calendar = EpochCalendar.uniform(60).with_length(100, 300)
    parts = interval_energy(MeterState(5970, 0, 0), MeterState(6330, 0, 360), calendar)
    # 30 s in epoch 99, 300 s in epoch 100, 30 s in epoch 101: 1 Wh a second.
    assert [(p.epoch, p.export_wh) for p in parts] == [(99, 30), (100, 300), (101, 30)]
    # By the old numbering alone, the same interval would be cut in 60 s epochs.
    uniform = interval_energy(MeterState(5970, 0, 0), MeterState(6330, 0, 360), 60)
    assert len(uniform) == 7

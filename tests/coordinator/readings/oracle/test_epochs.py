from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.readings.oracle.epochs import (
    EPOCH_LENGTH_S,
    AcceptedPoint,
    EpochEnergy,
    accounting_epoch,
    epoch_of,
    epoch_span,
    epoch_start,
    interval_energy,
    merge_epochs,
    meter_epoch_energy,
    split_pro_rata,
)
from coordinator.readings.oracle.records import MeterState

# 2025-11-25T00:00:00Z, a UTC quarter hour.
T0 = 1_764_028_800


def test_epochs_are_utc_quarter_hours() -> None:
    assert EPOCH_LENGTH_S == 900
    assert epoch_start(epoch_of(T0)) == T0
    assert epoch_of(T0 + 899) == epoch_of(T0)
    assert epoch_of(T0 + 900) == epoch_of(T0) + 1
    assert epoch_of(T0 + 59, 60) == T0 // 60
    with pytest.raises(ValueError, match="positive"):
        epoch_of(T0, 0)


def test_docstring_example_split() -> None:
    assert split_pro_rata(1000, 800, 2000, 900) == [(0, 83), (1, 750), (2, 167)]


def test_docstring_example_late() -> None:
    assert split_pro_rata(1000, 800, 2000, 900, first_open_epoch=1) == [(1, 833), (2, 167)]
    assert split_pro_rata(1000, 800, 2000, 900, first_open_epoch=3) == [(3, 1000)]


def test_docstring_example_reset() -> None:
    points = [
        AcceptedPoint(MeterState(0, 5_000_000, 0)),
        AcceptedPoint(MeterState(600, 3, 0), meter_reset=True),
        AcceptedPoint(MeterState(1200, 50, 0)),
    ]
    assert meter_epoch_energy(points, 900) == [EpochEnergy(0, 23, 0), EpochEnergy(1, 24, 0)]


def test_interval_ending_on_a_boundary_stays_in_its_epoch() -> None:
    assert split_pro_rata(10, 800, 900, 900) == [(0, 10)]
    assert split_pro_rata(10, 900, 1000, 900) == [(1, 10)]


def test_interval_energy_splits_import_and_export() -> None:
    parts = interval_energy(MeterState(800, 0, 0), MeterState(2000, 1200, 12), 900)
    assert parts == [EpochEnergy(0, 100, 1), EpochEnergy(1, 900, 9), EpochEnergy(2, 200, 2)]


def test_invalid_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="positive length"):
        split_pro_rata(1, 10, 10)
    with pytest.raises(ValueError, match="non-negative"):
        split_pro_rata(-1, 0, 10)
    with pytest.raises(ValueError, match="increasing time"):
        interval_energy(MeterState(10, 0, 0), MeterState(10, 1, 0))
    with pytest.raises(ValueError, match="non-negative"):
        interval_energy(MeterState(10, 5, 0), MeterState(20, 1, 0))


def test_accounting_epoch_of_late_readings() -> None:
    assert accounting_epoch(1000, 900) == 1
    assert accounting_epoch(1000, 900, first_open_epoch=1) == 1
    assert accounting_epoch(1000, 900, first_open_epoch=4) == 4


def test_merge_sums_per_epoch() -> None:
    merged = merge_epochs([EpochEnergy(2, 1, 2), EpochEnergy(1, 5, 0), EpochEnergy(2, 3, 4)])
    assert merged == [EpochEnergy(1, 5, 0), EpochEnergy(2, 4, 6)]


lengths = st.sampled_from([60, 300, 900, 3600])


@given(
    amount=st.integers(0, 10**12),
    start=st.integers(0, 10**10),
    span=st.integers(1, 10 * 86400),
    length=lengths,
)
def test_split_conserves_energy_and_is_fair(
    amount: int, start: int, span: int, length: int
) -> None:
    end = start + span
    parts = split_pro_rata(amount, start, end, length)
    assert sum(wh for _, wh in parts) == amount
    assert all(wh >= 0 for _, wh in parts)
    epochs = [e for e, _ in parts]
    assert epochs == list(range(epoch_of(start, length), epoch_of(end - 1, length) + 1))
    for epoch, wh in parts:
        lo = max(start, epoch_start(epoch, length))
        hi = min(end, epoch_start(epoch + 1, length))
        exact = amount * (hi - lo)  # the fair share, times span
        # Within one Wh of the exact pro-rata share.
        assert exact - span < wh * span < exact + span
    assert split_pro_rata(amount, start, end, length) == parts  # deterministic


@given(
    amount=st.integers(0, 10**12),
    start=st.integers(0, 10**8),
    span=st.integers(1, 10 * 86400),
    length=lengths,
    open_offset=st.integers(-5, 2000),
)
def test_closed_epoch_parts_move_to_the_first_open_one(
    amount: int, start: int, span: int, length: int, open_offset: int
) -> None:
    end = start + span
    first_open = epoch_of(start, length) + open_offset
    parts = split_pro_rata(amount, start, end, length, first_open)
    assert sum(wh for _, wh in parts) == amount
    assert all(wh >= 0 for _, wh in parts)
    assert all(epoch >= first_open for epoch, _ in parts)
    assert len({e for e, _ in parts}) == len(parts)
    # Open epochs get exactly what they get without any closing.
    plain = dict(split_pro_rata(amount, start, end, length))
    for epoch, wh in parts:
        if epoch > first_open:
            assert wh == plain[epoch]


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[AcceptedPoint], int, int]:
    """A meter's accepted readings: increasing time, counters up except at resets,
    and a first open epoch that only moves forward. Returns them, the epoch
    length and the energy they must add up to."""
    length = draw(lengths)
    ts = draw(st.integers(0, 10**9))
    imp, exp = draw(st.integers(0, 10**9)), draw(st.integers(0, 10**9))
    first_open: int | None = None
    points = [AcceptedPoint(MeterState(ts, imp, exp))]
    expected = 0
    for _ in range(draw(st.integers(0, 25))):
        ts += draw(st.integers(1, 3 * length))
        if draw(st.booleans()) and draw(st.booleans()):
            first_open = max(first_open or 0, epoch_of(ts, length) + draw(st.integers(-3, 1)))
        if draw(st.integers(0, 9)) == 0:
            imp, exp = draw(st.integers(0, 1000)), draw(st.integers(0, 1000))
            points.append(AcceptedPoint(MeterState(ts, imp, exp), True, first_open))
            continue
        d_imp, d_exp = draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))
        imp, exp = imp + d_imp, exp + d_exp
        expected += d_imp + d_exp
        points.append(AcceptedPoint(MeterState(ts, imp, exp), False, first_open))
    return points, length, expected


@given(histories())
def test_meter_history_conserves_energy(history: tuple[list[AcceptedPoint], int, int]) -> None:
    points, length, expected = history
    per_epoch = meter_epoch_energy(points, length)
    assert sum(e.import_wh + e.export_wh for e in per_epoch) == expected
    assert all(e.import_wh >= 0 and e.export_wh >= 0 for e in per_epoch)
    assert [e.epoch for e in per_epoch] == sorted({e.epoch for e in per_epoch})
    assert meter_epoch_energy(points, length) == per_epoch


@given(histories())
def test_incremental_assignment_equals_batch(history: tuple[list[AcceptedPoint], int, int]) -> None:
    # Ingest adds each interval's parts as its closing reading is accepted;
    # the running sums must equal the batch recomputation.
    points, length, _ = history
    running: list[EpochEnergy] = []
    for previous, current in pairwise(points):
        if not current.meter_reset:
            running = merge_epochs(
                running
                + interval_energy(previous.state, current.state, length, current.first_open_epoch)
            )
    assert running == meter_epoch_energy(points, length)


@given(
    start=st.integers(0, 10**8),
    span=st.integers(1, 4000),
    imports=st.tuples(st.integers(0, 10**9), st.integers(0, 10**6)),
    exports=st.tuples(st.integers(0, 10**9), st.integers(0, 10**6)),
    length=lengths,
    open_offset=st.none() | st.integers(-3, 3),
)
def test_interval_energy_is_the_split_of_each_counter(
    start: int,
    span: int,
    imports: tuple[int, int],
    exports: tuple[int, int],
    length: int,
    open_offset: int | None,
) -> None:
    """interval_energy (with its shortcut for an interval inside one open epoch) is
    exactly split_pro_rata of the import and of the export delta, zipped."""
    end = start + span
    first_open = None if open_offset is None else max(0, epoch_of(start, length) + open_offset)
    before = MeterState(start, imports[0], exports[0])
    after = MeterState(end, imports[0] + imports[1], exports[0] + exports[1])
    imp = split_pro_rata(imports[1], start, end, length, first_open)
    exp = split_pro_rata(exports[1], start, end, length, first_open)
    expected = [EpochEnergy(e, i, x) for (e, i), (_, x) in zip(imp, exp, strict=True)]
    assert interval_energy(before, after, length, first_open) == expected


def test_epoch_span_names_the_utc_start_and_end() -> None:
    quarter = epoch_of(1_764_072_000, 900)  # 2025-11-25 12:00 UTC
    assert epoch_span(quarter, 900) == "2025-11-25 12:00:00\u201312:15:00 UTC"
    assert epoch_span(quarter, 900, date=False) == "12:00:00\u201312:15:00 UTC"
    last = epoch_of(1_764_115_200, 900) - 1  # the quarter before midnight
    assert epoch_span(last, 900) == "2025-11-25 23:45:00\u20132025-11-26 00:00:00 UTC"

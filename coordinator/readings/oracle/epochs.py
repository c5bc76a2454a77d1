"""Epochs and the energy each meter registered in them, exactly, in integer Wh.

Epochs
------
An epoch is a fixed span of `length_s` seconds (900 in production, e.g. 60 for
demos) counted from the Unix epoch, so 900-second epochs are the UTC quarter
hours. Epoch `n` covers `[n * length_s, (n + 1) * length_s)`;
`epoch_of(ts) == ts // length_s`.

Energy of an interval
---------------------
Readings carry cumulative counters. The energy between two consecutive
accepted readings of a meter (`previous` at t0, `current` at t1) is the
counter difference, split over the epochs the interval covers in proportion
to the time it spends in each, by the cumulative-floor method: with
`cum(t) = delta * (t - t0) // (t1 - t0)`, the part of the epoch ending at
boundary `b` is `cum(b) - cum(previous boundary)`. Parts are integers, never
negative, and always sum to `delta`: energy is conserved, nothing is lost to
rounding. Import and export are split independently.

    length 900; previous ts 800, current ts 2000; export delta 1000 Wh
    epoch 0 [800, 900)    cum(900)  = 1000 * 100 // 1200  =  83  -> 83 Wh
    epoch 1 [900, 1800)   cum(1800) = 1000 * 1000 // 1200 = 833  -> 750 Wh
    epoch 2 [1800, 2000)  cum(2000) = 1000                       -> 167 Wh

A reading flagged `meter_reset` starts a new baseline: no energy is counted
between it and the reading before it.

    ts 0 import 5,000,000; ts 600 import 3 (meter_reset); ts 1200 import 50
    -> nothing for 0..600; 47 Wh over 600..1200: epoch 0 gets 47*300//600 = 23,
       epoch 1 gets 24.

Late energy
-----------
An epoch closes (its totals are computed, minted and attested) some grace
period after it ends; `first_open_epoch` is then the lowest epoch not yet
closed. Energy is assigned when the reading that ends its interval is
accepted: a part that falls in a closed epoch goes to `first_open_epoch`
instead. Closed epochs are never recomputed, so nothing is counted twice, and
every part lands somewhere, so nothing is lost.

    the example above, current reading accepted when epoch 0 is closed
    (first_open_epoch = 1): epoch 1 gets 83 + 750 = 833 Wh, epoch 2 gets 167.
    accepted when epochs 0-2 are closed (first_open_epoch = 3): epoch 3 gets
    all 1000 Wh.

The reading itself is attested in the Merkle tree of its `accounting_epoch`,
`max(epoch_of(ts), first_open_epoch)`: the epoch whose close it took part in.
Readings of one meter are accepted in increasing time (`stale_reading`), so a
late reading can only extend a meter's history, never splice into it.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from coordinator.readings.oracle.records import MeterState

__all__ = [
    "EPOCH_LENGTH_S",
    "AcceptedPoint",
    "EpochEnergy",
    "accounting_epoch",
    "epoch_of",
    "epoch_span",
    "epoch_start",
    "interval_energy",
    "merge_epochs",
    "meter_epoch_energy",
    "split_pro_rata",
]

EPOCH_LENGTH_S = 900


@dataclass(frozen=True, slots=True)
class EpochEnergy:
    """A meter's energy (Wh) attributed to one epoch."""

    epoch: int
    import_wh: int
    export_wh: int


@dataclass(frozen=True, slots=True)
class AcceptedPoint:
    """An accepted reading as the energy accounting sees it: its counters,
    whether it was flagged `meter_reset`, and the lowest open epoch when it
    was accepted (None: no epoch was closed yet)."""

    state: MeterState
    meter_reset: bool = False
    first_open_epoch: int | None = None


def _check_length(length_s: int) -> None:
    if length_s <= 0:
        raise ValueError(f"epoch length must be positive, got {length_s}")


def epoch_of(ts: int, length_s: int = EPOCH_LENGTH_S) -> int:
    """The epoch containing instant `ts` (seconds since the Unix epoch, UTC)."""
    _check_length(length_s)
    return ts // length_s


def epoch_start(epoch: int, length_s: int = EPOCH_LENGTH_S) -> int:
    """The first second of `epoch`; it ends (exclusive) at `epoch_start(epoch + 1)`."""
    _check_length(length_s)
    return epoch * length_s


def epoch_span(epoch: int, length_s: int, *, date: bool = True) -> str:
    """`epoch`'s UTC start-end for people: ``2026-12-04 21:15:40–21:16:00 UTC``
    (without the date when `date` is false; the end's date when it differs).
    An epoch beyond the calendar's years (an order's epoch is the user's word)
    is shown by its number."""
    try:
        start = dt.datetime.fromtimestamp(epoch_start(epoch, length_s), dt.UTC)
        end = start + dt.timedelta(seconds=length_s)
    except (OverflowError, ValueError, OSError):
        return f"epoch {epoch}"
    end_text = end.strftime("%Y-%m-%d %H:%M:%S" if date and end.date() != start.date()
                            else "%H:%M:%S")  # fmt: skip
    start_text = start.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    return f"{start_text}\u2013{end_text} UTC"


def accounting_epoch(
    ts: int, length_s: int = EPOCH_LENGTH_S, first_open_epoch: int | None = None
) -> int:
    """The epoch a reading accepted while `first_open_epoch` was open counts in."""
    epoch = epoch_of(ts, length_s)
    return epoch if first_open_epoch is None else max(epoch, first_open_epoch)


def _segments(
    start: int, end: int, length_s: int, first_open_epoch: int | None
) -> list[tuple[int, int]]:
    # (epoch, segment end) for each epoch the interval [start, end) is counted
    # in, time in closed epochs folded into the first open one.
    first = start // length_s
    last = (end - 1) // length_s
    low = first if first_open_epoch is None else max(first, first_open_epoch)
    if low > last:
        return [(low, end)]
    return [(epoch, min((epoch + 1) * length_s, end)) for epoch in range(low, last + 1)]


def split_pro_rata(
    amount: int,
    start: int,
    end: int,
    length_s: int = EPOCH_LENGTH_S,
    first_open_epoch: int | None = None,
) -> list[tuple[int, int]]:
    """Split `amount` Wh registered over `(start, end]` into `(epoch, Wh)`
    parts by time, exactly (module doc); parts for closed epochs (below
    `first_open_epoch`) go to `first_open_epoch`. Every epoch counted gets a
    part, possibly 0. Ordered by epoch; the parts sum to `amount`."""
    _check_length(length_s)
    if amount < 0:
        raise ValueError(f"amount must be non-negative, got {amount}")
    if end <= start:
        raise ValueError(f"interval must have positive length, got {start}..{end}")
    span = end - start
    parts: list[tuple[int, int]] = []
    done = 0
    for epoch, seg_end in _segments(start, end, length_s, first_open_epoch):
        cumulative = amount * (seg_end - start) // span
        parts.append((epoch, cumulative - done))
        done = cumulative
    return parts


def interval_energy(
    previous: MeterState,
    current: MeterState,
    length_s: int = EPOCH_LENGTH_S,
    first_open_epoch: int | None = None,
) -> list[EpochEnergy]:
    """The energy between two consecutive accepted readings of a meter (not
    across a meter reset), per epoch, ordered by epoch (see `split_pro_rata`)."""
    if current.ts <= previous.ts:
        raise ValueError("readings must be in increasing time")
    _check_length(length_s)
    epoch = previous.ts // length_s
    if (current.ts - 1) // length_s == epoch and (first_open_epoch or 0) <= epoch:
        # Within one open epoch (nearly every interval): all of it there, as the
        # split below would give, without its arithmetic.
        imp = current.import_wh - previous.import_wh
        exp = current.export_wh - previous.export_wh
        if imp >= 0 and exp >= 0:
            return [EpochEnergy(epoch, imp, exp)]
    imports = split_pro_rata(
        current.import_wh - previous.import_wh, previous.ts, current.ts, length_s, first_open_epoch
    )
    exports = split_pro_rata(
        current.export_wh - previous.export_wh, previous.ts, current.ts, length_s, first_open_epoch
    )
    return [
        EpochEnergy(epoch, imp, exp)
        for (epoch, imp), (_, exp) in zip(imports, exports, strict=True)
    ]


def merge_epochs(parts: Iterable[EpochEnergy]) -> list[EpochEnergy]:
    """Sum parts per epoch, ordered by epoch."""
    totals: dict[int, tuple[int, int]] = {}
    for part in parts:
        imp, exp = totals.get(part.epoch, (0, 0))
        totals[part.epoch] = (imp + part.import_wh, exp + part.export_wh)
    return [EpochEnergy(epoch, imp, exp) for epoch, (imp, exp) in sorted(totals.items())]


def meter_epoch_energy(
    points: Sequence[AcceptedPoint], length_s: int = EPOCH_LENGTH_S
) -> list[EpochEnergy]:
    """A meter's energy per epoch from its accepted readings in acceptance
    order (which is time order), resets and late arrivals included."""
    parts: list[EpochEnergy] = []
    for previous, current in pairwise(points):
        if current.meter_reset:
            if current.state.ts <= previous.state.ts:
                raise ValueError("readings must be in increasing time")
            continue
        parts.extend(
            interval_energy(previous.state, current.state, length_s, current.first_open_epoch)
        )
    return merge_epochs(parts)

"""The epoch calendar: which instants each epoch number covers, length changes included.

Pure: no I/O, no clock.

A calendar is a list of segments, each `(first_epoch, start, length_s)`: from
epoch `first_epoch` on, epochs are `length_s` seconds long and `first_epoch`
starts at Unix second `start`. The first segment extends backwards too, so the
default calendar, the single segment `(0, 0, length_s)`, numbers epochs
`ts // length_s` (900-second epochs are the UTC quarter hours). A length change
"from epoch N, L seconds" keeps every epoch before N as it was and starts a
segment at N's boundary:

    uniform 60; change from epoch 100 to 300 s
    segments (0, 0, 60), (100, 6000, 300)
    epoch 99 is [5940, 6000), epoch 100 [6000, 6300), epoch 101 [6300, 6600)

Epoch numbers stay contiguous and increasing in time; each instant is in
exactly one epoch.
"""

import bisect
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["EpochCalendar", "Epochs", "Segment", "calendar_of"]


@dataclass(frozen=True, slots=True)
class Segment:
    """From epoch `first_epoch` on (until the next segment), `length_s`-second
    epochs, the first of them starting at `start`."""

    first_epoch: int
    start: int
    length_s: int

    def __post_init__(self) -> None:
        if self.length_s <= 0:
            raise ValueError(f"epoch length must be positive, got {self.length_s}")


@dataclass(frozen=True, slots=True)
class EpochCalendar:
    """Segments in increasing `first_epoch` (and so increasing `start`), at least one."""

    segments: tuple[Segment, ...]

    def __post_init__(self) -> None:
        if not self.segments:
            raise ValueError("a calendar has at least one segment")
        for before, after in zip(self.segments, self.segments[1:], strict=False):
            expected = before.start + (after.first_epoch - before.first_epoch) * before.length_s
            if after.first_epoch <= before.first_epoch or after.start != expected:
                raise ValueError(f"segment {after} does not continue {before}")

    @staticmethod
    def uniform(length_s: int) -> "EpochCalendar":
        """Epoch `n` is `[n * length_s, (n + 1) * length_s)`."""
        return _uniform(length_s)

    def with_length(self, from_epoch: int, length_s: int) -> "EpochCalendar":
        """This calendar with epochs from `from_epoch` on `length_s` seconds long
        (later segments dropped: they are replaced by the new one)."""
        kept = tuple(s for s in self.segments if s.first_epoch < from_epoch)
        new = Segment(from_epoch, self.start(from_epoch), length_s)
        if kept and kept[-1].length_s == length_s:
            return EpochCalendar(kept)  # no boundary: the length does not change
        return EpochCalendar((*kept, new))

    @property
    def uniform_length(self) -> int | None:
        """The length of every epoch, when there is a single segment."""
        return self.segments[0].length_s if len(self.segments) == 1 else None

    def _by_epoch(self, epoch: int) -> Segment:
        if len(self.segments) == 1:  # nearly always: no search on the ingest path
            return self.segments[0]
        i = bisect.bisect_right(self.segments, epoch, key=lambda s: s.first_epoch) - 1
        return self.segments[max(i, 0)]

    def epoch_of(self, ts: int) -> int:
        """The epoch containing instant `ts` (Unix seconds)."""
        if len(self.segments) == 1:
            seg = self.segments[0]
        else:
            i = bisect.bisect_right(self.segments, ts, key=lambda s: s.start) - 1
            seg = self.segments[max(i, 0)]
        return seg.first_epoch + (ts - seg.start) // seg.length_s

    def start(self, epoch: int) -> int:
        """The first second of `epoch`."""
        seg = self._by_epoch(epoch)
        return seg.start + (epoch - seg.first_epoch) * seg.length_s

    def end(self, epoch: int) -> int:
        """The first second after `epoch`: the start of `epoch + 1`."""
        return self.start(epoch) + self.length(epoch)

    def length(self, epoch: int) -> int:
        """How many seconds `epoch` lasts."""
        return self._by_epoch(epoch).length_s


@lru_cache(maxsize=64)
def _uniform(length_s: int) -> EpochCalendar:
    return EpochCalendar((Segment(0, 0, length_s),))


# What the epoch functions accept: a fixed length in seconds (a uniform calendar),
# or a calendar.
Epochs = int | EpochCalendar


def calendar_of(epochs: Epochs) -> EpochCalendar:
    """`epochs` as a calendar."""
    if isinstance(epochs, EpochCalendar):
        return epochs
    if epochs <= 0:
        raise ValueError(f"epoch length must be positive, got {epochs}")
    return _uniform(epochs)

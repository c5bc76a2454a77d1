"""Provenance lots and consumption matching: pure.

Every energy token a user holds came from one meter's verified export in one epoch.
A user's holding is a list of lots (production epoch, meter, base units), oldest
first; the lots of all holders always add up to what was minted less what was
retired (`conserved`), because lots change only by:

- a mint (`add`): the epoch's grant, one lot per exporting meter;
- a settled trade (`transfer`): the seller's oldest lots move to the buyer;
- a retirement (`match_import`): the oldest lots the campus policy lets meet the
  consumer's metered import in an epoch, no more than the user has approved,
  leave the holding and become certificates.

Quantities are energy-token base units (1 Wh = 10^6).
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from coordinator.readings.oracle.calendar import Epochs, calendar_of
from coordinator.readings.oracle.epochs import epoch_start

__all__ = [
    "Lot",
    "Lots",
    "Match",
    "MatchingPolicy",
    "ShortOfLotsError",
    "Window",
    "add",
    "conserved",
    "match_import",
    "take",
    "total",
    "transfer",
]


class ShortOfLotsError(ValueError):
    """A holder's lots do not cover what is to be taken from them."""


@dataclass(frozen=True, slots=True, order=True)
class Lot:
    """Base units of one meter's export in one epoch, as held by someone. Ordered
    oldest first (production epoch, then meter)."""

    production_epoch: int
    meter: str  # "<gateway id>/<meter id>"
    units: int

    def __post_init__(self) -> None:
        if self.units <= 0:
            raise ValueError("a lot holds a positive quantity")


Lots = tuple[Lot, ...]


def total(lots: Iterable[Lot]) -> int:
    return sum(lot.units for lot in lots)


def add(held: Sequence[Lot], new: Iterable[Lot]) -> Lots:
    """`held` with `new` added, oldest first, one lot per (production epoch, meter)."""
    merged: dict[tuple[int, str], int] = {}
    for lot in (*held, *new):
        key = (lot.production_epoch, lot.meter)
        merged[key] = merged.get(key, 0) + lot.units
    return tuple(Lot(e, m, u) for (e, m), u in sorted(merged.items()))


def take(
    held: Sequence[Lot], units: int, eligible: frozenset[int] | None = None
) -> tuple[Lots, Lots]:
    """Take up to `units` from the oldest of `held` (only lots whose production epoch is
    in `eligible`, when given): returns (taken, left). Takes less only when the
    eligible lots run out."""
    if units < 0:
        raise ValueError("cannot take a negative quantity")
    taken: list[Lot] = []
    left: list[Lot] = []
    want = units
    for lot in held:
        if want == 0 or (eligible is not None and lot.production_epoch not in eligible):
            left.append(lot)
            continue
        part = min(want, lot.units)
        taken.append(Lot(lot.production_epoch, lot.meter, part))
        if part < lot.units:
            left.append(Lot(lot.production_epoch, lot.meter, lot.units - part))
        want -= part
    return tuple(taken), tuple(left)


def transfer(seller: Sequence[Lot], buyer: Sequence[Lot], units: int) -> tuple[Lots, Lots]:
    """A settled trade: `units` of the seller's oldest lots move to the buyer. Raises
    ShortOfLotsError if the seller's lots do not cover it."""
    moved, left = take(seller, units)
    if total(moved) != units:
        raise ShortOfLotsError(f"the seller's lots hold {total(seller)}, the trade moves {units}")
    return left, add(buyer, moved)


class Window(StrEnum):
    """Which production may meet an epoch's consumption (the campus policy)."""

    HOUR = "hour"  # produced in the same UTC hour (by epoch start), not after consumption
    DAY = "day"  # produced on the same UTC day (by epoch start), not after it
    BANKED = "banked"  # produced in any epoch up to it


@dataclass(frozen=True, slots=True)
class MatchingPolicy:
    """`window` over the epochs as they fall in time: `epochs` is the epoch length, or
    the calendar in force (the governed epoch length), so an hour or a day holds the
    epochs that start in it, however long they are."""

    window: Window
    epochs: Epochs

    def __post_init__(self) -> None:
        calendar_of(self.epochs)  # a length must be positive

    def _period(self, epoch: int) -> int:
        start = epoch_start(epoch, self.epochs)
        if self.window is Window.HOUR:
            return start // 3600
        return dt.datetime.fromtimestamp(start, dt.UTC).date().toordinal()

    def eligible(self, production_epoch: int, consumption_epoch: int) -> bool:
        if production_epoch > consumption_epoch:
            return False  # energy not yet produced meets nothing
        if self.window is Window.BANKED:
            return True
        return self._period(production_epoch) == self._period(consumption_epoch)


@dataclass(frozen=True, slots=True)
class Match:
    """One consumer's epoch: what is retired, and why the rest of the import is not."""

    retired: Lots  # becomes the certificates
    left: Lots  # the holding afterwards
    import_units: int
    eligible_units: int  # eligible lots held (before the approval is applied)
    approved_units: int  # what the user's approval allows to be burned

    @property
    def matched(self) -> int:
        return total(self.retired)

    @property
    def unmatched(self) -> int:
        """Import met by no token: bought from the grid as residual."""
        return self.import_units - self.matched

    @property
    def short_of_approval(self) -> int:
        """Import the user's tokens could have met but their approval did not allow."""
        return min(self.import_units, self.eligible_units) - self.matched


def match_import(
    held: Sequence[Lot],
    import_units: int,
    approved_units: int,
    policy: MatchingPolicy,
    consumption_epoch: int,
) -> Match:
    """Retire the oldest eligible lots against `import_units` of metered import,
    at most `approved_units` (the user's standing approval above market escrow)."""
    if import_units < 0 or approved_units < 0:
        raise ValueError("import and approval are non-negative")
    eligible = frozenset(
        lot.production_epoch
        for lot in held
        if policy.eligible(lot.production_epoch, consumption_epoch)
    )
    eligible_units = sum(lot.units for lot in held if lot.production_epoch in eligible)
    retired, left = take(held, min(import_units, approved_units), eligible)
    return Match(retired, left, import_units, eligible_units, approved_units)


def conserved(minted: int, holdings: Iterable[Sequence[Lot]], retired: int) -> bool:
    """Minted = held + retired."""
    return minted == sum(total(lots) for lots in holdings) + retired

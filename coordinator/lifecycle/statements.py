"""Statements: a user's bills per period beside what the grid alone would have cost,
with the emissions avoided, and the campus's totals - what the API shows.

The service loads usage through a `UsageSource`, takes the grid prices and emission
factor in force per epoch from `params_at` (the governed parameters,
`coordinator.governance`), and asks `coordinator.lifecycle.bills` and `.carbon` to
decide. Matched renewable energy comes from a `MatchedEnergy` source (the
coordinator's: `queries.RetiredEnergy`, the energy retired against metered import
and certified), which the answers name (`matched_rule`).
"""

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from coordinator.governance.params import GovernedParams
from coordinator.lifecycle.bills import (
    Bill,
    GridPrices,
    Period,
    Usage,
    bills,
    campus_total,
    period_start,
)
from coordinator.lifecycle.carbon import MatchedEnergy, avoided_mg, campus_avoided_mg
from coordinator.lifecycle.usage_store import UsageSource
from coordinator.ops import metrics
from coordinator.readings.oracle import Epochs, epoch_of, epoch_start

__all__ = ["CampusTotals", "Line", "Statements", "grid_prices"]

Key = tuple[str, int]


def grid_prices(params: GovernedParams) -> GridPrices:
    retail, feed_in = params.grid_import_price, params.grid_export_price
    return GridPrices(retail=retail, feed_in=feed_in)


@dataclass(frozen=True, slots=True)
class Line:
    """One period of a statement: starting at `start` (Unix seconds, UTC), its bill
    and the mgCO2 its matched renewable energy avoided."""

    start: int
    bill: Bill
    avoided_mg: int


@dataclass(frozen=True, slots=True)
class CampusTotals:
    """Every user's bills summed, the campus's avoided mgCO2, and how many users'
    bills went into it."""

    bill: Bill
    avoided_mg: int
    users: int


class Statements:
    def __init__(
        self,
        source: UsageSource,
        params_at: Callable[[int], GovernedParams],
        *,
        length_s: Epochs,
        matched: MatchedEnergy,
    ) -> None:
        """`length_s`: the epoch length, or the calendar in force (the governed epoch
        length), which dates each epoch's bill."""
        self._source, self._params_at, self._length_s = source, params_at, length_s
        self._matched = matched

    @property
    def matched_rule(self) -> str:
        """Which energy counts as matched (and so avoided emissions), in words."""
        return self._matched.rule

    async def _load(
        self, *, since: int, until: int, owner: str | None = None
    ) -> tuple[dict[Key, Usage], dict[Key, int]]:
        def load() -> tuple[dict[Key, Usage], dict[Key, int]]:
            usages = self._source.usage(since=since, until=until, owner=owner)
            matched = self._matched.matched_wh(since=since, until=until, owner=owner)
            # Matched energy met metered import: only epochs with usage (closed) count.
            return usages, {key: wh for key, wh in matched.items() if key in usages}

        return await asyncio.to_thread(load)

    def _decide(
        self, usages: Mapping[Key, Usage], matched: Mapping[Key, int]
    ) -> tuple[dict[Key, Bill], dict[Key, int]]:
        every = bills(usages, lambda epoch: grid_prices(self._params_at(epoch)))
        avoided = avoided_mg(matched, lambda epoch: self._params_at(epoch).emission_factor)
        return every, avoided

    async def statement(self, owner: str, *, since: int, until: int, period: Period) -> list[Line]:
        """`owner`'s closed epochs in since..until per `period`, oldest first; periods
        with nothing metered or traded are left out."""
        usages, matched = await self._load(since=since, until=until, owner=owner)
        every, avoided = self._decide(usages, matched)
        lines: dict[int, Line] = {}
        for key, b in every.items():
            start = period_start(key[1], self._length_s, period)
            line = lines.get(start, Line(start, Bill(), 0))
            lines[start] = Line(start, line.bill + b, line.avoided_mg + avoided.get(key, 0))
        return [lines[start] for start in sorted(lines)]

    async def bills(self, *, since: int, until: int) -> tuple[dict[Key, Bill], dict[Key, int]]:
        """Every user's bill and avoided mgCO2 per closed epoch in since..until."""
        usages, matched = await self._load(since=since, until=until)
        return self._decide(usages, matched)

    async def campus(self, *, since: int, until: int) -> CampusTotals:
        """Every user's closed epochs in since..until, summed."""
        usages, matched = await self._load(since=since, until=until)
        every, avoided = self._decide(usages, matched)
        return CampusTotals(
            campus_total(every.values()),
            campus_avoided_mg(avoided.values()),
            len({wallet for wallet, _ in usages}),
        )

    async def record_last_day(self, last_closed: int) -> CampusTotals:
        """Set the campus's bill gauges (`coordinator.ops.metrics`) from the last day of
        closed epochs up to `last_closed`; returns what they were set from."""
        # The epochs that start within the day ending with `last_closed` (by the
        # calendar: a length change in that day changes how many there are).
        day_start = epoch_start(last_closed + 1, self._length_s) - 86_400
        first = epoch_of(max(0, day_start), self._length_s)
        if epoch_start(first, self._length_s) < day_start:
            first += 1
        campus = await self.campus(since=min(first, last_closed), until=last_closed)
        b = campus.bill
        metrics.record_campus_bills(b.grid_only_cost, b.actual_cost, b.savings, campus.avoided_mg)
        return campus

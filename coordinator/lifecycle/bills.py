"""What a user's energy cost with the market, beside what it would have cost buying
everything from the grid and selling every surplus to it.

Pure: no I/O, no clock. The grid is the counterparty of last resort: what a user
imports beyond what they bought on the market is bought from the grid at the retail
price, and what they export beyond what they sold is sold to it at the feed-in
price, both the prices in force for that epoch.

Units are the market's, exact integers: energy in energy-token base units (1 Wh =
10**6), money in payment base units, prices in payment base units per kWh
(`coordinator.market.rules.orders`). Grid prices are multiples of 1000, so a whole
Wh costs a whole base unit and every amount below is exact; with finer lots a grid
charge is rounded down like a market payment (`payment_for`).

Per user and epoch:

    residual import = max(0, import - bought)        priced at retail
    residual export = max(0, export - sold)          priced at feed-in
    actual cost     = paid - received + residual import cost - residual export revenue
    grid-only bill  = import x retail - export x feed-in
    savings         = grid-only bill - actual cost

Energy bought beyond what was imported (or sold beyond what was exported, from
tokens of earlier epochs) has no residual: its money is in `paid` / `received`.
A negative cost is money earned. Bills add up field by field, so a day's, a
month's and the campus's bills are sums of epoch bills.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from enum import StrEnum

from coordinator.market.rules.orders import payment_for

__all__ = [
    "WH",
    "Bill",
    "GridPrices",
    "Period",
    "Usage",
    "bill",
    "bill_mismatches",
    "bills",
    "by_period",
    "campus_total",
    "period_start",
]

WH = 10**6
"""Energy-token base units per Wh."""


@dataclass(frozen=True, slots=True)
class GridPrices:
    """The grid's tariff for one epoch, payment base units per kWh."""

    retail: int
    feed_in: int

    def __post_init__(self) -> None:
        if not 0 <= self.feed_in <= self.retail:
            raise ValueError(f"feed-in {self.feed_in} must lie in 0..retail {self.retail}")


@dataclass(frozen=True, slots=True)
class Usage:
    """One user's epoch: metered import and export (Wh, over all their meters) and
    settled market trades (energy base units bought and sold, payment base units
    paid and received)."""

    import_wh: int = 0
    export_wh: int = 0
    bought: int = 0
    sold: int = 0
    paid: int = 0
    received: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"{f.name} must not be negative")


@dataclass(frozen=True, slots=True)
class Bill:
    """A bill over one epoch or a sum of them. Energy in base units, money in
    payment base units; `actual_cost`, `grid_only_cost` and `savings` may be
    negative (money earned, or the market did worse than the grid)."""

    import_energy: int = 0
    export_energy: int = 0
    bought: int = 0
    sold: int = 0
    paid: int = 0
    received: int = 0
    residual_import: int = 0
    residual_export: int = 0
    grid_import_cost: int = 0
    grid_export_revenue: int = 0
    actual_cost: int = 0
    grid_only_cost: int = 0
    savings: int = 0

    def __add__(self, other: "Bill") -> "Bill":
        return Bill(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def bill(usage: Usage, prices: GridPrices) -> Bill:
    """The bill of one user's epoch under the grid prices in force for it."""
    imported, exported = usage.import_wh * WH, usage.export_wh * WH
    residual_import = max(0, imported - usage.bought)
    residual_export = max(0, exported - usage.sold)
    import_cost = payment_for(residual_import, prices.retail)
    export_revenue = payment_for(residual_export, prices.feed_in)
    actual = usage.paid - usage.received + import_cost - export_revenue
    grid_only = payment_for(imported, prices.retail) - payment_for(exported, prices.feed_in)
    return Bill(
        imported, exported, usage.bought, usage.sold, usage.paid, usage.received,
        residual_import, residual_export, import_cost, export_revenue,
        actual, grid_only, grid_only - actual,
    )  # fmt: skip


Key = tuple[str, int]
"""(wallet, epoch)."""


def bills(usages: Mapping[Key, Usage], prices_at: Callable[[int], GridPrices]) -> dict[Key, Bill]:
    """Each (wallet, epoch)'s bill, at the prices in force for its epoch."""
    return {key: bill(usage, prices_at(key[1])) for key, usage in usages.items()}


def campus_total(bills_: Iterable[Bill]) -> Bill:
    """The sum of `bills_` (the campus's, when they are every user's)."""
    total = Bill()
    for b in bills_:
        total += b
    return total


class Period(StrEnum):
    EPOCH = "epoch"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


def period_start(epoch: int, length_s: int, period: Period) -> int:
    """Unix seconds at which the UTC period holding `epoch`'s start begins (for EPOCH,
    the epoch's own start)."""
    start = epoch * length_s
    if period is Period.EPOCH:
        return start
    if period is Period.HOUR:
        return start - start % 3600
    if period is Period.DAY:
        return start - start % 86_400
    day = dt.datetime.fromtimestamp(start, dt.UTC).date().replace(day=1)
    return int(dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC).timestamp())


def by_period(epoch_bills: Mapping[int, Bill], length_s: int, period: Period) -> dict[int, Bill]:
    """Epoch bills summed per UTC period, keyed by the period's start (Unix seconds)."""
    out: dict[int, Bill] = {}
    for epoch, b in epoch_bills.items():
        start = period_start(epoch, length_s, period)
        out[start] = out.get(start, Bill()) + b
    return out


def bill_mismatches(per_user: Mapping[Key, Bill]) -> list[str]:
    """What does not add up in every user's bills of some epochs (empty: all does).
    Each bill's savings are its grid-only bill less its actual cost, and its actual
    cost is its market and grid money; over the campus, savings sum to grid-only less
    actual, and the market only moved energy and money between users: bought equals
    sold, paid equals received."""
    problems = []
    for (wallet, epoch), b in sorted(per_user.items()):
        money = b.paid - b.received + b.grid_import_cost - b.grid_export_revenue
        if b.actual_cost != money or b.savings != b.grid_only_cost - b.actual_cost:
            problems.append(f"{wallet} epoch {epoch}: bill does not add up: {b}")
    total = campus_total(per_user.values())
    if sum(b.savings for b in per_user.values()) != total.grid_only_cost - total.actual_cost:
        problems.append("campus savings differ from grid-only bills less actual costs")
    if total.paid != total.received:
        problems.append(f"buyers paid {total.paid}, sellers received {total.received}")
    if total.bought != total.sold:
        problems.append(f"buyers bought {total.bought} base units, sellers sold {total.sold}")
    return problems

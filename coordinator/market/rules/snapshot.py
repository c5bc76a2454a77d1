"""Which stored orders enter an epoch's clearing, and with what escrow behind them.

Of the epoch's live orders, one past its `expires_at` (at or before the
clearing's time) is expired with EXPIRED, whatever else holds; one whose owner's
token accounts are frozen (by the REC authority) is excluded with
ACCOUNT_FROZEN, since settlement could move nothing to or from them; one whose
limit price lies outside the price band in force for the epoch (the REC
authority changed it after the order was placed) is excluded with
PRICE_OUT_OF_BAND; one whose escrow approval was never seen on chain (still
pending) is expired with ESCROW_NOT_VERIFIED; every other one enters, as the
clearing's `Order`.

Each owner's escrow is what settlement could move now (min(allowance to the
settlement authority, balance), 0 when frozen) less what the owner still owes
on earlier unsettled trades, per side and never below zero: owing more than is
usable leaves nothing, not a debt.

`admit` sorts the orders out first (given the owners found frozen on chain);
`snapshot` then makes the clearing's inputs from the escrow of the owners of
the orders that enter.
"""

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from coordinator.market.rules.book import ClearingInputs, Escrow
from coordinator.market.rules.orders import PRICE_OUT_OF_BAND, MarketRules, Order, Side

ACCOUNT_FROZEN = "account_frozen"
ESCROW_NOT_VERIFIED = "escrow_not_verified"
EXPIRED = "expired"

__all__ = [
    "ACCOUNT_FROZEN",
    "ESCROW_NOT_VERIFIED",
    "EXPIRED",
    "Admitted",
    "Amounts",
    "StandingOrder",
    "admit",
    "escrow_left",
    "snapshot",
]


class StandingOrder(Protocol):
    """A stored live order (pending or open) as the snapshot reads it."""

    @property
    def order_id(self) -> str: ...
    @property
    def owner(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def epoch(self) -> int: ...
    @property
    def quantity(self) -> int: ...
    @property
    def limit_price(self) -> int: ...
    @property
    def seq(self) -> int: ...
    @property
    def expires_at(self) -> dt.datetime | None: ...
    @property
    def pending(self) -> bool:
        """Its escrow approval is not yet seen on chain."""
        ...


class Amounts(Protocol):
    """Base units per side: `energy` backs sell orders, `payment` buy orders."""

    @property
    def energy(self) -> int: ...
    @property
    def payment(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Admitted:
    """The orders that enter the clearing, and the others' reasons (order id -> reason):
    `expired` ones end expired, `excluded` ones excluded."""

    live: tuple[Order, ...]
    expired: Mapping[str, str]
    excluded: Mapping[str, str] = field(default_factory=dict)

    @property
    def owners(self) -> frozenset[str]:
        """Whose escrow the clearing needs."""
        return frozenset(o.owner for o in self.live)


def admit(
    orders: Iterable[StandingOrder],
    now: dt.datetime,
    frozen: Collection[str] = frozenset(),
    band: tuple[int, int] | None = None,
) -> Admitted:
    """Sort the epoch's live orders into those that enter, those expired and those
    excluded instead; `frozen` are the owners whose token accounts are frozen, `band`
    the price band in force for the epoch (inclusive; None: any price)."""
    expired: dict[str, str] = {}
    excluded: dict[str, str] = {}
    live: list[Order] = []
    for o in orders:
        if o.expires_at is not None and o.expires_at <= now:
            expired[o.order_id] = EXPIRED
        elif o.owner in frozen:
            excluded[o.order_id] = ACCOUNT_FROZEN
        elif band is not None and not band[0] <= o.limit_price <= band[1]:
            excluded[o.order_id] = PRICE_OUT_OF_BAND
        elif o.pending:
            expired[o.order_id] = ESCROW_NOT_VERIFIED
        else:
            live.append(
                Order(o.order_id, o.owner, o.side, o.epoch, o.quantity, o.limit_price, o.seq)
            )
    return Admitted(tuple(live), expired, excluded)


def escrow_left(usable: Mapping[str, Amounts], owed: Mapping[str, Amounts]) -> Escrow:
    """Each owner of `usable`: what is usable less what is owed, per side, at least 0
    (an owner missing from `owed` owes nothing)."""
    energy: dict[str, int] = {}
    payment: dict[str, int] = {}
    for owner, has in usable.items():
        debt = owed.get(owner)
        energy[owner] = max(0, has.energy - (0 if debt is None else debt.energy))
        payment[owner] = max(0, has.payment - (0 if debt is None else debt.payment))
    return Escrow(energy=energy, payment=payment)


def snapshot(
    epoch: int,
    admitted: Admitted,
    usable: Mapping[str, Amounts],
    owed: Mapping[str, Amounts],
    rules: MarketRules,
) -> ClearingInputs:
    """The clearing's inputs: the admitted orders and their owners' escrow left."""
    return ClearingInputs(epoch, admitted.live, escrow_left(usable, owed), rules)

"""What the market service stores and returns: statuses and read-only views.

An order has one shape per layer: `coordinator.market.rules.Order` as submitted
and as the clearing reads it; `OrderView` here, the order as the service knows
it (status, fills, settlement); `coordinator.db.models.MarketOrder`, its row;
`coordinator.api.schemas.OrderOut`, its JSON. Each is mapped to the next at the
layer's boundary (the store, the API route).
"""

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from solders.signature import Signature

from coordinator.market.rules.orders import Side
from coordinator.market.rules.results import FillStatus

__all__ = [
    "LIVE_STATUSES",
    "ClearingView",
    "MatchOutcome",
    "MatchStatus",
    "MatchToSettle",
    "MatchView",
    "OrderStatus",
    "OrderView",
    "SettlementStatus",
    "SettlementView",
    "status_of_fill",
]


class OrderStatus(StrEnum):
    PENDING = "pending"  # stored; the escrow approval is not yet seen on chain
    OPEN = "open"  # live: will take part in its epoch's clearing
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # reason: expires_at passed, or escrow never verified
    FILLED = "filled"
    PARTIAL = "partial"
    UNFILLED = "unfilled"
    EXCLUDED = "excluded"  # reason: the clearing's (e.g. insufficient_escrow)


LIVE_STATUSES = (OrderStatus.PENDING, OrderStatus.OPEN)

_FILL_TO_STATUS = {
    FillStatus.FILLED: OrderStatus.FILLED,
    FillStatus.PARTIAL: OrderStatus.PARTIAL,
    FillStatus.UNFILLED: OrderStatus.UNFILLED,
    FillStatus.EXCLUDED: OrderStatus.EXCLUDED,
}


def status_of_fill(fill: FillStatus) -> OrderStatus:
    """An order's status once its epoch cleared with this outcome."""
    return _FILL_TO_STATUS[fill]


class SettlementStatus(StrEnum):
    PENDING = "pending"
    SETTLED = "settled"
    FAILED = "failed"  # at least one of the order's matches failed; settlement_error says why


class MatchStatus(StrEnum):
    PENDING = "pending"
    SETTLED = "settled"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class OrderView:
    order_id: str
    owner: str
    side: Side
    epoch: int
    quantity: int
    limit_price: int
    seq: int
    status: OrderStatus
    reason: str | None
    eligible: int
    filled: int
    payment: int
    settled: int
    settlement_status: SettlementStatus | None
    settlement_error: str | None
    expires_at: dt.datetime | None
    created_at: dt.datetime

    @property
    def pending(self) -> bool:
        """Its escrow approval is not yet seen on chain."""
        return self.status is OrderStatus.PENDING


@dataclass(frozen=True, slots=True)
class MatchView:
    """A match (trade) and its settlement: `signature` (base58) of the transaction
    that settled it, or `error` saying why it failed."""

    epoch: int
    idx: int
    buy_order_id: str
    sell_order_id: str
    buyer: str
    seller: str
    quantity: int
    price: int
    payment: int
    status: MatchStatus
    signature: str | None
    error: str | None


class MatchToSettle(NamedTuple):
    """What settlement needs of a match (a tuple: an epoch settles thousands)."""

    idx: int
    seller: str
    buyer: str
    quantity: int
    payment: int


class MatchOutcome(NamedTuple):
    """What settlement decided for match `idx` (a tuple: an epoch makes thousands)."""

    idx: int
    status: MatchStatus
    settlement_key: str
    signature: Signature | None
    error: str | None

    @property
    def parked(self) -> bool:
        """Failed because a party's token accounts were frozen: settled again once
        neither party is (`settlement.settle_parked`)."""
        return self.status is MatchStatus.FAILED and (self.error or "").startswith("account_frozen")


@dataclass(frozen=True, slots=True)
class SettlementView:
    """One settlement transaction (a `programs.jobs.Job`) and the matches it carries."""

    key: str
    epoch: int
    status: str  # planned, sent, confirmed, failed
    signature: str | None
    slot: int | None
    error: str | None
    match_indices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ClearingView:
    epoch: int
    inputs_hash: str
    result_hash: str
    pricing: str
    clearing_price: int | None
    volume: int
    turnover: int
    order_count: int
    match_count: int
    cleared_at: dt.datetime
    published_at: dt.datetime | None
    attestation_signature: str | None

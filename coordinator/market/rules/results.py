"""What a clearing produces: matches, one outcome per order, the price and hashes.

`Match` and `OrderOutcome` are NamedTuples rather than frozen dataclasses: a
clearing of 100k orders builds 100k of them, tuples build about five times
faster, and their field order is the row of the canonical encoding, which
`json` writes directly.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from coordinator.market.rules.orders import PricingRule, Side

# Reasons an order is excluded or capped (besides `orders.order_problem` codes).
WRONG_EPOCH = "wrong_epoch"
INSUFFICIENT_ESCROW = "insufficient_escrow"
ESCROW_CAPPED = "escrow_capped"

__all__ = [
    "ESCROW_CAPPED",
    "INSUFFICIENT_ESCROW",
    "WRONG_EPOCH",
    "ClearingResult",
    "FillStatus",
    "Match",
    "OrderOutcome",
]


class FillStatus(StrEnum):
    FILLED = "filled"
    PARTIAL = "partial"
    UNFILLED = "unfilled"
    EXCLUDED = "excluded"


class Match(NamedTuple):
    """`quantity` energy base units from `seller` to `buyer` at `price` per kWh;
    the buyer pays and the seller receives exactly `payment` base units."""

    buy_order_id: str
    sell_order_id: str
    buyer: str
    seller: str
    quantity: int
    price: int
    payment: int


class OrderOutcome(NamedTuple):
    """How one order fared.

    `eligible` is the quantity that took part after escrow capping (0 when
    excluded); `filled` and `payment` sum the order's matches. `reason` says
    why an order was excluded or capped (ESCROW_CAPPED), else None.
    """

    order_id: str
    owner: str
    side: Side
    status: FillStatus
    quantity: int
    eligible: int
    filled: int
    payment: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class ClearingResult:
    """One epoch's clearing. `clearing_price` is the uniform price (None when
    nothing traded, or under pay-as-bid); `volume` is in energy base units and
    `turnover` in payment base units. `outcomes` are sorted by order id,
    `matches` in the order they were made. `result_hash` is the SHA-256 of the
    canonical encoding of every other field (`canonical.encode_result`)."""

    epoch: int
    pricing: PricingRule
    clearing_price: int | None
    volume: int
    turnover: int
    matches: tuple[Match, ...]
    outcomes: tuple[OrderOutcome, ...]
    inputs_hash: str
    result_hash: str

"""Orders of the epoch market, the rules they must meet, and their validation.

Units are exact integers, never floats:

- quantity: base units of the energy token (9 decimals: 1 kWh = 10**9,
  1 Wh = 10**6);
- limit price: base units of the payment token per kWh (the payment mint has
  6 decimals, so micro-credits per kWh).

A fill of `q` base units at price `p` costs ``q * p // 10**9`` payment base
units (see `payment_for`).
"""

import re
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache

from coordinator.market.rules.errors import OrderError
from wire.base58 import b58decode

ENERGY_BASE_UNITS_PER_KWH = 10**9
U64_MAX = (1 << 64) - 1
MAX_ORDER_ID_LEN = 64

# Rejection / exclusion reasons (stable strings: they are stored and hashed).
NON_POSITIVE_QUANTITY = "non_positive_quantity"
DUST_QUANTITY = "dust_quantity"
OFF_LOT_QUANTITY = "off_lot_quantity"
QUANTITY_TOO_LARGE = "quantity_too_large"
NON_POSITIVE_PRICE = "non_positive_price"
OFF_TICK_PRICE = "off_tick_price"
PRICE_OUT_OF_BAND = "price_out_of_band"
SELL_BELOW_FEED_IN = "sell_below_feed_in"
BUY_ABOVE_RETAIL = "buy_above_retail"
NOTIONAL_TOO_LARGE = "notional_too_large"
EPOCH_CLOSED = "epoch_closed"
EPOCH_TOO_FAR = "epoch_too_far"
BAD_ORDER_ID = "bad_order_id"
BAD_OWNER = "bad_owner"
BAD_SEQUENCE = "bad_sequence"

__all__ = [
    "BAD_ORDER_ID",
    "BAD_OWNER",
    "BAD_SEQUENCE",
    "BUY_ABOVE_RETAIL",
    "DUST_QUANTITY",
    "ENERGY_BASE_UNITS_PER_KWH",
    "EPOCH_CLOSED",
    "EPOCH_TOO_FAR",
    "MAX_ORDER_ID_LEN",
    "NON_POSITIVE_PRICE",
    "NON_POSITIVE_QUANTITY",
    "NOTIONAL_TOO_LARGE",
    "OFF_LOT_QUANTITY",
    "OFF_TICK_PRICE",
    "PRICE_OUT_OF_BAND",
    "QUANTITY_TOO_LARGE",
    "SELL_BELOW_FEED_IN",
    "U64_MAX",
    "MarketRules",
    "Order",
    "PricingRule",
    "Side",
    "check_grid_band",
    "check_price_band",
    "order_problem",
    "payment_for",
    "validate_order",
]

_ORDER_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_BASE58_ADDRESS = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class PricingRule(StrEnum):
    """How matched pairs are priced.

    PAY_AS_CLEAR: one uniform price for every match of the epoch (the default).
    PAY_AS_BID: each match is priced at the buy order's limit.
    """

    PAY_AS_CLEAR = "pay_as_clear"
    PAY_AS_BID = "pay_as_bid"


def _is_int(value: object) -> bool:
    # bool is an int subclass; a True quantity is a bug, not one base unit.
    return type(value) is int


@dataclass(frozen=True, slots=True)
class MarketRules:
    """The market's parameters; part of the clearing inputs (and so of their hash).

    `lot`: quantities are positive multiples of it (default 1 Wh = 10**6 base
    units); smaller is dust. `tick`: limit and clearing prices are multiples of
    it (default 1000 micro-credits = 0.001 credit per kWh). With both defaults
    every payment is an exact integer (no rounding dust). `k`: where the
    uniform price falls between the marginal ask (k = 0) and bid (k = 1).
    """

    lot: int = 10**6
    tick: int = 1000
    pricing: PricingRule = PricingRule.PAY_AS_CLEAR
    k: Fraction = Fraction(1, 2)

    def __post_init__(self) -> None:
        if not _is_int(self.lot) or self.lot <= 0:
            raise ValueError("lot must be a positive integer")
        if not _is_int(self.tick) or self.tick <= 0:
            raise ValueError("tick must be a positive integer")
        if not isinstance(self.pricing, PricingRule):
            raise ValueError("pricing must be a PricingRule")
        if not isinstance(self.k, Fraction) or not 0 <= self.k <= 1:
            raise ValueError("k must be a Fraction in [0, 1]")


@dataclass(frozen=True, slots=True)
class Order:
    """One buy or sell order for one delivery epoch.

    `seq` is the submission sequence: lower was submitted earlier and wins
    ties at equal price; equal `seq` falls back to `order_id`. Types are checked
    on construction; market rules are checked by `validate_order`.
    """

    order_id: str
    owner: str
    side: Side
    epoch: int
    quantity: int
    limit_price: int
    seq: int

    def __post_init__(self) -> None:
        if type(self.order_id) is not str or type(self.owner) is not str:
            raise TypeError("order_id and owner must be str")
        if not isinstance(self.side, Side):
            raise TypeError("side must be a Side")
        if not (
            _is_int(self.epoch)
            and _is_int(self.quantity)
            and _is_int(self.limit_price)
            and _is_int(self.seq)
        ):
            raise TypeError("epoch, quantity, limit_price and seq must be int")


def payment_for(quantity: int, price: int) -> int:
    """Payment base units for `quantity` energy base units at `price` per kWh.

    Rounded down: the buyer pays and the seller receives this same integer,
    which is at most 1 base unit below the exact value; the fraction stays
    with the buyer. Zero when quantity is a multiple of 10**6 and price of 10**3.
    """
    return quantity * price // ENERGY_BASE_UNITS_PER_KWH


def order_problem(order: Order, rules: MarketRules) -> str | None:
    """The first market rule `order` breaks, as a reason code, or None.

    Epoch-independent and cheap (no base58 decoding): the clearing runs it on
    every order and excludes those that break a rule.
    """
    quantity = order.quantity
    price = order.limit_price
    if quantity <= 0:
        return NON_POSITIVE_QUANTITY
    if quantity < rules.lot:
        return DUST_QUANTITY
    if quantity % rules.lot:
        return OFF_LOT_QUANTITY
    if quantity > U64_MAX:
        return QUANTITY_TOO_LARGE
    if price <= 0:
        return NON_POSITIVE_PRICE
    if price % rules.tick:
        return OFF_TICK_PRICE
    if payment_for(quantity, price) > U64_MAX:
        return NOTIONAL_TOO_LARGE
    if order.seq < 0:
        return BAD_SEQUENCE
    if _ORDER_ID.fullmatch(order.order_id) is None:
        return BAD_ORDER_ID
    if not _looks_like_address(order.owner):
        return BAD_OWNER
    return None


# A book has about one owner per twenty orders: remembering the answer per owner
# saves most of the regex work of a 100k-order clearing.
@lru_cache(maxsize=1 << 16)
def _looks_like_address(owner: str) -> bool:
    return _BASE58_ADDRESS.fullmatch(owner) is not None


def validate_order(
    order: Order,
    rules: MarketRules,
    *,
    open_epoch: int,
    max_epochs_ahead: int | None = None,
) -> Order:
    """Return `order` if it may be accepted now, else raise `OrderError`.

    `open_epoch` is the earliest epoch still open for orders: an order for an
    earlier epoch is refused (EPOCH_CLOSED), as is one more than
    `max_epochs_ahead` epochs later (EPOCH_TOO_FAR) when that is given. The
    owner must be a base58 32-byte address.
    """
    code = order_problem(order, rules)
    if code is not None:
        raise OrderError(code, _DETAILS[code].format(rules=rules))
    if len(b58decode(order.owner)) != 32:
        raise OrderError(BAD_OWNER, _DETAILS[BAD_OWNER])
    if order.epoch < open_epoch:
        raise OrderError(
            EPOCH_CLOSED, f"epoch {order.epoch} is closed; the earliest open is {open_epoch}"
        )
    if max_epochs_ahead is not None and order.epoch > open_epoch + max_epochs_ahead:
        raise OrderError(
            EPOCH_TOO_FAR,
            f"epoch {order.epoch} is more than {max_epochs_ahead} epochs after {open_epoch}",
        )
    return order


def check_price_band(order: Order, band: tuple[int, int] | None) -> Order:
    """Return `order` if its limit price lies in `band` (inclusive; None: any price),
    else raise `OrderError` (PRICE_OUT_OF_BAND). The band is a governed parameter,
    checked when an order is placed, against the band in force for its epoch."""
    if band is not None and not band[0] <= order.limit_price <= band[1]:
        low, high = band
        raise OrderError(
            PRICE_OUT_OF_BAND,
            f"limit price {order.limit_price} is outside the band {low}..{high} "
            f"in force for epoch {order.epoch}",
        )
    return order


def check_grid_band(order: Order, band: tuple[int, int] | None) -> Order:
    """Return `order` if the grid would not do better for its owner, else raise
    `OrderError`: a sell below the feed-in price (SELL_BELOW_FEED_IN) or a buy above
    the retail price (BUY_ABOVE_RETAIL). `band` is (feed-in, retail) in force for the
    order's epoch; None: no grid tariff. Refused, not capped: a capped limit would be
    a price the user never chose. With every sell at or above feed-in and every buy at
    or below retail, every clearing price (between a matched ask and bid) lies in the
    band too."""
    if band is None:
        return order
    feed_in, retail = band
    if order.side is Side.SELL and order.limit_price < feed_in:
        raise OrderError(
            SELL_BELOW_FEED_IN,
            f"limit price {order.limit_price} is below the grid's feed-in price {feed_in} "
            f"in force for epoch {order.epoch}",
        )
    if order.side is Side.BUY and order.limit_price > retail:
        raise OrderError(
            BUY_ABOVE_RETAIL,
            f"limit price {order.limit_price} is above the grid's retail price {retail} "
            f"in force for epoch {order.epoch}",
        )
    return order


_DETAILS = {
    NON_POSITIVE_QUANTITY: "quantity must be positive",
    DUST_QUANTITY: "quantity is below the lot of {rules.lot} base units",
    OFF_LOT_QUANTITY: "quantity must be a multiple of the lot of {rules.lot} base units",
    QUANTITY_TOO_LARGE: "quantity exceeds 2**64 - 1 base units",
    NON_POSITIVE_PRICE: "limit price must be positive",
    OFF_TICK_PRICE: "limit price must be a multiple of the tick of {rules.tick}",
    NOTIONAL_TOO_LARGE: "quantity * price exceeds a u64 payment amount",
    BAD_SEQUENCE: "seq must be non-negative",
    BAD_ORDER_ID: f"order id must be 1..{MAX_ORDER_ID_LEN} characters of A-Z a-z 0-9 . _ : -",
    BAD_OWNER: "owner must be a base58 32-byte wallet address",
}

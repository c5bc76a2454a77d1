"""Errors of the market service.

    CoordinatorError                (coordinator.errors)
    └── MarketError                 (coordinator.market.rules.errors)
        ├── OrderError              an order breaks a market rule (also `unknown_user`)
        ├── InputError              clearing inputs or stored bytes are malformed
        └── TradingError
            ├── OrderNotFound       no such order, or not the caller's
            ├── OrderStateError     the order cannot do that now (e.g. cancel once cleared)
            ├── MarketPaused        order placement is paused by the REC authority
            └── ApprovalRejected    a submitted approval is not the Approve we built,
                                    or is not signed by its owner

Settlement failures are not raised: they are recorded on the matches and
orders they affect, with the reason (`coordinator.market.settlement`).
"""

from coordinator.market.rules.errors import InputError, MarketError, OrderError

__all__ = [
    "ApprovalRejected",
    "InputError",
    "MarketError",
    "MarketPaused",
    "OrderError",
    "OrderNotFound",
    "OrderStateError",
    "TradingError",
]


class TradingError(MarketError):
    """Base of the market service's own errors."""


class OrderNotFound(TradingError, LookupError):  # noqa: N818 - names the condition
    """No order with that id belongs to that owner."""


class OrderStateError(TradingError):
    """The order's status does not allow the operation."""


class ApprovalRejected(TradingError, ValueError):  # noqa: N818 - names the condition
    """A submitted approval transaction is not acceptable; the message says why."""


class MarketPaused(TradingError):  # noqa: N818 - names the condition
    """Order placement is paused (an emergency control); the message says since when
    and why."""

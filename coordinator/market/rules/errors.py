"""Errors of the market.

    CoordinatorError                (coordinator.errors)
    └── MarketError
        ├── OrderError          the submitter's mistake: an order breaks a market rule
        ├── InputError          the caller's mistake: clearing inputs or stored bytes are malformed
        └── TradingError        the service's refusals (coordinator.market.errors)

Orders that are well formed but cannot take part in a clearing (wrong epoch,
escrow too small, off tick) are not raised: the clearing records them as
excluded, with the reason, in its result.
"""

from coordinator.errors import CoordinatorError

__all__ = ["InputError", "MarketError", "OrderError"]


class MarketError(CoordinatorError):
    """Base of every error the market raises on purpose."""


class OrderError(MarketError, ValueError):
    """An order breaks a market rule. `code` is the machine-readable reason."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class InputError(MarketError, ValueError):
    """Clearing inputs (or stored inputs / results) are malformed: duplicate
    order ids, negative escrow, bytes that are not the canonical encoding."""

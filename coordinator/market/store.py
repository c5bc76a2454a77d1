"""The market's storage as the trading services see it: one small interface.

`coordinator.market.sql_store.SqlMarketStore` keeps it in PostgreSQL or SQLite;
`coordinator.market.memory_store.MemoryMarketStore` in dictionaries, for unit
tests of the services. A store stores, it never decides: the services ask
`coordinator.market.rules` and write the outcome. Its methods block, so the
async services call them through `asyncio.to_thread`.
"""

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from coordinator.market.escrow import EscrowNeed
from coordinator.market.records import (
    ClearingView,
    MatchOutcome,
    MatchToSettle,
    MatchView,
    OrderStatus,
    OrderView,
    SettlementView,
)
from coordinator.market.rules import ClearingResult, Order
from programs.jobs import JobStore

__all__ = ["MarketStore"]


class MarketStore(Protocol):
    """Orders, clearings, matches and the market's chain jobs."""

    # --- orders ---

    def insert_order(
        self,
        order: Order,
        *,
        status: OrderStatus,
        expires_at: dt.datetime | None,
        now: dt.datetime,
    ) -> OrderView:
        """Store a new order; the store assigns its `seq` (the order's is ignored)."""
        ...

    def get_order(self, order_id: str) -> OrderView | None: ...

    def list_orders(
        self,
        *,
        owner: str | None = None,
        epoch: int | None = None,
        statuses: Sequence[OrderStatus] | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[OrderView]:
        """Newest first; page with `before_seq` (the last seq of the previous page)."""
        ...

    def live_orders(self, owner: str) -> list[OrderView]:
        """The owner's pending and open orders, oldest first."""
        ...

    def open_orders_for(self, epoch: int) -> list[OrderView]:
        """Live (pending and open) orders of `epoch`, by seq."""
        ...

    def set_open(self, order_ids: Sequence[str], now: dt.datetime) -> int:
        """Pending -> open for `order_ids` (once their escrow is verified); how many were."""
        ...

    def cancel_order(self, order_id: str, owner: str, now: dt.datetime) -> OrderView | None:
        """Cancel if live; returns the order as it is afterwards (None if not the owner's)."""
        ...

    def owed(self, owner: str) -> EscrowNeed:
        """What `owner` still owes on matched, unsettled trades (their approval must keep it)."""
        ...

    def owed_by_owner(self, owners: Iterable[str]) -> dict[str, EscrowNeed]:
        """`owed` for many owners at once."""
        ...

    # --- clearings ---

    def is_cleared(self, epoch: int) -> bool: ...

    def save_clearing(
        self,
        result: ClearingResult,
        inputs_bytes: bytes,
        result_bytes: bytes,
        now: dt.datetime,
        expired: Mapping[str, str] | None = None,
        excluded: Mapping[str, str] | None = None,
    ) -> bool:
        """Store a clearing with its matches and every order's outcome, and end the live
        orders that did not take part (id -> reason): `expired` as expired, `excluded`
        as excluded, all at once. False (and nothing written) if the epoch was cleared
        already."""
        ...

    def get_clearing(self, epoch: int) -> ClearingView | None: ...

    def get_clearing_bytes(self, epoch: int) -> tuple[bytes, bytes] | None:
        """(inputs, result) canonical bytes as stored."""
        ...

    def mark_published(self, epoch: int, now: dt.datetime) -> None: ...

    def unpublished_epochs(self, limit: int = 100) -> list[int]: ...

    # --- matches and settlement ---

    def matches_to_settle(self, epoch: int) -> list[MatchToSettle]:
        """The epoch's matches, only what settlement needs of them, in order."""
        ...

    def list_matches(
        self, *, owner: str | None = None, epoch: int | None = None, limit: int = 100
    ) -> list[MatchView]:
        """Trades, newest epoch first; `owner` as buyer or seller."""
        ...

    def unsettled_epochs(self) -> list[int]:
        """Epochs with matches not yet settled nor failed (to resume after a restart)."""
        ...

    def uncleared_epochs(self, before: int) -> list[int]:
        """Epochs before `before` that still have live orders and no clearing (their
        gate closure passed while clearing was paused, or while no leader ran), oldest
        first."""
        ...

    def record_match_outcomes(self, epoch: int, outcomes: Sequence[MatchOutcome]) -> None:
        """Write these matches' outcomes only (idempotent); a `parked` outcome also
        parks its trade, in the same transaction."""
        ...

    def parked_matches(self, limit: int = 1000) -> list[tuple[int, MatchToSettle, str]]:
        """(epoch, match, key of its last settlement job) of each parked trade still
        failed, oldest first."""
        ...

    def resolve_parked(self, epoch: int, idx: int, now: dt.datetime) -> None:
        """The parked trade settled, or failed for good."""
        ...

    def record_settlement(
        self, epoch: int, outcomes: Sequence[MatchOutcome], now: dt.datetime
    ) -> None:
        """Write the matches' outcomes and, from all of the epoch's matches, each matched
        order's settled quantity and settlement status (failed if any of its matches
        failed, with the first such error; else pending if any is pending; else
        settled), and mark the epoch settled once none is pending; all at once."""
        ...

    def list_settlements(self, epoch: int) -> list[SettlementView]:
        """The epoch's settlement transactions, by key."""
        ...

    # --- chain jobs (`programs.jobs`) ---

    def settlement_jobs(self, clock: Callable[[], dt.datetime] | None = None) -> JobStore: ...

    def attestation_jobs(self, clock: Callable[[], dt.datetime] | None = None) -> JobStore: ...

    def lookup_table_jobs(self) -> JobStore: ...

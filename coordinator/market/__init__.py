"""The market as a service: orders, non-custodial escrow, clearing per epoch with
persistence and publication, and exactly-once atomic settlement.

- `rules`: the pure core (validation, which orders enter a clearing and with
  what escrow, the clearing itself, its canonical bytes); it decides;
- `orders_service`: place / cancel / list orders, the Approve to sign, signed
  approvals submitted, trades and settlements listed;
- `escrow`: the unsigned Approve, its checks, the delegation read from chain;
- `clearing_service`: the epoch's clearing stored, published, attested, and
  recomputed on demand; `run_market_epoch` / `resume_market` for the epoch loop;
- `settlement`: matches settled in atomic pairs as exactly-once jobs;
- `store`: the `MarketStore` the services are given in their context, kept by
  `sql_store` (the tables of `coordinator.db.models`) or `memory_store` (tests);
- `records`: what the store returns; `book_cache`: the Redis snapshot;
  `collector`: the garbage collector paused around clearings.

The services load through the store, ask the rules, and write the outcome.
Of the project, the market imports `wire`, `programs` (the chain),
`coordinator.db`, `coordinator.ops.metrics` and `coordinator.errors`; nothing
of readings, devices, the API or the runner.
"""

from coordinator.market.book_cache import BookCache, NullBookCache, RedisBookCache
from coordinator.market.clearing_service import (
    MarketEpochReport,
    Publish,
    attest,
    clear,
    clear_paused,
    publish_pending,
    recompute,
    resume_market,
    run_market_epoch,
    settle,
)
from coordinator.market.collector import collector_paused
from coordinator.market.errors import (
    ApprovalRejected,
    MarketPaused,
    OrderNotFound,
    OrderStateError,
    TradingError,
)
from coordinator.market.escrow import EscrowNeed, build_approval, check_signed_approval
from coordinator.market.memory_store import MemoryMarketStore
from coordinator.market.orders_service import (
    Approval,
    MarketContext,
    PlacedOrder,
    PlacementTerms,
    activate_orders,
    approval_for,
    cancel_order,
    list_orders,
    list_settlements,
    list_trades,
    place_order,
    submit_approval,
)
from coordinator.market.records import (
    ClearingView,
    MatchStatus,
    MatchView,
    OrderStatus,
    OrderView,
    SettlementStatus,
    SettlementView,
)
from coordinator.market.settlement import SettlementKeys, SettlementReport, settle_epoch
from coordinator.market.sql_store import SqlMarketStore
from coordinator.market.store import MarketStore

__all__ = [
    "Approval",
    "ApprovalRejected",
    "BookCache",
    "ClearingView",
    "EscrowNeed",
    "MarketContext",
    "MarketEpochReport",
    "MarketPaused",
    "MarketStore",
    "MatchStatus",
    "MatchView",
    "MemoryMarketStore",
    "NullBookCache",
    "OrderNotFound",
    "OrderStateError",
    "OrderStatus",
    "OrderView",
    "PlacedOrder",
    "PlacementTerms",
    "Publish",
    "RedisBookCache",
    "SettlementKeys",
    "SettlementReport",
    "SettlementStatus",
    "SettlementView",
    "SqlMarketStore",
    "TradingError",
    "activate_orders",
    "approval_for",
    "attest",
    "build_approval",
    "cancel_order",
    "check_signed_approval",
    "clear",
    "clear_paused",
    "collector_paused",
    "list_orders",
    "list_settlements",
    "list_trades",
    "place_order",
    "publish_pending",
    "recompute",
    "resume_market",
    "run_market_epoch",
    "settle",
    "settle_epoch",
    "submit_approval",
]

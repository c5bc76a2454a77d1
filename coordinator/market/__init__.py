"""The market as a service: orders, non-custodial escrow, clearing per epoch with
persistence and publication, and exactly-once atomic settlement.

- `orders_service`: place / cancel / list orders, the Approve to sign, signed
  approvals submitted, trades and settlements listed;
- `escrow`: the unsigned Approve, its checks, the delegation read from chain;
- `clearing_service`: the epoch's clearing stored, published, attested, and
  recomputed on demand; `run_market_epoch` / `resume_market` for the epoch loop;
- `settlement`: matches settled in atomic pairs as exactly-once jobs;
- `store`: the tables (`coordinator.db.models`); `book_cache`: Redis snapshot.
"""

from coordinator.market.book_cache import BookCache, NullBookCache, RedisBookCache
from coordinator.market.clearing_service import (
    MarketEpochReport,
    Publish,
    attest,
    clear,
    publish_pending,
    recompute,
    resume_market,
    run_market_epoch,
)
from coordinator.market.errors import (
    ApprovalRejected,
    OrderNotFound,
    OrderStateError,
    TradingError,
)
from coordinator.market.escrow import EscrowNeed, build_approval, check_signed_approval
from coordinator.market.orders_service import (
    Approval,
    MarketContext,
    PlacedOrder,
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

__all__ = [
    "Approval",
    "ApprovalRejected",
    "BookCache",
    "ClearingView",
    "EscrowNeed",
    "MarketContext",
    "MarketEpochReport",
    "MatchStatus",
    "MatchView",
    "NullBookCache",
    "OrderNotFound",
    "OrderStateError",
    "OrderStatus",
    "OrderView",
    "PlacedOrder",
    "Publish",
    "RedisBookCache",
    "SettlementKeys",
    "SettlementReport",
    "SettlementStatus",
    "SettlementView",
    "TradingError",
    "activate_orders",
    "approval_for",
    "attest",
    "build_approval",
    "cancel_order",
    "check_signed_approval",
    "clear",
    "list_orders",
    "list_settlements",
    "list_trades",
    "place_order",
    "publish_pending",
    "recompute",
    "resume_market",
    "run_market_epoch",
    "settle_epoch",
    "submit_approval",
]

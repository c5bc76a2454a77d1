"""The epoch market: orders, their validation, and the pure, deterministic clearing.

`snapshot` decides which stored orders enter an epoch's clearing and with what
escrow; `clear_epoch(ClearingInputs(...))` clears one 15-minute delivery epoch;
`canonical` gives the bytes and SHA-256 hashes of inputs and results that are
published so anyone can recompute them; `verify_encoded` does that
recomputation. The rules (priority, escrow, self-trades, price, rounding) are
documented in `coordinator.market.rules.clearing`.

The pure core of the market: it imports the standard library and `wire` only,
does no I/O and no logging, and touches no process-wide state (the service
pauses the garbage collector around a clearing, `coordinator.market.collector`).
"""

from coordinator.market.rules.book import ClearingInputs, Escrow
from coordinator.market.rules.canonical import (
    decode_inputs,
    decode_result,
    encode_inputs,
    encode_result,
    inputs_hash,
    result_hash,
)
from coordinator.market.rules.clearing import clear_epoch, k_price, max_buy_quantity
from coordinator.market.rules.errors import InputError, MarketError, OrderError
from coordinator.market.rules.orders import (
    MarketRules,
    Order,
    PricingRule,
    Side,
    check_grid_band,
    check_price_band,
    order_problem,
    payment_for,
    validate_order,
)
from coordinator.market.rules.recheck import Verdict, verify_encoded, verify_result
from coordinator.market.rules.results import ClearingResult, FillStatus, Match, OrderOutcome
from coordinator.market.rules.snapshot import (
    ACCOUNT_FROZEN,
    Admitted,
    Amounts,
    StandingOrder,
    admit,
    escrow_left,
    snapshot,
)

__all__ = [
    "ACCOUNT_FROZEN",
    "Admitted",
    "Amounts",
    "ClearingInputs",
    "ClearingResult",
    "Escrow",
    "FillStatus",
    "InputError",
    "MarketError",
    "MarketRules",
    "Match",
    "Order",
    "OrderError",
    "OrderOutcome",
    "PricingRule",
    "Side",
    "StandingOrder",
    "Verdict",
    "admit",
    "check_grid_band",
    "check_price_band",
    "clear_epoch",
    "decode_inputs",
    "decode_result",
    "encode_inputs",
    "encode_result",
    "escrow_left",
    "inputs_hash",
    "k_price",
    "max_buy_quantity",
    "order_problem",
    "payment_for",
    "result_hash",
    "snapshot",
    "validate_order",
    "verify_encoded",
    "verify_result",
]

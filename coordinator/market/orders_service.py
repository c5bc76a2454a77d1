"""Orders as a service: place, cancel, list; escrow approvals to sign; trades.

The flow for a user (dashboard wallet or CLI key):

1. `place_order` validates and stores the order. If the user's current on-chain
   approvals already cover it (with their other open orders and unsettled
   trades) it is open at once; otherwise it is pending and the answer carries
   the unsigned Approve to sign, sized as the sum of everything open (SPL keeps
   one allowance per token account, and a new Approve replaces the old one).
2. The user signs it and hands it back: `submit_approval` checks it is exactly
   that Approve signed by its owner, sends it, reads the delegation back from
   the chain and opens the pending orders it covers (`activate_orders` does
   the same for an approval sent by other means).
3. Pending orders whose approval never came are expired, with the reason, when
   their epoch clears. The coordinator never holds a user's key.
"""

import asyncio
import datetime as dt
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from coordinator.market.book_cache import BookCache, NullBookCache, book_snapshot
from coordinator.market.errors import MarketPaused, OrderError, OrderNotFound, OrderStateError
from coordinator.market.escrow import (
    Escrow,
    EscrowNeed,
    build_approval,
    check_signed_approval,
    read_escrow,
    required_escrow,
)
from coordinator.market.records import (
    MatchView,
    OrderStatus,
    OrderView,
    SettlementView,
)
from coordinator.market.rules.orders import (
    EPOCH_CLOSED,
    QUANTITY_TOO_LARGE,
    MarketRules,
    Order,
    Side,
    check_grid_band,
    check_price_band,
    validate_order,
)
from coordinator.market.rules.snapshot import ACCOUNT_FROZEN
from coordinator.market.store import MarketStore
from coordinator.ops import metrics
from programs.errors import TransactionFailed
from programs.ledger.base import Ledger
from programs.roles.deployment import Deployment

__all__ = [
    "UNKNOWN_USER",
    "Approval",
    "MarketContext",
    "PlacedOrder",
    "PlacementTerms",
    "activate_orders",
    "approval_for",
    "cancel_order",
    "list_orders",
    "list_settlements",
    "list_trades",
    "place_order",
    "submit_approval",
]

UNKNOWN_USER = "unknown_user"
_FROZEN = "the owner's token accounts are frozen by the REC authority until they are thawed"
_I64_MAX = (1 << 63) - 1


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class PlacementTerms:
    """What an order for one epoch must meet when it is placed: the market rules and
    price band in force for that epoch, and whether placing is paused (`paused` says
    why) - the governed parameters and emergency controls, as the caller read them.
    `grid_band` is (feed-in, retail) in force for the epoch: no sell below the one,
    no buy above the other (None: no grid tariff, as in the market's own tests)."""

    rules: MarketRules
    price_band: tuple[int, int] | None = None
    paused: str | None = None
    grid_band: tuple[int, int] | None = None


Terms = Callable[[int], Awaitable[PlacementTerms]]
"""The placement terms for a delivery epoch."""


@dataclass(frozen=True, slots=True)
class MarketContext:
    """What the market service works with: `store` (`SqlMarketStore` over the engine,
    or `MemoryMarketStore` in tests), the ledger and the deployment. `fee_payer`,
    when set, pays (and co-signs) the fee of users' approvals, so users need no SOL.
    `terms`, when set, gives the rules, band and pause an order is placed under
    (`coordinator.governance.reader`); without it, `rules` and no band, never paused.
    `band` is the price band a clearing holds its orders to (None: any price): the
    band in force for the epoch cleared (`coordinator.onchain.governed`)."""

    store: MarketStore
    ledger: Ledger
    deployment: Deployment
    rules: MarketRules = field(default_factory=MarketRules)
    cache: BookCache = field(default_factory=NullBookCache)
    fee_payer: Keypair | None = None
    max_epochs_ahead: int | None = 96
    clock: Callable[[], dt.datetime] = _utcnow
    terms: Terms | None = None
    band: tuple[int, int] | None = None

    async def placement_terms(self, epoch: int) -> PlacementTerms:
        return PlacementTerms(self.rules) if self.terms is None else await self.terms(epoch)


@dataclass(frozen=True, slots=True)
class Approval:
    """An unsigned Approve for the owner to sign (serialized legacy transaction), and
    what it allows: the sum of the owner's open orders and unsettled trades."""

    tx: bytes
    need: EscrowNeed


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order: OrderView
    approval: Approval | None  # None when the order is already open


async def _need(ctx: MarketContext, owner: str) -> EscrowNeed:
    live = await asyncio.to_thread(ctx.store.live_orders, owner)
    owed = await asyncio.to_thread(ctx.store.owed, owner)
    return required_escrow(((o.side, o.quantity, o.limit_price) for o in live), owed)


async def approval_for(
    ctx: MarketContext, owner: str, *, retirement_allowance: int = 0
) -> Approval:
    """The Approve covering all of `owner`'s open and pending orders, to sign; with
    `retirement_allowance` energy base units more, which the user lets be burned
    against their metered consumption (`coordinator.lifecycle`): the one delegation
    serves both, the market's part first."""
    need = await _need(ctx, owner)
    if retirement_allowance < 0:
        raise ValueError("a retirement allowance is not negative")
    need = EscrowNeed(need.energy + retirement_allowance, need.payment)
    tx = build_approval(
        ctx.deployment,
        Pubkey.from_string(owner),
        need,
        await ctx.ledger.latest_blockhash(),
        fee_payer=None if ctx.fee_payer is None else ctx.fee_payer.pubkey(),
        prefix=ctx.ledger.fee_policy.instructions(),
    )
    return Approval(bytes(tx), need)


async def place_order(
    ctx: MarketContext,
    *,
    owner: str,
    side: Side,
    epoch: int,
    quantity: int,
    limit_price: int,
    open_epoch: int,
    expires_at: dt.datetime | None = None,
) -> PlacedOrder:
    """Validate and store an order; raises OrderError with a reason code
    (`coordinator.market.rules.orders` codes, or UNKNOWN_USER: no token accounts),
    MarketPaused while placing orders is paused."""
    terms = await ctx.placement_terms(epoch)
    if terms.paused is not None:
        raise MarketPaused(terms.paused)
    # seq 0: the store gives the order its place in the sequence.
    order = validate_order(
        Order(secrets.token_hex(10), owner, side, epoch, quantity, limit_price, 0),
        terms.rules,
        open_epoch=open_epoch,
        max_epochs_ahead=ctx.max_epochs_ahead,
    )
    check_price_band(order, terms.price_band)
    check_grid_band(order, terms.grid_band)
    if quantity > _I64_MAX:
        raise OrderError(QUANTITY_TOO_LARGE, "quantity exceeds 2**63 - 1 base units")
    if await asyncio.to_thread(ctx.store.is_cleared, epoch):
        raise OrderError(EPOCH_CLOSED, f"epoch {epoch} has been cleared")
    escrow = await read_escrow(ctx.ledger, ctx.deployment, Pubkey.from_string(owner))
    if not escrow.registered:
        raise OrderError(UNKNOWN_USER, "the owner has no token accounts: register first")
    if escrow.frozen:
        raise OrderError(ACCOUNT_FROZEN, _FROZEN)
    await asyncio.to_thread(
        ctx.store.insert_order,
        order,
        status=OrderStatus.PENDING,
        expires_at=expires_at,
        now=ctx.clock(),
    )
    metrics.ORDERS_PLACED.labels(side.value).inc()
    await _activate(ctx, owner, escrow)
    placed = await asyncio.to_thread(ctx.store.get_order, order.order_id)
    assert placed is not None
    approval = None if placed.status is OrderStatus.OPEN else await approval_for(ctx, owner)
    return PlacedOrder(placed, approval)


async def _activate(ctx: MarketContext, owner: str, escrow: Escrow) -> list[OrderView]:
    live = await asyncio.to_thread(ctx.store.live_orders, owner)
    owed = await asyncio.to_thread(ctx.store.owed, owner)
    committed = required_escrow(
        ((o.side, o.quantity, o.limit_price) for o in live if o.status is OrderStatus.OPEN), owed
    )
    energy, payment = committed.energy, committed.payment
    opened: list[str] = []
    for order in live:  # oldest first: earlier orders are covered first
        if order.status is not OrderStatus.PENDING:
            continue
        extra = required_escrow([(order.side, order.quantity, order.limit_price)])
        if (
            energy + extra.energy <= escrow.energy.delegated
            and payment + extra.payment <= escrow.payment.delegated
        ):
            energy += extra.energy
            payment += extra.payment
            opened.append(order.order_id)
    await asyncio.to_thread(ctx.store.set_open, opened, ctx.clock())
    for epoch in sorted({o.epoch for o in live if o.order_id in opened}):
        await _refresh_book(ctx, epoch)
    return [o for o in await asyncio.to_thread(ctx.store.live_orders, owner)]


async def activate_orders(ctx: MarketContext, owner: str) -> list[OrderView]:
    """Open the owner's pending orders that the on-chain delegation now covers (oldest
    first); returns the owner's live orders."""
    escrow = await read_escrow(ctx.ledger, ctx.deployment, Pubkey.from_string(owner))
    return await _activate(ctx, owner, escrow)


async def submit_approval(ctx: MarketContext, owner: str, signed_tx: bytes) -> list[OrderView]:
    """Check a signed approval (ApprovalRejected if it is not the one built for `owner`),
    send it, then open the pending orders it covers; returns the owner's live orders.
    OrderError `account_frozen` while the owner's token accounts are frozen."""
    wallet = Pubkey.from_string(owner)
    tx, _ = check_signed_approval(
        ctx.deployment,
        wallet,
        signed_tx,
        fee_payer=ctx.fee_payer,
        prefix=ctx.ledger.fee_policy.instructions(),
    )
    # SPL Token refuses to approve from a frozen account: say so, in the market's words.
    if (await read_escrow(ctx.ledger, ctx.deployment, wallet)).frozen:
        raise OrderError(ACCOUNT_FROZEN, _FROZEN)
    try:
        await ctx.ledger.send_transaction(tx)
    except TransactionFailed as exc:
        if (await read_escrow(ctx.ledger, ctx.deployment, wallet)).frozen:
            raise OrderError(ACCOUNT_FROZEN, _FROZEN) from exc  # frozen in the meantime
        raise
    return await activate_orders(ctx, owner)


async def cancel_order(ctx: MarketContext, *, owner: str, order_id: str) -> OrderView:
    """Cancel a pending or open order of `owner` (OrderStateError once cleared)."""
    order = await asyncio.to_thread(ctx.store.cancel_order, order_id, owner, ctx.clock())
    if order is None:
        raise OrderNotFound(f"no order {order_id!r} of {owner}")
    if order.status is not OrderStatus.CANCELLED:
        raise OrderStateError(f"order {order_id} is {order.status}, it can no longer be cancelled")
    await _refresh_book(ctx, order.epoch)
    return order


async def list_orders(
    ctx: MarketContext,
    *,
    owner: str | None = None,
    epoch: int | None = None,
    statuses: Sequence[OrderStatus] | None = None,
    limit: int = 100,
    before_seq: int | None = None,
) -> list[OrderView]:
    return await asyncio.to_thread(
        ctx.store.list_orders,
        owner=owner,
        epoch=epoch,
        statuses=statuses,
        limit=limit,
        before_seq=before_seq,
    )


async def list_trades(
    ctx: MarketContext, *, owner: str | None = None, epoch: int | None = None, limit: int = 100
) -> list[MatchView]:
    return await asyncio.to_thread(ctx.store.list_matches, owner=owner, epoch=epoch, limit=limit)


async def list_settlements(ctx: MarketContext, epoch: int) -> list[SettlementView]:
    return await asyncio.to_thread(ctx.store.list_settlements, epoch)


async def _refresh_book(ctx: MarketContext, epoch: int) -> None:
    orders = await asyncio.to_thread(ctx.store.open_orders_for, epoch)
    await ctx.cache.put(epoch, book_snapshot(epoch, orders))

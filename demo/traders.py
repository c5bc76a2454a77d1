"""Simulated campus users who trade each epoch with their own wallet keys.

`plan_orders` is pure: given each user's balances it decides the orders for a
delivery epoch (prosumers sell part of the energy tokens they hold, consumers
buy with their campus credit), prices scattered around a reference so the
book crosses. `Trader.place` does what a user's wallet would: place the
order, sign an Approve of what the orders need plus a standing retirement allowance
with the user's own key, submit it.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass

from solders.keypair import Keypair
from solders.transaction import Transaction

from coordinator.market import MarketContext, approval_for, place_order, submit_approval
from coordinator.market.escrow import read_escrow
from coordinator.market.rules.orders import Side

__all__ = ["OrderIntent", "Trader", "UserBalance", "plan_orders"]

LOT = 1_000_000  # 1 Wh of energy-token base units
TICK = 1_000  # 0.001 credit per kWh
REFERENCE_PRICE = 120_000  # 0.12 credit per kWh, in payment base units (6 decimals)
RETIREMENT_ALLOWANCE = 1_000 * 10**9  # 1 MWh: each user lets their tokens meet their import


@dataclass(frozen=True, slots=True)
class UserBalance:
    wallet: str
    seller: bool
    energy: int  # energy-token base units held
    payment: int  # payment-token base units held


@dataclass(frozen=True, slots=True)
class OrderIntent:
    wallet: str
    side: Side
    quantity: int
    limit_price: int


def _price(rng: random.Random, low: float, high: float) -> int:
    raw = REFERENCE_PRICE * rng.uniform(low, high)
    return max(TICK, int(raw) // TICK * TICK)


def plan_orders(users: Sequence[UserBalance], seed: int) -> list[OrderIntent]:
    """Orders for one delivery epoch. Sellers offer about half of what they hold
    at 0.85-1.10 of the reference price; buyers bid for 0.2-3 kWh at 0.95-1.25,
    never more than their credit covers at their limit."""
    rng = random.Random(seed)  # noqa: S311 - a simulation, not a secret
    intents = []
    for user in sorted(users, key=lambda u: u.wallet):
        if user.seller:
            quantity = int(user.energy * rng.uniform(0.3, 0.7)) // LOT * LOT
            if quantity > 0:
                intents.append(
                    OrderIntent(user.wallet, Side.SELL, quantity, _price(rng, 0.85, 1.10))
                )
        else:
            price = _price(rng, 0.95, 1.25)
            affordable = user.payment * 10**9 // price // LOT * LOT
            quantity = min(int(rng.uniform(0.2, 3.0) * 1000) * LOT, affordable)
            if quantity > 0:
                intents.append(OrderIntent(user.wallet, Side.BUY, quantity, price))
    return intents


class Trader:
    """A user's wallet: holds the user's key, signs only the user's approvals."""

    def __init__(self, keypair: Keypair, *, seller: bool) -> None:
        self.keypair = keypair
        self.wallet = str(keypair.pubkey())
        self.seller = seller

    async def balance(self, ctx: MarketContext) -> UserBalance:
        escrow = await read_escrow(ctx.ledger, ctx.deployment, self.keypair.pubkey())
        return UserBalance(self.wallet, self.seller, escrow.energy.balance, escrow.payment.balance)

    async def place(
        self, ctx: MarketContext, intent: OrderIntent, epoch: int, open_epoch: int
    ) -> str:
        placed = await place_order(
            ctx,
            owner=self.wallet,
            side=intent.side,
            epoch=epoch,
            quantity=intent.quantity,
            limit_price=intent.limit_price,
            open_epoch=open_epoch,
        )
        if placed.approval is not None:
            await self.approve(ctx)
        return placed.order.order_id

    async def approve(self, ctx: MarketContext) -> None:
        """Sign and submit the approval of the user's orders plus a standing retirement
        allowance (the user consents to their tokens meeting their metered import)."""
        approval = await approval_for(ctx, self.wallet, retirement_allowance=RETIREMENT_ALLOWANCE)
        tx = Transaction.from_bytes(approval.tx)
        tx.partial_sign([self.keypair], tx.message.recent_blockhash)
        await submit_approval(ctx, self.wallet, bytes(tx))

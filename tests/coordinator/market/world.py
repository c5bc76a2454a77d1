"""A market on an embedded ledger for the trading tests: users with their own keys
who sign their own approvals, energy minted to sellers, payment to everyone."""

import secrets
from dataclasses import dataclass, replace

from solders.keypair import Keypair
from solders.transaction import Transaction

from coordinator.market import (
    MarketContext,
    MarketStore,
    OrderView,
    SettlementKeys,
    place_order,
    submit_approval,
)
from coordinator.market.rules import MarketRules, Side
from programs.ledger import EmbeddedLedger
from programs.roles.deployment import user_accounts
from programs.roles.oracle import mint_energy
from tests.programs.conftest import World, add_users, make_world

KWH = 10**9
CREDIT = 10**6


@dataclass
class Market:
    world: World
    ctx: MarketContext
    keys: SettlementKeys
    epoch: int

    async def restart(self) -> None:
        """A new ledger process over the same durable store (blockhashes forgotten)."""
        ledger = await EmbeddedLedger.open(self.world.store)
        self.world.ledger = ledger
        self.ctx = replace(self.ctx, ledger=ledger)

    async def users(self, count: int, *, kwh: int = 0, credit: int = 0) -> list[Keypair]:
        users = await add_users(self.world, count, payment=credit * CREDIT)
        if kwh:
            await mint_energy(
                self.world.ledger,
                self.world.deployment,
                payer=self.world.payer,
                oracle=self.world.oracle,
                epoch=self.epoch - 1,
                grants=[(u.pubkey(), kwh * KWH) for u in users],
            )
        return users

    async def order(
        self, user: Keypair, side: Side, kwh: float, price: int, *, sign: bool = True
    ) -> OrderView:
        """Place an order and, as the user's wallet would, sign and submit the approval."""
        placed = await place_order(
            self.ctx,
            owner=str(user.pubkey()),
            side=side,
            epoch=self.epoch,
            quantity=round(kwh * KWH),
            limit_price=price,
            open_epoch=self.epoch,
        )
        if placed.approval is None or not sign:
            return placed.order
        tx = Transaction.from_bytes(placed.approval.tx)
        tx.partial_sign([user], tx.message.recent_blockhash)
        live = await submit_approval(self.ctx, str(user.pubkey()), bytes(tx))
        (order,) = [o for o in live if o.order_id == placed.order.order_id]
        return order

    async def balances(self, user: Keypair) -> tuple[int, int]:
        accounts = user_accounts(self.world.deployment, user.pubkey())
        ledger = self.world.ledger
        return (
            await ledger.token_balance(accounts.energy),
            await ledger.token_balance(accounts.payment),
        )


async def make_market(store: MarketStore) -> Market:
    world = await make_world()
    ctx = MarketContext(
        store=store,
        ledger=world.ledger,
        deployment=world.deployment,
        rules=MarketRules(),
        fee_payer=world.payer,
        max_epochs_ahead=None,
    )
    # The test database is shared by the run: an epoch of our own.
    epoch = 10**6 + secrets.randbelow(10**9)
    return Market(world, ctx, SettlementKeys(world.payer, world.settler), epoch)

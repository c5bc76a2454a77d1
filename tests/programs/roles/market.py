"""Amounts in base units, and a small market for the trading and governance tests: a
seller with energy and a buyer with credit, both escrowed to the settlement authority."""

from solders.keypair import Keypair

from programs.roles.deployment import user_accounts
from programs.roles.oracle import mint_energy
from programs.roles.token import ENERGY_DECIMALS, PAYMENT_DECIMALS
from programs.roles.trading import Trade, TradeOutcome, approve_escrow, settle
from tests.programs.conftest import World, add_users

__all__ = ["CREDIT", "KWH", "balances_of", "open_market", "settle_trades"]

KWH = 10**ENERGY_DECIMALS
CREDIT = 10**PAYMENT_DECIMALS


async def open_market(world: World, *, payment_allowance: int) -> tuple[Keypair, Keypair]:
    """A seller with 5 kWh escrowed in full and a buyer with 100 credit of which
    `payment_allowance` is escrowed."""
    seller, buyer = await add_users(world, 2, payment=100 * CREDIT)
    await mint_energy(
        world.ledger,
        world.deployment,
        payer=world.payer,
        oracle=world.oracle,
        epoch=1,
        grants=[(seller.pubkey(), 5 * KWH)],
    )
    await approve_escrow(
        world.ledger, world.deployment, payer=world.payer, owner=seller, energy=5 * KWH, payment=0
    )
    await approve_escrow(
        world.ledger,
        world.deployment,
        payer=world.payer,
        owner=buyer,
        energy=0,
        payment=payment_allowance,
    )
    return seller, buyer


async def balances_of(world: World, *owners: Keypair) -> list[int]:
    """Energy, then payment balance, of each owner in turn."""
    result = []
    for owner in owners:
        accounts = user_accounts(world.deployment, owner.pubkey())
        result += [
            await world.ledger.token_balance(accounts.energy),
            await world.ledger.token_balance(accounts.payment),
        ]
    return result


async def settle_trades(
    world: World, trades: list[Trade], *, epoch: int = 1, batch: bool | None = None
) -> list[TradeOutcome]:
    """`trading.settle` by the world's payer and settlement authority."""
    return await settle(
        world.ledger,
        world.deployment,
        payer=world.payer,
        settlement_authority=world.settler,
        epoch=epoch,
        trades=trades,
        batch=batch,
    )

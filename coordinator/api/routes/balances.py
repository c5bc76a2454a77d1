"""The user's energy and payment token balances, read from the ledger."""

from typing import Annotated

from fastapi import APIRouter, Depends
from solders.pubkey import Pubkey

from coordinator.api.deps import USER, Principal, require_chain, require_role
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.schemas import BalancesOut
from programs.roles.deployment import user_accounts
from programs.roles.token import ENERGY_DECIMALS, PAYMENT_DECIMALS

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/balances", tags=["balances"])


@router.get("")
async def my_balances(
    principal: Annotated[Principal, Depends(require_role(USER))],
    chain: Annotated[ChainAccess, Depends(require_chain)],
) -> BalancesOut:
    """Base units (energy: 9 decimals, 1 kWh = 10**9; payment: 6 decimals); 0 for an
    account not created yet."""
    accounts = user_accounts(chain.deployment, Pubkey.from_string(principal.subject))
    return BalancesOut(
        address=principal.subject,
        energy_account=str(accounts.energy),
        payment_account=str(accounts.payment),
        energy_base_units=await chain.ledger.token_balance(accounts.energy),
        payment_base_units=await chain.ledger.token_balance(accounts.payment),
        energy_decimals=ENERGY_DECIMALS,
        payment_decimals=PAYMENT_DECIMALS,
    )

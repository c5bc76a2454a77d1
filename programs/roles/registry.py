"""The registry: each user's associated token accounts for both mints, and a Memo
record of each gateway / meter registration signed by the REC authority
(`gtx/v1 register gateway=G meter=M owner=O`)."""

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from programs import spl
from programs.ledger.base import Ledger
from programs.roles.deployment import Deployment, UserAccounts, user_accounts
from programs.roles.memos import memo_text
from programs.roles.transactions import send_instructions

__all__ = ["record_registration_memo", "register_user", "registration_memo"]


def registration_memo(gateway_id: str, meter_id: str, owner: Pubkey) -> bytes:
    """`gtx/v1 register gateway=G meter=M owner=O`."""
    return memo_text("register", [("gateway", gateway_id), ("meter", meter_id), ("owner", owner)])


async def register_user(
    ledger: Ledger, deployment: Deployment, *, payer: Keypair, owner: Pubkey
) -> UserAccounts:
    """Create `owner`'s ATAs for both mints (paid by `payer`); idempotent."""
    accounts = user_accounts(deployment, owner)
    missing = [
        mint
        for mint, address in (
            (deployment.energy_mint, accounts.energy),
            (deployment.payment_mint, accounts.payment),
        )
        if await ledger.get_account(address) is None
    ]
    if missing:
        instructions = [
            spl.create_associated_token_account(payer=payer.pubkey(), owner=owner, mint=mint)
            for mint in missing
        ]
        await send_instructions(ledger, instructions, payer, [])
    return accounts


async def record_registration_memo(
    ledger: Ledger,
    *,
    payer: Keypair,
    rec_authority: Keypair,
    gateway_id: str,
    meter_id: str,
    owner: Pubkey,
) -> Signature:
    """Record a gateway / meter registration as a Memo signed by the REC authority."""
    message = registration_memo(gateway_id, meter_id, owner)
    return await send_instructions(
        ledger, [spl.memo(message, [rec_authority.pubkey()])], payer, [rec_authority]
    )

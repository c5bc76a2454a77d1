"""Governance by the REC authority: freezing a user's token accounts (the emergency
stop) and thawing them, and parameter changes recorded as signed Memos
(`gtx/v1 governance change=C`)."""

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature

from programs import spl
from programs.ledger.base import Ledger
from programs.roles.deployment import Deployment, user_accounts
from programs.roles.memos import memo_text
from programs.roles.transactions import send_instructions

__all__ = ["freeze_user", "governance_memo", "record_governance_memo", "thaw_user"]


def governance_memo(change: str) -> bytes:
    """`gtx/v1 governance change=C`."""
    return memo_text("governance", [("change", change)])


async def _freeze_or_thaw(
    ledger: Ledger,
    deployment: Deployment,
    payer: Keypair,
    rec_authority: Keypair,
    owner: Pubkey,
    *,
    freeze: bool,
) -> Signature:
    accounts = user_accounts(deployment, owner)
    build = spl.freeze_account if freeze else spl.thaw_account
    instructions = [
        build(account=account, mint=mint, authority=rec_authority.pubkey())
        for account, mint in (
            (accounts.energy, deployment.energy_mint),
            (accounts.payment, deployment.payment_mint),
        )
    ]
    return await send_instructions(ledger, instructions, payer, [rec_authority])


async def freeze_user(
    ledger: Ledger, deployment: Deployment, *, payer: Keypair, rec_authority: Keypair, owner: Pubkey
) -> Signature:
    """Emergency stop: freeze both of `owner`'s token accounts (REC authority signs)."""
    return await _freeze_or_thaw(ledger, deployment, payer, rec_authority, owner, freeze=True)


async def thaw_user(
    ledger: Ledger, deployment: Deployment, *, payer: Keypair, rec_authority: Keypair, owner: Pubkey
) -> Signature:
    """Undo `freeze_user`."""
    return await _freeze_or_thaw(ledger, deployment, payer, rec_authority, owner, freeze=False)


async def record_governance_memo(
    ledger: Ledger, *, payer: Keypair, rec_authority: Keypair, change: str
) -> Signature:
    """Record a parameter change as a memo signed by the REC authority."""
    message = governance_memo(change)
    return await send_instructions(
        ledger, [spl.memo(message, [rec_authority.pubkey()])], payer, [rec_authority]
    )

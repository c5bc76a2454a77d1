"""Governance by the REC authority: freezing a user's token accounts and thawing
them, and governance records as Memos. The text of a record (a parameter change
signed by the authority's wallet, a pause of the market, a note) is the
coordinator's (`coordinator.governance`); here it is only put on chain."""

from collections.abc import Sequence

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import TokenAccountState

from programs import spl
from programs.errors import LedgerUsageError
from programs.ledger.base import Ledger
from programs.roles.deployment import Deployment, user_accounts
from programs.roles.transactions import send_instructions

__all__ = ["freeze_user", "is_frozen", "record_memo", "thaw_user"]


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
        # An account already in the wanted state is left alone (the token program
        # would refuse the whole transaction for it).
        if await is_frozen(ledger, account) is not freeze
    ]
    if not instructions:
        raise LedgerUsageError(f"{owner}'s token accounts are {'' if freeze else 'not '}frozen")
    return await send_instructions(ledger, instructions, payer, [rec_authority])


async def is_frozen(ledger: Ledger, account: Pubkey) -> bool | None:
    """Whether a token account is frozen; None when it does not exist."""
    state = await ledger.get_token_account(account)
    return None if state is None else state.state == TokenAccountState.Frozen


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


async def record_memo(
    ledger: Ledger, text: bytes, *, payer: Keypair, signers: Sequence[Keypair] = ()
) -> Signature:
    """Put `text` on chain as a Memo naming `signers` (each signs the transaction);
    with none, the fee payer's signature alone carries it (a text whose author signed
    it inside, like a parameter change, needs no other)."""
    return await send_instructions(
        ledger, [spl.memo(text, [s.pubkey() for s in signers])], payer, list(signers)
    )

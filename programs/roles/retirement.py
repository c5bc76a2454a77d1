"""Retirement: a consumer's energy tokens burned against their metered import, and the
epoch's certificates committed on chain.

The burn is non-custodial. SPL Token keeps one delegate per token account, and escrow
(`programs.roles.trading`) already makes the settlement authority that delegate; a
user's energy approval is therefore one allowance shared by two purposes: what open
sell orders need, and, above that, what the user lets be retired. The coordinator
burns (BurnChecked under that delegation) only from the part above what the market
holds, so retirement never takes what a sale is owed; a user who revokes the
approval (or approves only what their orders need) is never burned from.

Each burn transaction opens with the memo `gtx/v1 retire epoch=E` signed by the
settlement authority (a refused one's retry: `... attempt=N`); the epoch's
certificates are committed by `gtx/v1 certify epoch=E root=HEX count=N units=U`.
Pure builders returning signed transactions, for `programs.jobs`.
"""

from collections.abc import Sequence

from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from programs import spl
from programs.ledger.base import NO_PRIORITY_FEE, FeePolicy
from programs.roles.deployment import Deployment, user_accounts
from programs.roles.memos import memo_text
from programs.roles.token import ENERGY_DECIMALS
from programs.roles.transactions import sign

__all__ = ["build_burns", "build_certify", "certify_memo", "retire_memo"]


def retire_memo(epoch: int, attempt: int = 0) -> bytes:
    """`gtx/v1 retire epoch=E`, opening each transaction burning epoch E's matched tokens."""
    if attempt < 0:
        raise ValueError("attempts are numbered from 0")
    return memo_text("retire", [("epoch", epoch), *([("attempt", attempt)] if attempt else [])])


def certify_memo(epoch: int, root: bytes, count: int, units: int) -> bytes:
    """`gtx/v1 certify epoch=E root=HEX count=N units=U`: the Merkle root of the
    epoch's N certificates, U base units retired in all."""
    if len(root) != 32:
        raise ValueError("a Merkle root is 32 bytes")
    fields = [("epoch", epoch), ("root", root.hex()), ("count", count), ("units", units)]
    return memo_text("certify", fields)


def build_burns(
    deployment: Deployment,
    *,
    authority: Keypair,
    epoch: int,
    burns: Sequence[tuple[Pubkey, int]],
    blockhash: Hash,
    fee: FeePolicy = NO_PRIORITY_FEE,
    attempt: int = 0,
) -> Transaction:
    """One transaction burning each (owner, base units) from the owner's energy account
    under the settlement authority's delegation, paid and signed by that authority."""
    key = authority.pubkey()
    instructions = [*fee.instructions(), spl.memo(retire_memo(epoch, attempt), [key])]
    for owner, units in burns:
        instructions.append(
            spl.burn_checked(
                account=user_accounts(deployment, owner).energy, mint=deployment.energy_mint,
                authority=key, amount=units, decimals=ENERGY_DECIMALS,
            )
        )  # fmt: skip
    return sign(instructions, authority, [], blockhash)


def build_certify(
    *,
    authority: Keypair,
    epoch: int,
    root: bytes,
    count: int,
    units: int,
    blockhash: Hash,
    fee: FeePolicy = NO_PRIORITY_FEE,
) -> Transaction:
    memo = spl.memo(certify_memo(epoch, root, count, units), [authority.pubkey()])
    return sign([*fee.instructions(), memo], authority, [], blockhash)

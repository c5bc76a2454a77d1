"""One deployment's addresses, and the accounts derived from them: each owner's
associated token accounts for the energy and payment mints. Every role builds on it."""

import functools
from dataclasses import dataclass

from solders.pubkey import Pubkey

from programs import spl

__all__ = ["Deployment", "UserAccounts", "user_accounts"]


@dataclass(frozen=True, slots=True)
class Deployment:
    """Addresses of one GridTokenX deployment on a ledger."""

    energy_mint: Pubkey
    payment_mint: Pubkey
    oracle: Pubkey
    rec_authority: Pubkey
    settlement_authority: Pubkey
    mint_multisig: Pubkey | None = None  # the energy mint's authority, where configured

    @property
    def energy_mint_authority(self) -> Pubkey:
        return self.oracle if self.mint_multisig is None else self.mint_multisig


@dataclass(frozen=True, slots=True)
class UserAccounts:
    """A user's associated token accounts for the energy and payment mints."""

    owner: Pubkey
    energy: Pubkey
    payment: Pubkey


@functools.lru_cache(maxsize=1 << 16)  # settlement asks four times a trade
def user_accounts(deployment: Deployment, owner: Pubkey) -> UserAccounts:
    """An owner's energy and payment token accounts (associated token addresses)."""
    return UserAccounts(
        owner,
        spl.associated_token_address(owner, deployment.energy_mint),
        spl.associated_token_address(owner, deployment.payment_mint),
    )

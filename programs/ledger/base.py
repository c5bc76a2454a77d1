"""The one interface every ledger backend offers (embedded LiteSVM, rpc cluster).

Async so an rpc backend (solana-py `AsyncClient`) fits the same shape; the
embedded backend does its work inline.

Exactly-once on top of it: build and sign a transaction, store its signature,
then `send_transaction`; after a crash ask `signature_status`. A signature
the ledger does not know whose blockhash is no longer valid
(`is_blockhash_valid` is False) can never land, so the caller may rebuild.
Sending a transaction the ledger already processed applies nothing twice.
"""

from dataclasses import dataclass
from typing import Protocol

from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount
from solders.transaction import Transaction

__all__ = ["Ledger", "TxStatus"]


@dataclass(frozen=True, slots=True)
class TxStatus:
    """What the ledger knows of a processed transaction. `error` is None on success."""

    signature: Signature
    slot: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


class Ledger(Protocol):
    """A Solana ledger: read accounts, send transactions, learn their fate."""

    async def latest_blockhash(self) -> Hash:
        """A blockhash to sign new transactions with."""
        ...

    async def is_blockhash_valid(self, blockhash: Hash) -> bool:
        """Whether a transaction signed with `blockhash` could still be processed."""
        ...

    async def send_transaction(self, tx: Transaction) -> Signature:
        """Check the size limit, send, and wait until processed.

        Raises TransactionTooLarge, TransactionExpired, TransactionFailed (with the
        runtime's error and logs) or LedgerUnavailable. Sending an already processed
        transaction again returns its signature (or raises its recorded failure)
        without applying it twice.
        """
        ...

    async def signature_status(self, signature: Signature) -> TxStatus | None:
        """The outcome of a processed transaction; None if the ledger never saw it."""
        ...

    async def get_account(self, address: Pubkey) -> Account | None:
        """The account at `address`, None if it does not exist."""
        ...

    async def get_token_account(self, address: Pubkey) -> TokenAccount | None:
        """The SPL token account at `address`, decoded; None if it does not exist."""
        ...

    async def get_mint(self, address: Pubkey) -> Mint | None:
        """The SPL mint at `address`, decoded; None if it does not exist."""
        ...

    async def token_balance(self, address: Pubkey) -> int:
        """Base units held by the token account at `address` (0 if it does not exist)."""
        ...

    async def minimum_balance_for_rent_exemption(self, size: int) -> int:
        """Lamports an account of `size` data bytes needs to be rent-exempt."""
        ...

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        """Credit lamports (fee payers in tests and the demo); UnsupportedOperation on a
        real cluster."""
        ...

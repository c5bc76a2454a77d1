"""The one interface every ledger backend offers (embedded LiteSVM, rpc cluster).

Async so an rpc backend (solana-py `AsyncClient`) fits the same shape; the
embedded backend does its work inline.

Exactly-once on top of it: build and sign a transaction, store its signature,
then `send_transaction`; after a crash ask `signature_status`. A signature
the ledger does not know whose blockhash is no longer valid
(`is_blockhash_valid` is False) can never land, so the caller may rebuild.
Sending a transaction the ledger already processed applies nothing twice.

A backend's `fee_policy` says which ComputeBudget instructions (priority fee)
open every transaction built for it; the builders in `programs.roles` take it.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from solders.account import Account
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount
from solders.transaction import Transaction, VersionedTransaction

from programs.errors import TransactionExpired

__all__ = [
    "NO_PRIORITY_FEE",
    "AnyTransaction",
    "FeePolicy",
    "Ledger",
    "TxStatus",
    "send_rebuilding",
]

AnyTransaction = Transaction | VersionedTransaction
"""What a ledger takes: a legacy transaction, or a versioned (v0) one."""


@dataclass(frozen=True, slots=True)
class FeePolicy:
    """Priority fee: `compute_unit_price` micro-lamports per compute unit (0 = none) and an
    optional `compute_unit_limit` (None = the runtime's default)."""

    compute_unit_price: int = 0
    compute_unit_limit: int | None = None

    def __post_init__(self) -> None:
        if self.compute_unit_price < 0:
            raise ValueError("compute_unit_price must be >= 0")
        if self.compute_unit_limit is not None and not 0 < self.compute_unit_limit <= 1_400_000:
            raise ValueError("compute_unit_limit must be in 1..1,400,000")

    def instructions(self) -> list[Instruction]:
        """The ComputeBudget instructions that open each transaction (none by default)."""
        result = []
        if self.compute_unit_limit is not None:
            result.append(set_compute_unit_limit(self.compute_unit_limit))
        if self.compute_unit_price:
            result.append(set_compute_unit_price(self.compute_unit_price))
        return result


NO_PRIORITY_FEE = FeePolicy()


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

    @property
    def fee_policy(self) -> FeePolicy:
        """The priority fee that transactions built for this ledger carry."""
        ...

    @property
    def token_batch(self) -> bool:
        """Whether its token program takes p-token's Batch instruction (`spl.batch`)."""
        ...

    async def latest_blockhash(self) -> Hash:
        """A blockhash to sign new transactions with."""
        ...

    async def is_blockhash_valid(self, blockhash: Hash) -> bool:
        """Whether a transaction signed with `blockhash` could still be processed."""
        ...

    async def recent_slot(self) -> int:
        """A slot a lookup table may be created against (in the SlotHashes sysvar)."""
        ...

    async def send_transaction(self, tx: AnyTransaction) -> Signature:
        """Check the size limit, send, and wait until processed (legacy or v0).

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


async def send_rebuilding(
    ledger: Ledger,
    build: Callable[[Hash], AnyTransaction],
    *,
    attempts: int = 3,
    on_signed: Callable[[AnyTransaction], Awaitable[None]] | None = None,
) -> Signature:
    """Send `build(blockhash)`; when it expires unseen, rebuild with a new blockhash and
    send again, up to `attempts` transactions in all.

    `on_signed` runs before each send (e.g. to store the signature). Only for
    transactions whose effect is harmless to repeat, or whose earlier versions are
    known to have expired: that is exactly what TransactionExpired tells.
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(attempts):
        tx = build(await ledger.latest_blockhash())
        if on_signed is not None:
            await on_signed(tx)
        try:
            return await ledger.send_transaction(tx)
        except TransactionExpired:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")

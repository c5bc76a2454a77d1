"""The embedded ledger: the real SVM (`solders.litesvm`) in process, made durable.

LiteSVM keeps everything in memory and, out of the box, accepts only its one
current blockhash, derives the same blockhash in every fresh instance and
ignores the 1232-byte limit. So this backend:

- checks the size of every transaction (`programs.txsize`);
- issues its own blockhashes (random; a new one every `slot_seconds` and after
  every processed transaction, so a rebuilt transaction never collides with
  the signature of an earlier one), valid
  for `blockhash_ttl` seconds like a cluster's ~150 slots, and forgets them
  on restart, so a transaction signed before a restart and not journaled is
  expired and may safely be rebuilt (LiteSVM's own check is turned off);
- writes through to a `LedgerStore`, after every processed transaction, the
  accounts it could write plus a journal entry, in one store transaction; on
  start it loads every stored account into a fresh LiteSVM;
- answers a resend of a journaled signature from the journal, so nothing is
  applied twice, across restarts too;
- remembers every address it has loaded or written, so it can list the token
  accounts of an owner (getTokenAccountsByOwner) without a scan of the store.

What it is not: a cluster. One process, one "validator", no consensus, no
forks: every journaled transaction is final at once (reported as
"finalized"), and slots count processed transactions, not time.
"""

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable, Sequence

from solders.account import Account
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount
from solders.transaction_metadata import FailedTransactionMetadata

from programs.errors import LedgerUnavailable, TransactionExpired, TransactionFailed
from programs.ledger.base import NO_PRIORITY_FEE, AnyTransaction, FeePolicy, TxStatus
from programs.ledger.store import AddressSignature, JournalEntry, LedgerStore
from programs.lookup_tables import table_addresses
from programs.spl import MINT_SIZE, TOKEN_ACCOUNT_SIZE, TOKEN_PROGRAM_ID
from programs.txsize import check_transaction_size

__all__ = ["EmbeddedLedger", "writable_keys"]


def writable_keys(
    message: Message | MessageV0, loaded_writable: Sequence[Pubkey] = ()
) -> list[Pubkey]:
    """The accounts a message may write: from its header's counts over its own keys,
    then (v0) the writable addresses it loads from lookup tables."""
    header = message.header
    keys = message.account_keys
    signed = header.num_required_signatures
    signed_writable = signed - header.num_readonly_signed_accounts
    unsigned_writable_end = len(keys) - header.num_readonly_unsigned_accounts
    return keys[:signed_writable] + keys[signed:unsigned_writable_end] + list(loaded_writable)


class EmbeddedLedger:
    """A `Ledger` on an in-process LiteSVM whose state lives in a `LedgerStore`.

    Open with `await EmbeddedLedger.open(store)`. One instance per store.
    """

    def __init__(
        self,
        store: LedgerStore,
        accounts: list[tuple[Pubkey, Account]],
        last_slot: int,
        *,
        blockhash_ttl: float,
        slot_seconds: float,
        clock: Callable[[], float],
        fee_policy: FeePolicy = NO_PRIORITY_FEE,
    ) -> None:
        self._store = store
        self._fee_policy = fee_policy
        self._known: set[Pubkey] = {address for address, _ in accounts}
        self._blockhash_ttl = blockhash_ttl
        self._slot_seconds = slot_seconds
        self._clock = clock
        self._slot = last_slot
        self._blockhashes: dict[Hash, float] = {}
        self._current: tuple[Hash, float] | None = None
        self._lock = asyncio.Lock()
        self._slot_hashes: deque[tuple[int, Hash]] = deque(maxlen=512)  # a cluster's window
        self._tables: dict[Pubkey, tuple[int, list[Pubkey]]] = {}
        self._svm = self._fresh_svm(accounts)

    @classmethod
    async def open(
        cls,
        store: LedgerStore,
        *,
        blockhash_ttl: float = 60.0,
        slot_seconds: float = 0.4,
        clock: Callable[[], float] = time.monotonic,
        fee_policy: FeePolicy = NO_PRIORITY_FEE,
    ) -> "EmbeddedLedger":
        """Load the stored accounts into a fresh SVM."""
        try:
            accounts, last_slot = await asyncio.to_thread(_load, store)
        except Exception as exc:
            raise LedgerUnavailable(f"cannot load the embedded ledger: {exc}") from exc
        return cls(
            store,
            accounts,
            last_slot,
            blockhash_ttl=blockhash_ttl,
            slot_seconds=slot_seconds,
            clock=clock,
            fee_policy=fee_policy,
        )

    @property
    def fee_policy(self) -> FeePolicy:
        return self._fee_policy

    @property
    def token_batch(self) -> bool:
        return True  # LiteSVM's token program is p-token (a test holds it to that)

    @property
    def slot(self) -> int:
        """The slot of the last processed transaction (one transaction per slot)."""
        return self._slot

    @property
    def store(self) -> LedgerStore:
        return self._store

    @property
    def blockhash_ttl(self) -> float:
        return self._blockhash_ttl

    @staticmethod
    def _fresh_svm(accounts: list[tuple[Pubkey, Account]]) -> LiteSVM:
        svm = LiteSVM().with_blockhash_check(False)
        for address, account in accounts:
            svm.set_account(address, account)
        return svm

    async def latest_blockhash(self) -> Hash:
        now = self._clock()
        if self._current is None or now - self._current[1] >= self._slot_seconds:
            blockhash = Hash(os.urandom(32))
            self._current = (blockhash, now)
            self._blockhashes[blockhash] = now
            self._forget_expired(now)
        return self._current[0]

    def _forget_expired(self, now: float) -> None:
        expired = [h for h, t in self._blockhashes.items() if now - t > self._blockhash_ttl]
        for blockhash in expired:
            del self._blockhashes[blockhash]

    async def is_blockhash_valid(self, blockhash: Hash) -> bool:
        return self._blockhash_valid(blockhash)

    def _blockhash_valid(self, blockhash: Hash) -> bool:
        issued = self._blockhashes.get(blockhash)
        return issued is not None and self._clock() - issued <= self._blockhash_ttl

    async def send_transaction(self, tx: AnyTransaction) -> Signature:
        check_transaction_size(tx)
        signature = tx.signatures[0]
        async with self._lock:
            entry = await self._journal_entry(signature)
            if entry is None:
                entry = await self._process(tx, signature)
        if entry.error is not None:
            raise TransactionFailed(str(signature), entry.error, entry.logs)
        return signature

    async def send_transactions(
        self, txs: Sequence[AnyTransaction]
    ) -> list[TxStatus | TransactionFailed | TransactionExpired]:
        """Process `txs` in order and write them through in ONE store transaction.

        Each outcome is the journaled status (success or runtime failure), or the
        exception `send_transaction` would have raised for a transaction that left no
        trace (rejected before the fee, or expired). No outcome is returned before the
        commit: if it fails, none of them happened (the SVM is reloaded from the store
        and LedgerUnavailable raised), and a crash before it loses them all, unreported,
        their blockhashes forgotten, so they are rebuilt, never applied twice.
        """
        for tx in txs:
            check_transaction_size(tx)
        outcomes: list[TxStatus | TransactionFailed | TransactionExpired] = []
        async with self._lock:
            try:
                known = await asyncio.to_thread(
                    self._store.journal_entries, [tx.signatures[0] for tx in txs]
                )
            except Exception as exc:
                raise LedgerUnavailable(f"ledger store: {exc}") from exc
            entries: list[JournalEntry] = []
            written: dict[Pubkey, None] = {}
            slot = self._slot
            for tx in txs:
                signature = tx.signatures[0]
                entry = known.get(signature)
                if entry is None:
                    try:
                        entry = self._apply(tx, signature, slot + 1)
                    except (TransactionFailed, TransactionExpired) as exc:
                        outcomes.append(exc)
                        continue
                    slot = entry.slot
                    known[signature] = entry
                    entries.append(entry)
                    written.update(dict.fromkeys(self._writable(tx)))
                outcomes.append(TxStatus(signature, entry.slot, entry.error))
            if entries:
                await self._commit_many(list(written), entries)
                self._slot = slot
                self._current = None
        return outcomes

    async def _journal_entry(self, signature: Signature) -> JournalEntry | None:
        try:
            return await asyncio.to_thread(self._store.journal_entry, signature)
        except Exception as exc:
            raise LedgerUnavailable(f"ledger store: {exc}") from exc

    async def _process(self, tx: AnyTransaction, signature: Signature) -> JournalEntry:
        entry = self._apply(tx, signature, self._slot + 1)
        await self._commit(self._writable(tx), entry)
        self._slot = entry.slot
        # Each processed transaction ends a slot: a transaction rebuilt after it gets a
        # new blockhash, hence a new signature, instead of colliding with the old one.
        self._current = None
        return entry

    def loaded_addresses(self, message: Message | MessageV0) -> tuple[list[Pubkey], list[Pubkey]]:
        """(writable, read-only) addresses a v0 message loads from lookup tables, as the
        tables hold them now (they only grow); none for a legacy message or a table
        that is missing."""
        if not isinstance(message, MessageV0):
            return [], []
        writable: list[Pubkey] = []
        readonly: list[Pubkey] = []
        for lookup in message.address_table_lookups:
            addresses = self._table(lookup.account_key)
            writable += [addresses[i] for i in bytes(lookup.writable_indexes) if i < len(addresses)]
            readonly += [addresses[i] for i in bytes(lookup.readonly_indexes) if i < len(addresses)]
        return writable, readonly

    def _table(self, address: Pubkey) -> list[Pubkey]:
        """A lookup table's addresses (none if it is missing), decoded once per size:
        tables only grow, so the same length means the same addresses."""
        account = self._svm.get_account(address)
        if account is None:
            return []
        data = bytes(account.data)
        cached = self._tables.get(address)
        if cached is None or cached[0] != len(data):
            cached = self._tables[address] = (len(data), table_addresses(data))
        return cached[1]

    def _writable(self, tx: AnyTransaction) -> list[Pubkey]:
        message = tx.message
        return writable_keys(message, self.loaded_addresses(message)[0])

    async def recent_slot(self) -> int:
        """The last processed slot, entered in the SlotHashes sysvar so that a lookup
        table may be created against it (until a restart, which forgets them)."""
        if not self._slot_hashes or self._slot_hashes[-1][0] != self._slot:
            self._slot_hashes.append((self._slot, Hash(os.urandom(32))))
            self._svm.set_slot_hashes(list(reversed(self._slot_hashes)))
        return self._slot

    def _apply(self, tx: AnyTransaction, signature: Signature, slot: int) -> JournalEntry:
        """Run `tx` in the SVM (not yet stored): its journal entry at `slot`."""
        message = tx.message  # a copy on each access: taken once
        if not self._blockhash_valid(message.recent_blockhash):
            raise TransactionExpired(str(signature))
        keys = message.account_keys
        fee_payer = keys[0]
        if isinstance(message, MessageV0):
            # Addresses added to a table are usable from the slot after: the SVM's
            # clock follows the ledger's slots for the transactions that load them.
            self._svm.warp_to_slot(slot)
            writable, readonly = self.loaded_addresses(message)
            keys = keys + writable + readonly
        named = tuple(sorted(set(keys), key=bytes))
        balance_before = self._svm.get_balance(fee_payer)
        result = self._svm.send_transaction(tx)
        if isinstance(result, FailedTransactionMetadata):
            error = result.err()
            # A cluster records (and charges for) a failure only once the runtime has
            # taken the fee; failures before that (bad signature, unknown payer) leave
            # no trace and the same bytes may still land later.
            if self._svm.get_balance(fee_payer) == balance_before:
                raise TransactionFailed(str(signature), str(error), tuple(result.meta().logs()))
            logs = tuple(result.meta().logs())
            return JournalEntry(signature, slot, bytes(tx), str(error), logs, named)
        return JournalEntry(signature, slot, bytes(tx), None, (), named)

    async def _commit(self, addresses: list[Pubkey], entry: JournalEntry | None) -> None:
        accounts = [(address, self._svm.get_account(address)) for address in addresses]
        await self._write(addresses, lambda: self._store.commit(accounts, entry))

    async def _commit_many(self, addresses: list[Pubkey], entries: list[JournalEntry]) -> None:
        accounts = [(address, self._svm.get_account(address)) for address in addresses]
        await self._write(addresses, lambda: self._store.commit_many(accounts, entries))

    async def _write(self, addresses: list[Pubkey], write: Callable[[], None]) -> None:
        try:
            await asyncio.to_thread(write)
            self._known.update(addresses)
        except Exception as exc:
            # The store is the truth: drop what the SVM did that the store did not take.
            accounts_now, _ = await asyncio.to_thread(_load, self._store)
            self._svm = self._fresh_svm(accounts_now)
            raise LedgerUnavailable(f"ledger store: {exc}") from exc

    async def signature_status(self, signature: Signature) -> TxStatus | None:
        entry = await self._journal_entry(signature)
        if entry is None:
            return None
        return TxStatus(signature, entry.slot, entry.error)

    async def get_account(self, address: Pubkey) -> Account | None:
        return self._svm.get_account(address)

    async def get_token_account(self, address: Pubkey) -> TokenAccount | None:
        account = self._svm.get_account(address)
        if account is None or account.owner != TOKEN_PROGRAM_ID:
            return None
        if len(account.data) != TOKEN_ACCOUNT_SIZE:
            return None
        return TokenAccount.from_bytes(bytes(account.data))

    async def get_mint(self, address: Pubkey) -> Mint | None:
        account = self._svm.get_account(address)
        if account is None or account.owner != TOKEN_PROGRAM_ID or len(account.data) != MINT_SIZE:
            return None
        return Mint.from_bytes(bytes(account.data))

    async def token_balance(self, address: Pubkey) -> int:
        token_account = await self.get_token_account(address)
        return 0 if token_account is None else token_account.amount

    async def minimum_balance_for_rent_exemption(self, size: int) -> int:
        return self._svm.minimum_balance_for_rent_exemption(size)

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        async with self._lock:
            # LiteSVM signs airdrops with its own blockhash: without a new one, a second
            # airdrop of the same amount to the same address is "AlreadyProcessed".
            self._svm.expire_blockhash()
            result = self._svm.airdrop(address, lamports)
            if isinstance(result, FailedTransactionMetadata):
                raise TransactionFailed("airdrop", str(result.err()), tuple(result.meta().logs()))
            await self._commit([address], None)

    async def token_accounts_by_owner(
        self, owner: Pubkey, mint: Pubkey | None = None
    ) -> list[tuple[Pubkey, TokenAccount]]:
        """Every SPL token account of `owner` (for `mint` only, if given), by address."""
        found = []
        for address in sorted(self._known, key=bytes):
            token_account = await self.get_token_account(address)
            if token_account is None or token_account.owner != owner:
                continue
            if mint is None or token_account.mint == mint:
                found.append((address, token_account))
        return found

    async def journal_entry(self, signature: Signature) -> JournalEntry | None:
        """The journaled transaction with `signature` (bytes, outcome, named accounts)."""
        return await self._journal_entry(signature)

    async def signatures_for_address(
        self, address: Pubkey, *, limit: int = 1000, before: Signature | None = None
    ) -> list[AddressSignature]:
        """Journaled transactions naming `address`, newest first, older than `before`."""
        before_slot = None
        if before is not None:
            entry = await self._journal_entry(before)
            if entry is None:
                return []
            before_slot = entry.slot
        try:
            return await asyncio.to_thread(
                self._store.signatures_for_address, address, limit=limit, before_slot=before_slot
            )
        except Exception as exc:
            raise LedgerUnavailable(f"ledger store: {exc}") from exc


def _load(store: LedgerStore) -> tuple[list[tuple[Pubkey, Account]], int]:
    return store.load_accounts(), store.last_slot()

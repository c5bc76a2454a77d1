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
- journals with each transaction what a validator reports of it: logs, block
  time, memos, and the runtime's execution meta (fee, lamports and token
  balances before and after, compute units, inner instructions);
- pays airdrops with a real transfer from a throw-away faucet key, journaled
  like any transaction, so an airdrop has a signature whose status can be asked;
- simulates a transaction without applying it (preflight, simulateTransaction);
- remembers every address it has loaded or written, so the JSON-RPC can walk
  every account (getProgramAccounts, token accounts by owner) without a scan
  of the store;
- can follow a store another process writes (`catch_up`: a read-only replica
  for serving JSON-RPC beside the coordinator that owns the ledger);
- tells listeners (`listen`) about each batch of journaled transactions, after
  it is durable (the JSON-RPC's websocket subscriptions).

What it is not: a cluster. One process, one "validator", no consensus, no
forks: every journaled transaction is final at once (reported as
"finalized"), and slots count processed transactions, not time.
"""

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from solders.account import Account
from solders.epoch_schedule import EpochSchedule
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import TransferParams, transfer
from solders.token.state import Mint, TokenAccount
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import (
    FailedTransactionMetadata,
    SimulatedTransactionInfo,
    TransactionMetadata,
)

from programs.errors import LedgerUnavailable, TransactionExpired, TransactionFailed
from programs.ledger.base import NO_PRIORITY_FEE, AnyTransaction, FeePolicy, TxStatus
from programs.ledger.meta import (
    ExecutionMeta,
    Seen,
    Snapshot,
    format_memos,
    inner_instructions,
    message_memos,
    mint_decimals,
    snapshot,
)
from programs.ledger.store import AddressSignature, JournalEntry, LedgerStore
from programs.lookup_tables import table_addresses
from programs.spl import MINT_SIZE, TOKEN_ACCOUNT_SIZE, TOKEN_PROGRAM_ID
from programs.txsize import check_transaction_size

__all__ = ["EmbeddedLedger", "Simulation", "writable_keys", "writable_mask"]

_T = TypeVar("_T")
LAMPORTS_PER_SIGNATURE = 5000
_EMPTY = Account(0, b"", SYSTEM_PROGRAM_ID)  # set over an account: LiteSVM drops it
Listener = Callable[[Sequence[JournalEntry]], None]


@dataclass(frozen=True, slots=True)
class Simulation:
    """A transaction run without being applied. `error` is the runtime's error (text
    as journaled) or None; `keys` are the account keys (static, then loaded writable,
    then loaded read-only), `post_accounts` their state after it; `meta` is None
    where nothing ran (a stale blockhash, an already processed signature);
    `replacement` is (blockhash, last valid block height) when it was replaced."""

    error: str | None
    logs: tuple[str, ...]
    keys: tuple[Pubkey, ...]
    loaded: tuple[tuple[Pubkey, ...], tuple[Pubkey, ...]]
    meta: ExecutionMeta | None
    post_accounts: dict[Pubkey, Account | None]
    replacement: tuple[Hash, int] | None = None


def writable_mask(message: Message | MessageV0, count: int) -> list[bool]:
    """Which of the `count` keys the runtime sees (static, then loaded writable, then
    loaded read-only) a message may write, by its header and its lookups."""
    header = message.header
    static = len(message.account_keys)
    signed = header.num_required_signatures
    signed_writable = signed - header.num_readonly_signed_accounts
    unsigned_writable_end = static - header.num_readonly_unsigned_accounts
    mask = [i < signed_writable or signed <= i < unsigned_writable_end for i in range(static)]
    if isinstance(message, MessageV0):
        loaded_writable = sum(len(bytes(t.writable_indexes)) for t in message.address_table_lookups)
        mask += [True] * loaded_writable
    return mask + [False] * (count - len(mask))


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
        genesis_hash: Hash | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._genesis_hash = Hash(os.urandom(32)) if genesis_hash is None else genesis_hash
        self._wall_clock = wall_clock
        self._listeners: list[Listener] = []
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
        # Accounts as the last snapshot read them (`programs.ledger.meta.snapshot`):
        # only transactions change them, and each one's snapshot after it reads them
        # again; whatever sets an account otherwise forgets it here.
        self._seen: Seen = {}
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
            genesis_hash = await asyncio.to_thread(store.genesis_hash)
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
            genesis_hash=genesis_hash,
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

    @property
    def genesis_hash(self) -> Hash:
        """This ledger's genesis hash (kept in its store)."""
        return self._genesis_hash

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(entries)` after each batch of transactions is journaled (here,
        or by the writer `catch_up` follows); returns the call that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _tell(self, entries: Sequence[JournalEntry]) -> None:
        for listener in list(self._listeners):
            listener(entries)

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

    async def request_airdrop(self, address: Pubkey, lamports: int) -> Signature:
        """Credit `lamports` to `address` with a journaled transfer from a throw-away
        faucet key (funded in the SVM for just this); its signature. Raises like
        `send_transaction` (e.g. a new account left below rent exemption)."""
        faucet = Keypair()
        async with self._lock:
            self._svm.set_account(
                faucet.pubkey(), Account(lamports + LAMPORTS_PER_SIGNATURE, b"", SYSTEM_PROGRAM_ID)
            )
            self._seen.pop(faucet.pubkey(), None)
        pay = transfer(
            TransferParams(from_pubkey=faucet.pubkey(), to_pubkey=address, lamports=lamports)
        )
        tx = Transaction([faucet], Message([pay], faucet.pubkey()), await self.latest_blockhash())
        return await self.send_transaction(tx)

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
        if entries:
            self._tell(entries)
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
        self._tell([entry])
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

    def _keys(
        self, message: Message | MessageV0, slot: int
    ) -> tuple[list[Pubkey], tuple[list[Pubkey], list[Pubkey]]]:
        """The account keys the runtime sees (static, loaded writable, loaded read-only)
        and the loaded ones, for a transaction run at `slot`."""
        keys = list(message.account_keys)
        if not isinstance(message, MessageV0):
            return keys, ([], [])
        # Addresses added to a table are usable from the slot after: the SVM's clock
        # follows the ledger's slots for the transactions that load them.
        self._svm.warp_to_slot(slot)
        writable, readonly = self.loaded_addresses(message)
        return keys + writable + readonly, (writable, readonly)

    def _snapshot(
        self,
        keys: Sequence[Pubkey],
        programs: frozenset[Pubkey],
        before: Snapshot | None = None,
        writable: Sequence[bool] = (),
    ) -> Snapshot:
        return snapshot(
            keys,
            self._svm.get_account,
            programs,
            self._balance,
            unchanged=before,
            writable=writable,
            seen=self._seen,
        )

    def _balance(self, address: Pubkey) -> int:
        return self._svm.get_balance(address) or 0

    def _execution_meta(
        self,
        before: Snapshot,
        after: Snapshot,
        result: TransactionMetadata,
    ) -> ExecutionMeta:
        mints = {raw[:32] for raw in before.tokens.values()}
        mints.update(raw[:32] for raw in after.tokens.values())
        decimals = {m: mint_decimals(self._svm.get_account(Pubkey.from_bytes(m))) for m in mints}
        returned = result.return_data()
        return ExecutionMeta(
            fee=result.fee(),
            pre_balances=before.balances,
            post_balances=after.balances,
            pre_tokens=before.tokens,
            post_tokens=after.tokens,
            decimals=decimals,
            compute_units=result.compute_units_consumed(),
            inner_instructions=inner_instructions(result.inner_instructions()),
            return_data=(returned.program_id, bytes(returned.data)) if returned.data else None,
            token_programs={**before.programs, **after.programs},
        )

    def _apply(self, tx: AnyTransaction, signature: Signature, slot: int) -> JournalEntry:
        """Run `tx` in the SVM (not yet stored): its journal entry at `slot`."""
        message = tx.message  # a copy on each access: taken once
        if not self._blockhash_valid(message.recent_blockhash):
            raise TransactionExpired(str(signature))
        keys, _ = self._keys(message, slot)
        programs = _program_ids(message)
        named = tuple(sorted(set(keys), key=bytes))
        before = self._snapshot(keys, programs)
        result = self._svm.send_transaction(tx)
        error = None
        if isinstance(result, FailedTransactionMetadata):
            # A cluster records (and charges for) a failure only once the runtime has
            # taken the fee; failures before that (bad signature, unknown payer) leave
            # no trace and the same bytes may still land later.
            if self._balance(keys[0]) == before.balances[0]:
                raise TransactionFailed(
                    str(signature), str(result.err()), tuple(result.meta().logs())
                )
            error = str(result.err())
            result = result.meta()
        writable = writable_mask(message, len(keys))
        after = self._snapshot(keys, programs, before, writable)
        meta = self._execution_meta(before, after, result)
        return JournalEntry(
            signature,
            slot,
            bytes(tx),
            error,
            tuple(result.logs()),
            named,
            block_time=int(self._wall_clock()),
            memo=format_memos(message_memos(message)),
            meta=meta,
        )

    async def simulate(
        self, tx: VersionedTransaction, *, sig_verify: bool, replace_blockhash: bool
    ) -> Simulation:
        """Run `tx` against the current state without applying or journaling it, as a
        validator's simulateTransaction (and sendTransaction's preflight) does:
        signatures checked only with `sig_verify`; with `replace_blockhash` its
        blockhash is replaced by the latest one (else a stale one fails it)."""
        replacement = None
        if replace_blockhash:
            blockhash = await self.latest_blockhash()
            tx = VersionedTransaction.populate(
                _with_blockhash(tx.message, blockhash), tx.signatures
            )
            replacement = (blockhash, self._slot + _BLOCKHASH_VALID_SLOTS)
        async with self._lock:
            message = tx.message
            keys, loaded = self._keys(message, self._slot + 1)
            loaded_keys = (tuple(loaded[0]), tuple(loaded[1]))

            def nothing_ran(error: str) -> Simulation:
                return Simulation(error, (), tuple(keys), loaded_keys, None, {}, replacement)

            if not self._blockhash_valid(message.recent_blockhash):
                return nothing_ran("TransactionErrorFieldless.BlockhashNotFound")
            signature = tx.signatures[0]
            if signature != Signature.default() and await self._journal_entry(signature):
                return nothing_ran("TransactionErrorFieldless.AlreadyProcessed")
            programs = _program_ids(message)
            before = self._snapshot(keys, programs)
            if not sig_verify:
                self._svm.with_sigverify(False)
            try:
                outcome = self._svm.simulate_transaction(tx)
            finally:
                self._svm.with_sigverify(True)
        if isinstance(outcome, FailedTransactionMetadata):
            ran = outcome.meta()
            error: str | None = str(outcome.err())
            after = before
            post: dict[Pubkey, Account | None] = {}
        else:
            assert isinstance(outcome, SimulatedTransactionInfo)
            ran = outcome.meta()
            error = None
            post = {address: account for address, account in outcome.post_accounts()}
            current = {k: post[k] if k in post else self._svm.get_account(k) for k in keys}
            after = snapshot(keys, current.__getitem__)
            post = current
        meta = self._execution_meta(before, after, ran)
        return Simulation(
            error, tuple(ran.logs()), tuple(keys), loaded_keys, meta, post, replacement
        )

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
            self._seen.clear()
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

    def epoch_schedule(self) -> EpochSchedule:
        """The runtime's epoch schedule (a cluster's default, with warm-up)."""
        return self._svm.get_epoch_schedule()

    async def minimum_balance_for_rent_exemption(self, size: int) -> int:
        return self._svm.minimum_balance_for_rent_exemption(size)

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        await self.request_airdrop(address, lamports)

    async def journal_entry(self, signature: Signature) -> JournalEntry | None:
        """The journaled transaction with `signature` (bytes, outcome, named accounts)."""
        return await self._journal_entry(signature)

    async def journal_slots(self, first: int, last: int, *, limit: int) -> list[JournalEntry]:
        """The journaled transactions of slots `first`..`last` (one per slot), by slot."""
        return await self._read(lambda: self._store.journal_slots(first, last, limit=limit))

    async def journaled_slots(self, first: int, last: int, *, limit: int) -> list[int]:
        """The slots in `first`..`last` that hold a transaction, ascending."""
        return await self._read(lambda: self._store.journaled_slots(first, last, limit=limit))

    async def _read(self, read: Callable[[], _T]) -> _T:
        try:
            return await asyncio.to_thread(read)
        except Exception as exc:
            raise LedgerUnavailable(f"ledger store: {exc}") from exc

    def known_addresses(self) -> list[Pubkey]:
        """Every address this ledger holds an account for, or held one (by bytes)."""
        return sorted(self._known, key=bytes)

    async def catch_up(self, *, batch: int = 500) -> list[JournalEntry]:
        """Apply what another process (the ledger's writer) journaled since this
        ledger's slot: load the accounts those transactions name from the store.
        For a read-only replica; returns the entries taken in (at most `batch`)."""
        async with self._lock:
            last = await self._read(self._store.last_slot)
            if last <= self._slot:
                return []
            entries = await self.journal_slots(self._slot + 1, last, limit=batch)
            if not entries:
                return []
            named = list({a for entry in entries for a in entry.addresses})
            accounts = await self._read(lambda: self._store.accounts(named))
            for address in named:
                self._svm.set_account(address, accounts.get(address, _EMPTY))
                self._seen.pop(address, None)
            self._known.update(accounts)
            self._slot = entries[-1].slot
        self._tell(entries)
        return entries

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


_BLOCKHASH_VALID_SLOTS = 150  # what getLatestBlockhash adds to the slot


def _program_ids(message: Message | MessageV0) -> frozenset[Pubkey]:
    keys = message.account_keys
    return frozenset(keys[ix.program_id_index] for ix in message.instructions)


def _with_blockhash(message: Message | MessageV0, blockhash: Hash) -> Message | MessageV0:
    header = message.header
    if isinstance(message, MessageV0):
        return MessageV0(
            header,
            message.account_keys,
            blockhash,
            message.instructions,
            message.address_table_lookups,
        )
    return Message.new_with_compiled_instructions(
        header.num_required_signatures,
        header.num_readonly_signed_accounts,
        header.num_readonly_unsigned_accounts,
        message.account_keys,
        blockhash,
        message.instructions,
    )

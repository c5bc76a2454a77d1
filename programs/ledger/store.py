"""Durable state of the embedded ledger: its accounts and a journal of transactions.

The embedded SVM lives in memory; this store is what survives a restart. After
every transaction the ledger writes, in one database transaction, the accounts
the transaction could write, a journal entry (with the addresses it names) and an
index row (address, slot) for every such address (for getSignaturesForAddress); a
crash before that commit loses the transaction entirely (as if never sent), never
half of it. The ledger runs one transaction per slot, so a slot names a journal
entry (the journal's slot is unique) and the index, a few dozen rows a
transaction, stays two narrow columns under one index.

A journal entry also keeps what a validator reports of a transaction: its logs,
block time, memos (as getSignaturesForAddress shows them) and the runtime's
execution meta (`programs.ledger.meta`: fee, balances, token balances, compute
units, inner instructions), which entries journaled before revision 0011 lack.
`ledger_info` holds the ledger's genesis hash, made once.

`ledger_metadata` holds the tables, including `chain_jobs` of the on-chain job
state machine (`programs.jobs`, whose stores live in `programs.jobstore`); the
coordinator's Alembic migration includes it. Works on PostgreSQL (psycopg 3)
and SQLite.
"""

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    Table,
    Text,
    delete,
    func,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from programs.bulk import bulk_insert
from programs.ledger.meta import ExecutionMeta

__all__ = [
    "AddressSignature",
    "JournalEntry",
    "LedgerStore",
    "MemoryLedgerStore",
    "SqlLedgerStore",
    "chain_jobs",
    "ledger_accounts",
    "ledger_address_slots",
    "ledger_info",
    "ledger_journal",
    "ledger_metadata",
]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ledger_metadata = MetaData(naming_convention=_NAMING)

# A journal entry or a job holds a transaction and a few KB besides: kept whole in
# its row on PostgreSQL, not compressed in vain (keys and signatures do not
# compress) and moved out to a TOAST table above the default 2 KB.
_WHOLE_ROWS = {"toast_tuple_target": 8160}

# u64 values (lamports, rent_epoch, which is often u64::MAX) are stored as the
# signed 64-bit integer with the same bits: both databases have that type.
ledger_accounts = Table(
    "ledger_accounts",
    ledger_metadata,
    Column("address", LargeBinary(32), primary_key=True),
    Column("lamports", BigInteger, nullable=False),
    Column("owner", LargeBinary(32), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("executable", Boolean, nullable=False),
    Column("rent_epoch", BigInteger, nullable=False),
)

ledger_journal = Table(
    "ledger_journal",
    ledger_metadata,
    Column("signature", LargeBinary(64), primary_key=True),
    Column("slot", BigInteger, nullable=False),
    Column("tx", LargeBinary, nullable=False),
    Column("error", Text, nullable=True),
    Column("logs", Text, nullable=True),
    # the 32-byte addresses the transaction names, concatenated in byte order
    Column("addresses", LargeBinary, nullable=False),
    Column("block_time", BigInteger, nullable=True),  # unix seconds when it ran
    Column("memo", Text, nullable=True),  # as getSignaturesForAddress shows it
    Column("meta", LargeBinary, nullable=True),  # ExecutionMeta.to_bytes()
    Index("ix_ledger_journal_slot", "slot", unique=True),
    postgresql_with=_WHOLE_ROWS,
)

# Facts about the ledger itself, made once: "genesis_hash".
ledger_info = Table(
    "ledger_info",
    ledger_metadata,
    Column("name", Text, primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

ledger_address_slots = Table(
    "ledger_address_slots",
    ledger_metadata,
    Column("address", LargeBinary(32), primary_key=True),
    Column("slot", BigInteger, primary_key=True),
)


# The on-chain job state machine (`programs.jobs`): one row per transaction-to-be.
chain_jobs = Table(
    "chain_jobs",
    ledger_metadata,
    Column("job_key", Text, primary_key=True),
    Column("kind", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", Text, nullable=False, index=True),
    Column("signature", LargeBinary(64), nullable=True, unique=True),
    Column("blockhash", LargeBinary(32), nullable=True),
    Column("tx", LargeBinary, nullable=True),
    Column("slot", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    postgresql_with=_WHOLE_ROWS,
)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A processed transaction: its serialized bytes and outcome (error None = success).

    `addresses` are the accounts the transaction names, sorted by their bytes (the
    SQL store returns them so). `logs`, `block_time` (unix seconds), `memo` and
    `meta` are what the runtime reported (None where an older entry lacks them).
    """

    signature: Signature
    slot: int
    tx: bytes
    error: str | None
    logs: tuple[str, ...] = ()
    addresses: tuple[Pubkey, ...] = ()
    block_time: int | None = None
    memo: str | None = None
    meta: ExecutionMeta | None = None


@dataclass(frozen=True, slots=True)
class AddressSignature:
    """A journaled transaction that names an address (newest first in listings)."""

    signature: Signature
    slot: int
    error: str | None
    memo: str | None = None
    block_time: int | None = None


class LedgerStore(Protocol):
    """Where the embedded ledger keeps what must survive a restart."""

    def load_accounts(self) -> list[tuple[Pubkey, Account]]:
        """Every stored account."""
        ...

    def commit(
        self, accounts: Sequence[tuple[Pubkey, Account | None]], entry: JournalEntry | None
    ) -> None:
        """Atomically upsert (or, for None, delete) the accounts and append the entry."""
        ...

    def commit_many(
        self, accounts: Sequence[tuple[Pubkey, Account | None]], entries: Sequence[JournalEntry]
    ) -> None:
        """`commit` several transactions' accounts (their final state) and entries at once."""
        ...

    def journal_entry(self, signature: Signature) -> JournalEntry | None:
        """The entry for `signature`, if it was journaled."""
        ...

    def journal_entries(self, signatures: Sequence[Signature]) -> dict[Signature, JournalEntry]:
        """The entries of those `signatures` that were journaled (one query, not one each)."""
        ...

    def last_slot(self) -> int:
        """The highest journaled slot, 0 for an empty journal."""
        ...

    def signatures_for_address(
        self, address: Pubkey, *, limit: int, before_slot: int | None = None
    ) -> list[AddressSignature]:
        """Journaled transactions naming `address`, newest first, below `before_slot`."""
        ...

    def journal_slots(self, first: int, last: int, *, limit: int) -> list[JournalEntry]:
        """Up to `limit` entries with `first` <= slot <= `last`, by slot."""
        ...

    def journaled_slots(self, first: int, last: int, *, limit: int) -> list[int]:
        """Up to `limit` journaled slots in `first`..`last`, ascending (no entry bytes)."""
        ...

    def accounts(self, addresses: Sequence[Pubkey]) -> dict[Pubkey, Account]:
        """The stored accounts among `addresses` (absent ones are missing from the map)."""
        ...

    def genesis_hash(self) -> Hash:
        """This ledger's genesis hash: made at first use, the same ever after."""
        ...


class MemoryLedgerStore:
    """A LedgerStore in dictionaries: for tests, and for "restart" within one process."""

    def __init__(self) -> None:
        self._accounts: dict[Pubkey, Account] = {}
        self._journal: dict[Signature, JournalEntry] = {}
        self._by_slot: dict[int, JournalEntry] = {}
        self._last_slot = 0
        self._genesis: Hash | None = None

    def load_accounts(self) -> list[tuple[Pubkey, Account]]:
        return list(self._accounts.items())

    def commit(
        self, accounts: Sequence[tuple[Pubkey, Account | None]], entry: JournalEntry | None
    ) -> None:
        self.commit_many(accounts, [] if entry is None else [entry])

    def commit_many(
        self, accounts: Sequence[tuple[Pubkey, Account | None]], entries: Sequence[JournalEntry]
    ) -> None:
        for address, account in accounts:
            if account is None:
                self._accounts.pop(address, None)
            else:
                self._accounts[address] = account
        for entry in entries:
            if entry.slot in self._by_slot:
                raise ValueError(f"slot {entry.slot} is journaled already")
            self._journal[entry.signature] = entry
            self._by_slot[entry.slot] = entry
            self._last_slot = max(self._last_slot, entry.slot)

    def journal_entry(self, signature: Signature) -> JournalEntry | None:
        return self._journal.get(signature)

    def journal_entries(self, signatures: Sequence[Signature]) -> dict[Signature, JournalEntry]:
        return {s: self._journal[s] for s in signatures if s in self._journal}

    def last_slot(self) -> int:
        return self._last_slot

    def signatures_for_address(
        self, address: Pubkey, *, limit: int, before_slot: int | None = None
    ) -> list[AddressSignature]:
        entries = [
            e
            for e in self._journal.values()
            if address in e.addresses and (before_slot is None or e.slot < before_slot)
        ]
        entries.sort(key=lambda e: e.slot, reverse=True)
        return [
            AddressSignature(e.signature, e.slot, e.error, e.memo, e.block_time)
            for e in entries[:limit]
        ]

    def journal_slots(self, first: int, last: int, *, limit: int) -> list[JournalEntry]:
        slots = self.journaled_slots(first, last, limit=limit)
        return [self._by_slot[slot] for slot in slots]

    def journaled_slots(self, first: int, last: int, *, limit: int) -> list[int]:
        return sorted(s for s in self._by_slot if first <= s <= last)[:limit]

    def accounts(self, addresses: Sequence[Pubkey]) -> dict[Pubkey, Account]:
        return {a: self._accounts[a] for a in addresses if a in self._accounts}

    def genesis_hash(self) -> Hash:
        if self._genesis is None:
            self._genesis = Hash(os.urandom(32))
        return self._genesis


def _to_i64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _from_i64(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


class SqlLedgerStore:
    """A LedgerStore on SQLAlchemy Core (PostgreSQL or SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create_tables(self) -> None:
        """Create the tables if missing (tests and the demo; deployments use Alembic)."""
        ledger_metadata.create_all(self._engine)

    def load_accounts(self) -> list[tuple[Pubkey, Account]]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(ledger_accounts)).all()
        return [_account(row) for row in rows]

    def commit(
        self, accounts: Sequence[tuple[Pubkey, Account | None]], entry: JournalEntry | None
    ) -> None:
        self.commit_many(accounts, [] if entry is None else [entry])

    def commit_many(
        self, accounts: Sequence[tuple[Pubkey, Account | None]], entries: Sequence[JournalEntry]
    ) -> None:
        addresses = [bytes(address) for address, _ in accounts]
        present = [_account_row(a, acc) for a, acc in accounts if acc is not None]
        journal = []
        index = []
        for e in entries:
            named = sorted({bytes(a) for a in e.addresses})
            logs = "\n".join(e.logs) if e.logs else None
            meta = None if e.meta is None else e.meta.to_bytes()
            journal.append(
                (
                    bytes(e.signature),
                    e.slot,
                    e.tx,
                    e.error,
                    logs,
                    b"".join(named),
                    e.block_time,
                    e.memo,
                    meta,
                )
            )
            index += [(address, e.slot) for address in named]
        with self._engine.begin() as conn:
            # Delete-then-insert is an upsert both dialects run the same way.
            if addresses:
                conn.execute(
                    delete(ledger_accounts).where(ledger_accounts.c.address.in_(addresses))
                )
            bulk_insert(conn, ledger_accounts, _ACCOUNT_COLS, present)
            bulk_insert(conn, ledger_journal, _JOURNAL_COLS, journal)
            bulk_insert(conn, ledger_address_slots, ("address", "slot"), index)

    def journal_entry(self, signature: Signature) -> JournalEntry | None:
        return self.journal_entries([signature]).get(signature)

    def journal_entries(self, signatures: Sequence[Signature]) -> dict[Signature, JournalEntry]:
        if not signatures:
            return {}
        wanted = [bytes(s) for s in signatures]
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(ledger_journal).where(ledger_journal.c.signature.in_(wanted))
            ).all()
        entries = (_journal_entry(row) for row in rows)
        return {entry.signature: entry for entry in entries}

    def journal_slots(self, first: int, last: int, *, limit: int) -> list[JournalEntry]:
        journal = ledger_journal
        query = (
            select(journal)
            .where(journal.c.slot >= first, journal.c.slot <= last)
            .order_by(journal.c.slot)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_journal_entry(row) for row in rows]

    def journaled_slots(self, first: int, last: int, *, limit: int) -> list[int]:
        slot = ledger_journal.c.slot
        query = select(slot).where(slot >= first, slot <= last).order_by(slot).limit(limit)
        with self._engine.connect() as conn:
            return [int(s) for s in conn.execute(query).scalars()]

    def accounts(self, addresses: Sequence[Pubkey]) -> dict[Pubkey, Account]:
        found: dict[Pubkey, Account] = {}
        wanted = sorted({bytes(a) for a in addresses})
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                query = select(ledger_accounts).where(ledger_accounts.c.address.in_(chunk))
                for row in conn.execute(query):
                    address, account = _account(row)
                    found[address] = account
        return found

    def genesis_hash(self) -> Hash:
        query = select(ledger_info.c.value).where(ledger_info.c.name == "genesis_hash")
        with self._engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        if value is not None:
            return Hash(bytes(value))
        try:
            with self._engine.begin() as conn:
                conn.execute(ledger_info.insert().values(name="genesis_hash", value=os.urandom(32)))
        except IntegrityError:
            pass  # made meanwhile by another process: theirs stands
        with self._engine.connect() as conn:
            return Hash(bytes(conn.execute(query).scalar_one()))

    def last_slot(self) -> int:
        with self._engine.connect() as conn:
            value = conn.execute(select(func.max(ledger_journal.c.slot))).scalar_one()
        return int(value or 0)

    def signatures_for_address(
        self, address: Pubkey, *, limit: int, before_slot: int | None = None
    ) -> list[AddressSignature]:
        index, journal = ledger_address_slots, ledger_journal
        query = (
            select(
                journal.c.signature,
                journal.c.slot,
                journal.c.error,
                journal.c.memo,
                journal.c.block_time,
            )
            .join(index, index.c.slot == journal.c.slot)
            .where(index.c.address == bytes(address))
            .order_by(index.c.slot.desc())
            .limit(limit)
        )
        if before_slot is not None:
            query = query.where(index.c.slot < before_slot)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            AddressSignature(
                Signature.from_bytes(r.signature), r.slot, r.error, r.memo, r.block_time
            )
            for r in rows
        ]


_ACCOUNT_COLS = ("address", "lamports", "owner", "data", "executable", "rent_epoch")
_JOURNAL_COLS = (
    "signature",
    "slot",
    "tx",
    "error",
    "logs",
    "addresses",
    "block_time",
    "memo",
    "meta",
)


def _journal_entry(row: Any) -> JournalEntry:
    logs = tuple(row.logs.split("\n")) if row.logs else ()
    packed = bytes(row.addresses)
    addresses = tuple(Pubkey.from_bytes(packed[i : i + 32]) for i in range(0, len(packed), 32))
    meta = None if row.meta is None else ExecutionMeta.from_bytes(bytes(row.meta))
    return JournalEntry(
        Signature.from_bytes(row.signature),
        row.slot,
        bytes(row.tx),
        row.error,
        logs,
        addresses,
        row.block_time,
        row.memo,
        meta,
    )


def _account(row: Any) -> tuple[Pubkey, Account]:
    return (
        Pubkey.from_bytes(row.address),
        Account(
            lamports=_from_i64(row.lamports),
            data=bytes(row.data),
            owner=Pubkey.from_bytes(row.owner),
            executable=row.executable,
            rent_epoch=_from_i64(row.rent_epoch),
        ),
    )


def _account_row(address: Pubkey, account: Account) -> tuple[object, ...]:
    return (
        bytes(address),
        _to_i64(account.lamports),
        bytes(account.owner),
        bytes(account.data),
        account.executable,
        _to_i64(account.rent_epoch),
    )

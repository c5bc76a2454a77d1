"""The 1232-byte transaction limit, checked before anything is sent, and a packer.

A Solana transaction travels in one IPv6 packet: 1280 bytes minus 48 of headers
leaves 1232 for the serialized transaction. LiteSVM processes larger ones
without complaint, so the project checks every transaction itself.

The packer puts as many instruction groups (a group must stay in one
transaction, e.g. the two transfers of one trade) into each transaction as
fit, in order, exact and deterministic for the same input. It either
measures each candidate by serializing its message (`pack_instruction_groups`)
or, for callers that know their groups' parts without building them (the
settlement of thousands of trades), keeps a running tally of distinct keys,
signers and instruction bytes (`pack_sized_groups`); the tests hold the two
to the same sizes. A tallied group may also go into the transaction's one
token-program batch (`spl.batch`, `GroupSize.batched`) instead of adding
instructions of its own.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.instruction import Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction

from programs.errors import TransactionTooLarge
from programs.spl import MAX_BATCH_ACCOUNTS

__all__ = [
    "MAX_ACCOUNT_LOCKS",
    "MAX_TRANSACTION_SIZE",
    "Batch",
    "GroupSize",
    "check_transaction_size",
    "first_table_of",
    "pack_instruction_groups",
    "pack_sized_groups",
    "pack_v0_groups",
    "signed_size",
]

MAX_TRANSACTION_SIZE = 1232
MAX_ACCOUNT_LOCKS = 64
"""Accounts one transaction may name, its own and those loaded from tables."""
_SIGNATURE_SIZE = 64


def _shortvec_len(n: int) -> int:
    """Bytes of Solana's compact-u16 length prefix for `n`."""
    return 1 if n < 0x80 else 2 if n < 0x4000 else 3


def signed_size(instructions: Sequence[Instruction], payer: Pubkey) -> int:
    """Serialized size of a legacy transaction of `instructions` once it is signed."""
    message = Message(list(instructions), payer)
    signatures = message.header.num_required_signatures
    return _shortvec_len(signatures) + _SIGNATURE_SIZE * signatures + len(bytes(message))


def check_transaction_size(
    tx: Transaction | VersionedTransaction, limit: int = MAX_TRANSACTION_SIZE
) -> int:
    """Return the serialized size of `tx`; raise TransactionTooLarge above `limit`."""
    size = len(bytes(tx))
    if size > limit:
        raise TransactionTooLarge(size, limit)
    return size


@dataclass(frozen=True, slots=True)
class Batch:
    """The instructions of one transaction and which input groups they came from."""

    group_indices: tuple[int, ...]
    instructions: tuple[Instruction, ...]
    size: int


def pack_instruction_groups(
    groups: Sequence[Sequence[Instruction]],
    payer: Pubkey,
    *,
    prefix: Sequence[Instruction] = (),
    limit: int = MAX_TRANSACTION_SIZE,
) -> list[Batch]:
    """Pack `groups`, in order, greedily into transactions of at most `limit` bytes.

    `prefix` (e.g. a memo naming the epoch) opens every transaction. A group
    that does not fit even alone raises TransactionTooLarge.
    """
    batches: list[Batch] = []
    indices: list[int] = []
    current: list[Instruction] = list(prefix)
    current_size = 0
    for index, group in enumerate(groups):
        candidate = current + list(group)
        size = signed_size(candidate, payer)
        if size <= limit:
            indices.append(index)
            current, current_size = candidate, size
            continue
        if not indices:
            raise TransactionTooLarge(size, limit)
        batches.append(Batch(tuple(indices), tuple(current), current_size))
        candidate = [*prefix, *group]
        size = signed_size(candidate, payer)
        if size > limit:
            raise TransactionTooLarge(size, limit)
        indices, current, current_size = [index], candidate, size
    if indices:
        batches.append(Batch(tuple(indices), tuple(current), current_size))
    return batches


@dataclass(frozen=True, slots=True)
class GroupSize:
    """What an instruction group adds to a legacy message: the keys it names
    (program ids included), which of them sign, and its compiled instructions, or,
    batched, the accounts and data it adds to the message's one batch instruction."""

    keys: frozenset[Pubkey]
    signers: frozenset[Pubkey]
    instructions: int
    instruction_bytes: int
    programs: frozenset[Pubkey] = frozenset()  # invoked: never loaded from a table
    batch_accounts: int = 0
    batch_data: int = 0

    @classmethod
    def of(cls, instructions: Sequence[Instruction]) -> "GroupSize":
        keys: set[Pubkey] = set()
        signers: set[Pubkey] = set()
        programs: set[Pubkey] = set()
        size = 0
        for ix in instructions:
            metas = ix.accounts
            keys.add(ix.program_id)
            programs.add(ix.program_id)
            for meta in metas:
                keys.add(meta.pubkey)
                if meta.is_signer:
                    signers.add(meta.pubkey)
            data = len(ix.data)
            # program id index, then account indices and data, each length-prefixed
            size += 1 + _shortvec_len(len(metas)) + len(metas) + _shortvec_len(data) + data
        return cls(
            frozenset(keys), frozenset(signers), len(instructions), size, frozenset(programs)
        )

    @classmethod
    def batched(cls, instructions: Sequence[Instruction]) -> "GroupSize":
        """`instructions` as entries of the batch instruction (`spl.batch`)."""
        plain = cls.of(instructions)
        accounts = sum(len(ix.accounts) for ix in instructions)
        data = sum(2 + len(ix.data) for ix in instructions)  # two length bytes each
        return cls(plain.keys, plain.signers, 0, 0, plain.programs, accounts, data)


class _Tally:
    """A message's signed size and the accounts it names, one group at a time.

    With `tables` (address -> the first table holding it) the message is v0: the
    addresses found there are named by a one-byte index, while signers, the payer
    and invoked programs stay in its own keys, as the compiler places them. Without,
    it is legacy: every key in its own keys."""

    def __init__(
        self, payer: Pubkey, opening: GroupSize, tables: Mapping[Pubkey, int] | None
    ) -> None:
        self._tables = tables
        self._last: tuple[GroupSize, tuple[set[Pubkey], dict[Pubkey, int]]] | None = None
        self.static: set[Pubkey] = {payer}
        self.signers: set[Pubkey] = {payer}
        self.loaded: dict[Pubkey, int] = {}
        self.per_table: dict[int, int] = {}
        self.instructions = 0
        self.instruction_bytes = 0
        self.batch_accounts = 0
        self.batch_data = 0
        self.add(opening)

    def _split(self, group: GroupSize) -> tuple[set[Pubkey], dict[Pubkey, int]]:
        """The group's new keys: (own keys, those loaded -> their table)."""
        # size_with then add ask about the same group: split it once.
        if self._last is not None and self._last[0] is group:
            return self._last[1]
        static: set[Pubkey] = set()
        loaded: dict[Pubkey, int] = {}
        fixed = self.signers | group.signers | group.programs
        for key in group.keys:
            if key in self.static or key in self.loaded:
                continue
            table = None if self._tables is None else self._tables.get(key)
            if table is None or key in fixed:
                static.add(key)
            else:
                loaded[key] = table
        self._last = (group, (static, loaded))
        return static, loaded

    def size_with(self, group: GroupSize) -> tuple[int, int, int]:
        """(signed size, accounts named, accounts in the batch) if `group` were added."""
        static, loaded = self._split(group)
        keys = len(self.static) + len(static)
        signers = len(self.signers) + len(group.signers - self.signers)
        instructions = self.instructions + group.instructions
        instruction_bytes = self.instruction_bytes + group.instruction_bytes
        batch_accounts = self.batch_accounts + group.batch_accounts
        if batch_accounts:
            data = 1 + self.batch_data + group.batch_data  # the discriminator, entries
            instructions += 1
            instruction_bytes += (
                1 + _shortvec_len(batch_accounts) + batch_accounts + _shortvec_len(data) + data
            )
        size = (
            _shortvec_len(signers)
            + _SIGNATURE_SIZE * signers
            + 3  # header
            + _shortvec_len(keys)
            + 32 * keys
            + 32  # recent blockhash
            + _shortvec_len(instructions)
            + instruction_bytes
        )
        if self._tables is None:
            return size, keys, batch_accounts
        tables = len(self.per_table) + len({t for t in loaded.values() if t not in self.per_table})
        loaded_total = len(self.loaded) + len(loaded)
        # the version prefix, the count of tables, then per table its address and two
        # index lists (each under 128 entries: one length byte), one byte an address
        size += 1 + _shortvec_len(tables) + 34 * tables + loaded_total
        return size, keys + loaded_total, batch_accounts

    def add(self, group: GroupSize) -> None:
        static, loaded = self._split(group)
        self._last = None  # the tally changes: a later split differs
        self.static |= static
        self.signers |= group.signers
        self.loaded.update(loaded)
        for table in loaded.values():
            self.per_table[table] = self.per_table.get(table, 0) + 1
        self.instructions += group.instructions
        self.instruction_bytes += group.instruction_bytes
        self.batch_accounts += group.batch_accounts
        self.batch_data += group.batch_data


def _pack(
    groups: Sequence[GroupSize], fresh: Callable[[], _Tally], limit: int, max_accounts: int
) -> list[tuple[tuple[int, ...], int]]:
    """Greedy, in order: (group indices, signed size) per transaction."""
    packed: list[tuple[tuple[int, ...], int]] = []
    indices: list[int] = []
    tally = fresh()
    size = 0
    for index, group in enumerate(groups):
        candidate, accounts, batched = tally.size_with(group)
        if candidate <= limit and accounts <= max_accounts and batched <= MAX_BATCH_ACCOUNTS:
            indices.append(index)
            tally.add(group)
            size = candidate
            continue
        if not indices:
            raise TransactionTooLarge(candidate, limit)
        packed.append((tuple(indices), size))
        tally = fresh()
        size, accounts, batched = tally.size_with(group)
        if size > limit or accounts > max_accounts or batched > MAX_BATCH_ACCOUNTS:
            raise TransactionTooLarge(size, limit)
        tally.add(group)
        indices = [index]
    if indices:
        packed.append((tuple(indices), size))
    return packed


def pack_sized_groups(
    groups: Sequence[GroupSize],
    payer: Pubkey,
    *,
    prefix: Sequence[Instruction] = (),
    limit: int = MAX_TRANSACTION_SIZE,
) -> list[tuple[tuple[int, ...], int]]:
    """`pack_instruction_groups` from the groups' sizes alone: (group indices, signed
    size) per transaction, the same packing and sizes."""
    opening = GroupSize.of(prefix)
    return _pack(groups, lambda: _Tally(payer, opening, None), limit, MAX_ACCOUNT_LOCKS)


def first_table_of(tables: Sequence[AddressLookupTableAccount]) -> dict[Pubkey, int]:
    """Each address in `tables` -> the first table holding it (as the v0 compiler picks)."""
    first: dict[Pubkey, int] = {}
    for n, table in enumerate(tables):
        for address in table.addresses:
            first.setdefault(address, n)
    return first


def pack_v0_groups(
    groups: Sequence[GroupSize],
    payer: Pubkey,
    tables: Sequence[AddressLookupTableAccount],
    *,
    prefix: Sequence[Instruction] = (),
    limit: int = MAX_TRANSACTION_SIZE,
    max_accounts: int = MAX_ACCOUNT_LOCKS,
) -> list[tuple[tuple[int, ...], int]]:
    """`pack_sized_groups` for v0 transactions over lookup `tables`: (group indices,
    signed size) per transaction, each within `limit` bytes and `max_accounts`."""
    opening = GroupSize.of(prefix)
    first = first_table_of(tables)
    return _pack(groups, lambda: _Tally(payer, opening, first), limit, max_accounts)

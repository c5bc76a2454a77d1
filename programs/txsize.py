"""The 1232-byte transaction limit, checked before anything is sent, and a packer.

A Solana transaction travels in one IPv6 packet: 1280 bytes minus 48 of headers
leaves 1232 for the serialized transaction. LiteSVM processes larger ones
without complaint, so the project checks every transaction itself.

The packer puts as many instruction groups (a group must stay in one
transaction, e.g. the two transfers of one trade) into each transaction as
fit, in order, measuring each candidate by serializing its message: exact,
and deterministic for the same input.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from solders.instruction import Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from programs.errors import TransactionTooLarge

__all__ = [
    "MAX_TRANSACTION_SIZE",
    "Batch",
    "check_transaction_size",
    "pack_instruction_groups",
    "signed_size",
]

MAX_TRANSACTION_SIZE = 1232
_SIGNATURE_SIZE = 64


def _shortvec_len(n: int) -> int:
    """Bytes of Solana's compact-u16 length prefix for `n`."""
    return 1 if n < 0x80 else 2 if n < 0x4000 else 3


def signed_size(instructions: Sequence[Instruction], payer: Pubkey) -> int:
    """Serialized size of a legacy transaction of `instructions` once it is signed."""
    message = Message(list(instructions), payer)
    signatures = message.header.num_required_signatures
    return _shortvec_len(signatures) + _SIGNATURE_SIZE * signatures + len(bytes(message))


def check_transaction_size(tx: Transaction, limit: int = MAX_TRANSACTION_SIZE) -> int:
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

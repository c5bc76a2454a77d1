"""Address lookup tables: what lets a versioned (v0) transaction name an account by a
one-byte index instead of its 32-byte address.

A legacy settlement transaction is bound by its keys (each party brings two
token accounts, 64 bytes); with the parties' accounts in tables a v0
transaction holds about three times as many trades, up to the runtime's limit
of 64 accounts per transaction. Instructions of Solana's Address Lookup Table
program, encoded here (solders has the account layout, not the instructions):

- create: the table's address derives from the authority and a recent slot
  (one that is still in the SlotHashes sysvar), so a create signed now cannot
  be replayed later into another table;
- extend: appends addresses (at most 256 per table); they can be used from
  the slot after the one that added them.
"""

import struct
from collections.abc import Sequence

from solders.address_lookup_table_account import (
    ID as LOOKUP_TABLE_PROGRAM_ID,
)
from solders.address_lookup_table_account import (
    LOOKUP_TABLE_MAX_ADDRESSES,
    AddressLookupTable,
    derive_lookup_table_address,
)
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM_ID

__all__ = [
    "LOOKUP_TABLE_MAX_ADDRESSES",
    "LOOKUP_TABLE_PROGRAM_ID",
    "MAX_ADDRESSES_PER_EXTEND",
    "create_lookup_table",
    "extend_lookup_table",
    "table_addresses",
]

_CREATE = 0
_EXTEND = 2
MAX_ADDRESSES_PER_EXTEND = 27
"""What one extend fits in 1232 bytes with a payer apart from the authority (tested)."""


def create_lookup_table(
    authority: Pubkey, payer: Pubkey, recent_slot: int
) -> tuple[Pubkey, Instruction]:
    """(the table's address, the instruction creating it). `payer` funds its rent."""
    table, bump = derive_lookup_table_address(authority, recent_slot)
    data = struct.pack("<IQB", _CREATE, recent_slot, bump)
    accounts = [
        AccountMeta(table, is_signer=False, is_writable=True),
        AccountMeta(authority, is_signer=False, is_writable=False),
        AccountMeta(payer, is_signer=True, is_writable=True),
        AccountMeta(SYSTEM_PROGRAM_ID, is_signer=False, is_writable=False),
    ]
    return table, Instruction(LOOKUP_TABLE_PROGRAM_ID, data, accounts)


def extend_lookup_table(
    table: Pubkey, authority: Pubkey, payer: Pubkey, addresses: Sequence[Pubkey]
) -> Instruction:
    """Append `addresses` to `table` (signed by its authority; `payer` funds the rent)."""
    if not 0 < len(addresses) <= MAX_ADDRESSES_PER_EXTEND:
        raise ValueError(f"extend takes 1..{MAX_ADDRESSES_PER_EXTEND} addresses")
    data = struct.pack("<IQ", _EXTEND, len(addresses)) + b"".join(bytes(a) for a in addresses)
    accounts = [
        AccountMeta(table, is_signer=False, is_writable=True),
        AccountMeta(authority, is_signer=True, is_writable=False),
        AccountMeta(payer, is_signer=True, is_writable=True),
        AccountMeta(SYSTEM_PROGRAM_ID, is_signer=False, is_writable=False),
    ]
    return Instruction(LOOKUP_TABLE_PROGRAM_ID, data, accounts)


def table_addresses(data: bytes) -> list[Pubkey]:
    """The addresses stored in a lookup table account's data."""
    return list(AddressLookupTable.deserialize(data).addresses)

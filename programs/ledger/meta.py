"""What the runtime reported when it ran a transaction, kept in the journal: the fee,
every account's lamports and every token account's balance before and after, the
compute units, the inner instructions (CPIs) and the return data; with the logs,
the block time and the memos (kept beside it in the journal) it is a validator's
transaction status meta.

Captured on the settlement path, so kept raw and cheap: a token account is its
first 72 bytes (mint, owner, amount) by its index among the transaction's keys,
before and after; the RPC reads them as `token_balances`. Stored
(`to_bytes`/`from_bytes`) as a small binary layout, zlib-compressed (a token
account's mint and owner are the same before and after, and mints repeat):

    header  version u8, fee u64, compute units u64, n balances u16,
            n token accounts before u16, after u16, tail length u32
    body    balances before, after (u64 each); token accounts before, after
            (index u8 + 72 bytes each); the tail: JSON of the rest (decimals of
            each mint, token programs other than SPL Token's, inner
            instructions, return data)

Pure: builds and reads the values, touches no ledger.
"""

import base64
import json
import struct
import zlib
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.instruction import CompiledInstruction
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey

from programs.spl import MEMO_PROGRAM_ID, TOKEN_ACCOUNT_SIZE, TOKEN_PROGRAM_ID

__all__ = [
    "MEMO_PROGRAM_IDS",
    "TOKEN_PROGRAM_IDS",
    "ExecutionMeta",
    "InnerInstruction",
    "Seen",
    "Snapshot",
    "TokenBalance",
    "format_memos",
    "inner_instructions",
    "message_memos",
    "mint_decimals",
    "snapshot",
    "token_account_fields",
]

TOKEN_2022_PROGRAM_ID = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAM_IDS = frozenset({TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID})
MEMO_V1_PROGRAM_ID = Pubkey.from_string("Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo")
MEMO_V4_PROGRAM_ID = Pubkey.from_string("Memo4c2pN8afCj432Lb7RMVKi9PbQnnW7ewFFaV3oAH")
MEMO_PROGRAM_IDS = frozenset({MEMO_PROGRAM_ID, MEMO_V1_PROGRAM_ID, MEMO_V4_PROGRAM_ID})

_FORMAT = 2
_HEADER = struct.Struct("<BQQHHHI")
_RECORD = 73  # index u8, then mint (32), owner (32), amount (u64)
_TOKEN_STATE_OFFSET = 108  # AccountState in an SPL token account (0 = uninitialized)
_MINT_DECIMALS_OFFSET = 44
_AMOUNT = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class TokenBalance:
    """A token account named by a transaction (by its index in the account keys), with
    its amount before and after (None: not a token account on that side).
    `mint_and_owner` is the account's first 64 bytes: its mint's address, then its
    owner's."""

    account_index: int
    mint_and_owner: bytes
    program_id: Pubkey
    decimals: int
    pre: int | None
    post: int | None

    @property
    def mint(self) -> Pubkey:
        return Pubkey.from_bytes(self.mint_and_owner[:32])

    @property
    def owner(self) -> Pubkey:
        return Pubkey.from_bytes(self.mint_and_owner[32:64])


@dataclass(frozen=True, slots=True)
class InnerInstruction:
    """An instruction a program invoked (CPI), in the transaction's account indexes."""

    program_id_index: int
    accounts: bytes
    data: bytes
    stack_height: int | None


@dataclass(frozen=True)
class ExecutionMeta:
    """A transaction's effects as the runtime reported them (see the module's doc).

    `pre_tokens` / `post_tokens` map a token account's index among the keys to its
    first 72 bytes (mint, owner, amount); `decimals` a mint's 32 bytes to its
    decimals; `token_programs` the indexes of token accounts of a program other than
    SPL Token's. `inner_instructions` holds (outer instruction index, its CPIs) for
    the outer instructions that made any; `return_data` is (program id, data)."""

    fee: int
    pre_balances: tuple[int, ...]
    post_balances: tuple[int, ...]
    pre_tokens: Mapping[int, bytes]
    post_tokens: Mapping[int, bytes]
    decimals: Mapping[bytes, int]
    compute_units: int
    inner_instructions: tuple[tuple[int, tuple[InnerInstruction, ...]], ...] = ()
    return_data: tuple[Pubkey, bytes] | None = None
    token_programs: Mapping[int, Pubkey] = field(default_factory=dict)

    @property
    def token_balances(self) -> tuple[TokenBalance, ...]:
        """Each token account once, with its amount before and after; twice where its
        mint or owner changed (or it was created or closed) within the transaction."""
        result = []
        for index in sorted(self.pre_tokens.keys() | self.post_tokens.keys()):
            program = self.token_programs.get(index, TOKEN_PROGRAM_ID)
            pre = self.pre_tokens.get(index)
            post = self.post_tokens.get(index)
            sides = (
                [(pre, post)]
                if pre and post and pre[:64] == post[:64]
                else [(pre, None), (None, post)]
            )
            for before, after in sides:
                raw = before or after
                if raw is None:
                    continue
                result.append(
                    TokenBalance(
                        index,
                        raw[:64],
                        program,
                        self.decimals.get(raw[:32], 0),
                        None if before is None else _AMOUNT.unpack_from(before, 64)[0],
                        None if after is None else _AMOUNT.unpack_from(after, 64)[0],
                    )
                )
        return tuple(result)

    def to_bytes(self) -> bytes:
        tail = json.dumps(
            {
                "dec": [[_b64(mint), d] for mint, d in self.decimals.items()],
                "prog": [[i, str(p)] for i, p in self.token_programs.items()],
                "inner": [
                    [
                        index,
                        [
                            [i.program_id_index, _b64(i.accounts), _b64(i.data), i.stack_height]
                            for i in instructions
                        ],
                    ]
                    for index, instructions in self.inner_instructions
                ],
                "ret": None
                if self.return_data is None
                else [str(self.return_data[0]), _b64(self.return_data[1])],
            },
            separators=(",", ":"),
        ).encode()
        header = _HEADER.pack(
            _FORMAT,
            self.fee,
            self.compute_units,
            len(self.pre_balances),
            len(self.pre_tokens),
            len(self.post_tokens),
            len(tail),
        )
        body = b"".join(
            [
                header,
                array("Q", self.pre_balances).tobytes(),
                array("Q", self.post_balances).tobytes(),
                b"".join(bytes((i,)) + raw for i, raw in self.pre_tokens.items()),
                b"".join(bytes((i,)) + raw for i, raw in self.post_tokens.items()),
                tail,
            ]
        )
        return zlib.compress(body, 1)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "ExecutionMeta":
        body = zlib.decompress(raw)
        version, fee, units, n_balances, n_pre, n_post, n_tail = _HEADER.unpack_from(body)
        if version != _FORMAT:
            raise ValueError(f"unknown execution meta format {version}")
        at = _HEADER.size
        balances = array("Q")
        balances.frombytes(body[at : at + 16 * n_balances])
        at += 16 * n_balances
        tokens = []
        for count in (n_pre, n_post):
            records = body[at : at + _RECORD * count]
            tokens.append(
                {records[i]: records[i + 1 : i + _RECORD] for i in range(0, len(records), _RECORD)}
            )
            at += _RECORD * count
        tail: dict[str, Any] = json.loads(body[at : at + n_tail])
        ret = tail["ret"]
        return cls(
            fee=fee,
            pre_balances=tuple(balances[:n_balances]),
            post_balances=tuple(balances[n_balances:]),
            pre_tokens=tokens[0],
            post_tokens=tokens[1],
            decimals={_unb64(mint): d for mint, d in tail["dec"]},
            compute_units=units,
            inner_instructions=tuple(
                (
                    index,
                    tuple(
                        InnerInstruction(program, _unb64(accounts), _unb64(data), height)
                        for program, accounts, data, height in instructions
                    ),
                )
                for index, instructions in tail["inner"]
            ),
            return_data=None if ret is None else (Pubkey.from_string(ret[0]), _unb64(ret[1])),
            token_programs={i: Pubkey.from_string(p) for i, p in tail["prog"]},
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


# --- capturing --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The lamports of each key, the token accounts among them (index -> first 72
    bytes), and those of a program other than SPL Token's (index -> program)."""

    balances: tuple[int, ...]
    tokens: dict[int, bytes]
    programs: dict[int, Pubkey]


def token_account_fields(account: Account) -> bytes | None:
    """The first 72 bytes (mint, owner, amount) of an initialized SPL token account,
    else None."""
    program = account.owner
    if program not in TOKEN_PROGRAM_IDS:
        return None
    data = account.data
    if len(data) < TOKEN_ACCOUNT_SIZE or data[_TOKEN_STATE_OFFSET] == 0:
        return None
    if program == TOKEN_PROGRAM_ID and len(data) != TOKEN_ACCOUNT_SIZE:
        return None  # a mint or multisig of the original program
    return bytes(data[:72])


Seen = dict[Pubkey, tuple[int, bytes | None, Pubkey | None]]
"""What a snapshot read of an account: lamports, token account bytes, its program."""


def snapshot(
    keys: Sequence[Pubkey],
    get_account: Callable[[Pubkey], Account | None],
    skip: frozenset[Pubkey] = frozenset(),
    get_balance: Callable[[Pubkey], int] | None = None,
    *,
    unchanged: "Snapshot | None" = None,
    writable: Sequence[bool] = (),
    seen: Seen | None = None,
) -> Snapshot:
    """Lamports and token accounts of `keys`. For keys in `skip` (programs, sysvars)
    only the lamports are read, through `get_balance` where given. With `unchanged`
    (a snapshot of the same keys, before), keys not marked in `writable` are taken
    from it: a transaction cannot change them; the others are read. `seen` keeps what
    was read, by address: a snapshot before a transaction takes an account from it
    rather than reading it again (its keeper forgets an account changed otherwise)."""
    balances = []
    tokens: dict[int, bytes] = {}
    programs: dict[int, Pubkey] = {}
    for index, key in enumerate(keys):
        if unchanged is not None and not writable[index]:
            balances.append(unchanged.balances[index])
            if index in unchanged.tokens:
                tokens[index] = unchanged.tokens[index]
                if index in unchanged.programs:
                    programs[index] = unchanged.programs[index]
            continue
        if key in skip and get_balance is not None:
            balances.append(get_balance(key))
            continue
        state = seen.get(key) if seen is not None and unchanged is None else None
        if state is None:
            account = get_account(key)
            if account is None:
                state = (0, None, None)
            else:
                raw = token_account_fields(account)
                program = None
                if raw is not None and account.owner != TOKEN_PROGRAM_ID:
                    program = account.owner
                state = (account.lamports, raw, program)
            if seen is not None:
                seen[key] = state
        balances.append(state[0])
        if state[1] is not None:
            tokens[index] = state[1]
            if state[2] is not None:
                programs[index] = state[2]
    return Snapshot(tuple(balances), tokens, programs)


def mint_decimals(account: Account | None) -> int:
    """The decimals of an SPL mint account (0 if it is not one)."""
    if account is None or account.owner not in TOKEN_PROGRAM_IDS:
        return 0
    data = bytes(account.data)
    return data[_MINT_DECIMALS_OFFSET] if len(data) > _MINT_DECIMALS_OFFSET else 0


def inner_instructions(
    recorded: Sequence[Sequence[Any]],
) -> tuple[tuple[int, tuple[InnerInstruction, ...]], ...]:
    """LiteSVM's per-outer-instruction lists of solders InnerInstruction, those that
    are not empty, as plain values."""
    result = []
    for index, instructions in enumerate(recorded):
        if not instructions:
            continue
        converted = []
        for inner in instructions:
            compiled: CompiledInstruction = inner.instruction()
            converted.append(
                InnerInstruction(
                    compiled.program_id_index,
                    bytes(compiled.accounts),
                    bytes(compiled.data),
                    inner.stack_height(),
                )
            )
        result.append((index, tuple(converted)))
    return tuple(result)


# --- memos ------------------------------------------------------------------------------


def message_memos(message: Message | MessageV0) -> list[bytes]:
    """The data of each top-level Memo instruction, in order (memo v1 and v2)."""
    keys = message.account_keys
    found = []
    for ix in message.instructions:
        index = ix.program_id_index
        if index < len(keys) and keys[index] in MEMO_PROGRAM_IDS:
            found.append(bytes(ix.data))
    return found


def format_memos(memos: Sequence[bytes]) -> str | None:
    """A validator's `memo` field: "[length] text" per memo, joined by "; "."""
    if not memos:
        return None
    parts = []
    for data in memos:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = "(unparsable)"
        parts.append(f"[{len(data)}] {text}")
    return "; ".join(parts)

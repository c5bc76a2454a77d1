"""Instructions in `jsonParsed` form, as a validator's parsers give them: SPL Token
(with p-token's Batch), SPL Memo, the System program and the Associated Token
Account program. Any other program (Compute Budget, Address Lookup Table), and an
instruction one of these cannot decode, is "partially decoded": program id,
accounts and base58 data.

    parse_instruction(program_id, accounts, data, keys, stack_height)

`keys` are the transaction's account keys as strings (static, then loaded);
`accounts` the instruction's indexes into them. Pure.
"""

import struct
from collections.abc import Callable, Sequence
from typing import Any

from programs.ledger.jsonrpc.errors import Json
from wire.base58 import b58encode

__all__ = ["PROGRAM_NAMES", "parse_instruction", "ui_token_amount"]

TOKEN = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"  # noqa: S105 - an address
TOKEN_2022 = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"  # noqa: S105 - an address
MEMO_V1 = "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo"
MEMO_V2 = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
SYSTEM = "11111111111111111111111111111111"
ASSOCIATED_TOKEN = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"  # noqa: S105 - an address

PROGRAM_NAMES = {
    TOKEN: "spl-token",
    TOKEN_2022: "spl-token",
    MEMO_V1: "spl-memo",
    MEMO_V2: "spl-memo",
    SYSTEM: "system",
    ASSOCIATED_TOKEN: "spl-associated-token-account",
}


class _NotParsableError(Exception):
    """The instruction does not decode: it is shown partially decoded."""


def parse_instruction(
    program_id: str,
    accounts: bytes,
    data: bytes,
    keys: Sequence[str],
    stack_height: int | None,
) -> Json:
    """One instruction as a validator's `jsonParsed` shows it."""
    program = PROGRAM_NAMES.get(program_id)
    if program is not None:
        try:
            parsed = _PARSERS[program](data, _Accounts(accounts, keys))
        except (_NotParsableError, struct.error, IndexError, UnicodeDecodeError, ValueError):
            pass
        else:
            return {
                "program": program,
                "programId": program_id,
                "parsed": parsed,
                "stackHeight": stack_height,
            }
    return {
        "programId": program_id,
        "accounts": [keys[i] for i in accounts if i < len(keys)],
        "data": b58encode(data),
        "stackHeight": stack_height,
    }


class _Accounts:
    """An instruction's accounts as keys; asking past the end is a key mismatch."""

    def __init__(self, indexes: bytes, keys: Sequence[str]) -> None:
        if indexes and max(indexes) >= len(keys):
            raise _NotParsableError("account index out of range")
        self._indexes = indexes
        self._keys = keys

    def __len__(self) -> int:
        return len(self._indexes)

    def __getitem__(self, position: int) -> str:
        if position >= len(self._indexes):
            raise _NotParsableError("not enough accounts")
        return self._keys[self._indexes[position]]

    def at_least(self, count: int) -> "_Accounts":
        if len(self._indexes) < count:
            raise _NotParsableError("not enough accounts")
        return self

    def from_(self, position: int) -> list[str]:
        return [self._keys[i] for i in self._indexes[position:]]

    def subset(self, start: int, count: int) -> "_Accounts":
        return _Accounts(self._indexes[start : start + count], self._keys)


# --- SPL Token -------------------------------------------------------------------------


def ui_token_amount(amount: int, decimals: int) -> Json:
    """A token amount as the RPC shows it (UiTokenAmount)."""
    whole, fraction = divmod(amount, 10**decimals)
    text = str(whole) if not fraction else f"{whole}.{fraction:0{decimals}d}".rstrip("0")
    return {
        "uiAmount": amount / 10**decimals,
        "decimals": decimals,
        "amount": str(amount),
        "uiAmountString": text,
    }


_AUTHORITY_TYPES = {
    0: ("mintTokens", "mint"),
    1: ("freezeAccount", "mint"),
    2: ("accountOwner", "account"),
    3: ("closeAccount", "account"),
}


def _key(raw: bytes) -> str:
    if len(raw) != 32:
        raise _NotParsableError("short key")
    return b58encode(raw)


def _u64(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<Q", data, offset)[0]
    return value


def _option_key(data: bytes, offset: int) -> tuple[str | None, int]:
    """A COption<Pubkey> as the token program packs it: a tag byte, then the key."""
    tag = data[offset]
    if tag == 0:
        return None, offset + 1
    if tag != 1:
        raise _NotParsableError("bad option tag")
    return _key(data[offset + 1 : offset + 33]), offset + 33


def _signers(
    info: dict[str, Json], last: int, accounts: _Accounts, single: str, multisig: str
) -> None:
    """The authority at `last`, or a multisig there and its signers after it."""
    if len(accounts) > last + 1:
        info[multisig] = accounts[last]
        info["signers"] = accounts.from_(last + 1)
    elif len(accounts) > last:
        info[single] = accounts[last]


def _initialize_mint(kind: int, body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(2 if kind == 0 else 1)
    freeze, _ = _option_key(body, 33)
    info: dict[str, Json] = {
        "mint": accounts[0],
        "decimals": body[0],
        "mintAuthority": _key(body[1:33]),
    }
    if kind == 0:
        info["rentSysvar"] = accounts[1]
    if freeze is not None:
        info["freezeAuthority"] = freeze
    return _typed("initializeMint" if kind == 0 else "initializeMint2", info)


def _initialize_account(kind: int, body: bytes, accounts: _Accounts) -> Json:
    if kind == 1:
        accounts.at_least(4)
        owner = accounts[2]
        info = {"account": accounts[0], "mint": accounts[1], "owner": owner}
        return _typed("initializeAccount", {**info, "rentSysvar": accounts[3]})
    accounts.at_least(3 if kind == 16 else 2)
    info = {"account": accounts[0], "mint": accounts[1], "owner": _key(body[:32])}
    if kind == 16:
        return _typed("initializeAccount2", {**info, "rentSysvar": accounts[2]})
    return _typed("initializeAccount3", info)


def _initialize_multisig(kind: int, body: bytes, accounts: _Accounts) -> Json:
    first = 2 if kind == 2 else 1
    accounts.at_least(first + 1)
    info: dict[str, Json] = {"multisig": accounts[0]}
    if kind == 2:
        info["rentSysvar"] = accounts[1]
    info["signers"] = accounts.from_(first)
    info["m"] = body[0]
    return _typed("initializeMultisig" if kind == 2 else "initializeMultisig2", info)


# kind -> (type, the fields of its leading accounts, authority field, multisig field)
_SIMPLE = {
    3: ("transfer", ("source", "destination"), "authority", "multisigAuthority"),
    4: ("approve", ("source", "delegate"), "owner", "multisigOwner"),
    5: ("revoke", ("source",), "owner", "multisigOwner"),
    7: ("mintTo", ("mint", "account"), "mintAuthority", "multisigMintAuthority"),
    8: ("burn", ("account", "mint"), "authority", "multisigAuthority"),
    9: ("closeAccount", ("account", "destination"), "owner", "multisigOwner"),
    10: ("freezeAccount", ("account", "mint"), "freezeAuthority", "multisigFreezeAuthority"),
    11: ("thawAccount", ("account", "mint"), "freezeAuthority", "multisigFreezeAuthority"),
    12: (
        "transferChecked",
        ("source", "mint", "destination"),
        "authority",
        "multisigAuthority",
    ),
    13: ("approveChecked", ("source", "mint", "delegate"), "owner", "multisigOwner"),
    14: ("mintToChecked", ("mint", "account"), "mintAuthority", "multisigMintAuthority"),
    15: ("burnChecked", ("account", "mint"), "authority", "multisigAuthority"),
    38: ("withdrawExcessLamports", ("source", "destination"), "authority", "multisigAuthority"),
}
_WITH_AMOUNT = {3, 4, 7, 8}
_CHECKED = {12, 13, 14, 15}


def _simple(kind: int, body: bytes, accounts: _Accounts) -> Json:
    name, fields, single, multisig = _SIMPLE[kind]
    accounts.at_least(len(fields) + 1)
    info: dict[str, Json] = {field: accounts[i] for i, field in enumerate(fields)}
    if kind in _WITH_AMOUNT:
        info["amount"] = str(_u64(body, 0))
    if kind in _CHECKED:
        info["tokenAmount"] = ui_token_amount(_u64(body, 0), body[8])
    _signers(info, len(fields), accounts, single, multisig)
    return _typed(name, info)


def _set_authority(kind: int, body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(2)
    if body[0] not in _AUTHORITY_TYPES:
        raise _NotParsableError("authority type of token-2022")
    name, owned = _AUTHORITY_TYPES[body[0]]
    new_authority, _ = _option_key(body, 1)
    info = {owned: accounts[0], "authorityType": name, "newAuthority": new_authority}
    _signers(info, 1, accounts, "authority", "multisigAuthority")
    return _typed("setAuthority", info)


def _one_account(kind: int, body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(1)
    if kind == 17:
        return _typed("syncNative", {"account": accounts[0]})
    if kind == 22:
        return _typed("initializeImmutableOwner", {"account": accounts[0]})
    if kind == 21:
        if body:
            raise _NotParsableError("extension types of token-2022")
        return _typed("getAccountDataSize", {"mint": accounts[0]})
    if kind == 23:
        return _typed("amountToUiAmount", {"mint": accounts[0], "amount": str(_u64(body, 0))})
    return _typed("uiAmountToAmount", {"mint": accounts[0], "uiAmount": body.decode()})


def _batch(kind: int, body: bytes, accounts: _Accounts) -> Json:
    return _typed("batch", {"instructions": _parse_batch(body, accounts)})


_TOKEN: dict[int, Callable[[int, bytes, _Accounts], Json]] = {
    0: _initialize_mint,
    20: _initialize_mint,
    1: _initialize_account,
    16: _initialize_account,
    18: _initialize_account,
    2: _initialize_multisig,
    19: _initialize_multisig,
    6: _set_authority,
    17: _one_account,
    21: _one_account,
    22: _one_account,
    23: _one_account,
    24: _one_account,
    255: _batch,
    **dict.fromkeys(_SIMPLE, _simple),
}


def _parse_token(data: bytes, accounts: _Accounts) -> Json:
    if not data or data[0] not in _TOKEN:
        raise _NotParsableError("not a token instruction this parser knows")
    return _TOKEN[data[0]](data[0], data[1:], accounts)


def _parse_batch(data: bytes, accounts: _Accounts) -> list[Json]:
    """p-token's Batch: per inner instruction an account count, a data length and
    the data; the accounts are the inner instructions' accounts, concatenated."""
    parsed = []
    at = used = 0
    while at < len(data):
        count, length = data[at], data[at + 1]
        inner = data[at + 2 : at + 2 + length]
        if len(inner) != length or (inner and inner[0] == 255):
            raise _NotParsableError("bad batch")
        at += 2 + length
        parsed.append(_parse_token(inner, accounts.subset(used, count)))
        used += count
    return parsed


# --- System, ATA, Memo -------------------------------------------------------------------


def _string(data: bytes, offset: int) -> tuple[str, int]:
    """A bincode String: u64 length, then UTF-8 bytes."""
    length = _u64(data, offset)
    start = offset + 8
    if start + length > len(data):
        raise _NotParsableError("short string")
    return data[start : start + length].decode(), start + length


def _create_account(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(2)
    return _typed(
        "createAccount",
        {
            "source": accounts[0],
            "newAccount": accounts[1],
            "lamports": _u64(body, 0),
            "space": _u64(body, 8),
            "owner": _key(body[16:48]),
        },
    )


def _assign(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(1)
    return _typed("assign", {"account": accounts[0], "owner": _key(body[:32])})


def _transfer(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(2)
    return _typed(
        "transfer",
        {"source": accounts[0], "destination": accounts[1], "lamports": _u64(body, 0)},
    )


def _create_account_with_seed(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(2)
    seed, at = _string(body, 32)
    return _typed(
        "createAccountWithSeed",
        {
            "source": accounts[0],
            "newAccount": accounts[1],
            "base": _key(body[:32]),
            "seed": seed,
            "lamports": _u64(body, at),
            "space": _u64(body, at + 8),
            "owner": _key(body[at + 16 : at + 48]),
        },
    )


def _advance_nonce(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(3)
    return _typed(
        "advanceNonce",
        {
            "nonceAccount": accounts[0],
            "recentBlockhashesSysvar": accounts[1],
            "nonceAuthority": accounts[2],
        },
    )


def _withdraw_nonce(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(5)
    return _typed(
        "withdrawFromNonce",
        {
            "nonceAccount": accounts[0],
            "destination": accounts[1],
            "recentBlockhashesSysvar": accounts[2],
            "rentSysvar": accounts[3],
            "nonceAuthority": accounts[4],
            "lamports": _u64(body, 0),
        },
    )


def _initialize_nonce(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(3)
    return _typed(
        "initializeNonce",
        {
            "nonceAccount": accounts[0],
            "recentBlockhashesSysvar": accounts[1],
            "rentSysvar": accounts[2],
            "nonceAuthority": _key(body[:32]),
        },
    )


def _authorize_nonce(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(2)
    return _typed(
        "authorizeNonce",
        {
            "nonceAccount": accounts[0],
            "nonceAuthority": accounts[1],
            "newAuthorized": _key(body[:32]),
        },
    )


def _allocate(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(1)
    return _typed("allocate", {"account": accounts[0], "space": _u64(body, 0)})


def _with_seed(kind: str, body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(2)
    seed, at = _string(body, 32)
    info: dict[str, Json] = {"account": accounts[0], "base": _key(body[:32]), "seed": seed}
    if kind == "allocateWithSeed":
        info["space"] = _u64(body, at)
        at += 8
    info["owner"] = _key(body[at : at + 32])
    return _typed(kind, info)


def _transfer_with_seed(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(3)
    seed, at = _string(body, 8)
    return _typed(
        "transferWithSeed",
        {
            "source": accounts[0],
            "sourceBase": accounts[1],
            "destination": accounts[2],
            "lamports": _u64(body, 0),
            "sourceSeed": seed,
            "sourceOwner": _key(body[at : at + 32]),
        },
    )


def _upgrade_nonce(body: bytes, accounts: _Accounts) -> Json:
    accounts.at_least(1)
    return _typed("upgradeNonce", {"nonceAccount": accounts[0]})


_SYSTEM: dict[int, Callable[[bytes, _Accounts], Json]] = {
    0: _create_account,
    1: _assign,
    2: _transfer,
    3: _create_account_with_seed,
    4: _advance_nonce,
    5: _withdraw_nonce,
    6: _initialize_nonce,
    7: _authorize_nonce,
    8: _allocate,
    9: lambda body, accounts: _with_seed("allocateWithSeed", body, accounts),
    10: lambda body, accounts: _with_seed("assignWithSeed", body, accounts),
    11: _transfer_with_seed,
    12: _upgrade_nonce,
}


def _parse_system(data: bytes, accounts: _Accounts) -> Json:
    (kind,) = struct.unpack_from("<I", data, 0)
    if kind not in _SYSTEM:
        raise _NotParsableError(f"system instruction {kind}")
    return _SYSTEM[kind](data[4:], accounts)


def _parse_associated_token(data: bytes, accounts: _Accounts) -> Json:
    kind = data[0] if data else 0
    if kind in (0, 1) and len(data) <= 1:
        accounts.at_least(6)
        return _typed(
            "create" if kind == 0 else "createIdempotent",
            {
                "source": accounts[0],
                "account": accounts[1],
                "wallet": accounts[2],
                "mint": accounts[3],
                "systemProgram": accounts[4],
                "tokenProgram": accounts[5],
            },
        )
    if kind == 2 and len(data) == 1:
        accounts.at_least(7)
        return _typed(
            "recoverNested",
            {
                "nestedSource": accounts[0],
                "nestedMint": accounts[1],
                "destination": accounts[2],
                "nestedOwner": accounts[3],
                "ownerMint": accounts[4],
                "wallet": accounts[5],
                "tokenProgram": accounts[6],
            },
        )
    raise _NotParsableError(f"associated token instruction {kind}")


def _parse_memo(data: bytes, accounts: _Accounts) -> Json:
    return data.decode("utf-8")  # strict: invalid UTF-8 is shown partially decoded


def _typed(kind: str, info: dict[str, Json]) -> Json:
    return {"info": info, "type": kind}


_PARSERS: dict[str, Callable[[bytes, _Accounts], Any]] = {
    "spl-token": _parse_token,
    "system": _parse_system,
    "spl-associated-token-account": _parse_associated_token,
    "spl-memo": _parse_memo,
}

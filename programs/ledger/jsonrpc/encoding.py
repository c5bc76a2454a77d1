"""Accounts and transactions in the encodings a validator answers with. Pure.

Accounts: `base64`, `base58` (at most 128 bytes of data, as a validator) and
`jsonParsed` (SPL Token mints, token accounts and multisigs; anything else falls
back to base64, as a validator does for data it cannot parse), with `dataSlice`
for the binary ones. Transactions: `json` (raw message), `jsonParsed` (accounts
with their roles, instructions through `parsers`), `base64`, `base58`; the meta
from the journal's execution meta (`programs.ledger.meta`).
"""

import base64
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from solders.account import Account
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from programs.ledger.jsonrpc.errors import Json, invalid_params, ui_transaction_error
from programs.ledger.jsonrpc.parsers import parse_instruction, ui_token_amount
from programs.ledger.meta import TOKEN_PROGRAM_IDS, ExecutionMeta
from programs.ledger.store import JournalEntry
from programs.spl import MINT_SIZE, MULTISIG_SIZE, TOKEN_ACCOUNT_SIZE
from wire.base58 import b58encode

__all__ = [
    "ACCOUNT_ENCODINGS",
    "RESERVED_KEYS",
    "DataSlice",
    "encode_account",
    "encode_transaction",
    "encode_transaction_meta",
    "parsed_account_keys",
    "parsed_token_data",
    "ui_token_amount",
]

ACCOUNT_ENCODINGS = ("base64", "base58", "jsonParsed")
_MAX_BASE58_BYTES = 128

# Keys a transaction can never write (builtin programs and sysvars): a validator
# shows them read-only in a parsed message whatever the header says.
RESERVED_KEYS = frozenset(
    Pubkey.from_string(key)
    for key in (
        "11111111111111111111111111111111",
        "AddressLookupTab1e1111111111111111111111111",
        "BPFLoader1111111111111111111111111111111111",
        "BPFLoader2111111111111111111111111111111111",
        "BPFLoaderUpgradeab1e11111111111111111111111",
        "ComputeBudget111111111111111111111111111111",
        "Config1111111111111111111111111111111111111",
        "Ed25519SigVerify111111111111111111111111111",
        "Feature111111111111111111111111111111111111",
        "LoaderV411111111111111111111111111111111111",
        "NativeLoader1111111111111111111111111111111",
        "KeccakSecp256k11111111111111111111111111111",
        "Secp256r1SigVerify1111111111111111111111111",
        "Stake11111111111111111111111111111111111111",
        "StakeConfig11111111111111111111111111111111",
        "Vote111111111111111111111111111111111111111",
        "ZkE1Gama1Proof11111111111111111111111111111",
        "ZkTokenProof1111111111111111111111111111111",
        "SysvarC1ock11111111111111111111111111111111",
        "SysvarEpochRewards1111111111111111111111111",
        "SysvarEpochSchedu1e111111111111111111111111",
        "SysvarFees111111111111111111111111111111111",
        "Sysvar1nstructions1111111111111111111111111",
        "SysvarLastRestartS1ot1111111111111111111111",
        "SysvarRecentB1ockHashes11111111111111111111",
        "SysvarRent111111111111111111111111111111111",
        "SysvarRewards111111111111111111111111111111",
        "SysvarS1otHashes111111111111111111111111111",
        "SysvarS1otHistory11111111111111111111111111",
        "SysvarStakeHistory1111111111111111111111111",
    )
)


# --- accounts ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataSlice:
    offset: int
    length: int

    def __call__(self, data: bytes) -> bytes:
        return data[self.offset : self.offset + self.length]


def encode_account(
    account: Account,
    encoding: str,
    decimals: dict[Pubkey, int],
    data_slice: DataSlice | None = None,
) -> Json:
    """`account` as a validator's UiAccount. `decimals` maps mints to their decimals
    (for a token account's amounts in jsonParsed)."""
    data = bytes(account.data)
    encoded: Json
    if encoding == "jsonParsed":
        parsed = parsed_token_data(account, decimals)
        if parsed is not None:
            return _ui_account(account, parsed, len(data))
        encoding = "base64"
    if data_slice is not None:
        data = data_slice(data)
    if encoding == "base58":
        if len(data) > _MAX_BASE58_BYTES:
            raise invalid_params(
                "Encoded binary (base 58) data should be less than 128 bytes, please use "
                "Base64 encoding."
            )
        encoded = [b58encode(data), "base58"]
    elif encoding == "base64":
        encoded = [base64.b64encode(data).decode(), "base64"]
    else:
        raise invalid_params(f"Invalid params: unsupported encoding {encoding}")
    return _ui_account(account, encoded, len(bytes(account.data)))


def _ui_account(account: Account, data: Json, space: int) -> Json:
    return {
        "data": data,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": space,
    }


def _optional_key(raw: bytes) -> str | None:
    """A COption<Pubkey> as a token account or mint stores it: a u32 tag, the key."""
    return b58encode(raw[4:36]) if raw[:4] != b"\0\0\0\0" else None


def parsed_token_data(account: Account, decimals: dict[Pubkey, int]) -> Json | None:
    """jsonParsed data of an SPL mint, token account or multisig; None otherwise."""
    if account.owner not in TOKEN_PROGRAM_IDS:
        return None
    data = bytes(account.data)
    info: dict[str, Json]
    if len(data) == MINT_SIZE:
        supply, decimal_places, initialized = struct.unpack_from("<QB?", data, 36)
        info = {
            "decimals": decimal_places,
            "freezeAuthority": _optional_key(data[46:82]),
            "isInitialized": initialized,
            "mintAuthority": _optional_key(data[0:36]),
            "supply": str(supply),
        }
        kind = "mint"
    elif len(data) == TOKEN_ACCOUNT_SIZE:
        state = data[108]
        if state == 0:
            return None
        mint = Pubkey.from_bytes(data[:32])
        places = decimals.get(mint, 0)
        (amount,) = struct.unpack_from("<Q", data, 64)
        native = data[109:113] != b"\0\0\0\0"
        info = {
            "isNative": native,
            "mint": str(mint),
            "owner": b58encode(data[32:64]),
            "state": "frozen" if state == 2 else "initialized",
            "tokenAmount": ui_token_amount(amount, places),
        }
        delegate = _optional_key(data[72:108])
        if delegate is not None:
            info["delegate"] = delegate
            info["delegatedAmount"] = ui_token_amount(
                struct.unpack_from("<Q", data, 121)[0], places
            )
        if native:
            info["rentExemptReserve"] = ui_token_amount(
                struct.unpack_from("<Q", data, 113)[0], places
            )
        close = _optional_key(data[129:165])
        if close is not None:
            info["closeAuthority"] = close
        kind = "account"
    elif len(data) == MULTISIG_SIZE:
        m, n, initialized = struct.unpack_from("<BB?", data, 0)
        info = {
            "isInitialized": initialized,
            "numRequiredSigners": m,
            "numValidSigners": n,
            "signers": [b58encode(data[3 + 32 * i : 35 + 32 * i]) for i in range(n)],
        }
        kind = "multisig"
    else:
        return None
    return {"program": "spl-token", "parsed": {"info": info, "type": kind}, "space": len(data)}


def token_account_mint(account: Account) -> Pubkey | None:
    """The mint of an SPL token account (for its decimals), else None."""
    data = bytes(account.data)
    if account.owner in TOKEN_PROGRAM_IDS and len(data) == TOKEN_ACCOUNT_SIZE:
        return Pubkey.from_bytes(data[:32])
    return None


# --- transactions -----------------------------------------------------------------------


def _is_writable(message: Message | MessageV0, index: int, invoked: set[int]) -> bool:
    header = message.header
    static = len(message.account_keys)
    if index >= static:
        return False  # loaded: decided by the caller
    signed = header.num_required_signatures
    if index < signed:
        writable = index < signed - header.num_readonly_signed_accounts
    else:
        writable = index < static - header.num_readonly_unsigned_accounts
    key = message.account_keys[index]
    return writable and key not in RESERVED_KEYS and index not in invoked


def parsed_account_keys(
    message: Message | MessageV0, loaded: tuple[Sequence[Pubkey], Sequence[Pubkey]]
) -> list[Json]:
    """The accounts of a parsed message: key, signer, writable (reserved keys and
    invoked programs demoted, as a validator shows them) and source."""
    keys = message.account_keys
    invoked = {ix.program_id_index for ix in message.instructions}
    signers = message.header.num_required_signatures
    result = [
        {
            "pubkey": str(key),
            "writable": _is_writable(message, i, invoked),
            "signer": i < signers,
            "source": "transaction",
        }
        for i, key in enumerate(keys)
    ]
    writable, readonly = loaded
    for key, is_writable in [(k, True) for k in writable] + [(k, False) for k in readonly]:
        result.append(
            {
                "pubkey": str(key),
                "writable": is_writable and key not in RESERVED_KEYS,
                "signer": False,
                "source": "lookupTable",
            }
        )
    return result


def _compiled(program_id_index: int, accounts: bytes, data: bytes, height: int | None) -> Json:
    return {
        "programIdIndex": program_id_index,
        "accounts": list(accounts),
        "data": b58encode(data),
        "stackHeight": height,
    }


def _lookups(message: MessageV0) -> list[Json]:
    return [
        {
            "accountKey": str(lookup.account_key),
            "writableIndexes": list(bytes(lookup.writable_indexes)),
            "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
        }
        for lookup in message.address_table_lookups
    ]


def encode_transaction(
    tx: VersionedTransaction,
    raw: bytes,
    encoding: str,
    loaded: tuple[Sequence[Pubkey], Sequence[Pubkey]],
) -> Json:
    """The `transaction` field of getTransaction / getBlock in `encoding`."""
    if encoding == "base64":
        return [base64.b64encode(raw).decode(), "base64"]
    if encoding in ("base58", "binary"):
        encoded = b58encode(raw)
        return encoded if encoding == "binary" else [encoded, "base58"]
    message = tx.message
    body: dict[str, Json]
    if encoding == "json":
        header = message.header
        body = {
            "accountKeys": [str(k) for k in message.account_keys],
            "header": {
                "numRequiredSignatures": header.num_required_signatures,
                "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            },
            "recentBlockhash": str(message.recent_blockhash),
            "instructions": [
                _compiled(ix.program_id_index, bytes(ix.accounts), bytes(ix.data), 1)
                for ix in message.instructions
            ],
        }
    elif encoding == "jsonParsed":
        keys = [str(k) for k in list(message.account_keys) + list(loaded[0]) + list(loaded[1])]
        body = {
            "accountKeys": parsed_account_keys(message, loaded),
            "recentBlockhash": str(message.recent_blockhash),
            "instructions": [
                parse_instruction(
                    keys[ix.program_id_index], bytes(ix.accounts), bytes(ix.data), keys, 1
                )
                for ix in message.instructions
            ],
        }
    else:
        raise invalid_params(f"Invalid params: unsupported encoding {encoding}")
    if isinstance(message, MessageV0):
        body["addressTableLookups"] = _lookups(message)
    return {"signatures": [str(s) for s in tx.signatures], "message": body}


def _ui_token_balances(meta: ExecutionMeta, side: str) -> list[Json]:
    result = []
    for balance in meta.token_balances:
        amount = balance.pre if side == "pre" else balance.post
        if amount is None:
            continue
        result.append(
            {
                "accountIndex": balance.account_index,
                "mint": str(balance.mint),
                "uiTokenAmount": ui_token_amount(amount, balance.decimals),
                "owner": str(balance.owner),
                "programId": str(balance.program_id),
            }
        )
    return result


def encode_transaction_meta(
    entry: JournalEntry,
    tx: VersionedTransaction,
    encoding: str,
    loaded: tuple[Sequence[Pubkey], Sequence[Pubkey]],
    *,
    rewards: bool = True,
    details: str = "full",
) -> Json:
    """A journal entry's status meta as a validator's UiTransactionStatusMeta.
    `details` "accounts" gives the short form getBlock's transactionDetails asks."""
    err = None if entry.error is None else ui_transaction_error(entry.error)
    meta = entry.meta
    result: dict[str, Json] = {
        "err": err,
        "status": {"Ok": None} if err is None else {"Err": err},
        "fee": meta.fee if meta is not None else 5000 * len(tx.signatures),
        "preBalances": list(meta.pre_balances) if meta is not None else [],
        "postBalances": list(meta.post_balances) if meta is not None else [],
    }
    pre_tokens = None if meta is None else _ui_token_balances(meta, "pre")
    post_tokens = None if meta is None else _ui_token_balances(meta, "post")
    if details == "accounts":
        result["preTokenBalances"] = pre_tokens
        result["postTokenBalances"] = post_tokens
        if rewards:
            result["rewards"] = []
        return result
    keys = [str(k) for k in list(tx.message.account_keys) + list(loaded[0]) + list(loaded[1])]
    inner: Json = None
    if meta is not None:
        inner = []
        for index, instructions in meta.inner_instructions:
            shown = []
            for i in instructions:
                if encoding == "jsonParsed" and i.program_id_index < len(keys):
                    program = keys[i.program_id_index]
                    shown.append(
                        parse_instruction(program, i.accounts, i.data, keys, i.stack_height)
                    )
                else:
                    shown.append(_compiled(i.program_id_index, i.accounts, i.data, i.stack_height))
            inner.append({"index": index, "instructions": shown})
    result["innerInstructions"] = inner
    result["logMessages"] = list(entry.logs) if (entry.logs or meta is not None) else None
    result["preTokenBalances"] = pre_tokens
    result["postTokenBalances"] = post_tokens
    result["rewards"] = [] if rewards else None
    if encoding != "jsonParsed":
        result["loadedAddresses"] = {
            "writable": [str(a) for a in loaded[0]],
            "readonly": [str(a) for a in loaded[1]],
        }
    if meta is not None:
        if meta.return_data is not None:
            returned_by, data = meta.return_data
            result["returnData"] = {
                "programId": str(returned_by),
                "data": [base64.b64encode(data).decode(), "base64"],
            }
        result["computeUnitsConsumed"] = meta.compute_units
    return result

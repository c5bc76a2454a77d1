"""The embedded ledger served as Solana JSON-RPC 2.0 (the subset the rpc backend, solana-py
and the dashboard use), as an ASGI app to mount in the coordinator or run under uvicorn.

    app = create_app(ledger)            # POST / with a request or a batch; GET /health

Methods: getLatestBlockhash, isBlockhashValid, sendTransaction (base58, base64),
getSignatureStatuses, getAccountInfo (base64, base58, jsonParsed for mints and
token accounts), getBalance, getTokenAccountBalance, getTokenAccountsByOwner (by
mint or program), getSignaturesForAddress, getTransaction (json, base64),
getMinimumBalanceForRentExemption, getSlot, getBlockHeight, getHealth,
getVersion, requestAirdrop (only with `allow_airdrop`).

Answers follow a validator's shapes, so solders' response parsers read them.
Every transaction is final when answered, so every status is "finalized"
whatever commitment is asked. Errors carry JSON-RPC codes: -32700 parse,
-32600 invalid request, -32601 unknown method, -32602 invalid params, -32002
transaction rejected (with the runtime's error and logs as a validator's
preflight reports them), -32003 signature verification failure, -32005 the
ledger's store is unavailable, -32015 a v0 transaction asked for without
`maxSupportedTransactionVersion`. sendTransaction takes legacy and v0
(address lookup table) transactions; getSlot also enters the slot in
SlotHashes, so a lookup table may be created against it.
"""

import base64
import binascii
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount
from solders.transaction import VersionedTransaction
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from programs.errors import (
    LedgerUnavailable,
    TransactionExpired,
    TransactionFailed,
    TransactionTooLarge,
)
from programs.ledger.embedded import EmbeddedLedger
from programs.spl import MINT_SIZE, TOKEN_ACCOUNT_SIZE, TOKEN_PROGRAM_ID
from programs.txsize import MAX_TRANSACTION_SIZE
from wire.base58 import b58decode, b58encode

__all__ = [
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "SEND_TRANSACTION_PREFLIGHT_FAILURE",
    "SIGNATURE_VERIFICATION_FAILURE",
    "VERSION",
    "RpcError",
    "create_app",
    "ui_transaction_error",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SEND_TRANSACTION_PREFLIGHT_FAILURE = -32002
SIGNATURE_VERIFICATION_FAILURE = -32003
NODE_UNHEALTHY = -32005
UNSUPPORTED_TRANSACTION_VERSION = -32015
VERSION = "2.2.0"  # the validator API these answers follow
_BLOCKHASH_VALID_SLOTS = 150
_MAX_SIGNATURES = 1000
_FEE_PER_SIGNATURE = 5000

Json = Any  # a JSON value as json.loads returns it


class RpcError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, code: int, message: str, data: Json = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Json]:
        error: dict[str, Json] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


# --- pure translations ----------------------------------------------------------------

_INSTRUCTION_ERROR = re.compile(
    r"^TransactionErrorInstructionError\(\((\d+), (Tagged|Fieldless)\((\w+)(?:\((\d+)\))?\)\)\)$"
)
_FIELDLESS = re.compile(r"^TransactionErrorFieldless\.(\w+)$")


def ui_transaction_error(text: str) -> Json:
    """A journaled error (solders' `str` of a TransactionError) in RPC JSON form, e.g.
    {"InstructionError": [0, {"Custom": 1}]} or "BlockhashNotFound"."""
    fieldless = _FIELDLESS.match(text)
    if fieldless:
        return fieldless.group(1)
    instruction = _INSTRUCTION_ERROR.match(text)
    if instruction:
        index, kind, name, value = instruction.groups()
        if kind == "Fieldless":
            return {"InstructionError": [int(index), name]}
        if name == "InstructionErrorCustom" and value is not None:
            return {"InstructionError": [int(index), {"Custom": int(value)}]}
    # No JSON form known: keep the text so a person can still read it.
    return {"InstructionError": [0, {"BorshIoError": text}]}


def _ui_amount(amount: int, decimals: int) -> Json:
    whole, fraction = divmod(amount, 10**decimals)
    text = str(whole) if not fraction else f"{whole}.{fraction:0{decimals}d}".rstrip("0")
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": amount / 10**decimals,
        "uiAmountString": text,
    }


def _binary_account(account: Account, encoding: str) -> Json:
    data = bytes(account.data)
    encoded = (
        [b58encode(data), "base58"]
        if encoding == "base58"
        else [base64.b64encode(data).decode(), "base64"]
    )
    return {
        "data": encoded,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": len(data),
    }


def _parsed_token_data(account: Account, decimals_of: Callable[[Pubkey], int]) -> Json | None:
    """jsonParsed form of an SPL mint or token account; None for anything else."""
    data = bytes(account.data)
    if account.owner != TOKEN_PROGRAM_ID:
        return None
    if len(data) == MINT_SIZE:
        mint = Mint.from_bytes(data)
        info: Json = {
            "decimals": mint.decimals,
            "freezeAuthority": _optional_key(mint.freeze_authority),
            "isInitialized": mint.is_initialized,
            "mintAuthority": _optional_key(mint.mint_authority),
            "supply": str(mint.supply),
        }
        kind = "mint"
    elif len(data) == TOKEN_ACCOUNT_SIZE:
        token = TokenAccount.from_bytes(data)
        decimals = decimals_of(token.mint)
        info = {
            "isNative": token.is_native is not None,
            "mint": str(token.mint),
            "owner": str(token.owner),
            "state": "frozen" if "Frozen" in str(token.state) else "initialized",
            "tokenAmount": _ui_amount(token.amount, decimals),
        }
        if token.delegate is not None:
            info["delegate"] = str(token.delegate)
            info["delegatedAmount"] = _ui_amount(token.delegated_amount, decimals)
        kind = "account"
    else:
        return None
    return {
        "program": "spl-token",
        "parsed": {"info": info, "type": kind},
        "space": len(data),
    }


def _optional_key(key: Pubkey | None) -> str | None:
    return None if key is None else str(key)


def _json_transaction(tx: VersionedTransaction) -> Json:
    message = tx.message
    header = message.header
    encoded: dict[str, Json] = {
        "signatures": [str(s) for s in tx.signatures],
        "message": {
            "accountKeys": [str(k) for k in message.account_keys],
            "header": {
                "numRequiredSignatures": header.num_required_signatures,
                "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
            },
            "recentBlockhash": str(message.recent_blockhash),
            "instructions": [
                {
                    "programIdIndex": ix.program_id_index,
                    "accounts": list(bytes(ix.accounts)),
                    "data": b58encode(bytes(ix.data)),
                    "stackHeight": None,
                }
                for ix in message.instructions
            ],
        },
    }
    if isinstance(message, MessageV0):
        body = encoded["message"]
        assert isinstance(body, dict)
        body["addressTableLookups"] = [
            {
                "accountKey": str(lookup.account_key),
                "writableIndexes": list(bytes(lookup.writable_indexes)),
                "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
            }
            for lookup in message.address_table_lookups
        ]
    return encoded


# --- parameter helpers ----------------------------------------------------------------


def _param(params: list[Json], index: int, default: Json = None) -> Json:
    return params[index] if index < len(params) else default


def _config(params: list[Json], index: int) -> dict[str, Json]:
    value = _param(params, index, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RpcError(INVALID_PARAMS, f"Invalid params: expected a config object at {index}")
    return value


def _pubkey(value: Json) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (TypeError, ValueError) as exc:
        raise RpcError(INVALID_PARAMS, f"Invalid param: invalid pubkey {value!r}") from exc


def _signature(value: Json) -> Signature:
    try:
        return Signature.from_string(value)
    except (TypeError, ValueError) as exc:
        raise RpcError(INVALID_PARAMS, f"Invalid param: invalid signature {value!r}") from exc


def _hash(value: Json) -> Hash:
    try:
        return Hash.from_string(value)
    except (TypeError, ValueError) as exc:
        raise RpcError(INVALID_PARAMS, f"Invalid param: invalid blockhash {value!r}") from exc


def _non_negative_int(value: Json, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RpcError(INVALID_PARAMS, f"Invalid param: {what} must be a non-negative integer")
    return value


def _decode_transaction(text: Json, encoding: str) -> VersionedTransaction:
    if not isinstance(text, str):
        raise RpcError(INVALID_PARAMS, "Invalid params: the transaction must be a string")
    try:
        if encoding == "base64":
            raw = base64.b64decode(text, validate=True)
        elif encoding == "base58":
            raw = b58decode(text)
        else:
            raise RpcError(INVALID_PARAMS, f"Invalid params: unsupported encoding {encoding}")
    except (binascii.Error, ValueError) as exc:
        raise RpcError(INVALID_PARAMS, f"invalid {encoding} encoding: {exc}") from exc
    if len(raw) > MAX_TRANSACTION_SIZE:
        raise RpcError(
            INVALID_PARAMS,
            f"{encoding} encoded solana_sdk::transaction::Transaction too large: "
            f"{len(raw)} bytes (max: {MAX_TRANSACTION_SIZE} bytes)",
        )
    try:
        return VersionedTransaction.from_bytes(raw)  # legacy or v0
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"failed to deserialize Transaction: {exc}") from exc


def _preflight_failure(message: str, err: Json, logs: tuple[str, ...] = ()) -> RpcError:
    data = {
        "err": err,
        "logs": list(logs),
        "accounts": None,
        "unitsConsumed": 0,
        "returnData": None,
        "innerInstructions": None,
    }
    return RpcError(SEND_TRANSACTION_PREFLIGHT_FAILURE, message, data)


# --- the methods ------------------------------------------------------------------------

Handler = Callable[[EmbeddedLedger, list[Json]], Awaitable[Json]]


def _context(ledger: EmbeddedLedger, value: Json) -> Json:
    return {"context": {"slot": ledger.slot, "apiVersion": VERSION}, "value": value}


async def _get_latest_blockhash(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    blockhash = await ledger.latest_blockhash()
    return _context(
        ledger,
        {
            "blockhash": str(blockhash),
            "lastValidBlockHeight": ledger.slot + _BLOCKHASH_VALID_SLOTS,
        },
    )


async def _is_blockhash_valid(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    return _context(ledger, await ledger.is_blockhash_valid(_hash(_param(params, 0))))


async def _send_transaction(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    config = _config(params, 1)
    tx = _decode_transaction(_param(params, 0), config.get("encoding", "base58"))
    skip_preflight = bool(config.get("skipPreflight", False))
    signature = tx.signatures[0]
    try:
        await ledger.send_transaction(tx)
    except TransactionTooLarge as exc:
        raise RpcError(INVALID_PARAMS, str(exc)) from exc
    except TransactionExpired as exc:
        if skip_preflight:  # a cluster would drop it silently
            return str(signature)
        raise _preflight_failure(
            "Transaction simulation failed: Blockhash not found", "BlockhashNotFound"
        ) from exc
    except TransactionFailed as exc:
        if "SignatureFailure" in exc.error:
            raise RpcError(
                SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
            ) from exc
        if skip_preflight and await ledger.signature_status(signature) is not None:
            return str(signature)  # landed and failed: its status tells
        raise _preflight_failure(
            f"Transaction simulation failed: {exc.error}",
            ui_transaction_error(exc.error),
            exc.logs,
        ) from exc
    return str(signature)


async def _get_signature_statuses(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    signatures = _param(params, 0)
    if not isinstance(signatures, list) or len(signatures) > 256:
        raise RpcError(INVALID_PARAMS, "Invalid params: expected a list of up to 256 signatures")
    value: list[Json] = []
    for text in signatures:
        status = await ledger.signature_status(_signature(text))
        if status is None:
            value.append(None)
            continue
        err = None if status.error is None else ui_transaction_error(status.error)
        value.append(
            {
                "slot": status.slot,
                "confirmations": None,
                "err": err,
                "status": {"Ok": None} if err is None else {"Err": err},
                "confirmationStatus": "finalized",
            }
        )
    return _context(ledger, value)


async def _decimals_of(ledger: EmbeddedLedger, mint: Pubkey) -> int:
    found = await ledger.get_mint(mint)
    return 0 if found is None else found.decimals


async def _encode_account(ledger: EmbeddedLedger, account: Account, encoding: str) -> Json:
    if encoding == "jsonParsed":
        decimals: dict[Pubkey, int] = {}
        if account.owner == TOKEN_PROGRAM_ID and len(account.data) == TOKEN_ACCOUNT_SIZE:
            mint = TokenAccount.from_bytes(bytes(account.data)).mint
            decimals[mint] = await _decimals_of(ledger, mint)
        parsed = _parsed_token_data(account, lambda m: decimals.get(m, 0))
        if parsed is not None:
            return {**_binary_account(account, "base64"), "data": parsed}
        encoding = "base64"  # as a validator does for data it cannot parse
    if encoding not in ("base64", "base58"):
        raise RpcError(INVALID_PARAMS, f"Invalid params: unsupported encoding {encoding}")
    return _binary_account(account, encoding)


async def _get_account_info(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    address = _pubkey(_param(params, 0))
    encoding = _config(params, 1).get("encoding", "base64")
    account = await ledger.get_account(address)
    if account is None:
        return _context(ledger, None)
    return _context(ledger, await _encode_account(ledger, account, encoding))


async def _get_balance(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    account = await ledger.get_account(_pubkey(_param(params, 0)))
    return _context(ledger, 0 if account is None else account.lamports)


async def _get_token_account_balance(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    token = await ledger.get_token_account(_pubkey(_param(params, 0)))
    if token is None:
        raise RpcError(INVALID_PARAMS, "Invalid param: not a Token account")
    return _context(ledger, _ui_amount(token.amount, await _decimals_of(ledger, token.mint)))


async def _get_token_accounts_by_owner(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    owner = _pubkey(_param(params, 0))
    token_filter = _config(params, 1)
    encoding = _config(params, 2).get("encoding", "base64")
    mint = None
    if "mint" in token_filter:
        mint = _pubkey(token_filter["mint"])
    elif _pubkey(token_filter.get("programId")) != TOKEN_PROGRAM_ID:
        raise RpcError(INVALID_PARAMS, "Invalid param: unrecognized Token program id")
    value = []
    for address, _ in await ledger.token_accounts_by_owner(owner, mint):
        account = await ledger.get_account(address)
        if account is not None:
            encoded = await _encode_account(ledger, account, encoding)
            value.append({"pubkey": str(address), "account": encoded})
    return _context(ledger, value)


async def _get_signatures_for_address(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    address = _pubkey(_param(params, 0))
    config = _config(params, 1)
    limit = config.get("limit")
    limit = _MAX_SIGNATURES if limit is None else _non_negative_int(limit, "limit")
    if not 1 <= limit <= _MAX_SIGNATURES:
        raise RpcError(INVALID_PARAMS, f"Invalid limit; max {_MAX_SIGNATURES}")
    before = config.get("before")
    until = config.get("until")
    until_signature = None if until is None else _signature(until)
    found = await ledger.signatures_for_address(
        address, limit=limit, before=None if before is None else _signature(before)
    )
    result = []
    for item in found:
        if item.signature == until_signature:
            break
        result.append(
            {
                "signature": str(item.signature),
                "slot": item.slot,
                "err": None if item.error is None else ui_transaction_error(item.error),
                "memo": None,
                "blockTime": None,
                "confirmationStatus": "finalized",
            }
        )
    return result


async def _get_transaction(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    signature = _signature(_param(params, 0))
    config = _param(params, 1, {})
    # An older form passes the encoding as a bare string.
    encoding = config if isinstance(config, str) else _config(params, 1).get("encoding", "json")
    entry = await ledger.journal_entry(signature)
    if entry is None or not entry.tx:
        return None
    tx = VersionedTransaction.from_bytes(entry.tx)
    max_version = config.get("maxSupportedTransactionVersion") if isinstance(config, dict) else None
    is_v0 = isinstance(tx.message, MessageV0)
    if is_v0 and max_version is None:
        raise RpcError(
            UNSUPPORTED_TRANSACTION_VERSION,
            "Transaction version (0) is not supported by the requesting client. Please try the"
            " request again with the following configuration parameter:"
            ' "maxSupportedTransactionVersion": 0',
        )
    writable, readonly = ledger.loaded_addresses(tx.message)
    if encoding == "base64":
        encoded: Json = [base64.b64encode(entry.tx).decode(), "base64"]
    elif encoding == "json":
        encoded = _json_transaction(tx)
    else:
        raise RpcError(INVALID_PARAMS, f"Invalid params: unsupported encoding {encoding}")
    err = None if entry.error is None else ui_transaction_error(entry.error)
    result = {
        "slot": entry.slot,
        "blockTime": None,
        "transaction": encoded,
        "meta": {
            "err": err,
            "status": {"Ok": None} if err is None else {"Err": err},
            "fee": _FEE_PER_SIGNATURE * len(tx.signatures),
            "preBalances": [],
            "postBalances": [],
            "innerInstructions": [],
            "logMessages": list(entry.logs),
            "preTokenBalances": [],
            "postTokenBalances": [],
            "rewards": [],
            "loadedAddresses": {
                "writable": [str(a) for a in writable],
                "readonly": [str(a) for a in readonly],
            },
        },
    }
    if isinstance(config, dict) and "maxSupportedTransactionVersion" in config:
        result["version"] = 0 if is_v0 else "legacy"
    return result


async def _get_minimum_balance(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    size = _non_negative_int(_param(params, 0), "data length")
    return await ledger.minimum_balance_for_rent_exemption(size)


async def _get_slot(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    # Also entered in SlotHashes: a lookup table may be created against it.
    return await ledger.recent_slot()


async def _get_health(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    return "ok"


async def _get_version(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    return {"solana-core": VERSION, "feature-set": 0}


async def _request_airdrop(ledger: EmbeddedLedger, params: list[Json]) -> Json:
    address = _pubkey(_param(params, 0))
    lamports = _non_negative_int(_param(params, 1), "lamports")
    await ledger.airdrop(address, lamports)
    # Airdrops are not journaled: the answer is a placeholder, the balance is real.
    return str(Signature.default())


_METHODS: dict[str, Handler] = {
    "getLatestBlockhash": _get_latest_blockhash,
    "isBlockhashValid": _is_blockhash_valid,
    "sendTransaction": _send_transaction,
    "getSignatureStatuses": _get_signature_statuses,
    "getAccountInfo": _get_account_info,
    "getBalance": _get_balance,
    "getTokenAccountBalance": _get_token_account_balance,
    "getTokenAccountsByOwner": _get_token_accounts_by_owner,
    "getSignaturesForAddress": _get_signatures_for_address,
    "getTransaction": _get_transaction,
    "getMinimumBalanceForRentExemption": _get_minimum_balance,
    "getSlot": _get_slot,
    "getBlockHeight": _get_slot,
    "getHealth": _get_health,
    "getVersion": _get_version,
    "requestAirdrop": _request_airdrop,
}


async def _answer(
    ledger: EmbeddedLedger, request: Json, allow_airdrop: bool
) -> dict[str, Json] | None:
    """The response object for one request; None for a notification (no id)."""
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
        return _error(None, RpcError(INVALID_REQUEST, "Invalid request"))
    request_id = request.get("id")
    is_notification = "id" not in request
    method = request.get("method")
    params = request.get("params", [])
    try:
        if not isinstance(method, str) or not isinstance(params, list):
            raise RpcError(INVALID_REQUEST, "Invalid request")
        handler = _METHODS.get(method)
        if handler is None or (method == "requestAirdrop" and not allow_airdrop):
            raise RpcError(METHOD_NOT_FOUND, "Method not found")
        result = await handler(ledger, params)
    except RpcError as exc:
        return None if is_notification else _error(request_id, exc)
    except LedgerUnavailable as exc:
        error = RpcError(NODE_UNHEALTHY, "Node is unhealthy", {"reason": str(exc)})
        return None if is_notification else _error(request_id, error)
    if is_notification:
        return None
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def _error(request_id: Json, error: RpcError) -> dict[str, Json]:
    return {"jsonrpc": "2.0", "error": error.to_json(), "id": request_id}


def create_app(ledger: EmbeddedLedger, *, allow_airdrop: bool = True) -> Starlette:
    """The JSON-RPC endpoint (POST /) and the health probe (GET /health) for `ledger`.

    `allow_airdrop` makes requestAirdrop credit lamports out of thin air: for tests
    and the demo; turn it off wherever the endpoint is reachable by others.
    """

    async def rpc(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            return JSONResponse(_error(None, RpcError(PARSE_ERROR, "Parse error")))
        if isinstance(body, list):
            if not body:
                return JSONResponse(_error(None, RpcError(INVALID_REQUEST, "Invalid request")))
            answers = [await _answer(ledger, item, allow_airdrop) for item in body]
            present = [a for a in answers if a is not None]
            return JSONResponse(present) if present else Response(status_code=204)
        answer = await _answer(ledger, body, allow_airdrop)
        return JSONResponse(answer) if answer is not None else Response(status_code=204)

    async def health(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[Route("/", rpc, methods=["POST"]), Route("/health", health, methods=["GET"])]
    )

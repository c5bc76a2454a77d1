"""Reading a request's params as a validator does, with its error messages. Pure."""

import base64
import binascii

from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from programs.ledger.jsonrpc.encoding import ACCOUNT_ENCODINGS, DataSlice
from programs.ledger.jsonrpc.errors import Json, invalid_params
from programs.txsize import MAX_TRANSACTION_SIZE
from wire.base58 import b58decode

__all__ = [
    "account_encoding",
    "config",
    "data_slice",
    "decode_transaction",
    "hash_param",
    "non_negative_int",
    "param",
    "pubkey",
    "signature",
]


def param(params: list[Json], index: int, default: Json = None) -> Json:
    return params[index] if index < len(params) else default


def config(params: list[Json], index: int) -> dict[str, Json]:
    value = param(params, index, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid_params(f"Invalid params: expected a config object at {index}")
    return value


def pubkey(value: Json) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except (TypeError, ValueError) as exc:
        raise invalid_params(f"Invalid param: Invalid {value!r}") from exc


def signature(value: Json) -> Signature:
    try:
        return Signature.from_string(value)
    except (TypeError, ValueError) as exc:
        raise invalid_params("Invalid param: Invalid") from exc


def hash_param(value: Json) -> Hash:
    try:
        return Hash.from_string(value)
    except (TypeError, ValueError) as exc:
        raise invalid_params(f"Invalid param: invalid blockhash {value!r}") from exc


def non_negative_int(value: Json, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid_params(f"Invalid param: {what} must be a non-negative integer")
    return value


def account_encoding(options: dict[str, Json], default: str = "base64") -> str:
    encoding = options.get("encoding") or default
    if encoding == "binary":
        return "base58"
    if encoding not in ACCOUNT_ENCODINGS:
        raise invalid_params(f"Invalid params: unsupported encoding {encoding}")
    return str(encoding)


def data_slice(options: dict[str, Json]) -> DataSlice | None:
    value = options.get("dataSlice")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid_params("Invalid params: dataSlice must be an object")
    return DataSlice(
        non_negative_int(value.get("offset"), "dataSlice.offset"),
        non_negative_int(value.get("length"), "dataSlice.length"),
    )


def decode_transaction(text: Json, encoding: str) -> tuple[bytes, VersionedTransaction]:
    """The wire bytes of a transaction param and the transaction they hold."""
    if not isinstance(text, str):
        raise invalid_params("Invalid params: the transaction must be a string")
    if encoding not in ("base58", "base64"):
        raise invalid_params(
            f"unsupported encoding: {encoding}. Supported encodings: base58, base64"
        )
    try:
        raw = base64.b64decode(text, validate=True) if encoding == "base64" else b58decode(text)
    except (binascii.Error, ValueError) as exc:
        raise invalid_params(f"invalid {encoding} encoding: {exc}") from exc
    if len(raw) > MAX_TRANSACTION_SIZE:
        raise invalid_params(
            f"{encoding} encoded solana_transaction::versioned::VersionedTransaction too "
            f"large: {len(raw)} bytes (max: encoded/raw "
            f"{_encoded_limit(encoding)}/{MAX_TRANSACTION_SIZE})"
        )
    try:
        return raw, VersionedTransaction.from_bytes(raw)  # legacy or v0
    except ValueError as exc:
        raise invalid_params(
            f"failed to deserialize solana_transaction::versioned::VersionedTransaction: {exc}"
        ) from exc


def _encoded_limit(encoding: str) -> int:
    return 1683 if encoding == "base58" else 1644  # a validator's limits on the text

"""What the verifier reads from a Solana RPC endpoint: one transaction, its memos and
who signed them.

The transaction is asked for in `base64` (its exact bytes), parsed here (legacy and
v0 messages) and its signatures checked with Ed25519 over the message bytes, so a
memo is credited to a key only if that key's signature is really on it: the endpoint
is trusted to say the transaction landed (and succeeded), not who signed it.
"""

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from verify.errors import Refused, Unavailable
from verify.http import Http
from wire.base58 import b58decode, b58encode

__all__ = [
    "MEMO_PROGRAM",
    "ChainMemo",
    "LandedTransaction",
    "SolanaRpc",
    "check_address",
    "parse_transaction",
]

MEMO_PROGRAM = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
"""SPL Memo v2, which checks that every account given to it signed the transaction."""

_SIGNATURE_LEN = 64
_KEY_LEN = 32


@dataclass(frozen=True, slots=True)
class ChainMemo:
    """One Memo instruction: its text, and the keys it names whose signatures are valid."""

    text: str
    signers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LandedTransaction:
    signature: str
    slot: int
    error: object
    memos: tuple[ChainMemo, ...]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise ValueError("transaction bytes end early")
        out = self.data[self.at : self.at + n]
        self.at += n
        return out

    def byte(self) -> int:
        return self.take(1)[0]

    def compact_u16(self) -> int:
        value = 0
        for shift in (0, 7, 14):
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
        raise ValueError("compact-u16 longer than 3 bytes")


def _signed_by(key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def parse_transaction(raw: bytes) -> tuple[str, tuple[ChainMemo, ...]]:
    """(the transaction's signature, base58; its Memo v2 instructions); ValueError if
    `raw` is not a legacy or v0 transaction."""
    reader = _Reader(raw)
    signatures = [reader.take(_SIGNATURE_LEN) for _ in range(reader.compact_u16())]
    message = raw[reader.at :]
    if message and message[0] & 0x80:
        if message[0] & 0x7F != 0:
            raise ValueError(f"transaction version {message[0] & 0x7F} is not supported")
        reader.byte()
    required = reader.byte()
    reader.take(2)  # read-only signed and unsigned counts
    keys = [reader.take(_KEY_LEN) for _ in range(reader.compact_u16())]
    reader.take(32)  # recent blockhash
    if not signatures or required != len(signatures) or required > len(keys):
        raise ValueError("signature count does not match the message header")
    valid = {keys[i] for i in range(required) if _signed_by(keys[i], signatures[i], message)}
    memos = []
    for _ in range(reader.compact_u16()):
        program = reader.byte()
        accounts = reader.take(reader.compact_u16())
        data = reader.take(reader.compact_u16())
        if program >= len(keys) or b58encode(keys[program]) != MEMO_PROGRAM:
            continue
        # Indexes past the static keys are lookup-table addresses: never signers.
        named = [keys[i] for i in accounts if i < len(keys)]
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # the memo program refuses these: such a transaction failed
        memos.append(ChainMemo(text, tuple(b58encode(k) for k in named if k in valid)))
    return b58encode(signatures[0]), tuple(memos)


class SolanaRpc:
    """A Solana JSON-RPC endpoint (a validator, or the embedded ledger's `ledger serve`)."""

    def __init__(self, url: str, http: Http, *, commitment: str = "finalized") -> None:
        self._url = url
        self._http = http
        self._commitment = commitment

    def _call(self, method: str, params: list[Any]) -> Any:
        request = {"jsonrpc": "2.0", "id": secrets.randbelow(1 << 31), "method": method,
                   "params": params}  # fmt: skip
        body = self._http.post(
            self._url, json.dumps(request).encode(), {"Content-Type": "application/json"}
        )
        try:
            answer = json.loads(body)
        except ValueError as exc:
            raise Unavailable(f"{self._url}: {method} answered with no JSON") from exc
        if not isinstance(answer, dict):
            raise Unavailable(f"{self._url}: {method} answered {str(answer)[:100]}")
        if answer.get("error") is not None:
            raise Unavailable(f"{self._url}: {method}: {answer['error']}")
        return answer.get("result")

    def transaction(self, signature: str) -> LandedTransaction:
        """The landed transaction `signature`; `Unavailable` if the endpoint does not
        know it (not landed, not yet at this commitment, or another cluster)."""
        result = self._call(
            "getTransaction",
            [signature, {"encoding": "base64", "commitment": self._commitment,
                         "maxSupportedTransactionVersion": 0}],
        )  # fmt: skip
        if result is None:
            raise Unavailable(
                f"{self._url} does not know transaction {signature} ({self._commitment})"
            )
        try:
            encoded, encoding = result["transaction"]
            if encoding != "base64":
                raise ValueError(f"asked for base64, got {encoding!r}")
            raw = base64.b64decode(encoded, validate=True)
            meta = result["meta"]
            error = None if meta is None else meta.get("err")
            slot = int(result["slot"])
            landed, memos = parse_transaction(raw)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise Unavailable(f"{self._url}: transaction {signature} unreadable: {exc}") from exc
        if landed != signature:
            raise Refused(
                "attestation_mismatch",
                f"the endpoint answered transaction {landed} for {signature}",
            )
        return LandedTransaction(signature, slot, error, memos)


def check_address(text: str, what: str) -> str:
    """`text` if it is a base58 32-byte address; ValueError otherwise."""
    try:
        raw = b58decode(text)
    except ValueError:
        raise ValueError(f"{what} is not base58: {text!r}") from None
    if len(raw) != _KEY_LEN or b58encode(raw) != text:
        raise ValueError(f"{what} is not a 32-byte address: {text!r}")
    return text

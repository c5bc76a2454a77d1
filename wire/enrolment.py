"""What a gateway's device key signs beyond readings: pure functions, no I/O.

The installer CLI (`provisioning`) builds these messages and the coordinator
checks them, so both must produce the same bytes. Each message opens with its
own domain tag, so a signature made for one can never pass as another:

- enrolment proof: ``"GTX-ENROL\\0" || sha256(token) || gateway key``;
- key rotation, signed by the current and the new key:
  ``"GTX-ROTATE\\0" || gateway key || new key || timestamp (u64 big-endian)``;
- signed API request: ``"GTX-REQUEST\\0" || "<METHOD> <path> <timestamp>"``,
  refused by the coordinator beyond `REQUEST_MAX_SKEW_S` of its clock.
"""

import hashlib

from solders.pubkey import Pubkey
from solders.signature import Signature

from wire.base58 import b58decode, b58encode

__all__ = [
    "REQUEST_MAX_SKEW_S",
    "TOKEN_PREFIX",
    "enrolment_message",
    "public_key_of",
    "request_message",
    "rotation_message",
    "signature_ok",
]

# What an enrolment token starts with, so a pasted one is recognisable.
TOKEN_PREFIX = "gtxe_"  # noqa: S105 (a label, not a secret)
# A signed request older or newer than this is refused (replay window).
REQUEST_MAX_SKEW_S = 300

_ENROL_TAG = b"GTX-ENROL\x00"
_ROTATE_TAG = b"GTX-ROTATE\x00"
_REQUEST_TAG = b"GTX-REQUEST\x00"


def public_key_of(address: str, what: str = "address") -> bytes:
    """The 32 bytes behind a base58 Ed25519 public key / Solana address;
    ValueError naming `what` if it is not one."""
    try:
        raw = b58decode(address)
    except ValueError:
        raise ValueError(f"{what} {address!r} is not base58") from None
    if len(raw) != 32 or b58encode(raw) != address:
        raise ValueError(f"{what} {address!r} is not a 32-byte base58 public key")
    return raw


def enrolment_message(token: str, gateway_key: bytes) -> bytes:
    """What the device key signs to prove possession when enrolling."""
    return _ENROL_TAG + hashlib.sha256(token.encode()).digest() + gateway_key


def rotation_message(gateway_key: bytes, new_key: bytes, timestamp: int) -> bytes:
    """What both the current and the new device key sign to rotate."""
    return _ROTATE_TAG + gateway_key + new_key + timestamp.to_bytes(8, "big")


def request_message(method: str, path: str, timestamp: int) -> bytes:
    """What the device key signs to authenticate a gateway's API request."""
    return _REQUEST_TAG + f"{method.upper()} {path} {timestamp}".encode()


def signature_ok(signature: bytes, public_key: bytes, message: bytes) -> bool:
    """Ed25519 verification (solders, as on the ingest hot path)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        return Signature.from_bytes(signature).verify(Pubkey.from_bytes(public_key), message)
    except ValueError:
        return False

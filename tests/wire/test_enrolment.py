"""The messages a gateway key signs: byte-exact, domain-separated, verifiable."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from wire.base58 import b58encode
from wire.enrolment import (
    enrolment_message,
    public_key_of,
    request_message,
    rotation_message,
    signature_ok,
)

KEY = bytes(range(32))
NEW_KEY = bytes(range(32, 64))


def test_enrolment_message_bytes() -> None:
    # "GTX-ENROL\0" || sha256(token) || gateway key: what installed gateways sign.
    assert enrolment_message("gtxe_abc", KEY).hex() == (
        "4754582d454e524f4c00"
        "ba358ca7a1a62e842227a03e1ea9770bab3f006b74c8bab620f4a7eeb7fdcec1" + KEY.hex()
    )


def test_rotation_message_bytes() -> None:
    assert rotation_message(KEY, NEW_KEY, 1764000000) == (
        b"GTX-ROTATE\x00" + KEY + NEW_KEY + bytes.fromhex("0000000069248100")
    )


def test_request_message_bytes() -> None:
    assert request_message("post", "/api/v1/gateways/x/rotate", 1764000000) == (
        b"GTX-REQUEST\x00POST /api/v1/gateways/x/rotate 1764000000"
    )


def test_signed_messages_are_domain_separated() -> None:
    messages = {
        enrolment_message("t", KEY),
        rotation_message(KEY, KEY, 0),
        request_message("GET", "/x", 0),
    }
    assert len({m[:8] for m in messages}) == 3


def test_signature_ok_only_for_the_signing_key_and_message() -> None:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    message = request_message("GET", "/x", 0)
    sig = private.sign(message)
    assert signature_ok(sig, public, message)
    assert not signature_ok(sig, public, request_message("GET", "/x", 1))
    assert not signature_ok(sig, KEY, message)
    assert not signature_ok(sig[:63], public, message)
    assert not signature_ok(sig, public[:31], message)


@given(st.binary(min_size=32, max_size=32))
def test_any_32_byte_key_parses_back(raw: bytes) -> None:
    assert public_key_of(b58encode(raw)) == raw


@pytest.mark.parametrize(
    ("address", "reason"),
    [("0OIl", "is not base58"), (b58encode(bytes(31)), "is not a 32-byte base58 public key")],
)
def test_malformed_public_keys_are_refused_naming_what(address: str, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^gateway id '{address}' {reason}$"):
        public_key_of(address, "gateway id")

"""The coordinator's verifier (solders) on the shared vectors, and agreement with cryptography."""

from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.readings.oracle.signatures import signature_valid
from edge.signing import DeviceKey
from tests.utils.vectors import load_vectors
from wire.reading import Reading, SignedReading, decode_payload

VECTORS = load_vectors()
PUBLIC_KEY = bytes.fromhex(VECTORS["public_key_hex"])


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["fields"]["meter"])
def test_vectors_verify(vector: dict[str, Any]) -> None:
    assert signature_valid(decode_payload(vector["payload"].encode()), PUBLIC_KEY)


def test_vector_fails_under_another_key() -> None:
    signed = decode_payload(VECTORS["valid"][0]["payload"].encode())
    assert not signature_valid(signed, DeviceKey.generate().public_key)
    assert not signature_valid(signed, b"\x00" * 31)


def _cryptography_says(signed: SignedReading, public_key: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signed.signature, signed.reading.signing_bytes()
        )
    except InvalidSignature:
        return False
    return True


KEY = DeviceKey.generate()


@settings(max_examples=200)
@given(
    seq=st.integers(0, 2**40),
    imp=st.integers(0, 2**40),
    flip_byte=st.integers(0, 63),
    flip_bit=st.integers(0, 7),
    tamper=st.booleans(),
)
def test_solders_agrees_with_cryptography(
    seq: int, imp: int, flip_byte: int, flip_bit: int, tamper: bool
) -> None:
    signed = KEY.sign(Reading(KEY.gateway_id, "m-1", seq, 1764000000, imp, 0))
    if tamper:
        sig = bytearray(signed.signature)
        sig[flip_byte] ^= 1 << flip_bit
        signed = SignedReading(signed.reading, bytes(sig))
    ours = signature_valid(signed, KEY.public_key)
    assert ours == _cryptography_says(signed, KEY.public_key)
    assert ours is not tamper

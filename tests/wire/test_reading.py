"""The v1 codec against the shared test vectors, plus properties of the encoding."""

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from edge.signing import DeviceKey
from tests.utils.vectors import load_vectors
from wire.base58 import b58decode, b58encode
from wire.reading import (
    MALFORMED,
    UINT_MAX,
    ProtocolError,
    Reading,
    SignedReading,
    decode_payload,
    encode_payload,
)

VECTORS = load_vectors()
VALID: list[dict[str, Any]] = VECTORS["valid"]
INVALID: list[dict[str, Any]] = VECTORS["invalid"]
KEY = Ed25519PublicKey.from_public_bytes(bytes.fromhex(VECTORS["public_key_hex"]))


def _reading(fields: dict[str, Any]) -> Reading:
    return Reading(
        fields["gw"],
        fields["meter"],
        fields["seq"],
        fields["ts"],
        fields["imp_wh"],
        fields["exp_wh"],
    )


def test_gateway_id_is_the_base58_public_key() -> None:
    assert b58decode(VECTORS["gateway_id"]).hex() == VECTORS["public_key_hex"]


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["fields"]["meter"])
def test_vector_signing_bytes_and_payload(vector: dict[str, Any]) -> None:
    reading = _reading(vector["fields"])
    assert reading.signing_bytes().hex() == vector["signing_bytes_hex"]
    signed = SignedReading(reading, bytes.fromhex(vector["signature_hex"]))
    assert encode_payload(signed).decode() == vector["payload"]


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["fields"]["meter"])
def test_vector_round_trips_and_verifies(vector: dict[str, Any]) -> None:
    signed = decode_payload(vector["payload"].encode())
    assert signed.reading == _reading(vector["fields"])
    assert encode_payload(signed) == vector["payload"].encode()
    KEY.verify(signed.signature, signed.reading.signing_bytes())  # raises if invalid


@pytest.mark.parametrize("vector", INVALID, ids=lambda v: v["name"])
def test_invalid_vectors_give_their_error_code(vector: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_payload(vector["payload"].encode())
    assert info.value.code == vector["code"]
    assert info.value.detail  # a human-readable reason, not just a code


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff\xfe", b"null", b'"text"', b"1", b"{}", b'{"v":null}', b'{"v":1}'],
)
def test_garbage_is_a_protocol_error_not_a_crash(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_payload(payload)


def test_duplicate_keys_cannot_smuggle_a_different_value() -> None:
    # JSON with a repeated key decodes to one value; the signature covers that
    # value, so the other one never matters. Check it's the signed one that counts.
    vector = VALID[1]
    tampered = vector["payload"].replace('"seq":2,', '"seq":2,"seq":3,')
    signed = decode_payload(tampered.encode())
    with pytest.raises(Exception):  # noqa: B017, PT011 - InvalidSignature
        KEY.verify(signed.signature, signed.reading.signing_bytes())


def test_every_changed_signed_byte_fails_verification() -> None:
    vector = VALID[1]
    message = bytes.fromhex(vector["signing_bytes_hex"])
    signature = bytes.fromhex(vector["signature_hex"])
    for i in range(len(message)):
        for flip in (0x01, 0x80):
            changed = bytearray(message)
            changed[i] ^= flip
            with pytest.raises(Exception):  # noqa: B017, PT011 - InvalidSignature
                KEY.verify(signature, bytes(changed))


meter_ids = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-",
    min_size=1,
    max_size=64,
)
uints = st.integers(min_value=0, max_value=UINT_MAX)
SIGNER = DeviceKey.generate()


@given(meter=meter_ids, seq=uints, ts=uints, imp=uints, exp=uints)
def test_any_valid_reading_round_trips(meter: str, seq: int, ts: int, imp: int, exp: int) -> None:
    signed = SIGNER.sign(Reading(SIGNER.gateway_id, meter, seq, ts, imp, exp))
    payload = encode_payload(signed)
    assert len(payload) <= 1024
    assert decode_payload(payload) == signed


@given(seq=st.one_of(st.integers(max_value=-1), st.integers(min_value=UINT_MAX + 1)))
def test_out_of_range_integers_are_malformed(seq: int) -> None:
    with pytest.raises(ProtocolError) as info:
        Reading(SIGNER.gateway_id, "m1", seq, 0, 0, 0)
    assert info.value.code == MALFORMED


@given(st.binary(min_size=0, max_size=40))
def test_base58_round_trips(data: bytes) -> None:
    assert b58decode(b58encode(data)) == data


def test_signing_bytes_are_injective_across_fields() -> None:
    # The length-prefixed meter id keeps "m1"+seq from colliding with "m"+...
    a = Reading(SIGNER.gateway_id, "m1", 1, 2, 3, 4).signing_bytes()
    b = Reading(SIGNER.gateway_id, "m", 1, 2, 3, 4).signing_bytes()
    assert a != b
    assert len(a) == len(b) + 1

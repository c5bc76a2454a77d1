"""Screening decisions: every rejection reason, on the pure function."""

import datetime as dt

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coordinator.ingest.screen import (
    BAD_SIGNATURE,
    REVOKED_DEVICE,
    TOPIC_MISMATCH,
    UNKNOWN_DEVICE,
    Accepted,
    DeviceKey,
    Incoming,
    Rejected,
    screen,
)
from edge import topics
from edge.protocol import MALFORMED, PAYLOAD_TOO_LARGE, Reading, encode_payload
from edge.signing import DeviceKey as SigningKey

ROOT = "gtx"
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
GW = SigningKey.generate()
OTHER = SigningKey.generate()


def _incoming(payload: bytes, gateway_id: str = GW.gateway_id) -> Incoming:
    return Incoming(topics.gateway_readings(ROOT, gateway_id), payload, NOW)


def _payload(key: SigningKey = GW, seq: int = 1) -> bytes:
    return encode_payload(key.sign(Reading(key.gateway_id, "m1", seq, 1764000000, 10, 20)))


DEVICES = {GW.gateway_id: DeviceKey(GW.public_key, active=True)}


def test_valid_reading_is_accepted() -> None:
    verdict = screen(ROOT, _incoming(_payload()), DEVICES)
    assert isinstance(verdict, Accepted)
    assert verdict.signed.reading.import_wh == 10


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"{", MALFORMED), (b"x" * 2000, PAYLOAD_TOO_LARGE)],
)
def test_protocol_errors_keep_their_code(payload: bytes, reason: str) -> None:
    verdict = screen(ROOT, _incoming(payload), DEVICES)
    assert isinstance(verdict, Rejected)
    assert verdict.reason == reason
    assert verdict.gateway_id == GW.gateway_id  # from the topic, for the operator


def test_unknown_device() -> None:
    verdict = screen(ROOT, _incoming(_payload(OTHER), OTHER.gateway_id), DEVICES)
    assert isinstance(verdict, Rejected)
    assert verdict.reason == UNKNOWN_DEVICE


def test_revoked_device() -> None:
    devices = {GW.gateway_id: DeviceKey(GW.public_key, active=False)}
    verdict = screen(ROOT, _incoming(_payload()), devices)
    assert isinstance(verdict, Rejected)
    assert verdict.reason == REVOKED_DEVICE


def test_payload_for_another_gateway_on_my_topic() -> None:
    verdict = screen(ROOT, _incoming(_payload(OTHER), GW.gateway_id), DEVICES)
    assert isinstance(verdict, Rejected)
    assert verdict.reason == TOPIC_MISMATCH


def test_forged_signature() -> None:
    # Someone without GW's key signs a reading that claims to be GW's.
    reading = Reading(GW.gateway_id, "m1", 1, 1764000000, 10, 20)
    forged = Ed25519PrivateKey.generate().sign(reading.signing_bytes())
    payload = _payload().decode()
    good_sig = payload.rsplit('"sig":"', 1)[1][:128]
    verdict = screen(ROOT, _incoming(payload.replace(good_sig, forged.hex()).encode()), DEVICES)
    assert isinstance(verdict, Rejected)
    assert verdict.reason == BAD_SIGNATURE


def test_tampered_value() -> None:
    payload = _payload().replace(b'"imp_wh":10', b'"imp_wh":11')
    verdict = screen(ROOT, _incoming(payload), DEVICES)
    assert isinstance(verdict, Rejected)
    assert verdict.reason == BAD_SIGNATURE

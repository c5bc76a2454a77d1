"""parse: the wire codec's and the topic's verdicts, before the oracle."""

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.readings.ingest.screen import Incoming, Parsed, Rejected, decode, parse
from coordinator.readings.oracle import Reason
from edge.signing import DeviceKey
from tests.utils.vectors import load_vectors
from wire import topics
from wire.reading import ProtocolError, Reading, SignedReading, decode_payload, encode_payload

ROOT = "gtx"
NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
GW = DeviceKey.generate()
OTHER = DeviceKey.generate()


def _incoming(payload: bytes, gateway_id: str = GW.gateway_id) -> Incoming:
    return Incoming(topics.gateway_readings(ROOT, gateway_id), payload, NOW)


def _payload(key: DeviceKey = GW) -> bytes:
    return encode_payload(key.sign(Reading(key.gateway_id, "m1", 1, 1764000000, 10, 20)))


def test_well_formed_reading_is_parsed() -> None:
    outcome = parse(ROOT, _incoming(_payload()))
    assert isinstance(outcome, Parsed)
    assert outcome.signed.reading.import_wh == 10


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", Reason.MALFORMED),
        (b"x" * 2000, Reason.PAYLOAD_TOO_LARGE),
        (b'{"v":2}', Reason.UNSUPPORTED_VERSION),
    ],
)
def test_protocol_errors_keep_their_code(payload: bytes, reason: Reason) -> None:
    outcome = parse(ROOT, _incoming(payload))
    assert isinstance(outcome, Rejected)
    assert outcome.reason == reason.value
    assert outcome.gateway_id == GW.gateway_id  # from the topic, for the operator


def test_payload_for_another_gateway_on_my_topic() -> None:
    outcome = parse(ROOT, _incoming(_payload(OTHER), GW.gateway_id))
    assert isinstance(outcome, Rejected)
    assert outcome.reason == Reason.TOPIC_MISMATCH.value


def _outcome(decoder: Callable[[bytes], SignedReading], payload: bytes) -> object:
    try:
        signed = decoder(payload)
    except ProtocolError as exc:
        return (exc.code, exc.detail)
    return (signed.reading, signed.signature)


def test_fast_decode_agrees_with_the_codec_on_the_vectors() -> None:
    vectors = load_vectors()
    payloads = [v["payload"].encode() for v in vectors["valid"]]
    payloads += [v["payload"].encode() for v in vectors["invalid"]]
    for payload in payloads:
        assert _outcome(decode, payload) == _outcome(decode_payload, payload)


@given(st.data())
def test_fast_decode_agrees_with_the_codec_on_mutations(data: st.DataObject) -> None:
    payload = bytearray(_payload())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at] = data.draw(st.sampled_from(b'0aA9"{},:-x \\\xff'))
    assert _outcome(decode, bytes(payload)) == _outcome(decode_payload, bytes(payload))


def test_fast_decode_defers_odd_but_valid_json_to_the_codec() -> None:
    text = _payload().decode()
    for odd in (text.replace('"v":1', '"v":true'), text.replace('"sig":"', '"sig":"A')[:-2] + '"}',
                text.encode("utf-16").decode("latin-1"), text[:-1] + ',"x":1}'):  # fmt: skip
        assert _outcome(decode, odd.encode()) == _outcome(decode_payload, odd.encode())

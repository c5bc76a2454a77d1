"""parse: the wire codec's and the topic's verdicts, before the oracle."""

import datetime as dt

import pytest

from coordinator.ingest.screen import Incoming, Parsed, Rejected, parse
from coordinator.oracle import Reason
from edge import topics
from edge.protocol import Reading, encode_payload
from edge.signing import DeviceKey

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

"""Alert and ingest-stats payloads: their exact JSON, round trips, refusals."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.alerts import (
    Alert,
    AlertEvent,
    AlertKind,
    IngestCounts,
    decode_alert,
    decode_stats,
    encode_alert,
    encode_stats,
)


def test_alert_payload_round_trip() -> None:
    alert = Alert(AlertKind.REJECTION_SPIKE, "rejection_spike", "warning", "m", {"n": 3})
    event = AlertEvent(alert, "firing", 1764000000)
    body = encode_alert(event)
    assert json.loads(body)["kind"] == "rejection_spike"
    assert decode_alert(body) == event
    with pytest.raises(ValueError, match="not an alert"):
        decode_alert(b"{}")
    with pytest.raises(ValueError, match="unsupported"):
        decode_alert(body.replace(b'"v":1', b'"v":9'))


def test_alert_payload_is_compact_json_with_sorted_keys() -> None:
    alert = Alert(AlertKind.GATEWAY_SILENT, "gateway_silent:g", "warning", "hush", {"b": 1, "a": 0})
    assert encode_alert(AlertEvent(alert, "resolved", 7)) == (
        b'{"details":{"a":0,"b":1},"key":"gateway_silent:g","kind":"gateway_silent",'
        b'"message":"hush","severity":"warning","state":"resolved","ts":7,"v":1}'
    )


def test_stats_payload_bytes_and_refusals() -> None:
    counts = IngestCounts("i1", 100, 90, 3, {"replayed": 1, "bad_signature": 2})
    body = encode_stats(counts)
    assert body == (
        b'{"accepted":3,"instance":"i1","rejected":{"bad_signature":2,"replayed":1},'
        b'"since":90,"ts":100,"v":1}'
    )
    assert decode_stats(body) == counts
    with pytest.raises(ValueError, match="not a stats"):
        decode_stats(b"[]")
    with pytest.raises(ValueError, match="unsupported"):
        decode_stats(body.replace(b'"v":1', b'"v":2'))


@given(
    instance=st.text(max_size=20),
    ts=st.integers(0, 2**40),
    accepted=st.integers(0, 2**40),
    rejected=st.dictionaries(st.text(max_size=12), st.integers(0, 2**31)),
)
def test_stats_round_trip(instance: str, ts: int, accepted: int, rejected: dict[str, int]) -> None:
    counts = IngestCounts(instance, ts, ts, accepted, rejected)
    assert decode_stats(encode_stats(counts)) == counts

"""Poll outcome counting and the health payload."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.health import (
    HealthReport,
    MeterHealth,
    Outcome,
    decode_health,
    encode_health,
    format_status,
    record_missed,
    record_outcome,
)


def _report(meters: tuple[MeterHealth, ...]) -> HealthReport:
    return HealthReport(
        gateway_id="gw", ts=1764000000, uptime_s=5, broker_connected=False, published=3,
        polls=2, outbox_depth=4, outbox_max_entries=10, dropped=1, next_seq=9, meters=meters,
    )  # fmt: skip


@given(st.lists(st.sampled_from(list(Outcome)), max_size=30))
def test_every_outcome_is_counted_once(outcomes: list[Outcome]) -> None:
    health = MeterHealth("m1")
    for i, outcome in enumerate(outcomes):
        health = record_outcome(health, outcome, at_s=i + 1, detail=f"d{i}")
    assert sum(health.counts.values()) == len(outcomes)
    for outcome in Outcome:
        assert health.counts.get(outcome.value, 0) == outcomes.count(outcome)
    if outcomes:
        assert health.last_outcome == outcomes[-1].value
        assert health.last_poll_ts == len(outcomes)
        assert (health.last_error == "") == (outcomes[-1] is Outcome.OK)


def test_record_keeps_the_last_ok_time_through_failures() -> None:
    h = record_outcome(MeterHealth("m1"), Outcome.OK, at_s=10)
    h = record_outcome(h, Outcome.TIMEOUT, at_s=20, detail="silent")
    h = record_missed(h)
    assert (h.last_ok_ts, h.last_poll_ts, h.last_error, h.missed_polls) == (10, 20, "silent", 1)


def test_health_payload_round_trips() -> None:
    m = record_outcome(MeterHealth("m1"), Outcome.EXCEPTION, at_s=7, detail="code 4")
    report = _report((m, MeterHealth("m2")))
    payload = encode_health(report)
    assert decode_health(payload) == report
    doc = json.loads(payload)
    assert doc["outbox"] == {"depth": 4, "max_entries": 10, "dropped": 1, "next_seq": 9}
    assert doc["meters"]["m1"]["counts"] == {"exception": 1}


def test_decode_health_refuses_other_payloads() -> None:
    for bad in (b"{}", b"not json", b'{"v": 99}'):
        with pytest.raises(ValueError, match="health"):
            decode_health(bad)


def test_status_text_names_each_meter_and_its_last_error() -> None:
    m = record_outcome(MeterHealth("m1"), Outcome.TIMEOUT, at_s=7, detail="no answer")
    text = format_status(_report((m, MeterHealth("m2"))))
    assert "outbox depth:   4 of 10" in text
    assert "dropped:        1" in text
    assert "meter m1: timeout (no answer)" in text
    assert "meter m2: never polled" in text


def test_status_text_escapes_what_the_meter_and_gateway_sent() -> None:
    m = record_outcome(MeterHealth("m\x1b[2J"), Outcome.TIMEOUT, at_s=7, detail="x\x1b]0;t\x07")
    text = format_status(_report((m,)))
    assert "meter m\\x1b[2J: timeout (x\\x1b]0;t\\x07)" in text
    assert all(line.isprintable() for line in text.splitlines())

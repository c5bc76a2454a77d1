from dataclasses import replace

import pytest

from coordinator.readings.oracle.config import OracleConfig
from coordinator.readings.oracle.evaluate import evaluate, rejected_from_protocol_error
from coordinator.readings.oracle.reasons import Flag, Reason
from coordinator.readings.oracle.records import DeviceRecord, MeterState
from coordinator.readings.oracle.verdict import Accepted, Duplicate, Rejected, Verdict
from edge.signing import DeviceKey
from wire.reading import ProtocolError, Reading, SignedReading, decode_payload

KEY = DeviceKey.generate()
NOW = 1_764_028_800
CONFIG = OracleConfig()
DEVICE = DeviceRecord(public_key=KEY.public_key, active=True, rated_power_w={"m1": 10_000})
PREVIOUS = MeterState(NOW - 60, 1_000_000, 50_000)


def signed(
    seq: int = 10, ts: int = NOW, imp: int = 1_000_100, exp: int = 50_000, meter: str = "m1"
) -> SignedReading:
    return KEY.sign(Reading(KEY.gateway_id, meter, seq, ts, imp, exp))


def run(
    reading: SignedReading,
    *,
    device: DeviceRecord | None = DEVICE,
    previous: MeterState | None = PREVIOUS,
    stored: Reading | None = None,
    highest_seq: int | None = 9,
    now: int = NOW,
) -> Verdict:
    return evaluate(
        reading,
        device=device,
        previous=previous,
        stored_same_seq=stored,
        highest_seq=highest_seq,
        now=now,
        config=CONFIG,
    )


def reason(verdict: Verdict) -> Reason:
    assert isinstance(verdict, Rejected)
    return verdict.reason


def test_plain_reading_is_accepted_without_flags() -> None:
    assert run(signed()) == Accepted()


def test_first_reading_of_a_meter_is_a_baseline() -> None:
    # Any counters: nothing to compare with, no energy counted yet.
    assert run(signed(imp=9_999_999), previous=None, highest_seq=None) == Accepted()


def test_sequence_gap_is_flagged() -> None:
    assert run(signed(seq=12)) == Accepted(frozenset({Flag.SEQUENCE_GAP}))


def test_meter_reset_is_flagged_and_skips_the_energy_rule() -> None:
    verdict = run(signed(imp=5, exp=0))
    assert verdict == Accepted(frozenset({Flag.METER_RESET}))


def test_reset_and_gap_together() -> None:
    assert run(signed(seq=20, imp=5, exp=0)) == Accepted(
        frozenset({Flag.METER_RESET, Flag.SEQUENCE_GAP})
    )


def test_each_rejection() -> None:
    assert reason(run(signed(), device=None)) is Reason.UNKNOWN_DEVICE
    assert reason(run(signed(), device=replace(DEVICE, active=False))) is Reason.REVOKED_DEVICE
    forged = SignedReading(signed().reading, signed(imp=1_000_101).signature)
    assert reason(run(forged)) is Reason.BAD_SIGNATURE
    assert reason(run(signed(), stored=signed(imp=1_000_001).reading)) is Reason.SEQ_REUSED
    assert reason(run(signed(meter="m9"))) is Reason.UNKNOWN_METER
    assert reason(run(signed(ts=NOW + 121))) is Reason.FUTURE_TIMESTAMP
    assert reason(run(signed(ts=NOW - 8 * 86400), previous=None)) is Reason.TOO_LATE
    assert reason(run(signed(ts=PREVIOUS.ts))) is Reason.STALE_READING
    assert reason(run(signed(imp=999_000))) is Reason.COUNTER_BACKWARDS
    assert reason(run(signed(imp=1_000_200))) is Reason.IMPLAUSIBLE_ENERGY


def test_identical_redelivery_is_a_duplicate() -> None:
    reading = signed()
    assert run(reading, stored=reading.reading) == Duplicate()
    assert Duplicate().reason is Reason.DUPLICATE


def test_redelivery_is_a_duplicate_even_once_it_would_be_too_late_or_stale() -> None:
    reading = signed()
    later = NOW + 30 * 86400
    previous = MeterState.of(reading.reading)  # it is itself the meter's latest
    assert run(reading, stored=reading.reading, now=later, previous=previous) == Duplicate()


# The order of checks: each case breaks two rules; the earlier must decide.
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # unknown device before signature (no key to check with)
        ({"reading": "forged", "device": None}, Reason.UNKNOWN_DEVICE),
        # revoked before signature: the registry alone decides
        ({"reading": "forged", "device": "revoked"}, Reason.REVOKED_DEVICE),
        # signature before the sequence number is trusted
        ({"reading": "forged", "stored": "other"}, Reason.BAD_SIGNATURE),
        # signature before any claim is looked at
        ({"reading": "forged_future"}, Reason.BAD_SIGNATURE),
        # a reused seq is refused whatever its content says
        ({"reading": "future", "stored": "other"}, Reason.SEQ_REUSED),
        # unknown meter before time
        ({"reading": "unknown_meter_future"}, Reason.UNKNOWN_METER),
        # future before counters
        ({"reading": "future_backwards"}, Reason.FUTURE_TIMESTAMP),
        # stale before counters
        ({"reading": "stale_backwards"}, Reason.STALE_READING),
    ],
)
def test_order_of_checks(kwargs: dict[str, str | None], expected: Reason) -> None:
    readings = {
        "forged": SignedReading(signed().reading, bytes(64)),
        "forged_future": SignedReading(signed(ts=NOW + 999).reading, bytes(64)),
        "future": signed(ts=NOW + 999),
        "unknown_meter_future": signed(meter="zz", ts=NOW + 999),
        "future_backwards": signed(ts=NOW + 999, imp=10),
        "stale_backwards": signed(ts=PREVIOUS.ts - 1, imp=999_999),
    }
    devices = {"revoked": replace(DEVICE, active=False), None: None}
    stored = {"other": signed(imp=1_000_050).reading}
    verdict = run(
        readings[str(kwargs["reading"])],
        device=devices[kwargs["device"]] if "device" in kwargs else DEVICE,
        stored=stored[str(kwargs["stored"])] if "stored" in kwargs else None,
    )
    assert reason(verdict) is expected


def test_a_bulk_verifier_can_stand_in_for_the_signature_check() -> None:
    forged = SignedReading(signed().reading, bytes(64))
    verdict = evaluate(
        forged,
        device=DEVICE,
        previous=PREVIOUS,
        stored_same_seq=None,
        highest_seq=9,
        now=NOW,
        verify=lambda _s, _k: True,
    )
    assert verdict == Accepted()


def test_protocol_error_becomes_a_rejection() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_payload(b"x" * 2000)
    rejected = rejected_from_protocol_error(info.value)
    assert rejected.reason is Reason.PAYLOAD_TOO_LARGE
    assert rejected.detail == info.value.detail


def test_a_stream_of_readings_with_state_folded_by_the_caller() -> None:
    # What ingest does: evaluate, then update the meter's state and highest seq.
    previous: MeterState | None = None
    highest: int | None = None
    stored: dict[int, Reading] = {}
    stream = [
        signed(seq=1, ts=NOW, imp=100, exp=0),
        signed(seq=2, ts=NOW + 60, imp=150, exp=10),
        signed(seq=2, ts=NOW + 60, imp=150, exp=10),  # QoS 1 redelivery
        signed(seq=4, ts=NOW + 120, imp=140, exp=10),  # backwards, not a reset
        signed(seq=5, ts=NOW + 180, imp=200, exp=20),
    ]
    verdicts = []
    for item in stream:
        verdict = run(
            item,
            previous=previous,
            stored=stored.get(item.reading.seq),
            highest_seq=highest,
            now=NOW + 200,
        )
        verdicts.append(verdict)
        if isinstance(verdict, Accepted):
            previous = MeterState.of(item.reading)
            highest = max(highest or 0, item.reading.seq)
            stored[item.reading.seq] = item.reading
    assert verdicts == [
        Accepted(),
        Accepted(),
        Duplicate(),
        Rejected(Reason.COUNTER_BACKWARDS, "import 150 -> 140 Wh, export 10 -> 10 Wh"),
        Accepted(frozenset({Flag.SEQUENCE_GAP})),
    ]

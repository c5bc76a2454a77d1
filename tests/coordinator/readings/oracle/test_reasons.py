import re

import pytest

from coordinator.readings.oracle.reasons import Flag, Reason, protocol_reason
from wire import reading as protocol


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (protocol.MALFORMED, Reason.MALFORMED),
        (protocol.UNSUPPORTED_VERSION, Reason.UNSUPPORTED_VERSION),
        (protocol.PAYLOAD_TOO_LARGE, Reason.PAYLOAD_TOO_LARGE),
    ],
)
def test_protocol_codes_map_to_their_reason(code: str, reason: Reason) -> None:
    assert protocol_reason(code) is reason
    assert reason == code


def test_protocol_error_from_the_codec_maps_to_a_reason() -> None:
    with pytest.raises(protocol.ProtocolError) as info:
        protocol.decode_payload(b'{"v":2}')
    assert protocol_reason(info.value.code) is Reason.UNSUPPORTED_VERSION


@pytest.mark.parametrize("code", ["no_such_code", "bad_signature", ""])
def test_non_protocol_code_is_recorded_as_malformed(code: str) -> None:
    assert protocol_reason(code) is Reason.MALFORMED


def test_values_are_stable_snake_case_and_distinct_across_reasons_and_flags() -> None:
    values = [m.value for m in Reason] + [m.value for m in Flag]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", v) for v in values)


def test_required_reasons_and_flags_exist() -> None:
    for value in [
        "unknown_device", "revoked_device", "bad_signature", "duplicate", "seq_reused",
        "counter_backwards", "implausible_energy", "future_timestamp", "too_late",
        "stale_reading",
    ]:  # fmt: skip
        assert Reason(value).value == value
    assert {f.value for f in Flag} == {"sequence_gap", "meter_reset"}

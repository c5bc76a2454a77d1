from dataclasses import replace
from fractions import Fraction

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from coordinator.readings.oracle.config import OracleConfig
from coordinator.readings.oracle.reasons import Flag, Reason
from coordinator.readings.oracle.records import DeviceRecord, MeterState, RetiredKey
from coordinator.readings.oracle.rules import (
    check_active,
    check_counters,
    check_energy,
    check_known_device,
    check_known_meter,
    check_not_future,
    check_not_stale,
    check_not_too_late,
    check_sequence,
    check_signature,
    has_sequence_gap,
    is_meter_reset,
    max_energy_wh,
)
from coordinator.readings.oracle.verdict import Duplicate, Rejected
from edge.signing import DeviceKey
from wire.reading import Reading, SignedReading

KEY = DeviceKey.generate()
OTHER_PRIVATE = Ed25519PrivateKey.generate()
OTHER_KEY = DeviceKey(OTHER_PRIVATE)
CONFIG = OracleConfig()
NOW = 1_764_028_800


def device(*, active: bool = True, key: DeviceKey = KEY) -> DeviceRecord:
    return DeviceRecord(public_key=key.public_key, active=active, rated_power_w={"m1": 10_000})


def reading(seq: int = 1, ts: int = NOW, imp: int = 0, exp: int = 0) -> Reading:
    return Reading(KEY.gateway_id, "m1", seq, ts, imp, exp)


def rejected_reason(result: object) -> Reason:
    assert isinstance(result, Rejected)
    assert result.detail
    return result.reason


def test_unknown_device() -> None:
    assert rejected_reason(check_known_device(None)) is Reason.UNKNOWN_DEVICE
    assert check_known_device(device()) is None


def test_revoked_device() -> None:
    assert rejected_reason(check_active(device(active=False))) is Reason.REVOKED_DEVICE
    assert check_active(device()) is None


def test_signature_valid_and_tampered() -> None:
    signed = KEY.sign(reading())
    assert check_signature(signed, device()) is None
    forged = SignedReading(reading(imp=1), signed.signature)
    assert rejected_reason(check_signature(forged, device())) is Reason.BAD_SIGNATURE


def test_signature_by_another_key_is_bad() -> None:
    other = OTHER_KEY.sign(Reading(OTHER_KEY.gateway_id, "m1", 1, NOW, 0, 0))
    claimed = SignedReading(reading(), other.signature)
    assert rejected_reason(check_signature(claimed, device())) is Reason.BAD_SIGNATURE


def rotated(valid_until: int) -> DeviceRecord:
    # KEY's gateway rotated to OTHER_KEY; KEY (its id) is retired until `valid_until`.
    return replace(device(key=OTHER_KEY), retired_keys=(RetiredKey(KEY.public_key, valid_until),))


def by_new_key(r: Reading) -> SignedReading:
    return SignedReading(r, OTHER_PRIVATE.sign(r.signing_bytes()))


def test_rotated_gateway_keeps_its_id_and_verifies_with_the_new_key() -> None:
    assert check_signature(by_new_key(reading()), rotated(NOW), received=NOW + 10) is None
    assert check_signature(by_new_key(reading()), rotated(NOW)) is None


def test_retired_key_verifies_only_within_its_overlap() -> None:
    signed = KEY.sign(reading())
    assert check_signature(signed, rotated(NOW), received=NOW - 1) is None
    late = check_signature(signed, rotated(NOW), received=NOW)
    assert rejected_reason(late) is Reason.BAD_SIGNATURE
    assert isinstance(late, Rejected)
    assert "retired" in late.detail
    # Without a receive time no retired key is trusted.
    assert rejected_reason(check_signature(signed, rotated(NOW + 100))) is Reason.BAD_SIGNATURE


def test_a_forgery_is_bad_whatever_the_retired_keys() -> None:
    forged = SignedReading(reading(imp=1), KEY.sign(reading()).signature)
    result = check_signature(forged, rotated(NOW + 100), received=NOW)
    assert rejected_reason(result) is Reason.BAD_SIGNATURE
    assert isinstance(result, Rejected)
    assert "retired" not in result.detail


@given(st.integers(-1000, 1000))
def test_overlap_boundary_is_exclusive(offset: int) -> None:
    result = check_signature(KEY.sign(reading()), rotated(NOW), received=NOW + offset)
    assert (result is None) == (offset < 0)


def test_signature_check_uses_the_given_verifier() -> None:
    signed = KEY.sign(reading())
    assert check_signature(signed, device(), lambda _s, _k: True) is None
    assert rejected_reason(check_signature(signed, device(), lambda _s, _k: False)) is (
        Reason.BAD_SIGNATURE
    )


def test_sequence_new_duplicate_and_reused() -> None:
    assert check_sequence(reading(seq=5), None) is None
    assert check_sequence(reading(seq=5, imp=7), reading(seq=5, imp=7)) == Duplicate()
    result = check_sequence(reading(seq=5, imp=8), reading(seq=5, imp=7))
    assert rejected_reason(result) is Reason.SEQ_REUSED


def test_unknown_meter() -> None:
    assert check_known_meter(reading(), device()) is None
    other = Reading(KEY.gateway_id, "m2", 1, NOW, 0, 0)
    assert rejected_reason(check_known_meter(other, device())) is Reason.UNKNOWN_METER


def test_future_timestamp_boundary() -> None:
    skew = CONFIG.max_future_skew_s
    assert check_not_future(NOW + skew, NOW, CONFIG) is None
    assert rejected_reason(check_not_future(NOW + skew + 1, NOW, CONFIG)) is (
        Reason.FUTURE_TIMESTAMP
    )


def test_too_late_boundary() -> None:
    window = CONFIG.lateness_window_s
    assert check_not_too_late(NOW - window, NOW, CONFIG) is None
    assert rejected_reason(check_not_too_late(NOW - window - 1, NOW, CONFIG)) is Reason.TOO_LATE


def test_stale_reading() -> None:
    previous = MeterState(NOW, 0, 0)
    assert check_not_stale(NOW, None) is None
    assert check_not_stale(NOW + 1, previous) is None
    assert rejected_reason(check_not_stale(NOW, previous)) is Reason.STALE_READING
    assert rejected_reason(check_not_stale(NOW - 1, previous)) is Reason.STALE_READING


def test_max_energy() -> None:
    assert max_energy_wh(10_000, 3600) == 10_000
    assert max_energy_wh(10_000, 1) == 2  # 2.77 Wh rounded down
    assert max_energy_wh(10_000, -5) == 0


def test_energy_within_rating_plus_tolerance() -> None:
    previous = MeterState(NOW, 1000, 500)
    # 10 kW for 60 s = 166.67 Wh, plus 2 Wh tolerance: 168 fits, 169 does not.
    ok = MeterState(NOW + 60, 1100, 568)
    too_much = MeterState(NOW + 60, 1100, 569)
    assert check_energy(previous, ok, 10_000, CONFIG) is None
    assert rejected_reason(check_energy(previous, too_much, 10_000, CONFIG)) is (
        Reason.IMPLAUSIBLE_ENERGY
    )


def test_energy_tolerance_is_configurable() -> None:
    previous = MeterState(NOW, 0, 0)
    current = MeterState(NOW + 1, 3, 0)  # 2.78 Wh allowed in 1 s at 10 kW
    assert check_energy(previous, current, 10_000, CONFIG) is None
    strict = replace(CONFIG, energy_tolerance_wh=0)
    assert rejected_reason(check_energy(previous, current, 10_000, strict)) is (
        Reason.IMPLAUSIBLE_ENERGY
    )


def test_the_rated_power_limit_is_governed_in_percent() -> None:
    previous = MeterState(NOW, 1000, 500)
    # 10 kW for 60 s at 120 %: 200 Wh, plus 2 Wh tolerance; at 50 %: 83.3 + 2 Wh.
    generous, strict = replace(CONFIG, rated_power_pct=120), replace(CONFIG, rated_power_pct=50)
    assert check_energy(previous, MeterState(NOW + 60, 1100, 602), 10_000, generous) is None
    too_much = check_energy(previous, MeterState(NOW + 60, 1100, 603), 10_000, generous)
    assert rejected_reason(too_much) is Reason.IMPLAUSIBLE_ENERGY
    assert isinstance(too_much, Rejected)
    assert too_much.detail.endswith("exceeds rated 10000 W at 120 %")
    assert check_energy(previous, MeterState(NOW + 60, 1085, 500), 10_000, strict) is None
    assert check_energy(previous, MeterState(NOW + 60, 1086, 500), 10_000, strict) is not None


@given(
    rated=st.integers(1, 100_000),
    elapsed=st.integers(1, 7 * 86400),
    imp=st.integers(0, 10**7),
    exp=st.integers(0, 10**7),
)
def test_energy_rule_matches_exact_arithmetic(rated: int, elapsed: int, imp: int, exp: int) -> None:
    previous = MeterState(NOW, 10**6, 10**6)
    current = MeterState(NOW + elapsed, 10**6 + imp, 10**6 + exp)
    result = check_energy(previous, current, rated, CONFIG)
    # Exact rationals: no float rounding at the boundary.
    fits = Fraction(imp + exp) <= Fraction(rated * elapsed, 3600) + CONFIG.energy_tolerance_wh
    assert (result is None) == fits


def test_counters_forward_pass() -> None:
    assert check_counters(MeterState(0, 5, 5), MeterState(60, 5, 6), 10_000, CONFIG) is None


def test_counter_backwards_by_a_little_is_rejected() -> None:
    previous = MeterState(0, 5_000_000, 200_000)
    current = MeterState(60, 4_999_990, 200_000)
    assert rejected_reason(check_counters(previous, current, 10_000, CONFIG)) is (
        Reason.COUNTER_BACKWARDS
    )


def test_replaced_meter_is_a_reset() -> None:
    previous = MeterState(0, 5_000_000, 200_000)
    current = MeterState(60, 3, 0)
    assert is_meter_reset(previous, current, 10_000, CONFIG)
    assert check_counters(previous, current, 10_000, CONFIG) is Flag.METER_RESET


def test_reset_needs_both_counters_small() -> None:
    # Import dropped to zero but export kept its old large value: a register
    # glitch, not a new meter.
    previous = MeterState(0, 5_000_000, 200_000)
    current = MeterState(60, 0, 200_000)
    assert not is_meter_reset(previous, current, 10_000, CONFIG)
    assert rejected_reason(check_counters(previous, current, 10_000, CONFIG)) is (
        Reason.COUNTER_BACKWARDS
    )


def test_reset_of_a_consumption_only_meter() -> None:
    previous = MeterState(0, 800_000, 0)
    current = MeterState(600, 12, 0)
    assert check_counters(previous, current, 10_000, CONFIG) is Flag.METER_RESET


def test_jitter_on_a_young_meter_is_not_a_reset() -> None:
    previous = MeterState(0, 1500, 0)
    current = MeterState(60, 1490, 0)
    assert rejected_reason(check_counters(previous, current, 10_000, CONFIG)) is (
        Reason.COUNTER_BACKWARDS
    )


def test_reset_limit_grows_with_elapsed_time() -> None:
    # A new meter may already have registered what its rating allows since the
    # previous reading: 10 kW for 1 h = 10 kWh, plus the 1 kWh baseline.
    previous = MeterState(0, 5_000_000, 0)
    assert is_meter_reset(previous, MeterState(3600, 11_000, 0), 10_000, CONFIG)
    assert not is_meter_reset(previous, MeterState(3600, 11_001, 0), 10_000, CONFIG)
    assert not is_meter_reset(previous, MeterState(60, 11_000, 0), 10_000, CONFIG)


@given(
    prev_imp=st.integers(0, 10**9),
    prev_exp=st.integers(0, 10**9),
    imp=st.integers(0, 10**9),
    exp=st.integers(0, 10**9),
    elapsed=st.integers(1, 10**6),
)
def test_counters_verdict_is_exactly_one_of_three(
    prev_imp: int, prev_exp: int, imp: int, exp: int, elapsed: int
) -> None:
    previous = MeterState(0, prev_imp, prev_exp)
    current = MeterState(elapsed, imp, exp)
    result = check_counters(previous, current, 10_000, CONFIG)
    forward = imp >= prev_imp and exp >= prev_exp
    if forward:
        assert result is None
    elif is_meter_reset(previous, current, 10_000, CONFIG):
        assert result is Flag.METER_RESET
        assert max(imp, exp) <= CONFIG.reset_baseline_wh + max_energy_wh(10_000, elapsed)
    else:
        assert rejected_reason(result) is Reason.COUNTER_BACKWARDS


def test_sequence_gap() -> None:
    assert not has_sequence_gap(1, None)
    assert not has_sequence_gap(6, 5)
    assert has_sequence_gap(7, 5)
    assert not has_sequence_gap(3, 5)  # older seq of another meter, arriving late


def test_config_refuses_negative_or_non_integer_limits() -> None:
    with pytest.raises(ValueError, match="max_future_skew_s"):
        OracleConfig(max_future_skew_s=-1)
    with pytest.raises(ValueError, match="energy_tolerance_wh"):
        OracleConfig(energy_tolerance_wh=True)


def test_records_validate_themselves() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DeviceRecord(public_key=b"short", active=True, rated_power_w={})
    with pytest.raises(ValueError, match="rated power"):
        DeviceRecord(public_key=KEY.public_key, active=True, rated_power_w={"m1": 0})
    with pytest.raises(ValueError, match="import_wh"):
        MeterState(0, -1, 0)
    assert MeterState.of(reading(ts=7, imp=8, exp=9)) == MeterState(7, 8, 9)

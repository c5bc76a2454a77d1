"""The coordinator's enrolment rules: tokens, wallets, redeemability, freshness, overlap bounds."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.devices import enrolment as rules
from wire.base58 import b58encode
from wire.enrolment import REQUEST_MAX_SKEW_S, TOKEN_PREFIX

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
GW = b58encode(bytes(range(32)))


def test_tokens_are_unique_prefixed_and_stored_only_as_hash() -> None:
    a, b = rules.new_token(), rules.new_token()
    assert a != b
    assert a.startswith(TOKEN_PREFIX)
    assert len(rules.token_hash(a)) == 64
    assert a not in rules.token_hash(a)


@given(st.binary(min_size=32, max_size=32))
def test_any_32_byte_key_is_a_valid_wallet(raw: bytes) -> None:
    assert rules.check_wallet(b58encode(raw)) == b58encode(raw)


@given(st.binary(max_size=64).filter(lambda b: len(b) != 32))
def test_other_lengths_are_not_wallets(raw: bytes) -> None:
    with pytest.raises(rules.EnrolmentError) as err:
        rules.check_wallet(b58encode(raw))
    assert err.value.code == rules.INVALID_WALLET


def test_a_malformed_gateway_id_is_refused_as_invalid_wallet() -> None:
    with pytest.raises(rules.EnrolmentError) as err:
        rules.public_key_of("0OIl", "gateway id")
    assert err.value.code == rules.INVALID_WALLET
    assert err.value.detail == "gateway id '0OIl' is not base58"


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (None, rules.TOKEN_UNKNOWN),
        (rules.TokenState("o", NOW), rules.TOKEN_EXPIRED),
        (rules.TokenState("o", NOW + dt.timedelta(1), NOW, "other"), rules.TOKEN_USED),
    ],
)
def test_unredeemable_tokens(state: rules.TokenState | None, code: str) -> None:
    with pytest.raises(rules.EnrolmentError) as err:
        rules.check_redeemable(state, GW, NOW)
    assert err.value.code == code


def test_the_same_gateway_may_redeem_again_before_expiry() -> None:
    rules.check_redeemable(rules.TokenState("o", NOW + dt.timedelta(1), NOW, GW), GW, NOW)
    rules.check_redeemable(rules.TokenState("o", NOW + dt.timedelta(1)), GW, NOW)


@given(st.integers(-(10**6), 10**7) | st.none(), st.integers(0, 10**6), st.integers(0, 10**6))
def test_overlap_is_never_negative_nor_above_the_cap(
    requested: int | None, default: int, cap: int
) -> None:
    until = rules.old_key_valid_until(NOW, requested, default, cap)
    assert NOW <= until <= NOW + dt.timedelta(seconds=cap)


def test_stale_requests_are_refused() -> None:
    rules.check_fresh(int(NOW.timestamp()) - REQUEST_MAX_SKEW_S, NOW)
    with pytest.raises(rules.EnrolmentError):
        rules.check_fresh(int(NOW.timestamp()) - REQUEST_MAX_SKEW_S - 1, NOW)

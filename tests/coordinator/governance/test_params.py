"""The governed parameters' pure core: validation, the signed text, and which value
is in force at an epoch."""

from fractions import Fraction

import pytest
from solders.keypair import Keypair

from coordinator.governance import (
    ChangeRefused,
    GovernedParams,
    Param,
    ParamChange,
    change_memo,
    change_text,
    check_change,
    params_at,
    parse_value,
    schedule,
)
from coordinator.governance.notes import check_note, note_text
from coordinator.market.rules import PricingRule
from coordinator.readings.oracle import OracleConfig

NOW = 1_767_225_600
CURRENT = NOW // 900
DEFAULTS = GovernedParams(epoch_length_s=900)


def signed(wallet: Keypair, name: str, value: str, from_epoch: int, at: int = NOW) -> ParamChange:
    change = ParamChange(
        name=Param(name),
        value=value,
        from_epoch=from_epoch,
        authority=str(wallet.pubkey()),
        issued_at=at,
    )
    signature = wallet.sign_message(change_text(change).encode())
    return ParamChange(
        name=change.name,
        value=value,
        from_epoch=from_epoch,
        authority=change.authority,
        issued_at=at,
        signature=str(signature),
    )


def check(change: ParamChange, changes: list[ParamChange] | None = None) -> ParamChange:
    return check_change(
        change, defaults=DEFAULTS, changes=changes or [], current_epoch=CURRENT, now=NOW
    )


def test_a_change_scheduled_two_epochs_ahead_is_in_force_from_that_epoch_only() -> None:
    wallet = Keypair()
    change = check(signed(wallet, "k", "1/4", CURRENT + 2))
    assert params_at(DEFAULTS, [change], CURRENT).k == Fraction(1, 2)
    assert params_at(DEFAULTS, [change], CURRENT + 1).k == Fraction(1, 2)
    assert params_at(DEFAULTS, [change], CURRENT + 2).k == Fraction(1, 4)
    assert params_at(DEFAULTS, [change], CURRENT + 500).market_rules().k == Fraction(1, 4)
    rows = [r for r in schedule(DEFAULTS, [change], CURRENT) if r.name is Param.K]
    assert [(r.value, r.from_epoch) for r in rows] == [("1/2", None), ("1/4", CURRENT + 2)]


def test_the_later_of_two_changes_for_one_epoch_wins_and_past_epochs_keep_theirs() -> None:
    wallet = Keypair()
    first = signed(wallet, "tick", "2000", CURRENT + 3)
    earlier = signed(wallet, "tick", "5000", CURRENT + 1)
    again = signed(wallet, "tick", "3000", CURRENT + 3)
    changes = [first, earlier, again]
    assert [params_at(DEFAULTS, changes, e).tick for e in range(CURRENT, CURRENT + 5)] == [
        1000,
        5000,
        5000,
        3000,
        3000,
    ]


def test_the_signed_text_and_the_memo_carry_everything_needed_to_verify() -> None:
    wallet = Keypair()
    change = signed(wallet, "pricing", "pay_as_bid", CURRENT + 1)
    text = change_text(change)
    assert text == (
        f"gtx/v1 param name=pricing value=pay_as_bid from={CURRENT + 1} "
        f"by={wallet.pubkey()} at={NOW}"
    )
    assert change_memo(change) == f"{text} sig={change.signature}".encode()
    assert check(change).name is Param.PRICING
    assert params_at(DEFAULTS, [change], CURRENT + 1).pricing is PricingRule.PAY_AS_BID


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("epoch_seconds", "900", "unknown_parameter"),
        ("k", "0.5", "invalid_value"),
        ("k", "3/2", "invalid_value"),
        ("tick", "0", "invalid_value"),
        ("tick", "010", "invalid_value"),
        ("lot", "-1", "invalid_value"),
        ("pricing", "auction", "invalid_value"),
        ("epoch_length_s", "7", "invalid_value"),
        ("epoch_length_s", "700", "invalid_value"),  # does not divide a day
        ("rated_power_pct", "0", "invalid_value"),
        ("lateness_window_s", "x", "invalid_value"),
    ],
)
def test_invalid_values_are_refused_with_a_reason(name: str, value: str, code: str) -> None:
    with pytest.raises(ChangeRefused) as refused:
        parse_value(name, value)
    assert refused.value.code == code


def test_a_value_must_be_signed_in_its_canonical_form() -> None:
    assert parse_value("k", "2/4") == (Param.K, "1/2")
    with pytest.raises(ChangeRefused, match="write the value as '1/2'"):
        check(signed(Keypair(), "k", "2/4", CURRENT + 1))


def test_too_soon_stale_and_forged_changes_are_refused() -> None:
    wallet = Keypair()
    for change, code in [
        (signed(wallet, "lot", "2000000", CURRENT), "too_soon"),
        (signed(wallet, "lot", "2000000", CURRENT + 1, at=NOW - 3600), "stale_request"),
    ]:
        with pytest.raises(ChangeRefused) as refused:
            check(change)
        assert refused.value.code == code
    good = signed(wallet, "lot", "2000000", CURRENT + 1)
    forged = [
        ParamChange(
            name=good.name,
            value="3000000",
            from_epoch=good.from_epoch,
            authority=good.authority,
            issued_at=NOW,
            signature=good.signature,
        ),
        ParamChange(
            name=good.name,
            value=good.value,
            from_epoch=good.from_epoch,
            authority=str(Keypair().pubkey()),
            issued_at=NOW,
            signature=good.signature,
        ),
        ParamChange(
            name=good.name,
            value=good.value,
            from_epoch=good.from_epoch,
            authority=good.authority,
            issued_at=NOW,
            signature="not-base58!",
        ),
    ]
    for change in forged:
        with pytest.raises(ChangeRefused) as refused:
            check(change)
        assert refused.value.code == "bad_signature"


def test_a_schedule_that_would_invert_the_price_band_is_refused() -> None:
    wallet = Keypair()
    ceiling = check(signed(wallet, "price_max", "50000", CURRENT + 5))
    with pytest.raises(ChangeRefused, match=f"from epoch {CURRENT + 5} price_min 60000"):
        check(signed(wallet, "price_min", "60000", CURRENT + 2), [ceiling])
    assert check(signed(wallet, "price_min", "40000", CURRENT + 2), [ceiling])


def test_the_oracle_limits_come_from_the_parameters_in_force() -> None:
    params = DEFAULTS.with_text(Param.RATED_POWER_PCT, "120").with_text(
        Param.LATENESS_WINDOW_S, "3600"
    )
    config = params.oracle_config(OracleConfig(max_future_skew_s=30))
    assert (config.rated_power_pct, config.lateness_window_s, config.max_future_skew_s) == (
        120,
        3600,
        30,
    )


@pytest.mark.parametrize(
    "text",
    ["x epoch=1 inputs=00 result=00", "gtx/v1 mint epoch=7", "see GTX/v1 clearing", "a=b"],
)
def test_notes_that_could_pass_for_system_records_are_refused(text: str) -> None:
    wallet = Keypair()
    signature = str(wallet.sign_message(note_text(str(wallet.pubkey()), NOW, text).encode()))
    with pytest.raises(ChangeRefused) as refused:
        check_note(str(wallet.pubkey()), NOW, text, signature, now=NOW)
    assert refused.value.code == "look_alike"


def test_a_note_signed_by_its_authority_is_accepted_and_no_one_elses() -> None:
    wallet, other = Keypair(), Keypair()
    text = "meter 12 under investigation"
    by = str(wallet.pubkey())
    assert (
        check_note(
            by, NOW, text, str(wallet.sign_message(note_text(by, NOW, text).encode())), now=NOW
        )
        == text
    )
    with pytest.raises(ChangeRefused, match="signature"):
        check_note(
            by, NOW, text, str(other.sign_message(note_text(by, NOW, text).encode())), now=NOW
        )


def test_grid_prices_and_emission_factor_are_governed_and_checked() -> None:
    wallet = Keypair()
    change = check(signed(wallet, "grid_import_price", "300000", CURRENT + 2))
    assert params_at(DEFAULTS, [change], CURRENT + 1).grid_band() == (60_000, 250_000)
    assert params_at(DEFAULTS, [change], CURRENT + 2).grid_band() == (60_000, 300_000)
    factor = check(signed(wallet, "emission_factor", "250", CURRENT + 1))
    assert params_at(DEFAULTS, [factor], CURRENT + 1).emission_factor == 250
    with pytest.raises(ChangeRefused, match="multiple of 1000"):
        check(signed(wallet, "grid_export_price", "60500", CURRENT + 1))
    with pytest.raises(ChangeRefused, match="between 0 and 10000"):
        check(signed(wallet, "emission_factor", "10001", CURRENT + 1))


def test_a_feed_in_price_above_retail_is_refused_at_every_later_boundary() -> None:
    wallet = Keypair()
    retail = check(signed(wallet, "grid_import_price", "100000", CURRENT + 5))
    with pytest.raises(ChangeRefused, match=f"from epoch {CURRENT + 5} the feed-in price 120000"):
        check(signed(wallet, "grid_export_price", "120000", CURRENT + 2), [retail])
    assert check(signed(wallet, "grid_export_price", "100000", CURRENT + 2), [retail])

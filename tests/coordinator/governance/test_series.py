"""Tariff series' pure core: the canonical CSV and its hash, the signed text, the
checks, and how a series overrides the schedule at the epochs it covers."""

import hashlib
from dataclasses import replace

import pytest
from solders.keypair import Keypair

from coordinator.governance import (
    ChangeRefused,
    GovernedParams,
    Param,
    TariffSeries,
    check_series,
    params_with_series,
    parse_csv,
    series_csv,
    series_hash,
    series_memo,
    series_text,
)

NOW = 1_767_225_600
CURRENT = NOW // 900
DEFAULTS = GovernedParams(epoch_length_s=900)


def signed(wallet: Keypair, name: Param, from_epoch: int, values: tuple[int, ...]) -> TariffSeries:
    unsigned = TariffSeries(name=name, from_epoch=from_epoch, values=values,
                            authority=str(wallet.pubkey()), issued_at=NOW)  # fmt: skip
    signature = str(wallet.sign_message(series_text(unsigned).encode()))
    return replace(unsigned, signature=signature)


def check(series: TariffSeries, recorded: list[TariffSeries] | None = None) -> TariffSeries:
    return check_series(series, defaults=DEFAULTS, changes=[], recorded=recorded or [],
                        current_epoch=CURRENT, now=NOW)  # fmt: skip


def test_the_csv_is_canonical_and_its_hash_is_what_is_signed() -> None:
    csv = series_csv(Param.GRID_IMPORT_PRICE, 10, [200_000, 300_000])
    assert csv == "epoch,grid_import_price\n10,200000\n11,300000"
    assert parse_csv(" epoch, grid_import_price \r\n10, 200000\n11,300000\n\n") == (
        Param.GRID_IMPORT_PRICE, 10, (200_000, 300_000),
    )  # fmt: skip
    series = TariffSeries(name=Param.GRID_IMPORT_PRICE, from_epoch=10, values=(200_000, 300_000),
                          authority="W", issued_at=NOW)  # fmt: skip
    digest = hashlib.sha256(csv.encode()).hexdigest()
    assert series_hash(series) == digest
    assert series_text(series) == (
        f"gtx/v1 series name=grid_import_price from=10 count=2 sha256={digest} by=W at={NOW}"
    )


@pytest.mark.parametrize(
    ("csv", "words"),
    [
        ("epoch,k\n1,1/2", "a series is of one of"),
        ("epoch,emission_factor", "a header epoch,<name> and 1\\+ lines"),
        ("time,emission_factor\n1,2", "the header must be"),
        ("epoch,emission_factor\n1,2\n3,4", "consecutive"),
        ("epoch,emission_factor\n1,2,3", "line 2: expected epoch,value"),
        ("epoch,grid_import_price\n1,150500", "line 2: grid_import_price must be a multiple"),
        ("epoch,emission_factor\n1,-5", "line 2: emission_factor must be a whole number"),
    ],
)
def test_a_bad_csv_is_refused_saying_where(csv: str, words: str) -> None:
    with pytest.raises(ChangeRefused, match=words) as refused:
        parse_csv(csv)
    assert refused.value.code == "invalid_series"


def test_a_series_overrides_the_schedule_at_its_epochs_only_and_the_latest_wins() -> None:
    wallet = Keypair()
    first = check(signed(wallet, Param.EMISSION_FACTOR, CURRENT + 1, (300, 200, 100)))
    second = check(signed(wallet, Param.EMISSION_FACTOR, CURRENT + 3, (50,)), [first])
    factors = [
        params_with_series(DEFAULTS, [], [first, second], e).emission_factor
        for e in range(CURRENT, CURRENT + 5)
    ]
    assert factors == [400, 300, 200, 50, 400]


def test_a_series_must_start_ahead_be_signed_by_the_caller_and_keep_the_band() -> None:
    wallet = Keypair()
    with pytest.raises(ChangeRefused) as refused:
        check(signed(wallet, Param.GRID_EXPORT_PRICE, CURRENT, (10_000,)))
    assert refused.value.code == "too_soon"
    good = signed(wallet, Param.GRID_EXPORT_PRICE, CURRENT + 1, (10_000,))
    forged = replace(good, values=(20_000,))
    with pytest.raises(ChangeRefused) as refused:
        check(forged)
    assert refused.value.code == "bad_signature"
    # Feed-in above the retail price in force at its second epoch.
    with pytest.raises(ChangeRefused, match=f"from epoch {CURRENT + 2} the feed-in price 260000"):
        check(signed(wallet, Param.GRID_EXPORT_PRICE, CURRENT + 1, (60_000, 260_000)))
    with pytest.raises(ChangeRefused, match="a series is of one of"):
        check(signed(wallet, Param.TICK, CURRENT + 1, (1000,)))


def test_the_pinned_vector_of_docs_protocol() -> None:
    """docs/protocol.md, "Tariff series": the CSV, its hash and the memo, with a wallet
    from the seed bytes 0..31 (Ed25519 signatures are deterministic)."""
    wallet = Keypair.from_seed(bytes(range(32)))
    series = signed(wallet, Param.GRID_IMPORT_PRICE, 1_964_001, (250_000, 180_000, 300_000))
    assert series_csv(series.name, series.from_epoch, series.values) == (
        "epoch,grid_import_price\n1964001,250000\n1964002,180000\n1964003,300000"
    )
    digest = "cd06b238870dccc9a858c5df0f6a6eaf0de59ed447adbec2bd5b6852790b4c61"
    assert series_hash(series) == digest
    assert series_memo(series).decode() == (
        f"gtx/v1 series name=grid_import_price from=1964001 count=3 sha256={digest} "
        "by=FAe4sisG95oZ42w7buUn5qEE4TAnfTTFPiguZUHmhiF at=1767225600 "
        "sig=5Ma1fY6ZhhTvXrPaSs3NZwkE5KtwsuEWiSmNB5zsZBuK39ZRNRjBqDjTFjyxZCiaXjTcGxPqn1AadYKJNFBBhhQM"
    )

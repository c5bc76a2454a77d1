import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.readings.oracle.epochs import EpochEnergy
from coordinator.readings.oracle.summary import (
    BASE_UNITS_PER_KWH,
    BASE_UNITS_PER_WH,
    ENERGY_TOKEN_DECIMALS,
    MeterEpochEnergy,
    MeterKey,
    summarize_epoch,
    wh_to_base_units,
)


def test_token_units() -> None:
    assert ENERGY_TOKEN_DECIMALS == 9
    assert BASE_UNITS_PER_KWH == 10**9
    assert BASE_UNITS_PER_WH == 10**6
    assert wh_to_base_units(1250) == 1_250_000_000
    with pytest.raises(ValueError, match="non-negative"):
        wh_to_base_units(-1)


def test_docstring_example() -> None:
    a, b = MeterKey("gwA", "a"), MeterKey("gwA", "b")
    summary = summarize_epoch(7, {b: EpochEnergy(7, 5, 1250), a: EpochEnergy(7, 120, 0)})
    assert summary.epoch == 7
    assert summary.meters == (
        MeterEpochEnergy(a, 120, 0, 0),
        MeterEpochEnergy(b, 5, 1250, 1_250_000_000),
    )
    assert (summary.total_import_wh, summary.total_export_wh) == (125, 1250)
    assert summary.mint_base_units == 1_250_000_000


def test_empty_epoch() -> None:
    summary = summarize_epoch(3, {})
    assert (summary.meters, summary.total_export_wh, summary.mint_base_units) == ((), 0, 0)


def test_refuses_energy_of_another_epoch_or_negative() -> None:
    with pytest.raises(ValueError, match="epoch 2"):
        summarize_epoch(3, {MeterKey("g", "m"): EpochEnergy(2, 1, 1)})
    with pytest.raises(ValueError, match="negative"):
        summarize_epoch(3, {MeterKey("g", "m"): EpochEnergy(3, -1, 1)})


@given(
    st.dictionaries(
        st.tuples(st.text(max_size=3), st.text(max_size=3)).map(lambda t: MeterKey(*t)),
        st.tuples(st.integers(0, 10**12), st.integers(0, 10**12)),
        max_size=20,
    )
)
def test_totals_and_mint_are_exact(energies: dict[MeterKey, tuple[int, int]]) -> None:
    summary = summarize_epoch(1, {k: EpochEnergy(1, i, e) for k, (i, e) in energies.items()})
    assert [m.meter for m in summary.meters] == sorted(energies)
    assert summary.total_import_wh == sum(i for i, _ in energies.values())
    assert summary.total_export_wh == sum(e for _, e in energies.values())
    assert summary.mint_base_units == summary.total_export_wh * 10**6
    assert all(m.mint_base_units == m.export_wh * 10**6 for m in summary.meters)

"""Avoided emissions: matched Wh x the factor of the consumption epoch, in mg."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.lifecycle.carbon import MemoryMatched, avoided_mg, campus_avoided_mg


def test_the_factor_of_the_consumption_epoch_applies() -> None:
    matched = {("a", 1): 1000, ("a", 2): 1000, ("b", 2): 500}
    got = avoided_mg(matched, lambda epoch: 400 if epoch == 1 else 100)
    assert got == {("a", 1): 400_000, ("a", 2): 100_000, ("b", 2): 50_000}
    assert campus_avoided_mg(got.values()) == 550_000


def test_a_matched_source_answers_for_the_range_and_owner_asked() -> None:
    source = MemoryMatched({("a", 1): 800, ("a", 3): 100, ("b", 1): 300})
    assert source.matched_wh(since=1, until=2) == {("a", 1): 800, ("b", 1): 300}
    assert source.matched_wh(since=0, until=9, owner="a") == {("a", 1): 800, ("a", 3): 100}
    assert source.rule


@given(st.dictionaries(st.tuples(st.text(max_size=2), st.integers(0, 9)),
                       st.integers(0, 10**9)), st.integers(0, 10_000))  # fmt: skip
def test_campus_avoided_is_the_sum_and_never_negative(
    matched: dict[tuple[str, int], int], factor: int
) -> None:
    got = avoided_mg(matched, lambda _: factor)
    assert campus_avoided_mg(got.values()) == sum(matched.values()) * factor
    assert all(v >= 0 for v in got.values())


def test_negative_matched_energy_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        avoided_mg({("a", 1): -1}, lambda _: 400)

"""Poll boundaries and backoff delays: properties over all inputs."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.schedule import backoff_delay, next_boundary, poll_deadline

times = st.floats(min_value=0, max_value=4e9, allow_nan=False)
intervals = st.integers(min_value=1, max_value=86_400)


@given(times, intervals)
def test_next_boundary_is_the_first_multiple_after_now(now: float, interval: int) -> None:
    b = next_boundary(now, interval)
    assert b > now
    assert b - interval <= now
    assert b % interval == 0


def test_next_boundary_examples() -> None:
    assert next_boundary(0, 900) == 900
    assert next_boundary(899.9, 900) == 900
    assert next_boundary(900, 900) == 1800
    with pytest.raises(ValueError, match="interval"):
        next_boundary(1, 0)


@given(times, intervals)
def test_poll_deadline_falls_before_the_next_boundary(now: float, interval: int) -> None:
    d = poll_deadline(now, interval)
    assert now < d <= next_boundary(now, interval)


@given(
    st.integers(min_value=1, max_value=10_000),
    st.floats(min_value=0.001, max_value=10),
    st.floats(min_value=10, max_value=600),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=0.999999),
)
def test_backoff_is_capped_and_jitter_only_shortens(
    attempt: int, initial: float, cap: float, jitter: float, u: float
) -> None:
    d = backoff_delay(attempt, initial_s=initial, max_s=cap, jitter=jitter, unit_random=u)
    plain = backoff_delay(attempt, initial_s=initial, max_s=cap, jitter=0, unit_random=u)
    assert 0 < d <= plain <= cap
    assert d >= plain * (1 - jitter) - 1e-9


def test_backoff_doubles_until_the_cap() -> None:
    delays = [backoff_delay(a, initial_s=1, max_s=10, jitter=0, unit_random=0) for a in range(1, 7)]
    assert delays == [1, 2, 4, 8, 10, 10]
    with pytest.raises(ValueError, match="attempt"):
        backoff_delay(0, initial_s=1, max_s=10, jitter=0, unit_random=0)

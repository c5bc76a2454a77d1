"""Fixed-window rate limiting: the pure verdict, Redis counting, memory fallback."""

import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from coordinator.api.ratelimit import RateLimiter, decide, window_of
from tests.conftest import RUN_ID


@given(
    count=st.integers(1, 1000),
    limit=st.integers(1, 1000),
    now=st.floats(0, 4e9, allow_nan=False),
    window=st.integers(1, 3600),
)
def test_decide(count: int, limit: int, now: float, window: int) -> None:
    d = decide(count, limit, now, window)
    assert d.allowed == (count <= limit)
    assert d.remaining == max(0, limit - count)
    assert 1 <= d.retry_after_s <= window + 1
    assert window_of(now + d.retry_after_s, window) > window_of(now, window)


@pytest.mark.services
async def test_redis_counts_per_subject_and_window(request: pytest.FixtureRequest) -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        limiter = RateLimiter(
            client, prefix=f"gtxtest:{RUN_ID}:{request.node.name}", limit=3, window_s=60
        )
        now = 1_800_000_000.0
        verdicts = [(await limiter.hit("alice", now)).allowed for _ in range(4)]
        assert verdicts == [True, True, True, False]
        assert (await limiter.hit("bob", now)).allowed
        assert (await limiter.hit("alice", now + 60)).allowed  # next window
        # Each counter goes with its window (set by its first request, kept after).
        prefix = f"gtxtest:{RUN_ID}:{request.node.name}"
        window = int(now // 60)
        assert 0 < await client.ttl(f"{prefix}:rl:alice:{window}") <= 61
        assert 0 < await client.ttl(f"{prefix}:rl:bob:{window}") <= 61
    finally:
        await client.aclose()


async def test_without_redis_the_budget_is_counted_in_memory() -> None:
    dead = aioredis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    try:
        limiter = RateLimiter(dead, prefix="x", limit=2, window_s=60)
        verdicts = [(await limiter.hit("alice", 120.0)).allowed for _ in range(3)]
        assert verdicts == [True, True, False]
    finally:
        await dead.aclose()

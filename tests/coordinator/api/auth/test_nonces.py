"""Nonces in real Redis are single use; with Redis down they live in memory."""

import asyncio

import pytest
import redis.asyncio as aioredis

from coordinator.api.auth.nonces import FallbackNonceStore, RedisNonceStore
from coordinator.embedded.memory_cache import MemoryNonceStore
from tests.conftest import RUN_ID

pytestmark = pytest.mark.services


async def test_a_nonce_is_taken_exactly_once_even_concurrently(
    request: pytest.FixtureRequest,
) -> None:
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        store = RedisNonceStore(client, f"gtxtest:{RUN_ID}:{request.node.name}")
        assert await store.put_nonce("n1", b"message", 30)
        assert not await store.put_nonce("n1", b"other", 30)
        taken = await asyncio.gather(*(store.take_nonce("n1") for _ in range(10)))
        assert sorted(taken, key=lambda v: v is None) == [b"message"] + [None] * 9
        assert await store.take_nonce("never-issued") is None
    finally:
        await client.aclose()


async def test_with_redis_down_nonces_live_in_memory_and_stay_single_use() -> None:
    dead = aioredis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2
    )
    memory = MemoryNonceStore()
    store = FallbackNonceStore(RedisNonceStore(dead, "x"), memory)
    try:
        assert await store.put_nonce("n2", b"m", 30)
        assert len(memory) == 1
        assert await store.take_nonce("n2") == b"m"
        assert await store.take_nonce("n2") is None
    finally:
        await dead.aclose()

"""Single-use sign-in nonces in Redis, with an in-process fallback.

`RedisNonceStore` keeps each issued message under `<prefix>:nonce:<nonce>`
(SET NX EX) and takes it with GETDEL, so of two concurrent sign-ins with one
nonce exactly one gets the message. `FallbackNonceStore` writes to Redis and,
while Redis is unreachable, to memory; taking tries both. A nonce issued into
memory is only redeemable on the instance that issued it (sticky sessions, or
the user asks again): fine for a degraded mode, and never a reuse.
"""

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from coordinator.embedded.memory_cache import MemoryNonceStore, NonceStore
from coordinator.ops.metrics import REDIS_ERRORS

__all__ = ["FallbackNonceStore", "RedisNonceStore"]

log = logging.getLogger(__name__)


class RedisNonceStore:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _key(self, nonce: str) -> str:
        return f"{self._prefix}:nonce:{nonce}"

    async def put_nonce(self, nonce: str, value: bytes, ttl_s: float) -> bool:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        ok = await self._redis.set(self._key(nonce), value, nx=True, px=int(ttl_s * 1000))
        return bool(ok)

    async def take_nonce(self, nonce: str) -> bytes | None:
        value = await self._redis.getdel(self._key(nonce))
        if value is None:
            return None
        return value if isinstance(value, bytes) else value.encode()


class FallbackNonceStore:
    """NonceStore over a primary (Redis) that falls back to memory on errors."""

    def __init__(self, primary: NonceStore | None, fallback: MemoryNonceStore) -> None:
        self._primary = primary
        self._fallback = fallback

    async def put_nonce(self, nonce: str, value: bytes, ttl_s: float) -> bool:
        if self._primary is not None:
            try:
                return await self._primary.put_nonce(nonce, value, ttl_s)
            except (RedisError, OSError) as exc:
                REDIS_ERRORS.labels("nonces").inc()
                log.warning("nonce store: Redis unavailable, keeping nonce in memory: %s", exc)
        return await self._fallback.put_nonce(nonce, value, ttl_s)

    async def take_nonce(self, nonce: str) -> bytes | None:
        if self._primary is not None:
            try:
                value = await self._primary.take_nonce(nonce)
            except (RedisError, OSError) as exc:
                REDIS_ERRORS.labels("nonces").inc()
                log.warning("nonce store: Redis unavailable, looking in memory: %s", exc)
            else:
                if value is not None:
                    return value
        return await self._fallback.take_nonce(nonce)

"""Per-user request budgets: a fixed window counter in Redis, memory as fallback.

Each (subject, window) has a counter `<prefix>:rl:<subject>:<window>` that
INCR raises and that expires with its window, so several coordinator instances
share one budget. While Redis is unreachable each instance counts in memory
(the budget then holds per instance): requests are never refused because
Redis is down.
"""

import logging
import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from coordinator.ops.metrics import REDIS_ERRORS

__all__ = ["Decision", "RateLimiter", "decide", "window_of"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: int


def window_of(now: float, window_s: int) -> int:
    return math.floor(now / window_s)


def decide(count: int, limit: int, now: float, window_s: int) -> Decision:
    """The verdict on the `count`-th request of the current window."""
    reset = (window_of(now, window_s) + 1) * window_s
    return Decision(
        allowed=count <= limit,
        limit=limit,
        remaining=max(0, limit - count),
        retry_after_s=max(1, math.ceil(reset - now)),
    )


class RateLimiter:
    def __init__(
        self, client: aioredis.Redis | None, *, prefix: str, limit: int, window_s: int
    ) -> None:
        if limit < 1 or window_s < 1:
            raise ValueError("limit and window_s must be >= 1")
        self._redis = client
        self._prefix = prefix
        self.limit = limit
        self.window_s = window_s
        self._memory: dict[str, int] = {}
        self._memory_window = -1
        self._degraded = False

    async def hit(self, subject: str, now: float) -> Decision:
        """Count one request of `subject` at `now` (Unix seconds) and judge it."""
        window = window_of(now, self.window_s)
        count: int | None = None
        if self._redis is not None:
            key = f"{self._prefix}:rl:{subject}:{window}"
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.incr(key)
                    pipe.expire(key, self.window_s + 1)
                    count = int((await pipe.execute())[0])
            except (RedisError, OSError) as exc:
                REDIS_ERRORS.labels("rate_limit").inc()
                if not self._degraded:
                    log.warning("rate limiter: Redis unavailable, counting in memory: %s", exc)
                self._degraded = True
            else:
                if self._degraded:
                    log.info("rate limiter: Redis reachable again")
                self._degraded = False
        if count is None:
            count = self._count_in_memory(subject, window)
        return decide(count, self.limit, now, self.window_s)

    def _count_in_memory(self, subject: str, window: int) -> int:
        if window != self._memory_window:
            self._memory.clear()
            self._memory_window = window
        self._memory[subject] = self._memory.get(subject, 0) + 1
        return self._memory[subject]

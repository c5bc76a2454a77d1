"""Per-user request budgets: a fixed window counter in Redis, memory as fallback.

Each (subject, window) has a counter `<prefix>:rl:<subject>:<window>` that
INCR raises and that expires with its window, so several coordinator instances
share one budget. Both are one Lua script, one round trip a request (EVALSHA: a
MULTI/INCR/EXPIRE/EXEC pipeline is one round trip too, but four commands and
four replies to parse). While Redis is unreachable each instance counts in memory
(the budget then holds per instance): requests are never refused because
Redis is down.

`hit_and_stamp` does the same and, in the same Lua call, reads the subject's
session stamp (`coordinator.api.auth.sessions`): one round trip a request for
both.
"""

import logging
import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from coordinator.ops.metrics import REDIS_ERRORS

__all__ = ["Decision", "RateLimiter", "decide", "window_of"]

log = logging.getLogger(__name__)

# KEYS[1] the counter, ARGV[1] its lifetime (s): the count after this request.
_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""

# The same, then KEYS[2] the subject's session stamp: created with ARGV[2] (a fresh
# random value) for ARGV[3] seconds when missing, so that a stamp lost with Redis's
# data never reads as the one a session was checked under. Returns {count, stamp}.
_COUNT_AND_STAMP = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
local stamp = redis.call('GET', KEYS[2])
if not stamp then
  stamp = ARGV[2]
  redis.call('SET', KEYS[2], stamp, 'EX', ARGV[3])
end
return {count, stamp}
"""


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
        self._count = None if client is None else client.register_script(_COUNT)
        self._count_and_stamp = None if client is None else client.register_script(_COUNT_AND_STAMP)
        self._prefix = prefix
        self.limit = limit
        self.window_s = window_s
        self._memory: dict[str, int] = {}
        self._memory_window = -1
        self._degraded = False

    async def hit(self, subject: str, now: float) -> Decision:
        """Count one request of `subject` at `now` (Unix seconds) and judge it."""
        decision, _ = await self._hit(subject, now, None)
        return decision

    async def hit_and_stamp(
        self, subject: str, now: float, stamp_key: str, fresh: str, stamp_ttl_s: int
    ) -> tuple[Decision, str | None]:
        """`hit`, and the value at `stamp_key` (set to `fresh` for `stamp_ttl_s` when
        missing) read in the same call; None when Redis could not be asked."""
        return await self._hit(subject, now, (stamp_key, fresh, stamp_ttl_s))

    async def _hit(
        self, subject: str, now: float, stamp: tuple[str, str, int] | None
    ) -> tuple[Decision, str | None]:
        window = window_of(now, self.window_s)
        count: int | None = None
        stamp_value: str | None = None
        if self._count is not None and self._count_and_stamp is not None:
            key = f"{self._prefix}:rl:{subject}:{window}"
            try:
                if stamp is None:
                    count = int(await self._count(keys=[key], args=[self.window_s + 1]))
                else:
                    stamp_key, fresh, ttl_s = stamp
                    raw_count, raw_stamp = await self._count_and_stamp(
                        keys=[key, stamp_key], args=[self.window_s + 1, fresh, ttl_s]
                    )
                    count = int(raw_count)
                    stamp_value = (
                        raw_stamp.decode() if isinstance(raw_stamp, bytes) else str(raw_stamp)
                    )
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
        return decide(count, self.limit, now, self.window_s), stamp_value

    def _count_in_memory(self, subject: str, window: int) -> int:
        if window != self._memory_window:
            self._memory.clear()
            self._memory_window = window
        self._memory[subject] = self._memory.get(subject, 0) + 1
        return self._memory[subject]

"""Redis: latest reading per meter and live counters, never in ingest's way.

`LiveCache.note` only merges into in-memory pending updates (newest reading
per meter, counter deltas); `LiveCache.run` flushes them to Redis in the
background with short timeouts. While Redis is unreachable the pending
updates are kept (bounded by the number of meters, plus one counter per
reason) and flushed when it is back: the cache catches up and ingest never
waits. With several instances the newest reading wins: the update is a Lua
script that writes only when its `ts` is newer than the stored one.

Keys (under the topic root): `<root>:meter:<gateway>:<meter>` hash with
seq, ts, import_wh, export_wh; `<root>:counters` hash with `accepted`,
`duplicate` and `rejected:<reason>`.
"""

import asyncio
import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from coordinator.ops.metrics import CACHE_FAILURES, REDIS_ERRORS
from coordinator.readings.ingest.outcome import BatchOutcome, LatestReading

__all__ = ["LatestReading", "LiveCache", "merge_batch"]

log = logging.getLogger(__name__)

# KEYS: meter hashes; ARGV: seq, ts, import_wh, export_wh of each key in turn.
# One call for many meters: a pipelined call per meter cost the acknowledging
# process a sixth of its CPU at ingest rates (redis-py builds and parses each).
_NEWER = """
local written = 0
for i, key in ipairs(KEYS) do
  local at = (i - 1) * 4
  local ts = redis.call('HGET', key, 'ts')
  if not ts or tonumber(ts) < tonumber(ARGV[at + 2]) then
    redis.call('HSET', key, 'seq', ARGV[at + 1], 'ts', ARGV[at + 2],
               'import_wh', ARGV[at + 3], 'export_wh', ARGV[at + 4])
    written = written + 1
  end
end
return written
"""
# Meters per script call: Redis runs a script to the end before anything else.
_METERS_PER_CALL = 500


def merge_batch(
    latest: dict[tuple[str, str], LatestReading],
    counters: dict[str, int],
    outcome: BatchOutcome,
) -> None:
    """Merge a committed batch into per-meter latest readings (the newest meter
    timestamp wins, as in the Lua script) and counter deltas, in place."""
    for key, reading in outcome.newest.items():
        old = latest.get(key)
        if old is None or old[1] < reading[1]:
            latest[key] = reading
    bumps = [("accepted", outcome.accepted), ("duplicate", outcome.duplicates)]
    bumps += [("rejected:" + j.reason, 1) for j in outcome.rejected]
    for name, n in bumps:
        if n:
            counters[name] = counters.get(name, 0) + n


class LiveCache:
    def __init__(self, url: str, root: str, timeout_s: float = 0.25) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._root = root
        self._latest: dict[tuple[str, str], LatestReading] = {}
        self._counters: dict[str, int] = {}
        self._wake = asyncio.Event()
        self.healthy = False

    def note(self, outcome: BatchOutcome) -> None:
        """Merge a committed batch into the pending updates (no I/O)."""
        merge_batch(self._latest, self._counters, outcome)
        self._wake.set()

    def pending(self) -> int:
        return len(self._latest) + len(self._counters)

    def _bump(self, name: str, n: int) -> None:
        if n:
            self._counters[name] = self._counters.get(name, 0) + n

    async def flush(self) -> bool:
        """Write pending updates; on failure keep them for the next try."""
        latest, counters = self._latest, self._counters
        self._latest, self._counters = {}, {}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                meters = list(latest.items())
                for at in range(0, len(meters), _METERS_PER_CALL):
                    chunk = meters[at : at + _METERS_PER_CALL]
                    keys = [f"{self._root}:meter:{gw}:{meter}" for (gw, meter), _ in chunk]
                    values = [v for _, reading in chunk for v in reading]
                    pipe.eval(_NEWER, len(keys), *keys, *values)
                for name, n in counters.items():
                    pipe.hincrby(f"{self._root}:counters", name, n)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # Put back, merged with anything noted meanwhile (newest wins).
            for key, value in latest.items():
                newer = self._latest.get(key)
                if newer is None or newer[1] < value[1]:
                    self._latest[key] = value
            for name, n in counters.items():
                self._bump(name, n)
            if self.healthy:
                log.warning("Redis unavailable, caching later: %s", exc)
            self.healthy = False
            CACHE_FAILURES.inc()
            REDIS_ERRORS.labels("live_cache").inc()
            return False
        if not self.healthy:
            log.info("Redis reachable, cache up to date")
        self.healthy = True
        return True

    async def run(self, interval_s: float = 0.2, retry_s: float = 1.0) -> None:
        """Flush whenever something is pending, until cancelled."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                ok = await self.flush()
                if _cancel_swallowed():
                    raise asyncio.CancelledError
                await asyncio.sleep(interval_s if ok else retry_s)
                if self.pending():
                    self._wake.set()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self._redis.aclose()


def _cancel_swallowed() -> bool:
    # redis-py 8.1 was seen to return a pipeline's results normally although
    # the task was cancelled while it ran, so the cancellation never reached
    # us and shutdown hung: honour a pending cancellation request ourselves.
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0

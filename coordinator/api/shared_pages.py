"""Answers every user shares, kept by each worker for a moment.

The closed-epoch list and an epoch's order book are the same for every caller,
and under load hundreds of users ask for them each second: each worker reads
one from the database at most once per `ttl_s` (`GTX_API_CACHE_S`, default 1 s,
the staleness the session and governance checks already accept) and answers
the others from memory. Callers that arrive while it is being read wait for
that one read instead of starting their own. A worker that changes the book
itself (an order placed or cancelled) forgets its copy at once; another worker
shows the change within `ttl_s`.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar, cast

__all__ = ["SharedPages"]

T = TypeVar("T")

_MAX_ENTRIES = 10_000


class SharedPages:
    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._kept: dict[Hashable, tuple[float, Any]] = {}  # key -> (read at, answer)
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}
        # Raised by forget(): a read begun before it may have missed the change.
        self._generation = 0

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The answer kept for `key` if younger than `ttl_s`, else `load()`'s."""
        if self._ttl_s <= 0:
            return await load()
        now = self._clock()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < self._ttl_s:
            return cast(T, kept[1])
        pending = self._loading.get(key)
        if pending is not None:
            return cast(T, await asyncio.shield(pending))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._loading[key] = future
        generation = self._generation
        try:
            answer = await load()
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting for it
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(answer)
            if generation == self._generation:
                if len(self._kept) >= _MAX_ENTRIES:
                    self._kept.clear()
                self._kept[key] = (now, answer)
            return answer
        finally:
            if self._loading.get(key) is future:
                del self._loading[key]

    def forget(self) -> None:
        """Read every answer again at its next request (changed here)."""
        self._kept.clear()
        self._loading.clear()  # later callers start a read of their own
        self._generation += 1

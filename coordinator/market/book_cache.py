"""The live order-book snapshot in Redis: fast and disposable, never in the way.

`RedisBookCache.put` writes one key per epoch (`<root>:book:<epoch>`, JSON of the
price levels, expiring after a day) with short timeouts; when Redis is down it
logs once and carries on, since PostgreSQL holds the orders themselves.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from coordinator.market.records import OrderStatus, OrderView
from coordinator.market.rules.orders import Side
from coordinator.ops.metrics import REDIS_ERRORS

__all__ = ["BookCache", "NullBookCache", "RedisBookCache", "book_snapshot"]

log = logging.getLogger(__name__)


def book_snapshot(epoch: int, orders: Iterable[OrderView]) -> bytes:
    """Open quantity per price level, bids high to low and asks low to high."""
    levels: dict[Side, dict[int, int]] = {Side.BUY: defaultdict(int), Side.SELL: defaultdict(int)}
    for order in orders:
        if order.status is OrderStatus.OPEN and order.epoch == epoch:
            levels[order.side][order.limit_price] += order.quantity
    document = {
        "asks": sorted(levels[Side.SELL].items()),
        "bids": sorted(levels[Side.BUY].items(), reverse=True),
        "epoch": epoch,
    }
    return json.dumps(document, separators=(",", ":")).encode()


class BookCache(Protocol):
    async def put(self, epoch: int, snapshot: bytes) -> None: ...


class NullBookCache:
    """No cache (tests, or no Redis configured)."""

    async def put(self, epoch: int, snapshot: bytes) -> None:
        return None


class RedisBookCache:
    def __init__(self, url: str, root: str, timeout_s: float = 0.25, ttl_s: int = 86_400) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        self._root = root
        self._ttl_s = ttl_s
        self.healthy = True

    def key(self, epoch: int) -> str:
        return f"{self._root}:book:{epoch}"

    async def put(self, epoch: int, snapshot: bytes) -> None:
        try:
            await self._redis.set(self.key(epoch), snapshot, ex=self._ttl_s)
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.labels("order_book").inc()
            if self.healthy:
                log.warning("Redis unavailable, order-book snapshot skipped: %s", exc)
            self.healthy = False
            return
        self.healthy = True

    async def aclose(self) -> None:
        await self._redis.aclose()

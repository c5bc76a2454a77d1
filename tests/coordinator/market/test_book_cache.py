"""The order-book snapshot, and a cache that never fails the caller."""

import asyncio
import datetime as dt
import json

from prometheus_client import REGISTRY

from coordinator.market.book_cache import RedisBookCache, book_snapshot
from coordinator.market.records import OrderStatus, OrderView
from coordinator.market.rules import Side

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _order(
    side: Side, price: int, quantity: int, status: OrderStatus = OrderStatus.OPEN
) -> OrderView:
    return OrderView(
        "o", "w", side, 5, quantity, price, 1, status, None, 0, 0, 0, 0, None, None, None, NOW
    )


def test_snapshot_sums_open_quantity_per_level() -> None:
    orders = [
        _order(Side.BUY, 10, 1),
        _order(Side.BUY, 30, 2),
        _order(Side.BUY, 10, 4),
        _order(Side.SELL, 20, 8),
        _order(Side.SELL, 20, 9, OrderStatus.CANCELLED),
    ]
    assert json.loads(book_snapshot(5, orders)) == {
        "epoch": 5,
        "bids": [[30, 2], [10, 5]],
        "asks": [[20, 8]],
    }


def test_an_unreachable_redis_is_skipped() -> None:
    async def scenario() -> None:
        cache = RedisBookCache("redis://127.0.0.1:1/0", "gtxtest", timeout_s=0.2)
        failures = REGISTRY.get_sample_value("gtx_redis_errors_total", {"component": "order_book"})
        await cache.put(5, b"{}")  # must not raise
        assert cache.healthy is False
        after = REGISTRY.get_sample_value("gtx_redis_errors_total", {"component": "order_book"})
        assert after == (failures or 0.0) + 1
        await cache.aclose()

    asyncio.run(scenario())

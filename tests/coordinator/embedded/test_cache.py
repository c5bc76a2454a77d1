"""MemoryLiveCache (LiveCache's interface, in process) and MemoryNonceStore."""

import asyncio
import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.embedded.memory_cache import (
    LiveCacheLike,
    MemoryLiveCache,
    MemoryNonceStore,
    NonceStore,
)
from coordinator.readings.ingest.outcome import summarize
from coordinator.readings.ingest.screen import Accepted, Incoming, Rejected
from coordinator.readings.live_cache import LiveCache
from edge.signing import DeviceKey
from wire.reading import Reading, encode_payload

AT = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
KEY = DeviceKey.generate()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _accepted(seq: int, ts: int, meter: str = "m1") -> Accepted:
    signed = KEY.sign(Reading(KEY.gateway_id, meter, seq, ts, seq * 10, seq))
    return Accepted(Incoming("t", encode_payload(signed), AT), signed)


def _rejected(reason: str) -> Rejected:
    return Rejected(Incoming("t", b"x", AT), reason, "detail", None)


def test_both_caches_have_the_live_cache_interface() -> None:
    real: LiveCacheLike = LiveCache("redis://127.0.0.1:1/0", "gtx")  # no I/O until flushed
    memory: LiveCacheLike = MemoryLiveCache()
    nonces: NonceStore = MemoryNonceStore()
    assert real.healthy is False
    assert memory.healthy is True
    assert len(MemoryNonceStore()) == 0
    assert nonces is not None


def test_newest_reading_per_meter_wins() -> None:
    cache = MemoryLiveCache()
    first = [_accepted(2, 200), _accepted(1, 100), _accepted(1, 50, meter="m2")]
    cache.note(summarize(first, [], 0))
    cache.note(summarize([_accepted(3, 150)], [], 0))  # older than what is held: ignored
    assert cache.latest(KEY.gateway_id, "m1") == (2, 200, 20, 2)
    assert cache.latest(KEY.gateway_id, "m2") == (1, 50, 10, 1)
    assert cache.latest(KEY.gateway_id, "m3") is None


@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.lists(st.sampled_from(["bad_signature", "too_late"])),
                  st.integers(0, 3)),
        max_size=8,
    )
)  # fmt: skip
def test_counters_sum_every_batch(batches: list[tuple[int, list[str], int]]) -> None:
    cache = MemoryLiveCache()
    for n, reasons, dups in batches:
        accepted = [_accepted(i, i) for i in range(n)]
        cache.note(summarize(accepted, [_rejected(r) for r in reasons], dups))
    counts = cache.counters()
    assert counts.get("accepted", 0) == sum(n for n, _, _ in batches)
    assert counts.get("duplicate", 0) == sum(d for _, _, d in batches)
    for reason in ("bad_signature", "too_late"):
        expected = sum(rs.count(reason) for _, rs, _ in batches)
        assert counts.get("rejected:" + reason, 0) == expected
    assert 0 not in counts.values()
    assert cache.pending() == 0


async def test_flush_succeeds_and_run_lasts_until_cancelled() -> None:
    cache = MemoryLiveCache()
    assert await cache.flush() is True
    task = asyncio.create_task(cache.run())
    await asyncio.sleep(0)  # let it start
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_redis_cache_stops_even_when_a_flush_swallows_the_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # redis-py was seen to finish a pipeline normally although the task was
    # cancelled during it; the run loop must stop anyway.
    cache = LiveCache("redis://127.0.0.1:1/0", "gtx")
    flushing = asyncio.Event()

    async def swallowing_flush() -> bool:
        flushing.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        return True

    monkeypatch.setattr(cache, "flush", swallowing_flush)
    task = asyncio.create_task(cache.run())
    cache.note(summarize([], [], duplicates=1))
    await asyncio.wait_for(flushing.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    if not done:
        task.cancel()  # a second request reaches it outside the flush: the test can end
    assert done, "the cache's run loop ignored its cancellation"
    assert task.cancelled()


async def test_nonce_is_taken_once() -> None:
    store = MemoryNonceStore(FakeClock())
    assert await store.put_nonce("n1", b"wallet", ttl_s=60)
    assert not await store.put_nonce("n1", b"other", ttl_s=60)  # no overwrite
    assert await store.take_nonce("n1") == b"wallet"
    assert await store.take_nonce("n1") is None
    assert await store.take_nonce("never") is None


async def test_nonce_expires_after_its_ttl() -> None:
    clock = FakeClock()
    store = MemoryNonceStore(clock)
    await store.put_nonce("n1", b"v", ttl_s=30)
    clock.now += 29.9
    assert await store.put_nonce("n2", b"v", ttl_s=30)
    clock.now += 0.1
    assert await store.take_nonce("n1") is None  # expired exactly at its deadline
    assert await store.put_nonce("n1", b"again", ttl_s=30)  # an expired nonce may be reissued
    assert await store.take_nonce("n1") == b"again"
    assert await store.take_nonce("n2") == b"v"


async def test_expired_nonces_are_swept_so_memory_stays_bounded() -> None:
    clock = FakeClock()
    store = MemoryNonceStore(clock)
    for i in range(5000):
        await store.put_nonce(f"n{i}", b"v", ttl_s=1)
        clock.now += 0.01  # about 100 alive at any time
    assert len(store) < 2 * 1024


async def test_non_positive_ttl_is_refused() -> None:
    with pytest.raises(ValueError, match="ttl_s"):
        await MemoryNonceStore().put_nonce("n", b"v", ttl_s=0)

"""SharedPages: one read per key per moment, shared by concurrent callers, never
keeping what a change made stale."""

import asyncio

import pytest

from coordinator.api.shared_pages import SharedPages


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """A load that counts its reads and answers the read's number; `gate` holds it."""

    def __init__(self) -> None:
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def load(self) -> int:
        self.reads += 1
        number = self.reads
        await self.gate.wait()
        return number


async def test_an_answer_is_kept_for_its_moment_then_read_again() -> None:
    clock, source = Clock(), Source()
    pages = SharedPages(1.0, clock)
    assert [await pages.get("k", source.load) for _ in range(3)] == [1, 1, 1]
    assert await pages.get("other", source.load) == 2  # keys are kept apart
    clock.now += 1.0
    assert await pages.get("k", source.load) == 3


async def test_callers_arriving_during_a_read_share_it() -> None:
    source = Source()
    source.gate.clear()
    pages = SharedPages(1.0, Clock())
    waiting = [asyncio.create_task(pages.get("k", source.load)) for _ in range(50)]
    await asyncio.sleep(0)  # let every caller arrive (no timing: one loop turn)
    source.gate.set()
    assert await asyncio.gather(*waiting) == [1] * 50
    assert source.reads == 1


async def test_a_read_begun_before_a_change_is_not_kept() -> None:
    gate = asyncio.Event()

    async def old_book() -> str:
        await gate.wait()
        return "old"

    async def new_book() -> str:
        return "new"

    async def unused() -> str:
        return "read again"

    pages = SharedPages(1.0, Clock())
    before = asyncio.create_task(pages.get("k", old_book))
    await asyncio.sleep(0)
    pages.forget()  # e.g. an order placed while the book was being read
    assert await pages.get("k", new_book) == "new"  # does not join the read begun before
    gate.set()
    assert await before == "old"
    # The older read finished last, yet what is kept is the read after the change.
    assert await pages.get("k", unused) == "new"


async def test_failures_are_not_kept_and_zero_keeps_nothing() -> None:
    pages = SharedPages(1.0, Clock())

    async def broken() -> int:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        await pages.get("k", broken)
    source = Source()
    assert await pages.get("k", source.load) == 1
    uncached = SharedPages(0.0, Clock())
    assert [await uncached.get("k", source.load) for _ in range(2)] == [2, 3]

"""In-process stand-ins for what the coordinator keeps in Redis.

`MemoryLiveCache` has the interface of `coordinator.readings.live_cache.LiveCache` (`note`,
`pending`, `flush`, `run`, `healthy`), so ingest and the runner take either;
`LiveCacheLike` names that interface. With nothing to flush, `note` applies
updates at once with the same rule as LiveCache's Lua script: per meter, the
reading with the newest meter timestamp wins. `MemoryNonceStore` holds
single-use login nonces with a time to live.
"""

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from coordinator.readings.ingest.outcome import BatchOutcome, LatestReading
from coordinator.readings.live_cache import merge_batch

__all__ = ["LiveCacheLike", "MemoryLiveCache", "MemoryNonceStore", "NonceStore"]

_MIN_SWEEP = 1024


class LiveCacheLike(Protocol):
    """The interface of coordinator.readings.live_cache.LiveCache."""

    healthy: bool

    def note(self, outcome: BatchOutcome) -> None:
        """Merge a committed batch into the cache (no I/O)."""
        ...

    def pending(self) -> int:
        """Updates noted but not yet written."""
        ...

    async def flush(self) -> bool:
        """Write pending updates; False when the store is unreachable."""
        ...

    async def run(self, interval_s: float = 0.2, retry_s: float = 1.0) -> None:
        """Keep the cache written until cancelled."""
        ...


class MemoryLiveCache:
    """LiveCacheLike in this process's memory, with readers for the demo."""

    def __init__(self) -> None:
        self.healthy = True
        self._latest: dict[tuple[str, str], LatestReading] = {}
        self._counters: dict[str, int] = {}

    def note(self, outcome: BatchOutcome) -> None:
        merge_batch(self._latest, self._counters, outcome)

    def pending(self) -> int:
        return 0

    async def flush(self) -> bool:
        return True

    async def run(self, interval_s: float = 0.2, retry_s: float = 1.0) -> None:
        await asyncio.Event().wait()  # nothing to flush: just live as long as the runner

    def latest(self, gateway_id: str, meter_id: str) -> LatestReading | None:
        """(seq, ts, import_wh, export_wh) of a meter's newest reading, or None."""
        return self._latest.get((gateway_id, meter_id))

    def counters(self) -> dict[str, int]:
        """`accepted`, `duplicate` and `rejected:<reason>` counts, as in Redis."""
        return dict(self._counters)


class NonceStore(Protocol):
    """Single-use login nonces with a time to live."""

    async def put_nonce(self, nonce: str, value: bytes, ttl_s: float) -> bool:
        """Store a nonce for `ttl_s` seconds. False (and nothing changed) when
        the nonce is already stored and unexpired."""
        ...

    async def take_nonce(self, nonce: str) -> bytes | None:
        """Remove and return an unexpired nonce's value: each is taken at most once."""
        ...


class MemoryNonceStore:
    """NonceStore in memory. `clock` is monotonic seconds (a fake in tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._nonces: dict[str, tuple[float, bytes]] = {}
        self._sweep_at = _MIN_SWEEP

    def __len__(self) -> int:
        """Nonces held, expired ones not yet swept included."""
        return len(self._nonces)

    async def put_nonce(self, nonce: str, value: bytes, ttl_s: float) -> bool:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        now = self._clock()
        if len(self._nonces) >= self._sweep_at:
            self._expire(now)
        current = self._nonces.get(nonce)
        if current is not None and current[0] > now:
            return False
        self._nonces[nonce] = (now + ttl_s, bytes(value))
        return True

    async def take_nonce(self, nonce: str) -> bytes | None:
        entry = self._nonces.pop(nonce, None)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def _expire(self, now: float) -> None:
        # Unclaimed nonces are swept whenever their number doubles: memory
        # stays bounded by twice the live ones at amortised O(1) per insert.
        for nonce in [n for n, (deadline, _) in self._nonces.items() if deadline <= now]:
            del self._nonces[nonce]
        self._sweep_at = max(_MIN_SWEEP, 2 * len(self._nonces))

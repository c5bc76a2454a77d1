"""The simulated clock: wall time, accelerated, starting at a chosen UTC instant.

One clock drives every meter a server serves, so a whole fleet lives through
the same simulated day. In-process users (tests, a co-located gateway) call
`SimClock.now()`; over the network each meter also serves its own clock (see
`device_sim.encoding.CLOCK_ADDRESS`).
"""

import time
from collections.abc import Callable

__all__ = ["SimClock"]


class SimClock:
    """Simulated UTC time: `start_s` at creation, advancing `accel` times as fast as
    `time_source` (seconds, monotonic). accel=1440 runs one simulated day per minute."""

    def __init__(
        self,
        *,
        start_s: int | None = None,
        accel: float = 1.0,
        time_source: Callable[[], float] = time.monotonic,
    ) -> None:
        if not accel > 0:
            raise ValueError("accel must be positive")
        self.start_s = int(time.time()) if start_s is None else start_s
        if self.start_s < 0:
            raise ValueError("start_s must not be negative")
        self.accel = accel
        self._time_source = time_source
        self._origin = time_source()

    def now_ms(self) -> int:
        """Simulated UTC time in integer milliseconds since the epoch."""
        elapsed = max(0.0, self._time_source() - self._origin)
        return self.start_s * 1000 + int(elapsed * self.accel * 1000)

    def now(self) -> int:
        """Simulated UTC time in integer seconds since the epoch."""
        return self.now_ms() // 1000

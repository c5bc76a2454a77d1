"""The cyclic garbage collector paused around clearings, safe across threads.

A clearing allocates a few hundred thousand objects that all live until it
returns; the collector would rescan them again and again (half the time of a
100k-order clearing) to find no garbage. The collector is the process's, so
overlapping pauses (clearings in threads, or nested) share one: the first
disables it, the last to end enables it again, and only if it was enabled
before the first.
"""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


class _Pause:
    """Who holds the pause, and how the collector was before the first did."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holders = 0
        self.was_enabled = False


_pause = _Pause()


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run the block with the cyclic collector off (see the module's docstring)."""
    with _pause.lock:
        if _pause.holders == 0:
            _pause.was_enabled = gc.isenabled()
            gc.disable()
        _pause.holders += 1
    try:
        yield
    finally:
        with _pause.lock:
            _pause.holders -= 1
            if _pause.holders == 0 and _pause.was_enabled:
                gc.enable()

"""The garbage collector's pause around clearings, shared by overlapping clearings."""

import gc
import threading
from collections.abc import Iterator

import pytest

from coordinator.market import clearing_service, rules
from coordinator.market.clearing_service import clear_paused
from coordinator.market.collector import collector_paused
from coordinator.market.rules import ClearingInputs, ClearingResult
from tests.coordinator.market.rules.books import ALICE, BOB, ask, bid, book

BOOK = book([bid("b", ALICE, 2, 200_000), ask("s", BOB, 1, 100_000)])
WAIT_S = 30  # a deadline, not a pace: every wait returns as soon as its event is set


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


class Clearing(threading.Thread):
    """A clearing in a thread under `collector_paused` that holds the pause, once it
    has cleared, until released."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.cleared = threading.Event()
        self.release = threading.Event()
        self.result: ClearingResult | None = None

    def run(self) -> None:
        with collector_paused():
            self.result = clear_paused(BOOK)  # nested in the thread's own pause
            self.cleared.set()
            assert self.release.wait(WAIT_S)

    def finish(self) -> None:
        self.release.set()
        self.join(WAIT_S)
        assert not self.is_alive()


def _wait(event: threading.Event) -> None:
    assert event.wait(WAIT_S)


def _overlap(first_ends_first: bool) -> list[bool]:
    """Two overlapping clearings; gc.isenabled() after each step."""
    seen = []
    a, b = Clearing(), Clearing()
    a.start()
    _wait(a.cleared)
    seen.append(gc.isenabled())
    b.start()
    _wait(b.cleared)
    seen.append(gc.isenabled())
    first, last = (a, b) if first_ends_first else (b, a)
    first.finish()
    seen.append(gc.isenabled())  # the other still runs
    last.finish()
    seen.append(gc.isenabled())
    assert a.result == b.result == clear_paused(BOOK)
    return seen


@pytest.mark.parametrize("first_ends_first", [True, False])
def test_overlapping_clearings_re_enable_the_collector_only_when_the_last_ends(
    first_ends_first: bool,
) -> None:
    gc.enable()
    assert _overlap(first_ends_first) == [False, False, False, True]


def test_a_collector_disabled_before_stays_disabled_after() -> None:
    gc.disable()
    assert _overlap(first_ends_first=True) == [False, False, False, False]


def test_a_pause_ends_even_when_its_block_raises() -> None:
    gc.enable()

    def fails() -> None:
        with collector_paused():
            assert not gc.isenabled()
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fails()
    assert gc.isenabled()


def test_the_service_clears_with_the_collector_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    gc.enable()
    seen: list[bool] = []

    def clear_epoch(inputs: ClearingInputs) -> ClearingResult:
        seen.append(gc.isenabled())
        return rules.clear_epoch(inputs)

    monkeypatch.setattr(clearing_service, "clear_epoch", clear_epoch)
    assert clear_paused(BOOK) == rules.clear_epoch(BOOK)
    assert seen == [False]
    assert gc.isenabled()

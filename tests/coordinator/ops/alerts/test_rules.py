"""Alert rules, pure and exhaustively: silence, rejection spikes, ledger failures,
missed epochs, abnormal trading, and `evaluate` combining them."""

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from coordinator.market.rules.surveillance import (
    ClearedEpoch,
    EpochFigures,
    SurveillanceRules,
    Trade,
)
from coordinator.ops.alerts.rules import (
    RESOLVABLE,
    AlertRules,
    EpochRows,
    GatewaySeen,
    LedgerFailure,
    MarketWindow,
    WithheldMint,
    abnormal_trading,
    due_epoch,
    estimate_poll_interval,
    evaluate,
    ledger_failures,
    missed_epochs,
    rejection_spike,
    silent_gateways,
    withheld_mints,
)
from tests.coordinator.ops.alerts.fakes import FakeSource
from wire.alerts import AlertKind

# --- silence ------------------------------------------------------------------------------


def test_poll_interval_is_the_smallest_step_of_one_meter() -> None:
    points = [("a", 0), ("a", 60), ("a", 180), ("b", 1), ("b", 61)]
    assert estimate_poll_interval(points, 900) == 60


def test_poll_interval_ignores_steps_between_meters() -> None:
    # Two meters of one poll a second apart must not make the interval 1 s.
    points = [("a", 0), ("b", 1), ("a", 300), ("b", 301)]
    assert estimate_poll_interval(points, 900) == 300


def test_poll_interval_default_without_two_readings_of_a_meter() -> None:
    assert estimate_poll_interval([], 900) == 900
    assert estimate_poll_interval([("a", 5), ("b", 6), ("a", 5)], 42) == 42


@given(
    interval=st.integers(1, 3600),
    polls=st.lists(st.integers(0, 50), min_size=2, max_size=20, unique=True),
    meters=st.integers(1, 4),
)
def test_poll_interval_of_polls_at_multiples_with_gaps(
    interval: int, polls: list[int], meters: int
) -> None:
    polls = sorted(polls)
    points = [(f"m{m}", p * interval) for p in polls for m in range(meters)]
    smallest = min(b - a for a, b in itertools.pairwise(polls))
    assert estimate_poll_interval(points, 7) == smallest * interval


def test_silent_exactly_after_two_intervals() -> None:
    seen = [GatewaySeen("gw", last_seen_s=1000, poll_interval_s=60)]
    assert silent_gateways(seen, now=1120) == []
    (alert,) = silent_gateways(seen, now=1121)
    assert alert.kind is AlertKind.GATEWAY_SILENT
    assert alert.key == "gateway_silent:gw"
    assert alert.details["silent_s"] == 121
    assert "gw" in alert.message


@given(last=st.integers(0, 10**6), interval=st.integers(1, 10**4), ago=st.integers(0, 10**5))
def test_silent_iff_more_than_two_intervals(last: int, interval: int, ago: int) -> None:
    alerts = silent_gateways([GatewaySeen("g", last, interval)], last + ago)
    assert bool(alerts) == (ago > 2 * interval)


def test_silent_gateways_sorted_and_one_each() -> None:
    seen = [GatewaySeen(g, 0, 10) for g in ("c", "a", "b")]
    assert [a.details["gateway_id"] for a in silent_gateways(seen, 100)] == ["a", "b", "c"]


# --- rejection spike ------------------------------------------------------------------------


def test_rejection_spike_above_threshold_only() -> None:
    assert rejection_spike({}, 300, 10.0) == []
    assert rejection_spike({"bad_signature": 50}, 300, 10.0) == []  # exactly 10/min
    (alert,) = rejection_spike({"bad_signature": 40, "unknown_device": 11}, 300, 10.0)
    assert alert.key == "rejection_spike"
    assert alert.details["rejected"] == 51
    assert alert.details["reason.bad_signature"] == 40
    assert alert.message.index("bad_signature") < alert.message.index("unknown_device")


@given(
    counts=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 1000)),
    window=st.integers(1, 3600),
    threshold=st.floats(0, 1000, allow_nan=False),
)
def test_rejection_spike_iff_rate_exceeds(
    counts: dict[str, int], window: int, threshold: float
) -> None:
    total = sum(counts.values())
    fired = bool(rejection_spike(counts, window, threshold))
    assert fired == (total > 0 and total * 60.0 / window > threshold)


# --- ledger ---------------------------------------------------------------------------------


def test_ledger_failure_alert_per_failure_critical() -> None:
    alerts = ledger_failures(
        [
            LedgerFailure("settlements", "settle:7:0", 7, "insufficient funds"),
            LedgerFailure("chain_jobs", "mint:epoch:7:0", None, "frozen"),
        ]
    )
    assert [a.key for a in alerts] == [
        "ledger_failed:chain_jobs:mint:epoch:7:0",
        "ledger_failed:settlements:settle:7:0",
    ]
    assert all(a.severity == "critical" for a in alerts)
    assert alerts[1].details["epoch"] == 7
    assert "epoch" not in alerts[0].details
    assert "insufficient funds" in alerts[1].message


# --- withheld mints -------------------------------------------------------------------------


def test_withheld_energy_warns_while_frozen_and_is_critical_once_parked() -> None:
    alerts = withheld_mints(
        [
            WithheldMint("W2", "mint_failed", 1, 5 * 10**9, 12, "AccountNotFound"),
            WithheldMint("W1", "account_frozen", 3, 1_500_000_000, 10),
        ]
    )
    assert [(a.key, a.severity) for a in alerts] == [
        ("mint_withheld:W1:account_frozen", "warning"),
        ("mint_withheld:W2:mint_failed", "critical"),
    ]
    assert alerts[0].message.startswith(
        "1.500 kWh of W1's energy withheld over 3 epoch(s) since 10: account_frozen; "
        "the account is frozen; minted once the REC authority thaws it"
    )
    assert "(AccountNotFound)" in alerts[1].message
    assert "gtx-coordinator mint-retry" in alerts[1].message
    assert AlertKind.MINT_WITHHELD in RESOLVABLE  # resolved once minted


def test_evaluate_includes_withheld_mints() -> None:
    source = FakeSource()
    source.withheld = [WithheldMint("W", "account_frozen", 1, 1, 5)]
    alerts = evaluate(source, AlertRules(), now=10**9, since_s=0)
    assert [a.kind for a in alerts] == [AlertKind.MINT_WITHHELD]


# --- epochs ---------------------------------------------------------------------------------


def _rows(closed: set[int] = frozenset(), cleared: set[int] = frozenset(),  # type: ignore[assignment]
          first: int | None = 0, first_cleared: int | None = None) -> EpochRows:  # fmt: skip
    return EpochRows(frozenset(closed), frozenset(cleared), first, first_cleared)


def test_due_epoch_boundaries() -> None:
    # Epoch 9 is [900, 1000) with length 100; due at 1000 + grace 20.
    assert due_epoch(1019, 100, 20) == 8
    assert due_epoch(1020, 100, 20) == 9


def test_missed_epochs_not_closed_in_window() -> None:
    alerts = missed_epochs(
        _rows(closed={8}), 1020, length_s=100, grace_s=20, window=3,
        expect_clearing=False, clearing_since_epoch=0,
    )  # fmt: skip
    assert [a.key for a in alerts] == ["epoch_not_closed:7", "epoch_not_closed:9"]
    assert alerts[1].details == {"epoch": 9, "end": 1000, "grace_s": 20}


def test_missed_epochs_not_before_first_data() -> None:
    alerts = missed_epochs(
        _rows(first=9), 1020, length_s=100, grace_s=20, window=5,
        expect_clearing=False, clearing_since_epoch=0,
    )  # fmt: skip
    assert [a.key for a in alerts] == ["epoch_not_closed:9"]
    none = missed_epochs(
        _rows(first=None), 1020, length_s=100, grace_s=20, window=5,
        expect_clearing=False, clearing_since_epoch=0,
    )  # fmt: skip
    assert none == []


def test_missed_clearings_from_first_cleared_or_monitor_start() -> None:
    kw: dict[str, Any] = {"length_s": 100, "grace_s": 20, "window": 5, "expect_clearing": True}
    rows = _rows(closed={5, 6, 7, 8, 9}, cleared={8}, first_cleared=8)
    assert [a.key for a in missed_epochs(rows, 1020, clearing_since_epoch=20, **kw)] == [
        "epoch_not_cleared:9"
    ]
    never = _rows(closed={5, 6, 7, 8, 9})
    assert [a.key for a in missed_epochs(never, 1020, clearing_since_epoch=9, **kw)] == [
        "epoch_not_cleared:9"
    ]
    assert missed_epochs(never, 1020, clearing_since_epoch=10, **kw) == []
    off = {**kw, "expect_clearing": False}
    assert missed_epochs(never, 1020, clearing_since_epoch=0, **off) == []


@given(
    closed=st.sets(st.integers(0, 30)),
    now=st.integers(0, 4000),
    window=st.integers(1, 10),
)
def test_missed_epochs_are_exactly_the_due_unclosed(
    closed: set[int], now: int, window: int
) -> None:
    alerts = missed_epochs(
        _rows(closed=closed), now, length_s=100, grace_s=30, window=window,
        expect_clearing=False, clearing_since_epoch=0,
    )  # fmt: skip
    got = {int(a.details["epoch"]) for a in alerts}
    hi = (now - 30) // 100 - 1
    assert got == {e for e in range(max(0, hi - window + 1), hi + 1) if e not in closed}
    for e in got:  # each one is really due
        assert (e + 1) * 100 + 30 <= now


# --- all together ---------------------------------------------------------------------------


def test_evaluate_combines_rules() -> None:
    source = FakeSource()
    source.rejected = {"bad_signature": 100}
    source.seen = [GatewaySeen("gw", 9990, 60)]
    alerts = evaluate(source, AlertRules(), 10_000, 0)
    assert [a.kind for a in alerts] == [AlertKind.REJECTION_SPIKE]


def test_a_restarted_coordinator_gives_gateways_time_before_calling_them_silent() -> None:
    """Issue 18: a demo restarted after a pause warned "gateway silent" at once for
    every gateway, before any could reconnect; silence counts while monitoring."""
    seen = [GatewaySeen("gw", last_seen_s=1000, poll_interval_s=10)]
    assert silent_gateways(seen, now=5000, since_s=4990) == []
    assert silent_gateways(seen, now=5010, since_s=4990) == []  # two intervals: not more
    (alert,) = silent_gateways(seen, now=5011, since_s=4990)
    assert alert.details["silent_s"] == 4011  # the whole silence, pause included
    source = FakeSource()
    source.seen = seen
    assert evaluate(source, AlertRules(expect_clearing=False), 5000, 4995) == []


def test_abnormal_trading_judges_each_epoch_against_those_before_it() -> None:
    """The window's own earlier epochs are history for its later ones; each finding
    becomes one alert naming the epoch, the parties and the figures."""
    rules = SurveillanceRules(min_history=2, trailing_epochs=4)
    quiet = [ClearedEpoch(e, (Trade("b", "s", 10, 1_000),)) for e in (10, 11)]
    spike = ClearedEpoch(12, (Trade("b", "s", 100, 1_000),))
    window = MarketWindow((*quiet, spike), (EpochFigures(9, 1_000, 10),), {})
    (alert,) = abnormal_trading(window, rules)
    assert alert.kind is AlertKind.ABNORMAL_TRADING
    assert alert.key == "abnormal_trading:volume_spike:12:volume"
    assert alert.severity == "warning"
    assert dict(alert.details) == {
        "finding": "volume_spike", "epoch": 12, "parties": "b,s", "volume": 100,
        "trailing_average": 10.0, "ratio": 10.0, "trailing_epochs": 3,
    }  # fmt: skip
    assert alert.message == (
        "epoch 12: volume_spike by b,s (ratio 10, trailing_average 10, trailing_epochs 3, "
        "volume 100)"
    )
    # Alone, without the history, the same epoch is not judged at all.
    assert abnormal_trading(MarketWindow((spike,), (), {}), rules) == []

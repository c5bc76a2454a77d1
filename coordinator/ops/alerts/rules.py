"""The alert rules: pure functions of what the database says, no I/O.

- `silent_gateways`: an active gateway not heard from (last accepted reading,
  or registration if it never sent one) for more than two of its poll
  intervals, while monitoring ran at least as long; the interval is estimated
  from its meters' reading timestamps.
- `rejection_spike`: rejected readings over a window above a rate threshold.
- `ledger_failures`: a failed chain job, settlement or clearing attestation,
  or an epoch whose minting failed (`epoch_onchain.error`).
- `missed_epochs`: an epoch whose end plus grace has passed with no `epochs`
  row (not closed) or, where the market runs, no `clearings` row.
- `withheld_mints`: an owner's energy withheld from minting, per reason: a
  warning while their account is frozen (minted once thawed), critical once
  parked after repeated refusals (`mint_failed`: an operator must act).
- `abnormal_trading`: the findings of `coordinator.market.rules.surveillance`
  over cleared epochs (self-dealing, orders far outside the recent price band,
  one party dominating, volume spikes), one alert each. Not part of
  `evaluate`: the loop inspects each cleared epoch once, as it appears.

`Progress` is not a rule: what the loop exports as gauges for Prometheus's
rules (the newest epoch through each stage, the oldest ledger transaction in
flight).

`evaluate` runs them all over an `AlertSource`. An alert is identified by its
key; the kinds in `RESOLVABLE` are conditions that can end, the others are
facts about one job or epoch.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from coordinator.market.rules.surveillance import (
    ClearedEpoch,
    EpochFigures,
    Finding,
    SurveillanceRules,
    inspect_epoch,
)
from coordinator.readings.oracle import epoch_of, epoch_start
from wire.alerts import Alert, AlertKind

__all__ = [
    "RESOLVABLE",
    "AlertRules",
    "AlertSource",
    "EpochRows",
    "GatewaySeen",
    "LedgerFailure",
    "MarketWindow",
    "Progress",
    "WithheldMint",
    "abnormal_trading",
    "due_epoch",
    "estimate_poll_interval",
    "evaluate",
    "finding_alert",
    "ledger_failures",
    "missed_epochs",
    "rejection_spike",
    "silent_gateways",
    "withheld_mints",
]

# Conditions that can end; the others are facts about one job or epoch.
RESOLVABLE = frozenset(
    {AlertKind.GATEWAY_SILENT, AlertKind.REJECTION_SPIKE, AlertKind.MINT_WITHHELD}
)


@dataclass(frozen=True, slots=True)
class GatewaySeen:
    """When a gateway was last heard from, and how often it polls."""

    gateway_id: str
    last_seen_s: int
    poll_interval_s: int


def estimate_poll_interval(points: Iterable[tuple[str, int]], default_s: int) -> int:
    """A gateway's poll interval from (meter_id, meter_ts) of its recent readings:
    the smallest positive step between consecutive readings of one meter (a missed
    poll only makes a step longer); `default_s` when no meter has two readings."""
    by_meter: dict[str, set[int]] = {}
    for meter_id, ts in points:
        by_meter.setdefault(meter_id, set()).add(ts)
    steps = [
        b - a
        for stamps in by_meter.values()
        for a, b in zip(sorted(stamps), sorted(stamps)[1:], strict=False)
    ]
    return min(steps) if steps else default_s


def silent_gateways(
    seen: Iterable[GatewaySeen], now: int, intervals: float = 2.0, since_s: int = 0
) -> list[Alert]:
    """Gateways silent for more than `intervals` of their poll intervals, counted
    while monitoring (from `since_s`) too: a coordinator that starts after a pause
    gives its gateways that long to reconnect and flush their outboxes before it
    calls them silent."""
    alerts = []
    for g in sorted(seen, key=lambda g: g.gateway_id):
        silent_s = now - g.last_seen_s
        limit = intervals * g.poll_interval_s
        if silent_s > limit and now - since_s > limit:
            alerts.append(
                Alert(
                    AlertKind.GATEWAY_SILENT,
                    f"{AlertKind.GATEWAY_SILENT}:{g.gateway_id}",
                    "warning",
                    f"gateway {g.gateway_id} silent for {silent_s} s "
                    f"(polls every {g.poll_interval_s} s)",
                    {
                        "gateway_id": g.gateway_id,
                        "last_seen": g.last_seen_s,
                        "silent_s": silent_s,
                        "poll_interval_s": g.poll_interval_s,
                    },
                )
            )
    return alerts


def rejection_spike(by_reason: Mapping[str, int], window_s: int, max_per_min: float) -> list[Alert]:
    """One alert when the rejections counted over `window_s` exceed `max_per_min`."""
    total = sum(by_reason.values())
    rate = total * 60.0 / window_s
    if total == 0 or rate <= max_per_min:
        return []
    top = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
    reasons = ", ".join(f"{r} {n}" for r, n in top)
    details: dict[str, str | int | float] = {
        "window_s": window_s,
        "rejected": total,
        "per_min": round(rate, 2),
        "threshold_per_min": max_per_min,
    }
    details.update({f"reason.{r}": n for r, n in top})
    return [
        Alert(
            AlertKind.REJECTION_SPIKE,
            str(AlertKind.REJECTION_SPIKE),
            "warning",
            f"{total} readings rejected in the last {window_s} s ({rate:.1f}/min): {reasons}",
            details,
        )
    ]


@dataclass(frozen=True, slots=True)
class LedgerFailure:
    """A failed ledger transaction: `source` is the table it is recorded in."""

    source: str
    ident: str
    epoch: int | None
    error: str


def ledger_failures(failures: Iterable[LedgerFailure]) -> list[Alert]:
    """One critical alert per failed transaction."""
    return [
        Alert(
            AlertKind.LEDGER_FAILED,
            f"{AlertKind.LEDGER_FAILED}:{f.source}:{f.ident}",
            "critical",
            f"ledger transaction failed ({f.source} {f.ident}"
            + ("" if f.epoch is None else f", epoch {f.epoch}")
            + f"): {f.error}",
            {"source": f.source, "ident": f.ident, "error": f.error}
            | ({} if f.epoch is None else {"epoch": f.epoch}),
        )
        for f in sorted(failures, key=lambda f: (f.source, f.ident))
    ]


@dataclass(frozen=True, slots=True)
class WithheldMint:
    """Energy withheld from one owner for one reason (its code, `mint_failed` without
    the error): `base_units` over `epochs` epochs, the first `since_epoch`."""

    owner: str
    reason: str
    epochs: int
    base_units: int
    since_epoch: int
    detail: str = ""  # the latest error, for mint_failed


_WITHHELD_MEANS = {
    "account_frozen": "the account is frozen; minted once the REC authority thaws it",
    "mint_failed": "parked after repeated refusals; mend the cause, then "
    "`gtx-coordinator mint-retry`",
}


def withheld_mints(withheld: Iterable[WithheldMint]) -> list[Alert]:
    """One alert per owner and reason; critical when parked (nothing retries it)."""
    alerts = []
    for w in sorted(withheld, key=lambda w: (w.owner, w.reason)):
        means = _WITHHELD_MEANS.get(w.reason, "withheld")
        detail = f" ({w.detail})" if w.detail else ""
        details: dict[str, str | int | float] = {
            "owner": w.owner,
            "reason": w.reason,
            "epochs": w.epochs,
            "base_units": w.base_units,
            "since_epoch": w.since_epoch,
        }
        alerts.append(
            Alert(
                AlertKind.MINT_WITHHELD,
                f"{AlertKind.MINT_WITHHELD}:{w.owner}:{w.reason}",
                "warning" if w.reason == "account_frozen" else "critical",
                f"{w.base_units / 10**9:.3f} kWh of {w.owner}'s energy withheld over "
                f"{w.epochs} epoch(s) since {w.since_epoch}: {w.reason}{detail}; {means}",
                details,
            )
        )
    return alerts


@dataclass(frozen=True, slots=True)
class EpochRows:
    """What the database holds for the epochs a check looks at."""

    closed: frozenset[int]
    cleared: frozenset[int]
    first_data_epoch: int | None  # lowest epoch anything was counted or closed in
    first_cleared_epoch: int | None


def due_epoch(now: int, length_s: int, grace_s: int) -> int:
    """The newest epoch whose end plus `grace_s` is at or before `now`."""
    return epoch_of(now - grace_s, length_s) - 1


def missed_epochs(
    rows: EpochRows,
    now: int,
    *,
    length_s: int,
    grace_s: int,
    window: int,
    expect_clearing: bool,
    clearing_since_epoch: int,
) -> list[Alert]:
    """Epochs among the last `window` due ones that were not closed, or (when the market
    runs) not cleared. Closing is expected from the first epoch with data on (the closer
    starts there); clearing from the first epoch ever cleared, or `clearing_since_epoch`
    if none was."""
    hi = due_epoch(now, length_s, grace_s)
    lo = hi - window + 1
    alerts = []
    if rows.first_data_epoch is not None:
        for e in range(max(lo, rows.first_data_epoch), hi + 1):
            if e not in rows.closed:
                alerts.append(_epoch_alert(AlertKind.EPOCH_NOT_CLOSED, e, length_s, grace_s))
    if expect_clearing:
        first = rows.first_cleared_epoch
        start = clearing_since_epoch if first is None else min(first, clearing_since_epoch)
        for e in range(max(lo, start), hi + 1):
            if e not in rows.cleared:
                alerts.append(_epoch_alert(AlertKind.EPOCH_NOT_CLEARED, e, length_s, grace_s))
    return alerts


def _epoch_alert(kind: AlertKind, epoch: int, length_s: int, grace_s: int) -> Alert:
    verb = "closed" if kind is AlertKind.EPOCH_NOT_CLOSED else "cleared"
    end = epoch_start(epoch + 1, length_s)
    return Alert(
        kind,
        f"{kind}:{epoch}",
        "critical",
        f"epoch {epoch} (ended {end}) was not {verb} within {grace_s} s grace",
        {"epoch": epoch, "end": end, "grace_s": grace_s},
    )


@dataclass(frozen=True, slots=True)
class MarketWindow:
    """The cleared epochs to inspect, the figures of the epochs before them, and the
    gateways behind each wallet's meters."""

    epochs: tuple[ClearedEpoch, ...]
    history: tuple[EpochFigures, ...]
    gateways_of: Mapping[str, frozenset[str]]


def finding_alert(finding: Finding) -> Alert:
    """A surveillance finding as an operator alert (parties comma-separated)."""
    figures = ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in sorted(finding.figures.items())
    )
    parties = ",".join(finding.parties)
    shown = parties if len(finding.parties) <= 4 else f"{len(finding.parties)} wallets"
    details: dict[str, str | int | float] = {
        "finding": finding.kind.value,
        "epoch": finding.epoch,
        "parties": parties,
        **finding.figures,
    }
    return Alert(
        AlertKind.ABNORMAL_TRADING,
        f"{AlertKind.ABNORMAL_TRADING}:{finding.key}",
        "warning",
        f"epoch {finding.epoch}: {finding.kind} by {shown} ({figures})",
        details,
    )


def abnormal_trading(window: MarketWindow, rules: SurveillanceRules) -> list[Alert]:
    """One alert per finding in each epoch of the window, judged against the epochs
    before it (the window's own earlier epochs included)."""
    history = {f.epoch: f for f in window.history}
    for e in window.epochs:
        price = _clearing_price(e)
        history.setdefault(e.epoch, EpochFigures(e.epoch, price, e.volume))
    alerts = []
    for cleared in sorted(window.epochs, key=lambda e: e.epoch):
        before = [f for f in history.values() if f.epoch < cleared.epoch]
        for finding in inspect_epoch(cleared, before, window.gateways_of, rules):
            alerts.append(finding_alert(finding))
    return alerts


def _clearing_price(cleared: ClearedEpoch) -> int | None:
    # Pay-as-clear: every match of an epoch carries the one clearing price.
    return cleared.trades[0].price if cleared.trades else None


@dataclass(frozen=True, slots=True)
class Progress:
    """The newest epoch through each stage (None: none yet) and when the oldest
    ledger transaction still planned or sent was planned (Unix s; None: none)."""

    closed: int | None = None
    cleared: int | None = None
    minted: int | None = None
    settled: int | None = None
    oldest_pending_s: int | None = None

    def stages(self) -> dict[str, int | None]:
        return {"closed": self.closed, "cleared": self.cleared,
                "minted": self.minted, "settled": self.settled}  # fmt: skip


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Thresholds of the rules; defaults suit 15-minute epochs."""

    length_s: int = 900
    grace_s: int = 120
    # Extra time after end + grace before an epoch counts as missed: the closer
    # and the market run every few seconds, not at the instant.
    epoch_slack_s: int = 60
    epoch_window: int = 4
    expect_clearing: bool = True
    silent_intervals: float = 2.0
    default_poll_interval_s: int = 900
    rejection_window_s: int = 300
    rejection_max_per_min: float = 10.0
    ledger_lookback_s: int = 24 * 3600
    # Cleared epochs not yet inspected for abnormal trading read at most per round
    # (the newest), and at start (so a restart re-inspects the last few).
    trading_window: int = 4
    surveillance: SurveillanceRules = field(default_factory=SurveillanceRules)


class AlertSource(Protocol):
    """What the rules read; `storage.SqlAlertSource` reads it from the database."""

    def gateways(self, default_poll_interval_s: int) -> list[GatewaySeen]: ...
    def rejections(self, since_s: int, until_s: int) -> dict[str, int]: ...
    def ledger_failures(self, since_s: int) -> list[LedgerFailure]: ...
    def epochs(self, lo: int, hi: int) -> EpochRows: ...
    def withheld_mints(self) -> list[WithheldMint]: ...
    def market(self, window: int, trailing: int, after: int | None) -> MarketWindow: ...
    def progress(self) -> Progress: ...


def evaluate(source: AlertSource, rules: AlertRules, now: int, since_s: int) -> list[Alert]:
    """Every alert firing at `now`; `since_s` is when monitoring started."""
    alerts = silent_gateways(
        source.gateways(rules.default_poll_interval_s), now, rules.silent_intervals, since_s
    )
    alerts += rejection_spike(
        source.rejections(now - rules.rejection_window_s, now),
        rules.rejection_window_s,
        rules.rejection_max_per_min,
    )
    alerts += ledger_failures(source.ledger_failures(now - rules.ledger_lookback_s))
    alerts += withheld_mints(source.withheld_mints())
    grace = rules.grace_s + rules.epoch_slack_s
    hi = due_epoch(now, rules.length_s, grace)
    alerts += missed_epochs(
        source.epochs(hi - rules.epoch_window + 1, hi),
        now,
        length_s=rules.length_s,
        grace_s=grace,
        window=rules.epoch_window,
        expect_clearing=rules.expect_clearing,
        # The first epoch to start after monitoring began.
        clearing_since_epoch=epoch_of(since_s, rules.length_s) + 1,
    )
    return alerts

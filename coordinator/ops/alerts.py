"""Operator alerts: pure rules, and the loop that publishes them on MQTT.

Rules (pure functions of what the database says, no I/O):

- `silent_gateways`: an active gateway not heard from (last accepted reading,
  or registration if it never sent one) for more than two of its poll
  intervals; the interval is estimated from its meters' reading timestamps.
- `rejection_spike`: rejected readings over a window above a rate threshold.
- `ledger_failures`: a failed chain job, settlement or clearing attestation,
  or an epoch whose minting failed (`epoch_onchain.error`).
- `missed_epochs`: an epoch whose end plus grace has passed with no `epochs`
  row (not closed) or, where the market runs, no `clearings` row.

`AlertMonitor` evaluates them periodically through an `AlertSource` (the SQL
one is `SqlAlertSource`) and publishes each *new* alert once, as JSON on
`wire.topics.alerts` (not retained), and logs it. An alert is identified by
its key; a gateway that recovers, or a spike that ends, is published again as
"resolved", so it can fire anew later. The other kinds are facts about one
job or epoch: they fire once and are not resolved.

Alert payload (JSON, keys sorted):

    {"v": 1, "kind": "gateway_silent", "key": "gateway_silent:<id>",
     "severity": "warning", "state": "firing", "ts": 1764000000,
     "message": "...", "details": {"gateway_id": "...", ...}}

`StatsCollector` counts this instance's accepted and rejected readings (by
reason) from the ingest `on_batch` callback; `run_stats_publisher` puts them,
retained, on `wire.topics.coordinator_stats` for `gtx-coordinator monitor`.
"""

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.db.models import (
    ClearingAttestationJob,
    ClearingRecord,
    Device,
    DeviceStatus,
    EpochOnchain,
    EpochRecord,
    GatewayState,
    MeterEpochEnergyRow,
    Reading,
    ReadingSeq,
    RejectedReading,
    SettlementJob,
)
from coordinator.ops import metrics
from coordinator.readings.ingest.outcome import BatchOutcome
from coordinator.readings.oracle import epoch_of, epoch_start
from programs.ledger.store import chain_jobs
from wire import topics

__all__ = [
    "ALERT_VERSION",
    "RESOLVABLE",
    "STATS_VERSION",
    "Alert",
    "AlertEvent",
    "AlertKind",
    "AlertMonitor",
    "AlertRules",
    "AlertSource",
    "EpochRows",
    "GatewaySeen",
    "IngestCounts",
    "LedgerFailure",
    "Publish",
    "SqlAlertSource",
    "StatsCollector",
    "decode_alert",
    "decode_stats",
    "due_epoch",
    "encode_alert",
    "encode_stats",
    "estimate_poll_interval",
    "evaluate",
    "ledger_failures",
    "missed_epochs",
    "rejection_spike",
    "run_stats_publisher",
    "silent_gateways",
]

log = logging.getLogger(__name__)

ALERT_VERSION = 1
STATS_VERSION = 1

Publish = Callable[[str, bytes], Awaitable[bool]]
"""Publish (topic, payload) at QoS 1; True once the broker acknowledged."""


class AlertKind(StrEnum):
    GATEWAY_SILENT = "gateway_silent"
    REJECTION_SPIKE = "rejection_spike"
    LEDGER_FAILED = "ledger_failed"
    EPOCH_NOT_CLOSED = "epoch_not_closed"
    EPOCH_NOT_CLEARED = "epoch_not_cleared"


# Conditions that can end; the others are facts about one job or epoch.
RESOLVABLE = frozenset({AlertKind.GATEWAY_SILENT, AlertKind.REJECTION_SPIKE})

Details = Mapping[str, str | int | float]


@dataclass(frozen=True, slots=True)
class Alert:
    """One condition an operator should know about; `key` identifies it."""

    kind: AlertKind
    key: str
    severity: str  # "warning" | "critical"
    message: str
    details: Details = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert as published: firing or resolved, at `ts`."""

    alert: Alert
    state: str  # "firing" | "resolved"
    ts: int


def encode_alert(event: AlertEvent) -> bytes:
    a = event.alert
    doc = {
        "v": ALERT_VERSION,
        "kind": a.kind.value,
        "key": a.key,
        "severity": a.severity,
        "state": event.state,
        "ts": event.ts,
        "message": a.message,
        "details": dict(a.details),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def decode_alert(payload: bytes) -> AlertEvent:
    """The event in an alert payload; ValueError if it is not one."""
    try:
        doc: dict[str, Any] = json.loads(payload)
        if doc["v"] != ALERT_VERSION:
            raise ValueError(f"unsupported alert version {doc['v']!r}")
        alert = Alert(
            kind=AlertKind(doc["kind"]),
            key=str(doc["key"]),
            severity=str(doc["severity"]),
            message=str(doc["message"]),
            details=dict(doc["details"]),
        )
        return AlertEvent(alert, str(doc["state"]), int(doc["ts"]))
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an alert payload: {exc}") from exc


# --- pure rules -----------------------------------------------------------------------------


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


def silent_gateways(seen: Iterable[GatewaySeen], now: int, intervals: float = 2.0) -> list[Alert]:
    """Gateways silent for more than `intervals` of their poll intervals."""
    alerts = []
    for g in sorted(seen, key=lambda g: g.gateway_id):
        silent_s = now - g.last_seen_s
        if silent_s > intervals * g.poll_interval_s:
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


class AlertSource(Protocol):
    """What the rules read; `SqlAlertSource` reads it from the database."""

    def gateways(self, default_poll_interval_s: int) -> list[GatewaySeen]: ...
    def rejections(self, since_s: int, until_s: int) -> dict[str, int]: ...
    def ledger_failures(self, since_s: int) -> list[LedgerFailure]: ...
    def epochs(self, lo: int, hi: int) -> EpochRows: ...


def evaluate(source: AlertSource, rules: AlertRules, now: int, since_s: int) -> list[Alert]:
    """Every alert firing at `now`; `since_s` is when monitoring started."""
    alerts = silent_gateways(
        source.gateways(rules.default_poll_interval_s), now, rules.silent_intervals
    )
    alerts += rejection_spike(
        source.rejections(now - rules.rejection_window_s, now),
        rules.rejection_window_s,
        rules.rejection_max_per_min,
    )
    alerts += ledger_failures(source.ledger_failures(now - rules.ledger_lookback_s))
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


# --- the database as an AlertSource -------------------------------------------------------


def _ts(value: dt.datetime) -> int:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return int(value.timestamp())


def _at(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class SqlAlertSource:
    """Reads the rules' inputs with index-backed queries only (no scans of readings)."""

    # Recent readings per gateway the poll interval is estimated from.
    RECENT_SEQS = 64

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def gateways(self, default_poll_interval_s: int) -> list[GatewaySeen]:
        seen = []
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(Device.gateway_id, Device.created_at, GatewayState.highest_seq)
                .join(GatewayState, GatewayState.gateway_id == Device.gateway_id, isouter=True)
                .where(Device.status == DeviceStatus.ACTIVE)
            ).all()
            for gateway_id, created_at, highest in rows:
                last = _ts(created_at)
                points: list[tuple[str, int]] = []
                if highest is not None:
                    recent = conn.execute(
                        select(Reading.meter_id, Reading.meter_ts, Reading.received_at)
                        .select_from(ReadingSeq)
                        .join(
                            Reading,
                            and_(
                                Reading.gateway_id == ReadingSeq.gateway_id,
                                Reading.seq == ReadingSeq.seq,
                                Reading.meter_time == ReadingSeq.meter_time,
                            ),
                        )
                        .where(
                            ReadingSeq.gateway_id == gateway_id,
                            ReadingSeq.seq > highest - self.RECENT_SEQS,
                        )
                    ).all()
                    for meter_id, meter_ts, received_at in recent:
                        points.append((meter_id, int(meter_ts)))
                        last = max(last, _ts(received_at))
                interval = estimate_poll_interval(points, default_poll_interval_s)
                seen.append(GatewaySeen(gateway_id, last, interval))
        return seen

    def rejections(self, since_s: int, until_s: int) -> dict[str, int]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(RejectedReading.reason, func.count())
                .where(
                    RejectedReading.received_at >= _at(since_s),
                    RejectedReading.received_at < _at(until_s),
                )
                .group_by(RejectedReading.reason)
            ).all()
        return {str(reason): int(n) for reason, n in rows}

    def ledger_failures(self, since_s: int) -> list[LedgerFailure]:
        since = _at(since_s)
        failures = []
        with self._engine.connect() as conn:
            for source, table in (
                ("chain_jobs", chain_jobs),
                ("settlements", SettlementJob.__table__),
                ("clearing_attestations", ClearingAttestationJob.__table__),
            ):
                c = table.c
                epoch_col = c.get("epoch")
                cols = [c.job_key, c.error] + ([epoch_col] if epoch_col is not None else [])
                for row in conn.execute(
                    select(*cols).where(c.status == "failed", c.updated_at >= since)
                ):
                    epoch = int(row[2]) if len(row) > 2 and row[2] is not None else None
                    failures.append(LedgerFailure(source, row[0], epoch, row[1] or "failed"))
            for epoch, error in conn.execute(
                select(EpochOnchain.epoch, EpochOnchain.error).where(
                    EpochOnchain.error.is_not(None), EpochOnchain.done_at >= since
                )
            ):
                failures.append(LedgerFailure("epoch_onchain", str(epoch), int(epoch), error or ""))
        return failures

    def epochs(self, lo: int, hi: int) -> EpochRows:
        with self._engine.connect() as conn:
            closed = conn.execute(
                select(EpochRecord.epoch).where(EpochRecord.epoch.between(lo, hi))
            ).scalars()
            cleared = conn.execute(
                select(ClearingRecord.epoch).where(ClearingRecord.epoch.between(lo, hi))
            ).scalars()
            firsts = [
                conn.execute(select(func.min(EpochRecord.epoch))).scalar_one_or_none(),
                conn.execute(select(func.min(MeterEpochEnergyRow.epoch))).scalar_one_or_none(),
            ]
            first_cleared = conn.execute(select(func.min(ClearingRecord.epoch))).scalar()
            known = [int(f) for f in firsts if f is not None]
            return EpochRows(
                frozenset(int(e) for e in closed),
                frozenset(int(e) for e in cleared),
                min(known) if known else None,
                None if first_cleared is None else int(first_cleared),
            )


# --- the loop -------------------------------------------------------------------------------


class AlertMonitor:
    """Evaluates the rules every `interval_s` and publishes what changed.

    `publish(topic, payload)` is called for the alerts topic (wire it not
    retained); an event the broker did not acknowledge is retried next round.
    """

    def __init__(
        self,
        source: AlertSource,
        publish: Publish,
        *,
        topic_root: str = topics.DEFAULT_ROOT,
        rules: AlertRules | None = None,
        interval_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._publish = publish
        self._topic = topics.alerts(topic_root)
        self._rules = rules or AlertRules()
        self._interval_s = interval_s
        self._clock = clock
        self._since = int(clock())
        self.active: dict[str, Alert] = {}
        self._outbox: list[AlertEvent] = []

    async def step(self) -> list[AlertEvent]:
        """One evaluation: returns the events it produced (published or queued)."""
        now = int(self._clock())
        current = await asyncio.to_thread(evaluate, self._source, self._rules, now, self._since)
        by_key = {a.key: a for a in current}
        events = [AlertEvent(a, "firing", now) for k, a in by_key.items() if k not in self.active]
        events += [
            AlertEvent(a, "resolved", now)
            for k, a in self.active.items()
            if k not in by_key and a.kind in RESOLVABLE
        ]
        # Non-resolvable alerts stay known (so not re-fired) while the rules still see them.
        self.active = by_key
        for event in events:
            a = event.alert
            level = logging.INFO if event.state == "resolved" else logging.WARNING
            if a.severity == "critical" and event.state == "firing":
                level = logging.ERROR
            log.log(level, "alert %s: %s", event.state, a.message,
                    extra={"alert_key": a.key, "alert_kind": a.kind.value})  # fmt: skip
            if event.state == "firing":
                metrics.ALERTS.labels(a.kind.value).inc()
        self._outbox.extend(events)
        await self._flush()
        return events

    async def _flush(self) -> None:
        while self._outbox:
            if not await self._publish(self._topic, encode_alert(self._outbox[0])):
                return
            self._outbox.pop(0)

    async def run(self) -> None:
        """Evaluate until cancelled; a database outage postpones a round."""
        while True:
            try:
                await self.step()
            except (OperationalError, InterfaceError) as exc:
                log.warning("alert checks postponed, database unavailable: %s", exc)
            await asyncio.sleep(self._interval_s)


# --- ingest counts for the monitor ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngestCounts:
    """One instance's ingest counts since it started."""

    instance: str
    ts: int
    since: int
    accepted: int
    rejected: Mapping[str, int]


def encode_stats(counts: IngestCounts) -> bytes:
    doc = {
        "v": STATS_VERSION,
        "instance": counts.instance,
        "ts": counts.ts,
        "since": counts.since,
        "accepted": counts.accepted,
        "rejected": dict(counts.rejected),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def decode_stats(payload: bytes) -> IngestCounts:
    """The counts in a stats payload; ValueError if it is not one."""
    try:
        doc: dict[str, Any] = json.loads(payload)
        if doc["v"] != STATS_VERSION:
            raise ValueError(f"unsupported stats version {doc['v']!r}")
        return IngestCounts(
            instance=str(doc["instance"]),
            ts=int(doc["ts"]),
            since=int(doc["since"]),
            accepted=int(doc["accepted"]),
            rejected={str(k): int(v) for k, v in doc["rejected"].items()},
        )
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a stats payload: {exc}") from exc


class StatsCollector:
    """Counts batches from `IngestService(on_batch=...)`; `then` is called after, so an
    existing callback can be kept."""

    def __init__(
        self,
        instance: str,
        *,
        then: Callable[[BatchOutcome], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._instance = instance
        self._then = then
        self._clock = clock
        self._since = int(clock())
        self._accepted = 0
        self._rejected: dict[str, int] = {}

    def on_batch(self, outcome: BatchOutcome) -> None:
        self._accepted += outcome.accepted
        for r in outcome.rejected:
            self._rejected[r.reason] = self._rejected.get(r.reason, 0) + 1
        if self._then is not None:
            self._then(outcome)

    def snapshot(self) -> IngestCounts:
        return IngestCounts(
            self._instance,
            int(self._clock()),
            self._since,
            self._accepted,
            dict(sorted(self._rejected.items())),
        )


async def run_stats_publisher(
    collector: StatsCollector,
    publish: Publish,
    *,
    topic_root: str = topics.DEFAULT_ROOT,
    interval_s: float = 10.0,
) -> None:
    """Publish the collector's counts every `interval_s` until cancelled (wire
    `publish` retained, so a monitor started later sees them at once)."""
    topic = topics.coordinator_stats(topic_root)
    while True:
        await publish(topic, encode_stats(collector.snapshot()))
        await asyncio.sleep(interval_s)

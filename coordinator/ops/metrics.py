"""Prometheus metrics of the coordinator (prometheus-client, default registry).

Each coordinator process serves its own /metrics when `GTX_METRICS_PORT` is
set; Prometheus scrapes every instance and sums.
"""

import bisect
import os
import threading
from collections import Counter as Tally
from collections.abc import Iterable, Iterator, Sequence
from functools import partial

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, ExceptionContext

from coordinator.errors import ConfigError

__all__ = [
    "BATCH_SIZE",
    "CACHE_FAILURES",
    "COMMIT_LATENCY",
    "DUPLICATES",
    "EPOCHS_CLOSED",
    "INGEST_LATENCY",
    "NOTIFY_ATTEMPTS",
    "NOTIFY_FAILURES",
    "NOTIFY_OLDEST_PENDING",
    "NOTIFY_OUTBOX",
    "READINGS_ACCEPTED",
    "READINGS_REJECTED",
    "BatchHistogram",
    "serve_metrics",
]


class BatchHistogram(Collector):
    """A histogram observed a batch at a time, exposed as a Prometheus histogram.

    prometheus_client's `Histogram.observe` takes a lock and walks the buckets
    for each value (about 3 us); ingest observes two latencies per reading, a
    tenth of the acknowledging process's CPU at 10,000 readings/s. Here a batch
    costs one lock and a C-level bisect per value.
    """

    def __init__(
        self,
        name: str,
        documentation: str,
        buckets: Sequence[float],
        registry: CollectorRegistry | None = REGISTRY,
    ) -> None:
        self._name, self._doc = name, documentation
        self._bounds = tuple(float(b) for b in buckets)
        if list(self._bounds) != sorted(set(self._bounds)):
            raise ValueError("buckets must be increasing")
        self._counts = [0] * (len(self._bounds) + 1)  # the last: above every bound
        self._sum = 0.0
        self._lock = threading.Lock()
        if registry is not None:
            registry.register(self)

    def observe_many(self, values: Iterable[float]) -> None:
        values = list(values)
        # bisect_left: a value equal to a bound belongs to that bucket (le).
        tally = Tally(map(partial(bisect.bisect_left, self._bounds), values))
        total = sum(values)
        with self._lock:
            for index, n in tally.items():
                self._counts[index] += n
            self._sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, n in zip([*self._bounds, float("inf")], counts, strict=True):
            cumulative += n
            buckets.append((floatToGoString(bound), float(cumulative)))  # type: ignore[no-untyped-call]
        yield HistogramMetricFamily(self._name, self._doc, buckets=buckets, sum_value=total)

    def describe(self) -> Iterator[HistogramMetricFamily]:
        yield HistogramMetricFamily(self._name, self._doc)


READINGS_ACCEPTED = Counter("gtx_readings_accepted", "Readings committed as accepted")
READINGS_REJECTED = Counter(
    "gtx_readings_rejected", "Payloads stored as rejected, by reason", ["reason"]
)
DUPLICATES = Counter("gtx_readings_duplicate", "Redeliveries of readings already stored")
INGEST_LATENCY = BatchHistogram(
    "gtx_ingest_latency_seconds",
    "Meter timestamp to commit of an accepted reading (meter clocks have 1 s resolution)",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
COMMIT_LATENCY = BatchHistogram(
    "gtx_ingest_commit_seconds",
    "Arrival at the coordinator to commit, per message",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "gtx_ingest_batch_size",
    "Messages per committed batch",
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000),
)
EPOCHS_CLOSED = Counter("gtx_epochs_closed", "Epochs closed by this instance")
CACHE_FAILURES = Counter("gtx_cache_failures", "Failed Redis flushes (retried later)")


def serve_metrics(
    port: int, addr: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> None:
    """Serve /metrics (of `registry`, default this process's) on `addr:port` from a
    daemon thread; ConfigError when that address cannot be bound (the port is
    taken: GTX_METRICS_PORT)."""
    try:
        start_http_server(port, addr=addr, registry=REGISTRY if registry is None else registry)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigError(
            f"cannot serve metrics on {addr}:{port}: {reason} (GTX_METRICS_PORT, GTX_METRICS_ADDR)"
        ) from exc


# --- market and ledger (issue 9): appended; see record_clearing / record_ledger ---------

__all__ += [
    "ALERTS",
    "ALERT_LOOP_FAILURES",
    "CLEARED_ENERGY",
    "CLEARED_EPOCH",
    "CLEARING_PRICE",
    "EPOCHS_CLEARED",
    "LEDGER_TRANSACTIONS",
    "MINT_WITHHELD",
    "record_clearing",
    "record_ledger",
]

CLEARING_PRICE = Gauge(
    "gtx_clearing_price",
    "Uniform clearing price of the last cleared epoch, payment base units per kWh",
)
CLEARED_EPOCH = Gauge("gtx_cleared_epoch", "Number of the last epoch cleared by this instance")
EPOCHS_CLEARED = Counter("gtx_epochs_cleared", "Epochs cleared by this instance, by outcome",
                         ["outcome"])  # fmt: skip
CLEARED_ENERGY = Counter(
    "gtx_cleared_energy_base_units", "Energy matched by clearings, energy-token base units"
)
LEDGER_TRANSACTIONS = Counter(
    "gtx_ledger_transactions",
    "Ledger transactions finished, by kind (mint, attestation, clearing, settlement) and "
    "outcome (confirmed, failed)",
    ["kind", "outcome"],
)
MINT_WITHHELD = Gauge(
    "gtx_mint_withheld_base_units",
    "Energy of closed epochs withheld from its owners, energy-token base units, by reason "
    "(account_frozen: minted once thawed; mint_failed: parked, needs `gtx-coordinator mint-retry`)",
    ["reason"],
)
ALERTS = Counter("gtx_alerts", "Alerts raised by this instance, by kind", ["kind"])
ALERT_LOOP_FAILURES = Counter(
    "gtx_alert_loop_failures",
    "Unexpected errors in the alert monitor's rounds (logged with their traceback; the "
    "monitor goes on)",
)
# User notifications (coordinator.notify): the outbox is shared by every instance, so
# the gauges are the whole backlog as this instance last counted it, not its share.
NOTIFY_OUTBOX = Gauge(
    "gtx_notify_outbox", "Notification deliveries in the outbox, by status", ["status"]
)
NOTIFY_OLDEST_PENDING = Gauge(
    "gtx_notify_oldest_pending_seconds", "Age of the oldest pending notification delivery"
)
NOTIFY_ATTEMPTS = Counter(
    "gtx_notify_attempts",
    "Notification delivery attempts by this instance, by channel and outcome "
    "(delivered, failed, parked, dropped)",
    ["channel", "outcome"],
)
NOTIFY_FAILURES = Counter(
    "gtx_notify_loop_failures",
    "Unexpected errors in the notification worker's loops (logged with their traceback; "
    "the loop goes on)",
    ["loop"],
)


def record_clearing(
    epoch: int,
    clearing_price: int | None,
    volume: int,
    *,
    orders: int = 0,
    matches: int = 0,
    turnover: int = 0,
) -> None:
    """Count a new clearing of `epoch` (call once, when it is first stored)."""
    CLEARED_EPOCH.set(epoch)
    CLEARED_ENERGY.inc(volume)
    CLEARED_ORDERS.inc(orders)
    CLEARED_MATCHES.inc(matches)
    CLEARED_TURNOVER.inc(turnover)
    if clearing_price is None:
        EPOCHS_CLEARED.labels("no_trade").inc()
    else:
        EPOCHS_CLEARED.labels("traded").inc()
        CLEARING_PRICE.set(clearing_price)


def record_ledger(kind: str, confirmed: int = 0, failed: int = 0) -> None:
    """Count ledger transactions of `kind` that finished confirmed or failed."""
    if confirmed:
        LEDGER_TRANSACTIONS.labels(kind, "confirmed").inc(confirmed)
    if failed:
        LEDGER_TRANSACTIONS.labels(kind, "failed").inc(failed)


# --- governance (issue 24): the emergency controls as the leader last read them ----------

__all__ += ["MARKET_PAUSED", "record_controls"]

MARKET_PAUSED = Gauge(
    "gtx_market_paused",
    "1 while a scope of the market (orders, clearing, settlement, minting) is paused by "
    "the REC authority, as the chain leader last read it",
    ["scope"],
)


def record_controls(scopes: Iterable[str], paused: Iterable[str]) -> None:
    """Set the paused gauge of every scope in `scopes` (1 for those in `paused`)."""
    stopped = set(paused)
    for scope in scopes:
        MARKET_PAUSED.labels(scope).set(1 if scope in stopped else 0)


# --- retirement and certificates (issue 21) -----------------------------------------------

__all__ += ["CERTIFICATES", "RETIRED_BASE_UNITS", "RETIREMENT_REFUSED", "RETIREMENT_UNTRACED"]

RETIRED_BASE_UNITS = Counter(
    "gtx_retired_base_units",
    "Energy tokens burned against metered consumption (certified), energy-token base units",
)
CERTIFICATES = Counter("gtx_certificates", "Granular certificates committed on chain")
RETIREMENT_REFUSED = Counter(
    "gtx_retirement_refused",
    "Consumers not retired in an epoch although they held eligible tokens, by reason "
    "(no_approval, approval_short, account_frozen, burn_failed)",
    ["reason"],
)
RETIREMENT_UNTRACED = Counter(
    "gtx_retirement_untraced",
    "Passes on which a settled trade could not be traced to the seller's lots (retirement waits)",
)


# --- bills against the grid (issue 21): the campus's last day, as the leader last summed it

__all__ += ["CAMPUS_AVOIDED_CO2", "CAMPUS_BILLS", "record_campus_bills"]

CAMPUS_BILLS = Gauge(
    "gtx_campus_bill_last_day",
    "The campus's bills over the closed epochs of the last day, payment base units, by "
    "part: grid_only (what the grid alone would have billed), actual (market and grid), "
    "savings (grid_only - actual)",
    ["part"],
)
CAMPUS_AVOIDED_CO2 = Gauge(
    "gtx_campus_avoided_co2_last_day_mg",
    "Emissions avoided by matched renewable energy over the closed epochs of the last day, mgCO2",
)


def record_campus_bills(grid_only: int, actual: int, savings: int, avoided_mg: int) -> None:
    CAMPUS_BILLS.labels("grid_only").set(grid_only)
    CAMPUS_BILLS.labels("actual").set(actual)
    CAMPUS_BILLS.labels("savings").set(savings)
    CAMPUS_AVOIDED_CO2.set(avoided_mg)


# --- operators' alerting (issue 23): what the Prometheus rules in deploy/prometheus watch --

__all__ += [
    "ALERTS_FIRING",
    "API_REQUEST_SECONDS",
    "DATABASE_ERRORS",
    "EPOCH_LENGTH",
    "EPOCH_STAGE_END",
    "LEDGER_PENDING_OLDEST",
    "REDIS_ERRORS",
    "TRADING_FINDINGS",
    "record_alerts_firing",
    "watch_database",
]

API_REQUEST_SECONDS = Histogram(
    "gtx_api_request_seconds",
    "API requests, arrival to the last byte of the response, by route template, method "
    "and status class (2xx, 4xx, 5xx); live event streams are left out",
    ["route", "method", "status"],
    # Around the 200 ms p95 budget, finer where the budget is decided.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10),
)
DATABASE_ERRORS = Counter(
    "gtx_database_errors",
    "Database calls that failed, by kind (connection: the server unreachable or the "
    "connection lost; other: any other driver error)",
    ["kind"],
)
REDIS_ERRORS = Counter(
    "gtx_redis_errors",
    "Redis calls that failed and fell back (memory, a later flush), by component",
    ["component"],
)
ALERTS_FIRING = Gauge(
    "gtx_alerts_firing",
    "Alerts of the alert monitor firing now, by kind (set by the chain leader; 0 elsewhere)",
    ["kind"],
)
EPOCH_LENGTH = Gauge("gtx_epoch_length_seconds", "Length of an epoch, seconds")
EPOCH_STAGE_END = Gauge(
    "gtx_epoch_stage_end_timestamp_seconds",
    "End (Unix seconds) of the newest epoch that completed a stage (closed, cleared, "
    "minted, settled), as the database says; set by the chain leader",
    ["stage"],
)
LEDGER_PENDING_OLDEST = Gauge(
    "gtx_ledger_pending_oldest_seconds",
    "Age of the oldest ledger transaction planned or sent and not yet confirmed or "
    "failed, seconds (0 when none); set by the chain leader",
)
TRADING_FINDINGS = Counter(
    "gtx_trading_findings",
    "Abnormal trading found in cleared epochs, by kind (self_dealing, off_band_order, "
    "dominant_party, volume_spike)",
    ["kind"],
)


def record_alerts_firing(kinds: Iterable[str], firing: Iterable[str]) -> None:
    """Set the firing gauge of every kind in `kinds` to how often it occurs in `firing`."""
    counts = Tally(firing)
    for kind in kinds:
        ALERTS_FIRING.labels(kind).set(counts.get(kind, 0))


def watch_database(engine: Engine) -> None:
    """Count every failed call of `engine` in `gtx_database_errors_total` (connection
    failures included: SQLAlchemy reports those through the same event)."""

    def count(context: ExceptionContext) -> None:
        # psycopg raises OperationalError for a refused or lost connection, and
        # SQLAlchemy marks a lost one as a disconnect.
        connection = context.is_disconnect or isinstance(
            context.sqlalchemy_exception, exc.OperationalError | exc.InterfaceError
        )
        DATABASE_ERRORS.labels("connection" if connection else "other").inc()

    event.listen(engine, "handle_error", count)


# --- the operators' dashboards (issue 23): energy, market activity, users -----------------

__all__ += [
    "CLEARED_MATCHES",
    "CLEARED_ORDERS",
    "CLEARED_TURNOVER",
    "CLOSED_ENERGY",
    "CLOSED_MINT",
    "ORDERS_PLACED",
    "record_closed_epoch",
]

CLOSED_ENERGY = Counter(
    "gtx_closed_energy_wh",
    "Energy metered in closed epochs, Wh, by direction (export: generation fed to the "
    "grid; import: consumption drawn from it)",
    ["direction"],
)
CLOSED_MINT = Counter(
    "gtx_closed_mint_base_units", "Energy tokens due for closed epochs, energy-token base units"
)
CLEARED_ORDERS = Counter("gtx_cleared_orders", "Orders that entered clearings")
CLEARED_MATCHES = Counter("gtx_cleared_matches", "Matches (trades) made by clearings")
CLEARED_TURNOVER = Counter(
    "gtx_cleared_turnover_base_units", "Payment matched by clearings, payment base units"
)
ORDERS_PLACED = Counter("gtx_orders_placed", "Orders accepted from users, by side", ["side"])


def record_closed_epoch(import_wh: int, export_wh: int, mint_base_units: int) -> None:
    """Count a newly closed epoch's totals (call once, when it is stored)."""
    CLOSED_ENERGY.labels("import").inc(import_wh)
    CLOSED_ENERGY.labels("export").inc(export_wh)
    CLOSED_MINT.inc(mint_base_units)

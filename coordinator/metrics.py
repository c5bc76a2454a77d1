"""Prometheus metrics of the coordinator (prometheus-client, default registry).

Each coordinator process serves its own /metrics when `GTX_METRICS_PORT` is
set; Prometheus scrapes every instance and sums.
"""

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "BATCH_SIZE",
    "CACHE_FAILURES",
    "COMMIT_LATENCY",
    "DUPLICATES",
    "EPOCHS_CLOSED",
    "INGEST_LATENCY",
    "READINGS_ACCEPTED",
    "READINGS_REJECTED",
    "serve_metrics",
]

READINGS_ACCEPTED = Counter("gtx_readings_accepted", "Readings committed as accepted")
READINGS_REJECTED = Counter(
    "gtx_readings_rejected", "Payloads stored as rejected, by reason", ["reason"]
)
DUPLICATES = Counter("gtx_readings_duplicate", "Redeliveries of readings already stored")
INGEST_LATENCY = Histogram(
    "gtx_ingest_latency_seconds",
    "Meter timestamp to commit of an accepted reading (meter clocks have 1 s resolution)",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
COMMIT_LATENCY = Histogram(
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


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Serve /metrics on `addr:port` from a daemon thread."""
    start_http_server(port, addr=addr)


# --- market and ledger (issue 9): appended; see record_clearing / record_ledger ---------

__all__ += [
    "ALERTS",
    "CLEARED_ENERGY",
    "CLEARED_EPOCH",
    "CLEARING_PRICE",
    "EPOCHS_CLEARED",
    "LEDGER_TRANSACTIONS",
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
ALERTS = Counter("gtx_alerts", "Alerts raised by this instance, by kind", ["kind"])


def record_clearing(epoch: int, clearing_price: int | None, volume: int) -> None:
    """Count a new clearing of `epoch` (call once, when it is first stored)."""
    CLEARED_EPOCH.set(epoch)
    CLEARED_ENERGY.inc(volume)
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

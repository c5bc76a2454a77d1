"""Prometheus metrics of the coordinator (prometheus-client, default registry).

Each coordinator process serves its own /metrics when `GTX_METRICS_PORT` is
set; Prometheus scrapes every instance and sums.
"""

from prometheus_client import Counter, Histogram, start_http_server

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

"""Serving the API: `gtx-coordinator api` runs uvicorn with one worker process per
core, on uvloop and httptools.

One Python process answers on one core at a time (the GIL), so a single worker
leaves the second core of a two-core machine to PostgreSQL and Redis alone and
queues every request behind the first; the workers share the listening socket
and hold no state of their own (sessions, rate limits and nonces live in
PostgreSQL and Redis), so any of them may answer any request. Each worker builds
its app from the environment (`worker_app`) and logs as the coordinator does;
uvicorn's own access log is off, the request-id middleware writes the access
line with the request id. With GTX_METRICS_PORT set and several workers, each
worker writes its metrics to files (prometheus_client's multiprocess mode) and
the parent serves their sum on that port: one scrape target, as with one
process, where each worker binding the port itself would fail.
"""

import contextlib
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from coordinator.api.auth.config import MIN_SECRET_LEN, AuthSettings
from coordinator.api.main import app_from_environment
from coordinator.config import Settings
from coordinator.ops.logs import configure_logging
from coordinator.ops.metrics import serve_metrics

__all__ = ["default_workers", "serve_api", "share_development_key", "worker_app"]

_FACTORY = "coordinator.api.serve:worker_app"
_WORKER_HEALTHCHECK_S = 60


def default_workers() -> int:
    """As many workers as cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def worker_app() -> FastAPI:
    """The app of one worker process (uvicorn's factory, in each worker)."""
    settings = Settings()
    configure_logging(logging.INFO, json_lines=settings.log_json)
    return app_from_environment()


def share_development_key() -> None:
    """In development without a JWT secret each process would sign sessions with a
    random key of its own, and a token one worker issued would be refused by the
    others: the parent draws the random key once, for all its workers."""
    auth = AuthSettings()
    secret = auth.jwt_secret.get_secret_value() if auth.jwt_secret else ""
    if auth.environment == "development" and len(secret) < MIN_SECRET_LEN:
        os.environ["GTX_JWT_SECRET"] = secrets.token_urlsafe(48)


def serve_api(*, host: str, port: int, workers: int, forwarded_allow_ips: str | None) -> None:
    """Serve until interrupted. `forwarded_allow_ips`: the reverse proxies whose
    X-Forwarded-For / -Proto are believed (uvicorn's; None: loopback only)."""
    share_development_key()
    settings = Settings()
    with contextlib.ExitStack() as stack:
        if settings.metrics_port and workers > 1:
            stack.enter_context(_metrics_of_workers(settings.metrics_port, settings.metrics_addr))
        _run(host=host, port=port, workers=workers, forwarded_allow_ips=forwarded_allow_ips)


@contextlib.contextmanager
def _metrics_of_workers(port: int, addr: str) -> Iterator[None]:
    """The workers' metrics summed by the parent on `port` (set before they start:
    they inherit the environment)."""
    with tempfile.TemporaryDirectory(prefix="gtx-api-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        os.environ["GTX_METRICS_PORT"] = "0"  # no worker serves its own
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        serve_metrics(port, addr, registry=registry)
        yield


def _run(*, host: str, port: int, workers: int, forwarded_allow_ips: str | None) -> None:
    uvicorn.run(
        _FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=False,
        log_config=None,  # each worker logs through configure_logging
        # A backlog for 200 clients connecting at once and then some.
        backlog=2048,
        # uvicorn restarts a worker that has not started (imports, lifespan) or not
        # answered its ping within this; its 5 s default killed workers over and
        # over on a busy two-core machine, where importing the app alone took longer.
        timeout_worker_healthcheck=_WORKER_HEALTHCHECK_S,
    )

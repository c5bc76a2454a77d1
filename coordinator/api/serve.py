"""Serving the API: `gtx-coordinator api` runs uvicorn with one worker process per
core, on uvloop and httptools.

One Python process answers on one core at a time (the GIL), so a single worker
leaves the second core of a two-core machine to PostgreSQL and Redis alone and
queues every request behind the first; the workers hold no state of their own
(sessions, rate limits and nonces live in PostgreSQL and Redis), so any of them
may answer any request. Each worker listens on a socket of its own, all bound to
the one address with SO_REUSEPORT, so that the kernel spreads new connections
evenly over them: on one shared socket, whichever worker woke first accepted,
and under 200 clients one worker held two connections for the other's one (132
against 68 seen), its clients waiting twice as long (`_Workers`, a small
supervisor on uvicorn's worker processes: restarts a worker that dies or stops
answering, on the same socket, so no queued connection is lost). Each worker builds
its app from the environment (`worker_app`) and logs as the coordinator does;
uvicorn's own access log is off, the request-id middleware writes the access
line with the request id. With GTX_METRICS_PORT set and several workers, each
worker writes its metrics to files (prometheus_client's multiprocess mode) and
the parent serves their sum on that port: one scrape target, as with one
process, where each worker binding the port itself would fail.
"""

import contextlib
import gc
import logging
import os
import secrets
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

from coordinator.api.auth.config import MIN_SECRET_LEN, AuthSettings
from coordinator.api.main import app_from_environment
from coordinator.config import Settings
from coordinator.ops.logs import configure_logging
from coordinator.ops.metrics import serve_metrics

__all__ = ["default_workers", "listeners", "serve_api", "share_development_key", "worker_app"]

log = logging.getLogger(__name__)

_FACTORY = "coordinator.api.serve:worker_app"
_WORKER_HEALTHCHECK_S = 60
_GRACEFUL_SHUTDOWN_S = 10


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
    app = app_from_environment()
    # Everything built so far (modules, the app, its routes and models) lives as long
    # as the process: out of the collector's sight, a full collection no longer walks
    # it. Under load those walks were a third of a worker's CPU and its worst pauses
    # (p95 of a per-user page 268 against 146 ms, alternated runs).
    gc.collect()
    gc.freeze()
    return app


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
    config = uvicorn.Config(
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
        # On SIGTERM uvicorn waits for the requests in flight, and an open dashboard's
        # event stream never ends by itself: without a bound a worker outlived its
        # stop as long as anyone watched. Streams are cut after this (the browser's
        # EventSource reconnects, to another instance).
        timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
    )
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    sockets = listeners(host, port, workers, backlog=config.backlog)
    try:
        _Workers(config, sockets).run()
    finally:
        for sock in sockets:
            sock.close()


def listeners(host: str, port: int, count: int, *, backlog: int) -> list[socket.socket]:
    """`count` listening sockets on one address (port 0: one free port for all), in one
    SO_REUSEPORT group: the kernel hands each new connection to one of them by a hash
    of its addresses."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            address = sock.getsockname()  # the first one's port, for the others
            sock.listen(backlog)
            sock.set_inheritable(True)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class _Workers:
    """One uvicorn worker process per socket; a worker that dies or stops answering its
    ping is replaced on the same socket. SIGINT, SIGTERM or SIGQUIT stop them all."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self._config = config
        self._sockets = sockets
        self._processes: list[Process] = []
        self._stop = threading.Event()

    def run(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(sig, lambda *_: self._stop.set())
        self._processes = [self._start(sock) for sock in self._sockets]
        log.info("API workers %s started", [p.pid for p in self._processes])
        while not self._stop.wait(0.5):
            self._keep_alive()
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.join()

    def _start(self, sock: socket.socket) -> Process:
        process = Process(self._config, [sock])
        process.start()
        return process

    def _keep_alive(self) -> None:
        for index, process in enumerate(self._processes):
            if process.is_alive(timeout=self._config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if self._stop.is_set():
                return
            if process.exitcode == STARTUP_FAILURE:
                # The app or the socket is broken: every new worker would fail alike.
                log.error("API worker %s failed to start; stopping", process.pid)
                self._stop.set()
                return
            self._processes[index] = self._start(self._sockets[index])
            log.warning(
                "API worker %s stopped (exit code %s); %s started in its place",
                process.pid, process.exitcode, self._processes[index].pid,
            )  # fmt: skip

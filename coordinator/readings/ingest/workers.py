"""Ingest worker processes: one MQTT connection, the deciding spread over cores.

One Python process decides about 5,000 readings/s: parsing, Ed25519 and SQL
all hold its one GIL. Two coordinator instances on a shared subscription use
both cores, but the broker splits each gateway's readings between them, so
they queue on the same per-gateway locks and a reading decided after a newer
one of its meter is refused as `stale_reading`.

Here the parent process keeps the broker connection (receive, acknowledge) and
hands each reading to worker `routing.owner(gateway, n)`: every gateway is
decided by one worker, in arrival order, and workers never wait on each
other's locks. A worker parses, verifies and commits its share exactly as the
in-process path does (`commit.decide_and_commit`) and sends back what it decided;
the parent acknowledges a batch's messages only after that, so a worker or
parent that dies leaves them with the broker, which redelivers them. A worker
whose parent dies sees its pipe close and exits.
"""

import asyncio
import contextlib
import functools
import logging
import multiprocessing as mp
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError

from coordinator.db.session import make_engine
from coordinator.errors import CoordinatorError
from coordinator.ops.logs import configure_logging
from coordinator.readings.ingest.commit import decide_and_commit
from coordinator.readings.ingest.mqtt_source import Delivery
from coordinator.readings.ingest.outcome import BatchOutcome
from coordinator.readings.ingest.routing import topic_owner
from coordinator.readings.ingest.screen import Incoming
from coordinator.readings.ingest.store import ReadingStore, SqlReadingStore
from coordinator.readings.oracle import EpochCalendar, Epochs, OracleConfig

__all__ = [
    "DATABASE_DOWN",
    "BatchOutcome",
    "WorkerPool",
    "commit_until_done",
    "retry_delays",
    "split_by_worker",
]

log = logging.getLogger(__name__)

DATABASE_DOWN = (OperationalError, InterfaceError)

# Batches in flight per worker: one being decided, one waiting in its pipe.
IN_FLIGHT = 2


def retry_delays() -> Iterator[float]:
    """Waits between attempts at a batch while the database is down: 0.2 s, doubling,
    at most 5 s. The batch is held meanwhile (unacknowledged: the broker keeps it)."""
    delay = 0.2
    while True:
        yield delay
        delay = min(delay * 2, 5.0)


def commit_until_done(attempt: Callable[[], BatchOutcome]) -> BatchOutcome:
    """`attempt` until the database takes it (`retry_delays`), blocking: for workers."""
    for delay in retry_delays():
        try:
            return attempt()
        except DATABASE_DOWN as exc:
            log.warning("database unavailable, retrying batch in %.1f s: %s", delay, exc)
            time.sleep(delay)
    raise AssertionError("retry_delays never ends")


def split_by_worker(
    root: str, batch: Sequence[Delivery], workers: int
) -> dict[int, list[Delivery]]:
    """The batch's deliveries per worker (`routing.topic_owner`), in arrival order."""
    parts: dict[int, list[Delivery]] = {}
    for d in batch:
        parts.setdefault(topic_owner(root, d.incoming.topic, workers), []).append(d)
    return parts


def _decide_now(
    store: ReadingStore, root: str, oracle: OracleConfig, length_s: Epochs, batch: list[Incoming]
) -> BatchOutcome:
    return decide_and_commit(store, root, oracle, length_s, int(time.time()), batch)


def _worker_main(
    conn: Connection,
    database_url: str,
    root: str,
    oracle: OracleConfig,
    length_s: Epochs,
    json: bool,
) -> None:
    # Ctrl-C reaches the whole process group: the parent shuts down and closes
    # our pipe, which ends this loop after the batch in hand.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(json_lines=json)
    engine = make_engine(database_url)
    store = SqlReadingStore(engine)
    try:
        while True:
            try:
                batch_id, items, in_force, epochs = conn.recv()
            except (EOFError, OSError):
                return  # the parent is gone: its broker session keeps what we had
            batch = [Incoming(topic, payload, received) for topic, payload, received in items]
            # The oracle's limits in force now (governed parameters), else the start's.
            config = oracle if in_force is None else in_force
            # Likewise the epoch calendar (the governed epoch length).
            calendar = length_s if epochs is None else epochs
            outcome = commit_until_done(
                functools.partial(_decide_now, store, root, config, calendar, batch)
            )
            try:
                conn.send((batch_id, outcome))
            except OSError:
                return  # the parent went while we committed: the broker redelivers
    finally:
        engine.dispose()


class WorkerPool:
    """`async with WorkerPool(n, ...) as pool:` then `submit` and `results`."""

    def __init__(
        self,
        workers: int,
        *,
        database_url: str,
        root: str,
        oracle: OracleConfig,
        length_s: Epochs,
        log_json: bool = True,
    ) -> None:
        if workers < 1:
            raise ValueError("a worker pool has at least one worker")
        self.workers = workers
        self._args = (database_url, root, oracle, length_s, log_json)
        self._oracle: OracleConfig | None = None  # sent with each batch once set
        self._calendar: EpochCalendar | None = None  # likewise
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._slots: list[asyncio.Semaphore] = []
        self._pending: dict[int, list[Delivery]] = {}
        self._results: asyncio.Queue[tuple[list[Delivery], BatchOutcome] | BaseException]
        self._next_id = 0

    async def __aenter__(self) -> "WorkerPool":
        loop = asyncio.get_running_loop()
        self._results = asyncio.Queue()
        # spawn, not fork: the parent runs threads (paho, the executor) by now.
        ctx = mp.get_context("spawn")
        for n in range(self.workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_worker_main, args=(child, *self._args), name=f"gtx-ingest-{n}", daemon=True
            )
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
            self._slots.append(asyncio.Semaphore(IN_FLIGHT))
            threading.Thread(
                target=self._read,
                args=(n, parent, loop),
                name=f"gtx-ingest-reader-{n}",
                daemon=True,
            ).start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for conn in self._conns:
            conn.close()
        for proc in self._procs:
            await asyncio.to_thread(proc.join, 10)
            if proc.is_alive():
                proc.kill()

    async def submit(self, worker: int, part: list[Delivery]) -> None:
        """Send `part` to `worker`; waits while that worker has IN_FLIGHT batches."""
        await self._slots[worker].acquire()
        batch_id = self._next_id
        self._next_id += 1
        self._pending[batch_id] = part
        items = [(d.incoming.topic, d.incoming.payload, d.incoming.received_at) for d in part]
        message = (batch_id, items, self._oracle, self._calendar)
        await asyncio.to_thread(self._conns[worker].send, message)

    def set_oracle(self, config: OracleConfig) -> None:
        """Decide the batches submitted from now on under `config`."""
        self._oracle = config

    def set_calendar(self, calendar: EpochCalendar) -> None:
        """Number the epochs of the batches submitted from now on by `calendar`."""
        self._calendar = calendar

    async def result(self) -> tuple[list[Delivery], BatchOutcome]:
        """The next committed batch (any worker's). Raises if a worker died."""
        item = await self._results.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def _read(self, worker: int, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        # One thread per worker: blocks on its pipe, hands results to the loop.
        while True:
            try:
                batch_id, outcome = conn.recv()
            except (EOFError, OSError):
                error = CoordinatorError(f"ingest worker {worker} stopped")
                with contextlib.suppress(RuntimeError):  # the loop is closed: shutting down
                    loop.call_soon_threadsafe(self._results.put_nowait, error)
                return
            try:
                loop.call_soon_threadsafe(self._deliver, worker, batch_id, outcome)
            except RuntimeError:
                return

    def _deliver(self, worker: int, batch_id: int, outcome: BatchOutcome) -> None:
        self._slots[worker].release()
        self._results.put_nowait((self._pending.pop(batch_id), outcome))

"""Real-service helpers for tests: fresh PostgreSQL databases, broker address, waiting."""

import asyncio
import io
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import Engine

from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine

PG_ADMIN_URL = os.environ.get("GTX_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MQTT_HOST = os.environ.get("GTX_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("GTX_TEST_MQTT_PORT", "1883"))


@contextmanager
def fresh_database(prefix: str = "gtx_test") -> Iterator[str]:
    """Create a uniquely named PostgreSQL database; yield its SQLAlchemy URL; drop it."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def migrated_database(prefix: str = "gtx_test") -> Iterator[str]:
    """`fresh_database` with the coordinator's schema upgraded to head."""
    with fresh_database(prefix) as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@contextmanager
def empty_engine(kind: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database with no schema: `kind` "sqlite" (a file under
    `tmp_path`) or "postgresql" (a fresh database, dropped after)."""
    if kind == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    with fresh_database() as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll `predicate` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


async def async_wait_until(
    predicate: Callable[[], bool | Awaitable[bool]], within_s: float = 10.0, what: str = "condition"
) -> None:
    """Async twin of wait_until; the predicate may be a coroutine function."""
    deadline = time.monotonic() + within_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}")
        await asyncio.sleep(0.02)


async def cancel_and_wait(task: "asyncio.Task[object]", within_s: float = 15.0) -> None:
    """Cancel `task` and wait for it to finish; fail, naming it, if it hangs."""
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if not done:
        raise AssertionError(
            f"task {task.get_name()!r} did not stop within {within_s} s; pending tasks:\n"
            + _task_stacks()
        )
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


def _task_stacks() -> str:
    # Where every unfinished task waits: a hang at shutdown names its culprit.
    out = io.StringIO()
    for t in asyncio.all_tasks():
        if not t.done():
            print(f"--- {t.get_name()}", file=out)
            t.print_stack(limit=8, file=out)
    return out.getvalue()

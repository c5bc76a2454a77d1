"""Engines for PostgreSQL (psycopg 3) and SQLite, and the one place a database
that cannot be reached becomes a `StorageError`."""

import contextlib
import time
from collections.abc import Iterator

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.pool import ConnectionPoolEntry

from coordinator.errors import ConfigError, StorageError

__all__ = ["database_errors", "make_engine", "read_connection"]


@contextlib.contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads in autocommit: no BEGIN before the first statement and
    no ROLLBACK when it goes back to the pool, two of the three round trips of a
    one-statement read. Each statement then sees its own snapshot: only for reads
    whose statements need no consistency between them."""
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


def make_engine(
    database_url: str,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    ping_idle_s: float | None = None,
) -> Engine:
    """An engine for `database_url`. PostgreSQL connections are pinged before use:
    each checkout by default, or (`ping_idle_s`) only after that long unused."""
    try:
        url = make_url(database_url)
    except ArgumentError as exc:
        raise ConfigError(f"GTX_DATABASE_URL is not a database URL: {exc}") from exc
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # The ping: after a PostgreSQL restart the first checkout reconnects instead of
    # failing a batch or a request.
    engine = create_engine(
        url, pool_pre_ping=ping_idle_s is None, pool_size=pool_size, max_overflow=max_overflow
    )
    if ping_idle_s is not None:
        _ping_after_idle(engine, ping_idle_s)
    return engine


def _ping_after_idle(engine: Engine, idle_s: float) -> None:
    """Ping a pooled connection only when it has rested `idle_s` or more: a ping is
    a round trip (and a BEGIN) before every query, a third of a short read's
    database time, while a connection in constant use has just proved itself (and
    a restart under load fails the requests in flight either way; the pool then
    replaces every connection it held)."""

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_conn: object, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: object, record: ConnectionPoolEntry, _proxy: object) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)  # type: ignore[arg-type]
        except (DBAPIError, engine.dialect.loaded_dbapi.Error) as exc:
            # The pool then drops this connection and checks out a fresh one.
            raise DisconnectionError(str(exc)) from exc


@contextlib.contextmanager
def database_errors(engine: Engine) -> Iterator[None]:
    """The database being unreachable (refused, unknown host or database, bad
    password, unopenable SQLite file) as one StorageError line naming it, the
    password hidden: for the CLIs, which print it instead of a traceback."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        reason = str(exc.orig or exc).strip().splitlines()
        first = reason[0] if reason else type(exc).__name__
        where = engine.url.render_as_string(hide_password=True)
        raise StorageError(f"database {where} unavailable: {first}") from exc

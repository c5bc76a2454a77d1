"""Engines for PostgreSQL (psycopg 3) and SQLite, and the one place a database
that cannot be reached becomes a `StorageError`."""

import contextlib
from collections.abc import Iterator

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

from coordinator.errors import ConfigError, StorageError

__all__ = ["database_errors", "make_engine"]


def make_engine(database_url: str) -> Engine:
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
    # pool_pre_ping: after a PostgreSQL restart the first checkout reconnects
    # instead of failing a batch.
    return create_engine(url, pool_pre_ping=True, pool_size=5)


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

"""Engines for PostgreSQL (psycopg 3) and SQLite."""

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine

__all__ = ["make_engine"]


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
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

"""The engine's ping after rest, against the real PostgreSQL: a connection whose
server process is gone is replaced before a query sees it, and a connection in
constant use is not pinged at all."""

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from coordinator.db.session import make_engine, read_connection
from tests.utils.services import PG_ADMIN_URL, fresh_database, wait_until

pytestmark = pytest.mark.services


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as database_url:
        yield database_url


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(pid: int) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        def gone() -> bool:
            row = admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
            found = row.fetchone()
            return found is not None and found[0] == 0

        wait_until(gone, what=f"backend {pid} to end")


def test_a_rested_connection_whose_server_went_away_is_replaced(url: str) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0, ping_idle_s=0.0)
    try:
        first = _backend_pid(engine)
        _terminate(first)
        assert _backend_pid(engine) != first  # the ping found it dead; no error reached us
    finally:
        engine.dispose()


def test_a_connection_in_use_within_the_rest_is_not_pinged(url: str) -> None:
    engine = make_engine(url, pool_size=1, max_overflow=0, ping_idle_s=3600.0)
    try:
        first = _backend_pid(engine)
        _terminate(first)
        # No ping: the query itself meets the dead connection ...
        with pytest.raises(OperationalError):
            _backend_pid(engine)
        # ... and the pool replaces it for the next one.
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()


def _transaction_ids(conn: Connection) -> list[int]:
    return [int(conn.execute(text("SELECT txid_current()")).scalar_one()) for _ in range(2)]


def test_a_read_connection_runs_each_statement_alone_and_the_pool_gets_it_back_as_it_was(
    url: str,
) -> None:
    """`read_connection` sends no BEGIN (each statement is its own transaction, so two
    statements have two transaction ids) and leaves no autocommit behind: the same
    pooled connection then runs both statements in one transaction again."""
    engine = make_engine(url, pool_size=1, max_overflow=0, ping_idle_s=3600.0)
    try:
        with read_connection(engine) as conn:
            first, second = _transaction_ids(conn)
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert first != second
        with engine.connect() as conn:
            first, second = _transaction_ids(conn)
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() == pid
        assert first == second
    finally:
        engine.dispose()

"""The API's event-loop reads against the real PostgreSQL: the same rows as the
engine's, a connection the server ended replaced within the read, the engine's
thread wherever no pool was opened, and failures as SQLAlchemy's errors."""

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import String, bindparam, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError

from coordinator.api.reads import APPLICATION_NAME, PostgresReads, ThreadReads, reads_for
from coordinator.db.models import User
from coordinator.db.session import make_engine
from coordinator.ops.metrics import DATABASE_ERRORS
from tests.utils.services import PG_ADMIN_URL, migrated_database, wait_until

pytestmark = pytest.mark.services

_NOW = dt.datetime(2026, 12, 5, 3, 0, tzinfo=dt.UTC)
_BY_ADDRESS = select(User.address, User.created_at, User.energy_account).where(
    User.address == bindparam("address", type_=String)
)


@pytest.fixture
def engine() -> Iterator[Engine]:
    with migrated_database() as url:
        eng = make_engine(url)
        with eng.begin() as conn:
            conn.execute(insert(User), [
                {"address": f"user{i}", "roles": "", "created_at": _NOW, "last_login_at": _NOW,
                 "token_version": 0, "energy_account": None if i % 2 else f"acct{i}"}
                for i in range(3)
            ])  # fmt: skip
        yield eng
        eng.dispose()


def _connection_errors() -> float:
    return float(DATABASE_ERRORS.labels("connection")._value.get())


def test_postgresql_reads_on_the_event_loop_give_the_engines_rows(engine: Engine) -> None:
    reads = reads_for(engine)
    assert isinstance(reads, PostgresReads)

    async def both() -> tuple[list[list[Any]], list[list[Any]]]:
        await reads.open()
        try:
            fast = [list(r) for a in ("user0", "user1", "nobody")
                    for r in await reads.all(_BY_ADDRESS, {"address": a})]  # fmt: skip
        finally:
            await reads.close()
        threaded = ThreadReads(engine)
        slow = [list(r) for a in ("user0", "user1", "nobody")
                for r in await threaded.all(_BY_ADDRESS, {"address": a})]  # fmt: skip
        return fast, slow

    fast, slow = asyncio.run(both())
    assert fast == slow == [["user0", _NOW, "acct0"], ["user1", _NOW, None]]
    assert fast[0][1].tzinfo is not None


def test_a_connection_the_server_ended_is_replaced_within_the_read(engine: Engine) -> None:
    reads = PostgresReads(engine, max_size=1)

    async def scenario() -> list[list[Any]]:
        await reads.open()
        try:
            assert len(await reads.all(_BY_ADDRESS, {"address": "user0"})) == 1
            _end_backends(engine)
            return [list(r) for r in await reads.all(_BY_ADDRESS, {"address": "user0"})]
        finally:
            await reads.close()

    before = _connection_errors()
    assert asyncio.run(scenario()) == [["user0", _NOW, "acct0"]]
    assert _connection_errors() >= before + 1  # the lost connection was counted


def _end_backends(engine: Engine) -> None:
    """End the server processes of the pool's connections, and wait until they are gone."""
    where = "WHERE application_name = %s AND datname = %s"
    args = (APPLICATION_NAME, engine.url.database)
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        pids = [r[0] for r in admin.execute(f"SELECT pid FROM pg_stat_activity {where}", args)]
        assert pids, "the pool holds no connection"
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        def gone() -> bool:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            return row is not None and row[0] == 0

        wait_until(gone, what="the pool's server processes to end")


def test_without_a_pool_on_this_loop_the_read_goes_through_the_engine(engine: Engine) -> None:
    """An app whose lifespan did not run (a test client without it) still reads, in a
    worker thread."""
    reads = PostgresReads(engine)

    async def here() -> list[list[Any]]:
        return [list(r) for r in await reads.all(_BY_ADDRESS, {"address": "user2"})]

    assert asyncio.run(here()) == [["user2", _NOW, "acct2"]]


def test_nested_lifespans_share_the_loops_pool_until_the_last_closes(engine: Engine) -> None:
    reads = PostgresReads(engine)

    async def scenario() -> None:
        await reads.open()
        await reads.open()
        await reads.close()
        # One opener left: still on the pool (no worker thread).
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ThreadReads, "all", _no_thread)
            assert len(await reads.all(_BY_ADDRESS, {"address": "user0"})) == 1
        await reads.close()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(ThreadReads, "all", _no_thread)
            with pytest.raises(AssertionError, match="worker thread"):
                await reads.all(_BY_ADDRESS, {"address": "user0"})

    asyncio.run(scenario())


async def _no_thread(*_: object) -> None:
    raise AssertionError("read in a worker thread")


def test_failures_are_sqlalchemys_errors(engine: Engine) -> None:
    reads = PostgresReads(engine)
    too_long_for_integer = select(User.address).where(
        User.token_version == bindparam("version", type_=User.token_version.type)
    )

    async def scenario() -> None:
        await reads.open()
        try:
            with pytest.raises(DataError):
                await reads.all(too_long_for_integer, {"version": 2**80})
            with pytest.raises(DBAPIError):
                await reads.all(select(User.address).where(User.address == bindparam("a")), {})
        finally:
            await reads.close()

    asyncio.run(scenario())


def test_a_statement_with_a_list_parameter_is_refused_not_misread(engine: Engine) -> None:
    """An expanding parameter's SQL depends on the list's length: compiled once, it
    would be wrong for the next list."""
    reads = PostgresReads(engine)
    listed = select(User.address).where(User.address.in_(bindparam("a", expanding=True)))

    async def scenario() -> None:
        await reads.open()
        try:
            with pytest.raises(ValueError, match="expanding"):
                await reads.all(listed, {"a": ["user0", "user1"]})
        finally:
            await reads.close()

    asyncio.run(scenario())

"""Short reads awaited on the event loop: the API's per-user pages.

A per-user page is one or two short statements. Run in a worker thread through
SQLAlchemy's engine, each cost about 1.5 ms of the API's CPU (the hand-off to
the thread and back, the execution path, the pool's events) where PostgreSQL
spends 0.1 ms on the statement. On PostgreSQL, `PostgresReads` runs the same
SQLAlchemy Core statement, compiled once per statement object, on psycopg's
async pool in autocommit: no thread, no BEGIN/ROLLBACK, prepared after a few
uses. Elsewhere (SQLite in the embedded profile), and on PostgreSQL before the
pool is opened on the serving event loop, `ThreadReads` runs it through the
engine in a worker thread. Either way a statement sees its own snapshot: only
for reads that need no consistency between their statements.

Failures look the same on both paths (SQLAlchemy's `DBAPIError` subclasses, so
the API's error handlers and `gtx_database_errors_total` treat them alike). A
connection found broken (the server restarted) is dropped, the pool checks the
others, and the read is tried once more.
"""

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import psycopg
from anyio import to_thread
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from sqlalchemy import Select, exc
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.sql.compiler import SQLCompiler

from coordinator.db.session import read_connection
from coordinator.ops.metrics import DATABASE_ERRORS

__all__ = [
    "APPLICATION_NAME",
    "PostgresReads",
    "Reads",
    "Rows",
    "Statement",
    "ThreadReads",
    "reads_for",
]

log = logging.getLogger(__name__)

# The statements kept compiled: a few dozen shapes in practice.
_MAX_COMPILED = 1_000
# How the pool's connections show in pg_stat_activity.
APPLICATION_NAME = "gtx-api-reads"
Rows = Sequence[Sequence[Any]]
Statement = Select[*tuple[Any, ...]]


class Reads(Protocol):
    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Rows:
        """Every row of `statement` (bound parameters by name from `params`)."""
        ...

    async def open(self) -> None:
        """Ready to read on the running event loop (a no-op where nothing is needed)."""
        ...

    async def close(self) -> None: ...


class ThreadReads:
    """The statement through `engine` in a worker thread, in autocommit."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Rows:
        def run() -> Rows:
            with read_connection(self._engine) as conn:
                return list(conn.execute(statement, dict(params)).all())

        return await to_thread.run_sync(run)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None


class PostgresReads:
    """The statement on psycopg's async pool of the running event loop: one pool per
    loop that opened it (an app's lifespan; tests may run more than one)."""

    def __init__(self, engine: Engine, *, max_size: int = 10) -> None:
        self._fallback = ThreadReads(engine)
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._max_size = max_size
        self._dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
        self._compiled: dict[int, tuple[Statement, str, dict[str, Any]]] = {}
        # loop -> (pool, how many opened it and have not closed it)
        self._pools: dict[asyncio.AbstractEventLoop, tuple[AsyncConnectionPool, int]] = {}

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        pool, users = self._pools.get(loop, (None, 0))
        if pool is None:
            pool = AsyncConnectionPool(
                self._conninfo, min_size=min(2, self._max_size), max_size=self._max_size,
                kwargs={"autocommit": True, "application_name": APPLICATION_NAME},
                open=False, name=APPLICATION_NAME,
            )  # fmt: skip
            # No wait for the connections: the API starts while the database is down,
            # as the engine's lazy pool lets it, and a read then fails like any other.
            await pool.open(wait=False)
        self._pools[loop] = (pool, users + 1)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        pool, users = self._pools.get(loop, (None, 0))
        if pool is None:
            return
        if users > 1:
            self._pools[loop] = (pool, users - 1)
            return
        del self._pools[loop]
        await pool.close()

    def _sql(self, statement: Statement) -> tuple[str, dict[str, Any]]:
        """`statement` as psycopg's SQL and its parameters' defaults, compiled once (the
        statement objects are built once each: `functools.cache` in `api.queries`)."""
        kept = self._compiled.get(id(statement))
        if kept is not None and kept[0] is statement:
            return kept[1], kept[2]
        compiled = statement.compile(dialect=self._dialect)
        assert isinstance(compiled, SQLCompiler)
        sql = str(compiled)
        if "__[POSTCOMPILE" in sql:
            raise ValueError("statements with expanding parameters are not compiled once")
        # The values the statement carries itself; a parameter it needs from the caller
        # and does not get is psycopg's error, as it is SQLAlchemy's.
        defaults = {k: v for k, v in compiled.params.items() if v is not None}
        if len(self._compiled) >= _MAX_COMPILED:
            self._compiled.clear()  # statements built per call would only grow it
        self._compiled[id(statement)] = (statement, sql, defaults)
        return sql, defaults

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> Rows:
        kept = self._pools.get(asyncio.get_running_loop())
        if kept is None:
            return await self._fallback.all(statement, params)
        pool = kept[0]
        sql, defaults = self._sql(statement)
        values = {**defaults, **params}
        for attempt in (1, 2):
            try:
                async with pool.connection() as conn:
                    cursor = await conn.execute(sql, values)
                    return await cursor.fetchall()
            except psycopg.OperationalError as error:
                DATABASE_ERRORS.labels("connection").inc()
                if attempt == 2 or isinstance(error, PoolTimeout):
                    raise exc.OperationalError(sql, values, error) from error
                log.warning("database connection lost, reading again: %s", error)
                await pool.check()
            except psycopg.DataError as error:
                DATABASE_ERRORS.labels("other").inc()
                raise exc.DataError(sql, values, error) from error
            except psycopg.Error as error:
                DATABASE_ERRORS.labels("other").inc()
                raise exc.DBAPIError(sql, values, error) from error
        raise AssertionError("unreachable")


def reads_for(engine: Engine) -> Reads:
    """Event-loop reads for PostgreSQL, worker-thread reads for anything else."""
    if engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg":
        return PostgresReads(engine)
    return ThreadReads(engine)

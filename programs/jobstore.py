"""The `programs.jobs.JobStore` implementations: in memory (tests)
or in the `chain_jobs` table of `programs.ledger.store.ledger_metadata` (PostgreSQL or
SQLite), which the coordinator's migration includes."""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from solders.hash import Hash
from solders.signature import Signature
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from programs.jobs import Job, JobStatus
from programs.ledger.store import chain_jobs, ledger_metadata

__all__ = ["MemoryJobStore", "SqlJobStore"]


class MemoryJobStore:
    """A JobStore in a dictionary (tests; a "restart" keeps the same instance)."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}

    def plan(self, jobs: Sequence[Job]) -> list[Job]:
        for job in jobs:
            self._jobs.setdefault(job.key, job)
        return [self._jobs[job.key] for job in jobs]

    def save(self, job: Job) -> None:
        if job.key not in self._jobs:
            raise KeyError(job.key)
        self._jobs[job.key] = job

    def save_many(self, jobs: Sequence[Job]) -> None:
        missing = [job.key for job in jobs if job.key not in self._jobs]
        if missing:
            raise KeyError(missing[0])
        for job in jobs:
            self._jobs[job.key] = job

    def get(self, key: str) -> Job | None:
        return self._jobs.get(key)

    def unfinished(self, prefix: str = "") -> list[Job]:
        return sorted(
            (j for k, j in self._jobs.items() if k.startswith(prefix) and not j.finished),
            key=lambda j: j.key,
        )


class SqlJobStore:
    """A JobStore on SQLAlchemy Core (PostgreSQL or SQLite).

    `table` defaults to `chain_jobs`; another table with the same job columns
    works too (the market's settlements), `extra(job)` giving the values of its
    additional columns on insert.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] | None = None,
        *,
        table: Table = chain_jobs,
        extra: Callable[[Job], dict[str, object]] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._table = table
        self._extra = extra or (lambda _job: {})

    def create_tables(self) -> None:
        """Create the tables if missing (tests and the demo; deployments use Alembic)."""
        ledger_metadata.create_all(self._engine)

    def plan(self, jobs: Sequence[Job]) -> list[Job]:
        keys = [job.key for job in jobs]
        table = self._table
        now = self._clock()
        try:
            with self._engine.begin() as conn:
                present = set(
                    conn.execute(select(table.c.job_key).where(table.c.job_key.in_(keys))).scalars()
                )
                new = [
                    {**_row(j), **self._extra(j), "created_at": now, "updated_at": now}
                    for j in jobs
                    if j.key not in present
                ]
                if new:
                    conn.execute(insert(table), new)
            if not present:
                return list(jobs)  # all stored just now, as given: no need to read back
        except IntegrityError:
            pass  # another instance planned them first: read what it stored
        stored = self._get_many(keys)
        return [stored[key] for key in keys]

    def save(self, job: Job) -> None:
        self.save_many([job])

    def save_many(self, jobs: Sequence[Job]) -> None:
        table = self._table
        now = self._clock()
        if not jobs:
            return
        params = [{f"b_{k}": v for k, v in _row(job).items()} for job in jobs]
        columns = [k for k in _row(jobs[0]) if k != "job_key"]
        statement = (
            update(table)
            .where(table.c.job_key == bindparam("b_job_key"))
            .values({**{c: bindparam(f"b_{c}") for c in columns}, "updated_at": now})
        )
        with self._engine.begin() as conn:
            # One executemany inside one transaction: one round trip and one commit
            # (one fsync) however many jobs; any missing key rolls back all of them.
            result = conn.execute(statement, params)
            if result.rowcount != len(jobs):
                known = self._keys_in(conn, [job.key for job in jobs])
                raise KeyError(next(job.key for job in jobs if job.key not in known))

    def _keys_in(self, conn: Connection, keys: Sequence[str]) -> set[str]:
        table = self._table
        return set(conn.execute(select(table.c.job_key).where(table.c.job_key.in_(keys))).scalars())

    def get(self, key: str) -> Job | None:
        return self._get_many([key]).get(key)

    def _get_many(self, keys: Sequence[str]) -> dict[str, Job]:
        table = self._table
        with self._engine.connect() as conn:
            rows = conn.execute(select(table).where(table.c.job_key.in_(keys))).all()
        return {row.job_key: _job(row) for row in rows}

    def unfinished(self, prefix: str = "") -> list[Job]:
        table = self._table
        query = (
            select(table).where(table.c.status.in_(["planned", "sent"])).order_by(table.c.job_key)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [_job(row) for row in rows if row.job_key.startswith(prefix)]


def _row(job: Job) -> dict[str, object]:
    return {
        "job_key": job.key,
        "kind": job.kind,
        "payload": job.payload,
        "status": job.status,
        "signature": None if job.signature is None else bytes(job.signature),
        "blockhash": None if job.blockhash is None else bytes(job.blockhash),
        "tx": job.tx,
        "slot": job.slot,
        "error": job.error,
    }


def _job(row: Any) -> Job:
    return Job(
        key=row.job_key,
        kind=row.kind,
        payload=row.payload,
        status=cast(JobStatus, row.status),
        signature=None if row.signature is None else Signature.from_bytes(row.signature),
        blockhash=None if row.blockhash is None else Hash(bytes(row.blockhash)),
        tx=None if row.tx is None else bytes(row.tx),
        slot=row.slot,
        error=row.error,
    )

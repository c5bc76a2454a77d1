"""Time partitions of the readings table: created ahead, dropped after retention.

PostgreSQL without TimescaleDB: `readings` is range-partitioned by
`meter_time` into monthly partitions named `readings_pYYYYMM`, plus
`readings_default`, which catches any reading outside the created months so
nothing is ever refused for want of a partition. `ensure_partitions` (run at
coordinator start and after each epoch close) creates the months from last
month to `months_ahead` ahead; rows already in the default partition for a
new month are moved into it in the same transaction. `drop_expired` drops
whole months older than the retention (and their `reading_seqs` entries).

With TimescaleDB `readings` is a hypertable: chunks are created by the
extension and `drop_expired` calls `drop_chunks`. On SQLite (embedded demo)
readings are one plain table and both functions do nothing.

The partition key of a reading is its meter timestamp as a UTC instant
(`meter_time`). The month arithmetic is pure (`month_start`, `add_months`,
`partition_name`).
"""

import datetime as dt
import logging
import re

from sqlalchemy import text
from sqlalchemy.engine import Connection

__all__ = [
    "add_months",
    "drop_expired",
    "ensure_partitions",
    "meter_time",
    "month_start",
    "partition_name",
    "storage_kind",
]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^readings_p(\d{4})(\d{2})$")


def meter_time(ts: int) -> dt.datetime:
    """The partition key of a reading: its meter timestamp (unix s) as a UTC instant."""
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def month_start(t: dt.datetime) -> dt.datetime:
    """The first instant (UTC) of the month containing `t`."""
    t = t.astimezone(dt.UTC)
    return dt.datetime(t.year, t.month, 1, tzinfo=dt.UTC)


def add_months(start: dt.datetime, months: int) -> dt.datetime:
    """`start` (a month start) moved by `months` months."""
    index = start.year * 12 + start.month - 1 + months
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC)


def partition_name(start: dt.datetime) -> str:
    return f"readings_p{start.year:04d}{start.month:02d}"


def storage_kind(conn: Connection) -> str:
    """'sqlite', 'timescaledb' (readings is a hypertable) or 'partitioned'."""
    if conn.dialect.name != "postgresql":
        return "sqlite"
    hyper = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")).first()
    return "timescaledb" if hyper else "partitioned"


def _existing(conn: Connection) -> set[str]:
    rows = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'readings'"
        )
    )
    return {name for (name,) in rows}


def ensure_partitions(conn: Connection, now: dt.datetime, months_ahead: int = 2) -> list[str]:
    """Create monthly partitions from last month to `months_ahead` ahead; returns
    the names created. Call inside a transaction."""
    if storage_kind(conn) != "partitioned":
        return []
    existing = _existing(conn)
    created: list[str] = []
    first = add_months(month_start(now), -1)
    for i in range(months_ahead + 2):
        start = add_months(first, i)
        name = partition_name(start)
        if name in existing:
            continue
        end = add_months(start, 1)
        # Standalone table filled from the default partition, then attached:
        # attaching checks the default holds no row of the range any more.
        conn.execute(text(f'CREATE TABLE "{name}" (LIKE readings INCLUDING DEFAULTS)'))
        # `name` is built from integers only (partition_name).
        moved = "WITH m AS (DELETE FROM readings_default WHERE meter_time >= :s AND meter_time < :e RETURNING *) INSERT INTO {} SELECT * FROM m"  # noqa: E501
        conn.execute(text(moved.format(f'"{name}"')), {"s": start, "e": end})
        conn.execute(
            text(
                f'ALTER TABLE readings ATTACH PARTITION "{name}" '
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )
        created.append(name)
    if created:
        log.info("created readings partitions %s", ", ".join(created))
    return created


def drop_expired(conn: Connection, now: dt.datetime, retention_days: int) -> list[str]:
    """Drop readings older than the retention, whole months (or chunks) at a
    time: a month goes once its end is older than `now - retention_days`."""
    kind = storage_kind(conn)
    cutoff = now - dt.timedelta(days=retention_days)
    if kind == "sqlite":
        return []
    if kind == "timescaledb":
        conn.execute(
            text("SELECT drop_chunks('readings', older_than => CAST(:c AS timestamptz))"),
            {"c": cutoff},
        )
        conn.execute(text("DELETE FROM reading_seqs WHERE meter_time < :c"), {"c": cutoff})
        return []
    dropped: list[str] = []
    for name in sorted(_existing(conn)):
        match = _NAME.match(name)
        if match is None:
            continue
        start = dt.datetime(int(match[1]), int(match[2]), 1, tzinfo=dt.UTC)
        end = add_months(start, 1)
        if end <= cutoff:
            conn.execute(text(f'DROP TABLE "{name}"'))
            conn.execute(
                text("DELETE FROM reading_seqs WHERE meter_time >= :s AND meter_time < :e"),
                {"s": start, "e": end},
            )
            dropped.append(name)
    if dropped:
        log.info("dropped expired readings partitions %s", ", ".join(dropped))
    return dropped

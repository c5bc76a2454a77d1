"""Many rows into one table inside an open transaction: PostgreSQL's COPY where the
connection is psycopg (several times faster than a multi-row INSERT, which matters
at thousands of rows a second), a plain executemany INSERT elsewhere (SQLite)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.engine import Connection

__all__ = ["bulk_insert"]


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert `rows` (tuples in `columns` order) into `table` on `conn`'s transaction."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cur:
            names = ", ".join(columns)
            with cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    conn.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])

"""Which threads run an engine's SQL: to show an async service keeps its blocking
SQL off the event loop."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = ["SqlThreads", "sql_threads"]


@dataclass
class SqlThreads:
    """Statements run while watching: all of them, and those on the watched thread."""

    ran: int = 0
    on_thread: list[str] = field(default_factory=list)


@contextmanager
def sql_threads(engine: Engine, thread_id: int | None = None) -> Iterator[SqlThreads]:
    """Record every statement `engine` runs meanwhile, and which ran on `thread_id`
    (default: the calling thread, the event loop's when called from a coroutine)."""
    watched = threading.get_ident() if thread_id is None else thread_id
    seen = SqlThreads()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.ran += 1
        if threading.get_ident() == watched:
            seen.on_thread.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)

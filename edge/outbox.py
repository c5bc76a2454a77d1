"""Store-and-forward outbox and sequence counter, in one SQLite file.

A reading is written (signed, with its sequence number) before it is
published, and deleted only after the broker's PUBACK, so a crash or power
loss between the two re-publishes it rather than losing it (the coordinator
treats the redelivery as a duplicate). WAL with synchronous=FULL: a committed
reading survives power loss. The sequence number is allocated in the same
transaction that stores the reading, so it is never reused.
"""

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Outbox", "OutboxEntry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
INSERT OR IGNORE INTO meta (name, value) VALUES ('next_seq', 1);
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    seq: int
    topic: str
    payload: bytes


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def add(self, build: Callable[[int], tuple[str, bytes]]) -> OutboxEntry:
        """Allocate the next sequence number, build the (topic, payload) for it
        with `build`, and store it, all in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            (seq,) = self._db.execute("SELECT value FROM meta WHERE name='next_seq'").fetchone()
            topic, payload = build(seq)
            self._db.execute(
                "INSERT INTO outbox (seq, topic, payload) VALUES (?, ?, ?)", (seq, topic, payload)
            )
            self._db.execute("UPDATE meta SET value = ? WHERE name='next_seq'", (seq + 1,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return OutboxEntry(seq, topic, payload)

    def pending(self, limit: int = 100) -> list[OutboxEntry]:
        """The oldest unacknowledged entries, in sequence order."""
        rows = self._db.execute(
            "SELECT seq, topic, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [OutboxEntry(seq, topic, bytes(payload)) for seq, topic, payload in rows]

    def remove(self, seq: int) -> None:
        """Forget an entry the broker has acknowledged."""
        self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def depth(self) -> int:
        (n,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(n)

    def next_seq(self) -> int:
        (n,) = self._db.execute("SELECT value FROM meta WHERE name='next_seq'").fetchone()
        return int(n)

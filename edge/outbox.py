"""Store-and-forward outbox, sequence counter and local state, in one SQLite file.

A reading is written (signed, with its sequence number) before it is
published, and deleted only after the broker's PUBACK, so a crash or power
loss between the two re-publishes it rather than losing it (the coordinator
treats the redelivery as a duplicate). WAL with synchronous=FULL: a committed
reading survives power loss. The sequence number is allocated in the same
transaction that stores the reading, so it is never reused.

The outbox is bounded (`max_entries`). When it is full the oldest readings
are dropped in the same transaction that adds the new one, and the drop is
counted in the file (`dropped`, `last_dropped_seq`): the newest cumulative
counters matter most, since they cover the energy of the dropped ones, and
the coordinator sees the sequence gap. Nothing is dropped silently.

The file also keeps the latest health report (`save_health`) so
`gtx-edge status` can show it while the agent runs or after it stopped.
"""

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DEFAULT_MAX_ENTRIES", "Outbox", "OutboxEntry"]

DEFAULT_MAX_ENTRIES = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value BLOB NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('next_seq', 1);
INSERT OR IGNORE INTO meta (name, value) VALUES ('dropped', 0);
INSERT OR IGNORE INTO meta (name, value) VALUES ('last_dropped_seq', 0);
INSERT OR IGNORE INTO meta (name, value) VALUES ('last_gateway_ts', 0);
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    seq: int
    topic: str
    payload: bytes


Builder = Callable[[int], tuple[str, bytes]]


class Outbox:
    """One gateway's outbox. Single writer: the agent process."""

    def __init__(self, path: Path, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        # timeout: `gtx-edge status` may briefly hold the file while the agent writes.
        self._db = sqlite3.connect(path, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self.max_entries = max_entries
        (depth,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        self._depth = int(depth)
        self._dropped = self._meta("dropped")

    def close(self) -> None:
        self._db.close()

    def _meta(self, name: str) -> int:
        (value,) = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return int(value)

    def add(self, build: Builder, *, gateway_ts: int | None = None) -> OutboxEntry:
        """Allocate the next sequence number, build the (topic, payload) for it
        with `build`, and store it, all in one transaction. `gateway_ts`: the
        reading's timestamp, if it came from the gateway's clock (see
        `last_gateway_ts`)."""
        (entry,) = self.add_many([build], gateway_ts=gateway_ts)
        return entry

    def add_many(
        self, builds: Sequence[Builder], *, gateway_ts: int | None = None
    ) -> list[OutboxEntry]:
        """`add` for several readings in one transaction (one fsync)."""
        entries: list[OutboxEntry] = []
        self._db.execute("BEGIN IMMEDIATE")
        try:
            seq = self._meta("next_seq")
            for build in builds:
                topic, payload = build(seq)
                entries.append(OutboxEntry(seq, topic, payload))
                seq += 1
            self._db.executemany(
                "INSERT INTO outbox (seq, topic, payload) VALUES (?, ?, ?)",
                [(e.seq, e.topic, e.payload) for e in entries],
            )
            self._db.execute("UPDATE meta SET value = ? WHERE name = 'next_seq'", (seq,))
            if gateway_ts is not None:
                self._db.execute(
                    "UPDATE meta SET value = max(value, ?) WHERE name = 'last_gateway_ts'",
                    (gateway_ts,),
                )
            excess = self._depth + len(entries) - self.max_entries
            dropped = self._drop_oldest(excess) if excess > 0 else 0
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._depth += len(entries) - dropped
        self._dropped += dropped
        return entries

    def _drop_oldest(self, count: int) -> int:
        rows = self._db.execute("SELECT seq FROM outbox ORDER BY seq LIMIT ?", (count,)).fetchall()
        if not rows:
            return 0
        last = rows[-1][0]
        self._db.execute("DELETE FROM outbox WHERE seq <= ?", (last,))
        self._db.execute("UPDATE meta SET value = value + ? WHERE name = 'dropped'", (len(rows),))
        self._db.execute("UPDATE meta SET value = ? WHERE name = 'last_dropped_seq'", (last,))
        return len(rows)

    def pending(self, limit: int = 100) -> list[OutboxEntry]:
        """The oldest unacknowledged entries, in sequence order."""
        rows = self._db.execute(
            "SELECT seq, topic, payload FROM outbox ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [OutboxEntry(seq, topic, bytes(payload)) for seq, topic, payload in rows]

    def remove(self, seq: int) -> None:
        """Forget an entry the broker has acknowledged."""
        self.remove_many([seq])

    def remove_many(self, seqs: Iterable[int]) -> None:
        """Forget entries the broker has acknowledged, in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            removed = 0
            for seq in seqs:
                removed += self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,)).rowcount
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._depth -= removed

    def depth(self) -> int:
        """Readings waiting for the broker's acknowledgement."""
        return self._depth

    def dropped(self) -> int:
        """Readings dropped, over the file's life, because the outbox was full."""
        return self._dropped

    def last_dropped_seq(self) -> int:
        """The newest sequence number ever dropped (0: none)."""
        return self._meta("last_dropped_seq")

    def next_seq(self) -> int:
        return self._meta("next_seq")

    def last_gateway_ts(self) -> int:
        """The newest gateway-clock timestamp given to a reading (0: none). A
        restarted agent waits past it, so no meter gets two readings stamped
        with the same second (the coordinator rejects the second as stale)."""
        return self._meta("last_gateway_ts")

    def save_health(self, payload: bytes) -> None:
        """Keep the latest health report for `gtx-edge status`."""
        self._db.execute(
            "INSERT INTO state (name, value) VALUES ('health', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (payload,),
        )

    def load_health(self) -> bytes | None:
        """The latest health report saved, if any."""
        row = self._db.execute("SELECT value FROM state WHERE name = 'health'").fetchone()
        return None if row is None else bytes(row[0])

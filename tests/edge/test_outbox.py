"""The outbox: sequence numbers never repeat, the bound drops oldest and counts it."""

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.outbox import Outbox


def _build(seq: int) -> tuple[str, bytes]:
    return "t", b"reading %d" % seq


def test_sequence_numbers_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    box = Outbox(path)
    assert [box.add(_build).seq for _ in range(3)] == [1, 2, 3]
    box.remove_many([1, 2, 3])
    box.close()
    box = Outbox(path)
    assert (box.depth(), box.next_seq()) == (0, 4)
    assert box.add(_build).seq == 4
    box.close()


def test_failed_build_allocates_nothing(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "s.sqlite")

    def broken(seq: int) -> tuple[str, bytes]:
        raise RuntimeError("signing failed")

    with pytest.raises(RuntimeError):
        box.add(broken)
    assert (box.depth(), box.next_seq()) == (0, 1)
    box.close()


def test_full_outbox_drops_oldest_and_counts_it_persistently(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    box = Outbox(path, max_entries=3)
    for _ in range(5):
        box.add(_build)
    assert [e.seq for e in box.pending()] == [3, 4, 5]
    assert box.pending(limit=1)[0].payload == b"reading 3"
    assert (box.depth(), box.dropped(), box.last_dropped_seq()) == (3, 2, 2)
    box.close()
    box = Outbox(path, max_entries=2)  # a smaller bound applies on the next add
    assert (box.depth(), box.dropped()) == (3, 2)
    box.add(_build)
    assert [e.seq for e in box.pending()] == [5, 6]
    assert (box.dropped(), box.last_dropped_seq()) == (4, 4)
    box.close()


def test_add_many_is_one_transaction_in_order(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "s.sqlite", max_entries=10)
    entries = box.add_many([_build] * 4)
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    box.remove(2)
    assert [e.seq for e in box.pending(limit=2)] == [1, 3]
    assert box.depth() == 3
    box.close()


def test_health_is_kept_for_status(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    box = Outbox(path)
    assert box.load_health() is None
    box.save_health(b"{1}")
    box.save_health(b"{2}")
    box.close()
    assert Outbox(path).load_health() == b"{2}"


def test_state_file_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Outbox(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


ops = st.lists(st.one_of(st.just("add"), st.integers(min_value=1, max_value=5)), max_size=40)


@settings(max_examples=25, deadline=None)
@given(ops, st.integers(min_value=1, max_value=6))
def test_every_reading_is_pending_acknowledged_or_counted_dropped(
    script: list[str | int], bound: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.sqlite"
        box = Outbox(path, max_entries=bound)
        added = acked = 0
        seqs: list[int] = []
        for op in script:
            if op == "add":
                seqs.append(box.add(_build).seq)
                added += 1
            else:
                batch = [e.seq for e in box.pending(limit=int(op))]
                box.remove_many(batch)
                acked += len(batch)
            assert box.depth() <= bound
        assert seqs == list(range(1, added + 1))  # strictly increasing, never reused
        assert added == box.depth() + acked + box.dropped()
        pending = [e.seq for e in box.pending(limit=bound)]
        assert pending == sorted(pending)
        box.close()
        reopened = Outbox(path, max_entries=bound)
        assert (reopened.depth(), reopened.dropped()) == (
            len(pending),
            added - acked - len(pending),
        )
        reopened.close()


def test_last_gateway_timestamp_persists_and_only_grows(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    box = Outbox(path)
    assert box.last_gateway_ts() == 0
    box.add(_build, gateway_ts=100)
    box.add(_build, gateway_ts=90)  # a clock set back does not lower it
    box.add(_build)  # meter-clock readings do not count
    box.close()
    assert Outbox(path).last_gateway_ts() == 100

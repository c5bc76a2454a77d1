"""Processes from /proc (Linux): who is whose child, for tests and benchmarks that
look at a server's worker processes."""

from pathlib import Path

__all__ = ["children", "descendants"]


def _parents() -> dict[int, int]:
    """Every process's parent, as /proc has them now."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            parents[int(entry.name)] = int(fields[1])
    return parents


def children(pid: int) -> list[int]:
    return sorted(c for c, p in _parents().items() if p == pid)


def descendants(root: int) -> list[int]:
    """`root` and every process below it."""
    parents = _parents()
    found, frontier = [root], [root]
    while frontier:
        pid = frontier.pop()
        below = [c for c, p in parents.items() if p == pid]
        found += below
        frontier += below
    return found

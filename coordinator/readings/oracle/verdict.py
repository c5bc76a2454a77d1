"""The oracle's decision on one reading: accepted, duplicate or rejected."""

from dataclasses import dataclass

from coordinator.readings.oracle.reasons import Flag, Reason

__all__ = ["Accepted", "Duplicate", "Rejected", "Verdict"]


@dataclass(frozen=True, slots=True)
class Accepted:
    """Store the reading as accepted; `flags` are for operators, not errors."""

    flags: frozenset[Flag] = frozenset()


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A redelivery of a reading already stored: acknowledge it, store nothing,
    count nothing. Record it under `reason` if redeliveries are to be counted."""

    reason: Reason = Reason.DUPLICATE


@dataclass(frozen=True, slots=True)
class Rejected:
    """Store the payload as rejected with `reason` (stable) and `detail` (for people)."""

    reason: Reason
    detail: str


Verdict = Accepted | Duplicate | Rejected

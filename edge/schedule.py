"""When to poll and how long to wait before trying again: pure arithmetic on seconds.

Polls land on wall-clock multiples of the interval (:00, :15, :30, :45 for
900 s), so every gateway on a campus reads its meters at the same instants
and a reading falls cleanly into one market epoch. Retries back off
exponentially with jitter, so a fleet of gateways does not hammer a broker
(or a bus of meters) in lockstep after an outage.
"""

import math

__all__ = ["backoff_delay", "next_boundary", "poll_deadline"]


def next_boundary(now_s: float, interval_s: float) -> float:
    """The first multiple of `interval_s` strictly after `now_s`."""
    if interval_s <= 0:
        raise ValueError("interval_s must be positive")
    return (math.floor(now_s / interval_s) + 1) * interval_s


def poll_deadline(started_s: float, interval_s: float, *, share: float = 0.8) -> float:
    """When the retries of a poll started at `started_s` must give up: `share` of
    the way to the next boundary, so a poll never runs into the next one."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    end = next_boundary(started_s, interval_s)
    return started_s + (end - started_s) * share


def backoff_delay(
    attempt: int, *, initial_s: float, max_s: float, jitter: float, unit_random: float
) -> float:
    """The wait after failed attempt number `attempt` (1-based): `initial_s`
    doubling per attempt, capped at `max_s`, then reduced by up to `jitter`
    (a fraction) according to `unit_random` in [0, 1)."""
    if attempt < 1:
        raise ValueError("attempt must be at least 1")
    if not 0 <= jitter <= 1 or not 0 <= unit_random < 1:
        raise ValueError("jitter and unit_random must be fractions")
    # min() before the power would overflow for a very long outage.
    base = min(max_s, initial_s * 2.0 ** min(attempt - 1, 64))
    return base * (1.0 - jitter * unit_random)

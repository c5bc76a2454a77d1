"""What a committed batch amounts to for reporting: counts, rejections, and each
meter's newest reading. Small on purpose: ingest worker processes send one per
batch to the process that acknowledges, reports and caches (`ingest.workers`),
where a list of every accepted reading cost a sixth of its CPU to unpickle."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from coordinator.readings.ingest.screen import Accepted, Rejected

__all__ = ["BatchOutcome", "LatestReading", "summarize"]

# (seq, ts, import_wh, export_wh): the fields kept per meter.
LatestReading = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    accepted: int
    duplicates: int
    rejected: list[Rejected] = field(default_factory=list)  # in arrival order
    # Per (gateway, meter): its accepted reading with the greatest meter time.
    newest: dict[tuple[str, str], LatestReading] = field(default_factory=dict)
    meter_ts: list[int] = field(default_factory=list)  # of each accepted reading
    flagged: list[tuple[str, int, tuple[str, ...]]] = field(default_factory=list)


def summarize(
    accepted: Sequence[Accepted], rejected: Sequence[Rejected], duplicates: int
) -> BatchOutcome:
    newest: dict[tuple[str, str], LatestReading] = {}
    flagged: list[tuple[str, int, tuple[str, ...]]] = []
    meter_ts: list[int] = []
    for a in accepted:
        r = a.signed.reading
        meter_ts.append(r.ts)
        key = (r.gateway_id, r.meter_id)
        held = newest.get(key)
        if held is None or held[1] < r.ts:
            newest[key] = (r.seq, r.ts, r.import_wh, r.export_wh)
        if a.flags:
            flagged.append((r.gateway_id, r.seq, tuple(sorted(a.flags))))
    return BatchOutcome(len(accepted), duplicates, list(rejected), newest, meter_ts, flagged)

"""Poll outcomes and the gateway's health report: pure values, JSON and text.

Every attempt to read a meter ends in exactly one `Outcome`, counted per
meter. The `HealthReport` gathers those counters with the outbox figures; it
is published (retained) on the gateway's health topic, stored in the state
file for `gtx-edge status`, and rendered as text for the installer.

Health payload (JSON, UTF-8, keys sorted):

    {"v": 1, "gateway_id": "...", "ts": 1764000000, "uptime_s": 3600,
     "broker_connected": true, "published": 412, "polls": 4,
     "outbox": {"depth": 0, "max_entries": 100000, "dropped": 0, "next_seq": 413},
     "meters": {"sdm630-0001": {"counts": {"ok": 4, "timeout": 1},
                                "last_outcome": "ok", "last_error": "",
                                "last_poll_ts": 1764000000, "last_ok_ts": 1764000000,
                                "missed_polls": 0}}}
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from wire.text import printable

__all__ = [
    "HEALTH_VERSION",
    "HealthReport",
    "MeterHealth",
    "Outcome",
    "decode_health",
    "encode_health",
    "format_status",
    "record_missed",
    "record_outcome",
]

HEALTH_VERSION = 1


class Outcome(StrEnum):
    """How one attempt to read a meter ended."""

    OK = "ok"
    TIMEOUT = "timeout"  # no answer within the meter timeout
    EXCEPTION = "exception"  # a Modbus exception response
    CORRUPT_FRAME = "corrupt_frame"  # bytes came back but did not parse
    DECODE_ERROR = "decode_error"  # a valid response with values the map rejects
    UNREACHABLE = "unreachable"  # no TCP connection / serial port
    READER_ERROR = "reader_error"  # the reader itself failed (a defect), logged with its traceback


@dataclass(frozen=True, slots=True)
class MeterHealth:
    """What the gateway knows of one meter's polls."""

    meter_id: str
    counts: Mapping[str, int] = field(default_factory=dict)
    last_outcome: str = ""
    last_error: str = ""
    last_poll_ts: int = 0
    last_ok_ts: int = 0
    missed_polls: int = 0  # polls whose every attempt failed


def record_outcome(
    health: MeterHealth, outcome: Outcome, *, at_s: int, detail: str = ""
) -> MeterHealth:
    """`health` after one more attempt that ended in `outcome` at `at_s`."""
    counts = dict(health.counts)
    counts[outcome.value] = counts.get(outcome.value, 0) + 1
    ok = outcome is Outcome.OK
    return replace(
        health,
        counts=counts,
        last_outcome=outcome.value,
        last_error="" if ok else detail,
        last_poll_ts=at_s,
        last_ok_ts=at_s if ok else health.last_ok_ts,
    )


def record_missed(health: MeterHealth) -> MeterHealth:
    """`health` after a poll that produced no reading."""
    return replace(health, missed_polls=health.missed_polls + 1)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """A snapshot of the gateway's health."""

    gateway_id: str
    ts: int
    uptime_s: int
    broker_connected: bool
    published: int
    polls: int
    outbox_depth: int
    outbox_max_entries: int
    dropped: int
    next_seq: int
    meters: tuple[MeterHealth, ...]  # by meter_id

    def meter(self, meter_id: str) -> MeterHealth:
        """The health of `meter_id`; KeyError if the report has no such meter."""
        for m in self.meters:
            if m.meter_id == meter_id:
                return m
        raise KeyError(meter_id)


def encode_health(report: HealthReport) -> bytes:
    """The health topic payload for `report`."""
    doc = {
        "v": HEALTH_VERSION,
        "gateway_id": report.gateway_id,
        "ts": report.ts,
        "uptime_s": report.uptime_s,
        "broker_connected": report.broker_connected,
        "published": report.published,
        "polls": report.polls,
        "outbox": {
            "depth": report.outbox_depth,
            "max_entries": report.outbox_max_entries,
            "dropped": report.dropped,
            "next_seq": report.next_seq,
        },
        "meters": {
            m.meter_id: {
                "counts": dict(m.counts),
                "last_outcome": m.last_outcome,
                "last_error": m.last_error,
                "last_poll_ts": m.last_poll_ts,
                "last_ok_ts": m.last_ok_ts,
                "missed_polls": m.missed_polls,
            }
            for m in report.meters
        },
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def decode_health(payload: bytes) -> HealthReport:
    """The report in a health payload; ValueError if it is not one."""
    try:
        doc: dict[str, Any] = json.loads(payload)
        if doc["v"] != HEALTH_VERSION:
            raise ValueError(f"unsupported health version {doc['v']!r}")
        outbox = doc["outbox"]
        meters = tuple(
            MeterHealth(
                meter_id=meter_id,
                counts={str(k): int(v) for k, v in m["counts"].items()},
                last_outcome=str(m["last_outcome"]),
                last_error=str(m["last_error"]),
                last_poll_ts=int(m["last_poll_ts"]),
                last_ok_ts=int(m["last_ok_ts"]),
                missed_polls=int(m["missed_polls"]),
            )
            for meter_id, m in sorted(doc["meters"].items())
        )
        return HealthReport(
            gateway_id=str(doc["gateway_id"]),
            ts=int(doc["ts"]),
            uptime_s=int(doc["uptime_s"]),
            broker_connected=bool(doc["broker_connected"]),
            published=int(doc["published"]),
            polls=int(doc["polls"]),
            outbox_depth=int(outbox["depth"]),
            outbox_max_entries=int(outbox["max_entries"]),
            dropped=int(outbox["dropped"]),
            next_seq=int(outbox["next_seq"]),
            meters=meters,
        )
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a health payload: {exc}") from exc


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no polls yet"


def format_status(report: HealthReport) -> str:
    """The installer's view of `report`, one fact per line, control characters escaped."""
    lines = [
        f"gateway id:     {report.gateway_id}",
        f"as of (UTC s):  {report.ts} (up {report.uptime_s} s)",
        f"broker:         {'connected' if report.broker_connected else 'NOT connected'}",
        f"published:      {report.published} readings, {report.polls} polls",
        f"outbox depth:   {report.outbox_depth} of {report.outbox_max_entries}",
        f"dropped:        {report.dropped} oldest readings (outbox full)",
        f"next sequence:  {report.next_seq}",
    ]
    for m in report.meters:
        state = m.last_outcome or "never polled"
        if m.last_error:
            state += f" ({m.last_error})"
        lines.append(f"meter {m.meter_id}: {state}")
        lines.append(
            f"    last ok {m.last_ok_ts or 'never'}, missed polls {m.missed_polls}; "
            + _counts_text(m.counts)
        )
    # Meter ids and errors are the gateway's (and the meter's) words: print them inert.
    return "\n".join(printable(line) for line in lines)

"""The alert and ingest-stats payloads the coordinator publishes on MQTT.

The coordinator encodes them; `gtx-coordinator monitor`, and any operator's
client, decodes them. Both are compact JSON with sorted keys.

Alert (`wire.topics.alerts`, not retained), once when it fires and, for
conditions that can end, once when it resolves:

    {"v": 1, "kind": "gateway_silent", "key": "gateway_silent:<id>",
     "severity": "warning", "state": "firing", "ts": 1764000000,
     "message": "...", "details": {"gateway_id": "...", ...}}

Ingest counts of one coordinator instance since it started
(`wire.topics.coordinator_stats`, retained):

    {"v": 1, "instance": "...", "ts": ..., "since": ..., "accepted": 12,
     "rejected": {"bad_signature": 3, ...}}
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "ALERT_VERSION",
    "STATS_VERSION",
    "Alert",
    "AlertEvent",
    "AlertKind",
    "Details",
    "IngestCounts",
    "decode_alert",
    "decode_stats",
    "encode_alert",
    "encode_stats",
]

ALERT_VERSION = 1
STATS_VERSION = 1


class AlertKind(StrEnum):
    GATEWAY_SILENT = "gateway_silent"
    REJECTION_SPIKE = "rejection_spike"
    LEDGER_FAILED = "ledger_failed"
    EPOCH_NOT_CLOSED = "epoch_not_closed"
    EPOCH_NOT_CLEARED = "epoch_not_cleared"
    MINT_WITHHELD = "mint_withheld"
    ABNORMAL_TRADING = "abnormal_trading"


Details = Mapping[str, str | int | float]


@dataclass(frozen=True, slots=True)
class Alert:
    """One condition an operator should know about; `key` identifies it."""

    kind: AlertKind
    key: str
    severity: str  # "warning" | "critical"
    message: str
    details: Details = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert as published: firing or resolved, at `ts`."""

    alert: Alert
    state: str  # "firing" | "resolved"
    ts: int


def encode_alert(event: AlertEvent) -> bytes:
    a = event.alert
    doc = {
        "v": ALERT_VERSION,
        "kind": a.kind.value,
        "key": a.key,
        "severity": a.severity,
        "state": event.state,
        "ts": event.ts,
        "message": a.message,
        "details": dict(a.details),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def decode_alert(payload: bytes) -> AlertEvent:
    """The event in an alert payload; ValueError if it is not one."""
    try:
        doc: dict[str, Any] = json.loads(payload)
        if doc["v"] != ALERT_VERSION:
            raise ValueError(f"unsupported alert version {doc['v']!r}")
        alert = Alert(
            kind=AlertKind(doc["kind"]),
            key=str(doc["key"]),
            severity=str(doc["severity"]),
            message=str(doc["message"]),
            details=dict(doc["details"]),
        )
        return AlertEvent(alert, str(doc["state"]), int(doc["ts"]))
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an alert payload: {exc}") from exc


@dataclass(frozen=True, slots=True)
class IngestCounts:
    """One instance's ingest counts since it started."""

    instance: str
    ts: int
    since: int
    accepted: int
    rejected: Mapping[str, int]


def encode_stats(counts: IngestCounts) -> bytes:
    doc = {
        "v": STATS_VERSION,
        "instance": counts.instance,
        "ts": counts.ts,
        "since": counts.since,
        "accepted": counts.accepted,
        "rejected": dict(counts.rejected),
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def decode_stats(payload: bytes) -> IngestCounts:
    """The counts in a stats payload; ValueError if it is not one."""
    try:
        doc: dict[str, Any] = json.loads(payload)
        if doc["v"] != STATS_VERSION:
            raise ValueError(f"unsupported stats version {doc['v']!r}")
        return IngestCounts(
            instance=str(doc["instance"]),
            ts=int(doc["ts"]),
            since=int(doc["since"]),
            accepted=int(doc["accepted"]),
            rejected={str(k): int(v) for k, v in doc["rejected"].items()},
        )
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a stats payload: {exc}") from exc

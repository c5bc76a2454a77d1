"""The emergency controls as operators see them, retained on
`wire.topics.market_controls` by the chain leader whenever they change:

    {"maintenance": false, "paused": {"clearing": {"by": "<wallet>",
     "reason": "meter fraud investigation", "since": 1767225600,
     "since_epoch": 1963584}}, "scopes": ["clearing", "minting", "orders", "settlement"],
     "ts": 1767225602, "v": 1}

`scopes` lists every scope that can be paused; a scope absent from `paused` runs.
`maintenance` is true when every scope is paused.
"""

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CONTROLS_VERSION",
    "ControlsReport",
    "PausedScope",
    "decode_controls",
    "encode_controls",
]

CONTROLS_VERSION = 1


@dataclass(frozen=True, slots=True)
class PausedScope:
    since: int  # Unix seconds
    since_epoch: int
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class ControlsReport:
    scopes: tuple[str, ...]
    paused: dict[str, PausedScope]
    ts: int

    @property
    def maintenance(self) -> bool:
        return bool(self.scopes) and set(self.scopes) <= self.paused.keys()


def encode_controls(report: ControlsReport) -> bytes:
    body: dict[str, Any] = {
        "v": CONTROLS_VERSION,
        "ts": report.ts,
        "scopes": sorted(report.scopes),
        "maintenance": report.maintenance,
        "paused": {
            scope: {"since": p.since, "since_epoch": p.since_epoch, "by": p.by, "reason": p.reason}
            for scope, p in sorted(report.paused.items())
        },
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def decode_controls(payload: bytes) -> ControlsReport:
    """ValueError when `payload` is not a controls report of this version."""
    doc = json.loads(payload)
    if not isinstance(doc, dict) or doc.get("v") != CONTROLS_VERSION:
        raise ValueError("not a v1 controls report")
    paused = {
        str(scope): PausedScope(int(p["since"]), int(p["since_epoch"]), str(p["by"]),
                                str(p["reason"]))
        for scope, p in doc["paused"].items()
    }  # fmt: skip
    return ControlsReport(tuple(str(s) for s in doc["scopes"]), paused, int(doc["ts"]))

"""The audit log: every admin and governance action and every auth event, appended
to `audit_log` (append-only: PostgreSQL refuses UPDATE and DELETE on it).

Write it in the same transaction as the action it records (`append`), so an
action is never done unrecorded; refusals are written on their own (`record`).
"""

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection, Engine

from coordinator.db.models import AuditEntry

__all__ = [
    "FAILED",
    "OK",
    "REFUSED",
    "AuditEvent",
    "AuditRow",
    "append",
    "list_entries",
    "record",
]

OK = "ok"
REFUSED = "refused"  # the caller's: no role, invalid, conflicting (a 4xx answer)
FAILED = "failed"  # the world's: the ledger or the database did not do it


@dataclass(frozen=True, slots=True)
class AuditEvent:
    actor: str
    action: str
    target: str = ""
    outcome: str = OK
    detail: Mapping[str, object] = field(default_factory=dict)
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: dict[str, object]
    request_id: str


def append(conn: Connection, event: AuditEvent, at: dt.datetime) -> None:
    """Add `event` inside the caller's transaction."""
    conn.execute(
        insert(AuditEntry).values(
            at=at,
            actor=event.actor[:64],
            action=event.action[:64],
            target=event.target,
            outcome=event.outcome,
            detail=json.dumps(dict(event.detail), sort_keys=True, default=str),
            request_id=event.request_id[:64],
        )
    )


def record(engine: Engine, event: AuditEvent, at: dt.datetime) -> None:
    """Add `event` in a transaction of its own."""
    with engine.begin() as conn:
        append(conn, event, at)


def list_entries(
    engine: Engine,
    *,
    limit: int,
    before_id: int | None = None,
    action_prefix: str | None = None,
    actor: str | None = None,
) -> list[AuditRow]:
    """Newest first; `before_id` pages backwards."""
    query = (
        select(
            AuditEntry.id,
            AuditEntry.at,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.target,
            AuditEntry.outcome,
            AuditEntry.detail,
            AuditEntry.request_id,
        )
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if action_prefix:
        query = query.where(AuditEntry.action.startswith(action_prefix, autoescape=True))
    if actor:
        query = query.where(AuditEntry.actor == actor)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        AuditRow(r.id, r.at, r.actor, r.action, r.target, r.outcome, json.loads(r.detail),
                 r.request_id)
        for r in rows
    ]  # fmt: skip

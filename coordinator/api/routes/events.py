"""Live updates as server-sent events: `epoch` when a new epoch closes (or
clears), `reading` when one of the user's meters reports (`/api/v1/events`,
signed in); `epoch` alone on the public market page (`/api/v1/market/events`). The stream polls
the database every couple of seconds: cheap, works on every instance, and
needs nothing when Redis is down. The newest closed and cleared epochs are the
same for every stream, so a worker reads them once for all its streams
(`SharedPages`); only the user's newest reading is read per stream."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import String, bindparam, func, select
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api.deps import (
    USER,
    Principal,
    get_engine,
    get_reads,
    get_shared_pages,
    rate_limit_anonymous,
    require_role,
)
from coordinator.api.reads import Reads
from coordinator.api.shared_pages import SharedPages
from coordinator.db.models import ClearingRecord, EpochRecord, Meter, MeterStateRow

__all__ = ["POLL_S", "epochs_snapshot", "market_router", "reading_snapshot", "router"]

POLL_S = 2.0

router = APIRouter(prefix="/api/v1/events", tags=["events"])
# The market's public face: no sign-in, the per-address budget at connection.
market_router = APIRouter(
    prefix="/api/v1/market", tags=["market"], dependencies=[Depends(rate_limit_anonymous)]
)


def epochs_snapshot(engine: Engine) -> dict[str, int | None]:
    """The newest closed and cleared epoch (the same for every user)."""
    with engine.connect() as conn:
        closed = conn.execute(select(func.max(EpochRecord.epoch))).scalar_one_or_none()
        cleared = conn.execute(select(func.max(ClearingRecord.epoch))).scalar_one_or_none()
    return {"closed_epoch": closed, "cleared_epoch": cleared}


_NEWEST_READING = (
    select(func.max(MeterStateRow.meter_ts))
    .join(
        Meter,
        (Meter.gateway_id == MeterStateRow.gateway_id) & (Meter.meter_id == MeterStateRow.meter_id),
    )
    .where(Meter.owner == bindparam("owner", type_=String))
)


async def reading_snapshot(reads: Reads, owner: str) -> int | None:
    """The newest reading time of the owner's meters (on the event loop: every open
    dashboard asks every `POLL_S`)."""
    rows = await reads.all(_NEWEST_READING, {"owner": owner})
    return None if not rows else rows[0][0]


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


Snapshot = dict[str, int | None]
_ONCE = Query(description="send the current state and end")


def _stream(
    request: Request, look: Callable[[], Awaitable[Snapshot]], once: bool
) -> StreamingResponse:
    """`hello` with the state now, then an event whenever a part of it moves."""

    async def stream() -> AsyncIterator[str]:
        last = await look()
        yield _event("hello", last)
        while not once and not await request.is_disconnected():
            await asyncio.sleep(POLL_S)
            now = await look()
            if now["closed_epoch"] != last["closed_epoch"] or (
                now["cleared_epoch"] != last["cleared_epoch"]
            ):
                yield _event("epoch", now)
            if now.get("last_reading_ts") != last.get("last_reading_ts"):
                yield _event("reading", now)
            if now == last:
                yield ": keep-alive\n\n"
            last = now

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


def _epochs(engine: Engine, pages: SharedPages) -> Awaitable[Snapshot]:
    return pages.get(("events", "epochs"), lambda: run_in_threadpool(epochs_snapshot, engine))


@router.get("", response_class=StreamingResponse)
async def events(
    request: Request,
    principal: Annotated[Principal, Depends(require_role(USER))],
    engine: Annotated[Engine, Depends(get_engine)],
    reads: Annotated[Reads, Depends(get_reads)],
    pages: Annotated[SharedPages, Depends(get_shared_pages)],
    once: Annotated[bool, _ONCE] = False,
) -> StreamingResponse:
    """The signed-in user's stream: `epoch` and `reading` (their meters')."""

    async def look() -> Snapshot:
        epochs = await _epochs(engine, pages)
        reading = await reading_snapshot(reads, principal.subject)
        return {**epochs, "last_reading_ts": reading}

    return _stream(request, look, once)


@market_router.get("/events", response_class=StreamingResponse)
async def market_events(
    request: Request,
    engine: Annotated[Engine, Depends(get_engine)],
    pages: Annotated[SharedPages, Depends(get_shared_pages)],
    once: Annotated[bool, _ONCE] = False,
) -> StreamingResponse:
    """The public market page's stream (no sign-in): `epoch` when one closes or
    clears."""
    return _stream(request, lambda: _epochs(engine, pages), once)

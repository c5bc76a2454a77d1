"""A meter's accepted readings as a time series, to its owner (or an admin)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from sqlalchemy.engine import Engine

from coordinator.api import queries
from coordinator.api.deps import ADMIN, USER, Principal, get_reads, require_role
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.reads import Reads
from coordinator.api.schemas import ReadingOut

__all__ = ["check_meter_access", "router"]

router = APIRouter(prefix="/api/v1/readings", tags=["readings"])


def check_meter_access(
    engine: Engine, principal: Principal, gateway_id: str, meter_id: str
) -> None:
    refuse_meter_access(
        principal, gateway_id, meter_id, queries.meter_owner(engine, gateway_id, meter_id)
    )


def refuse_meter_access(
    principal: Principal, gateway_id: str, meter_id: str, owner: str | None
) -> None:
    """404 for an unknown meter (`owner` None), 403 for another user's."""
    if owner is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail={"code": "unknown_meter", "message": f"no meter {gateway_id}/{meter_id}"},
        )
    if owner != principal.subject and ADMIN not in principal.roles:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={"code": "forbidden", "message": "this meter belongs to another user"},
        )


@router.get("")
async def list_readings(
    principal: Annotated[Principal, Depends(require_role(USER))],
    reads: Annotated[Reads, Depends(get_reads)],
    gateway_id: Annotated[str, Query(min_length=32, max_length=44)],
    meter_id: Annotated[str, Query(min_length=1, max_length=64)],
    since: Annotated[int | None, Query(ge=0, description="meter time >=, Unix s")] = None,
    until: Annotated[int | None, Query(ge=0, description="meter time <, Unix s")] = None,
    epoch: Annotated[int | None, Query(ge=0, description="accounting epoch")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[ReadingOut]:
    """Oldest first within the range; follow `next_cursor` for more."""
    after = decode_cursor(cursor, [int, int])
    # The readings are shown only once the owner allows it.
    owner, rows = await queries.owned_readings(
        reads, gateway_id, meter_id, since=since, until=until, epoch=epoch,
        after=None if after is None else (int(after[0]), int(after[1])), limit=limit,
    )  # fmt: skip
    refuse_meter_access(principal, gateway_id, meter_id, owner)
    return Page(
        items=[
            ReadingOut(gateway_id=r.gateway_id, meter_id=r.meter_id, seq=r.seq,
                       meter_ts=r.meter_ts, import_wh=r.import_wh, export_wh=r.export_wh,
                       epoch=r.epoch, flags=[f for f in r.flags.split(",") if f])
            for r in rows
        ],
        next_cursor=encode_cursor([rows[-1].meter_ts, rows[-1].seq]) if len(rows) == limit
        else None,
    )  # fmt: skip

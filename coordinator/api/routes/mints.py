"""Mint records (roles admin, rec_authority): each owner's energy of each closed epoch
and what became of it, minted, withheld (with the reason, in words) or pending, so an
operator sees at once what is not minted and why (also the alert `mint_withheld`)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import queries
from coordinator.api.auth.message import check_address
from coordinator.api.deps import ADMIN, REC_AUTHORITY, get_engine, require_any_role
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.reasons import describe
from coordinator.api.schemas import MintOut

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/mints",
    tags=["mints"],
    dependencies=[Depends(require_any_role(ADMIN, REC_AUTHORITY))],
)


@router.get("")
async def list_mints(
    engine: Annotated[Engine, Depends(get_engine)],
    status: Annotated[Literal["minted", "withheld", "pending"] | None, Query()] = None,
    epoch: Annotated[int | None, Query(ge=0)] = None,
    owner: Annotated[str | None, Query(max_length=44)] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[MintOut]:
    """Newest epoch first; `status=withheld` lists what is not minted and why."""
    if owner is not None:
        check_address(owner)
    before = decode_cursor(cursor, [int, str])
    key = None if before is None else (int(before[0]), str(before[1]))
    rows = await run_in_threadpool(
        lambda: queries.mints(
            engine, status=status, epoch=epoch, owner=owner, before=key, limit=limit
        )
    )
    return Page(
        items=[
            MintOut(epoch=r.epoch, owner=r.owner, base_units=r.base_units, status=r.status,
                    reason=r.reason, reason_text=describe(r.reason), attempts=r.attempts,
                    signature=r.signature, updated_at=r.updated_at)
            for r in rows
        ],
        next_cursor=encode_cursor([rows[-1].epoch, rows[-1].owner]) if len(rows) == limit else None,
    )  # fmt: skip

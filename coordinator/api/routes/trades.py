"""The user's trades (matches) with their settlement and its chain signature."""

from typing import Annotated

from fastapi import APIRouter, Depends

from coordinator.api import queries
from coordinator.api.deps import USER, Principal, get_reads, require_role
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.reads import Reads
from coordinator.api.reasons import describe
from coordinator.api.schemas import TradeOut

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/trades", tags=["trades"])


@router.get("")
async def my_trades(
    principal: Annotated[Principal, Depends(require_role(USER))],
    reads: Annotated[Reads, Depends(get_reads)],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TradeOut]:
    """Newest first; `signature` is the settling transaction once settled."""
    before = decode_cursor(cursor, [int, int])
    rows = await queries.trades(
        reads, principal.subject, limit=limit,
        before=None if before is None else (int(before[0]), int(before[1])),
    )  # fmt: skip
    return Page(
        items=[
            TradeOut(epoch=r.epoch, idx=r.idx, side=r.side, counterparty=r.counterparty,
                     quantity=r.quantity, price=r.price, payment=r.payment, status=r.status,
                     signature=r.signature, error=r.error,
                     error_text=describe(r.error), cleared_at=r.cleared_at)
            for r in rows
        ],
        next_cursor=encode_cursor([rows[-1].epoch, rows[-1].idx]) if len(rows) == limit
        else None,
    )  # fmt: skip

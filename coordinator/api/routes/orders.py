"""Orders for the next epochs: place (answering the escrow Approve to sign),
submit the signed Approve, cancel, list, and the aggregated book.

The coordinator never holds a user's key: an order is live once the user's own
SPL Approve of the settlement authority covers it (`coordinator.market`).
The platform's fee payer co-signs approvals, so users need no SOL.
"""

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import queries
from coordinator.api.deps import (
    USER,
    Clock,
    Principal,
    get_engine,
    get_shared_pages,
    require_chain,
)
from coordinator.api.deps import require_role as _require_role
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.reasons import describe
from coordinator.api.schemas import (
    ApprovalOut,
    BookLevelOut,
    BookOut,
    OrderIn,
    OrderOut,
    PlacedOut,
    SignedApprovalIn,
)
from coordinator.api.shared_pages import SharedPages
from coordinator.governance import GovernanceReader
from coordinator.market import orders_service as market
from coordinator.market.records import OrderStatus, OrderView
from coordinator.market.rules.orders import Side
from coordinator.market.sql_store import SqlMarketStore
from coordinator.readings.oracle import epoch_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])

Me = Annotated[Principal, Depends(_require_role(USER))]
Chain = Annotated[ChainAccess, Depends(require_chain)]
Db = Annotated[Engine, Depends(get_engine)]


def _context(request: Request, engine: Engine, chain: ChainAccess) -> market.MarketContext:
    """The market as this request sees it: orders are placed under the governed
    parameters in force for their epoch, and refused while placing is paused."""
    clock: Clock = request.app.state.clock
    governance: GovernanceReader = request.app.state.governance
    return market.MarketContext(
        store=SqlMarketStore(engine), ledger=chain.ledger, deployment=chain.deployment,
        fee_payer=chain.payer, clock=clock, terms=governance.placement_terms,
    )  # fmt: skip


async def _next_epoch(request: Request) -> int:
    clock: Clock = request.app.state.clock
    governance: GovernanceReader = request.app.state.governance
    return epoch_of(int(clock().timestamp()), await governance.calendar()) + 1


_STATUSES = {s.value: s for s in OrderStatus}


def _view_out(o: OrderView) -> OrderOut:
    return OrderOut(
        order_id=o.order_id, side=str(o.side), epoch=o.epoch, quantity=o.quantity,
        limit_price=o.limit_price, status=str(o.status), reason=o.reason,
        reason_text=describe(o.reason or o.settlement_error, str(o.side)),
        filled=o.filled, payment=o.payment, settled=o.settled,
        settlement_status=None if o.settlement_status is None else str(o.settlement_status),
        created_at=o.created_at,
    )  # fmt: skip


def _approval_out(a: market.Approval) -> ApprovalOut:
    return ApprovalOut(
        transaction=base64.b64encode(a.tx).decode(),
        energy_base_units=a.need.energy,
        payment_base_units=a.need.payment,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def place_order(
    body: OrderIn, request: Request, principal: Me, engine: Db, chain: Chain
) -> PlacedOut:
    """Store the order; when the user's approvals do not cover it yet, the answer
    carries the Approve to sign and `POST /orders/approval`."""
    open_epoch = await _next_epoch(request)
    placed = await market.place_order(
        _context(request, engine, chain),
        owner=principal.subject,
        side=Side(body.side),
        epoch=open_epoch if body.epoch is None else body.epoch,
        quantity=body.quantity,
        limit_price=body.limit_price,
        open_epoch=open_epoch,
    )
    (await get_shared_pages(request)).forget()  # the book changed
    return PlacedOut(
        order=_view_out(placed.order),
        approval=None if placed.approval is None else _approval_out(placed.approval),
    )


@router.get("/approval")
async def approval_to_sign(
    request: Request, principal: Me, engine: Db, chain: Chain
) -> ApprovalOut:
    """The Approve covering all the user's live orders, to sign now."""
    approval = await market.approval_for(_context(request, engine, chain), principal.subject)
    return _approval_out(approval)


@router.post("/approval")
async def submit_approval(
    body: SignedApprovalIn, request: Request, principal: Me, engine: Db, chain: Chain
) -> list[OrderOut]:
    """Send the signed Approve; answers the user's live orders (now open where covered)."""
    try:
        signed = base64.b64decode(body.transaction, validate=True)
    except (ValueError, binascii.Error):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"code": "approval_rejected", "message": "transaction is not base64"},
        ) from None
    live = await market.submit_approval(_context(request, engine, chain), principal.subject, signed)
    (await get_shared_pages(request)).forget()  # orders opened: the book changed
    return [_view_out(o) for o in live]


@router.delete("/{order_id}")
async def cancel_order(
    order_id: str, request: Request, principal: Me, engine: Db, chain: Chain
) -> OrderOut:
    cancelled = await market.cancel_order(
        _context(request, engine, chain), owner=principal.subject, order_id=order_id
    )
    (await get_shared_pages(request)).forget()  # the book changed
    return _view_out(cancelled)


@router.get("")
async def my_orders(
    principal: Me,
    engine: Db,
    epoch: Annotated[int | None, Query(ge=0)] = None,
    order_status: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[OrderOut]:
    """Newest first."""
    before = decode_cursor(cursor, [int])
    statuses = None
    if order_status is not None:  # a status no order can have matches none
        known = _STATUSES.get(order_status)
        statuses = [] if known is None else [known]
    orders = await run_in_threadpool(
        lambda: SqlMarketStore(engine).list_orders(
            owner=principal.subject, epoch=epoch, statuses=statuses, limit=limit,
            before_seq=None if before is None else int(before[0]),
        )
    )  # fmt: skip
    return Page(
        items=[_view_out(o) for o in orders],
        next_cursor=encode_cursor([orders[-1].seq]) if len(orders) == limit else None,
    )


@router.get("/book")
async def order_book(
    request: Request,
    _principal: Me,
    engine: Db,
    pages: Annotated[SharedPages, Depends(get_shared_pages)],
    epoch: Annotated[int | None, Query(ge=0, description="default: the next epoch")] = None,
) -> BookOut:
    """Live orders of an epoch aggregated by side and limit price (no owners)."""
    number = await _next_epoch(request) if epoch is None else epoch

    async def load() -> BookOut:
        levels = await run_in_threadpool(queries.order_book, engine, number)
        return BookOut(
            epoch=number,
            levels=[BookLevelOut(side=s, limit_price=p, quantity=q, orders=n)
                    for s, p, q, n in levels],
        )  # fmt: skip

    return await pages.get(("book", number), load)

"""The signed-in user: who they are, their gateways and meters, their energy."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import queries, users
from coordinator.api.auth.config import AuthSettings
from coordinator.api.deps import (
    USER,
    Clock,
    Principal,
    get_calendar,
    get_clock,
    get_engine,
    get_reads,
    require_role,
)
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.reads import Reads
from coordinator.api.reasons import describe
from coordinator.api.routes.campus import bill_out, epoch_range, statements
from coordinator.api.routes.market import Hours, hour_out, since_hours
from coordinator.api.schemas import (
    BillStatementOut,
    EpochEnergyOut,
    GatewayStatusOut,
    HourOut,
    MeOut,
    MyMeterOut,
)
from coordinator.lifecycle.bills import Bill, Period
from coordinator.readings.oracle import Epochs, epoch_start

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/me", tags=["me"])

Me = Annotated[Principal, Depends(require_role(USER))]
Db = Annotated[Engine, Depends(get_engine)]
Reader = Annotated[Reads, Depends(get_reads)]


@router.get("")
async def me(principal: Me, reads: Reader) -> MeOut:
    user = await users.profile(reads, principal.subject)
    return MeOut(
        address=principal.subject,
        roles=sorted(principal.roles),
        created_at=None if user is None else user.created_at,
        energy_account=None if user is None else user.energy_account,
        payment_account=None if user is None else user.payment_account,
    )


@router.get("/meters")
async def my_meters(principal: Me, engine: Db) -> list[MyMeterOut]:
    """The meters the user owns (a handful per user: not paged)."""
    rows = await run_in_threadpool(queries.my_meters, engine, principal.subject)
    return [
        MyMeterOut(gateway_id=r.gateway_id, meter_id=r.meter_id, model=r.model,
                   rated_power_w=r.rated_power_w, gateway_status=r.gateway_status,
                   last_reading_ts=r.last_reading_ts)
        for r in rows
    ]  # fmt: skip


def gateway_out(row: queries.GatewayRow, now: float, online_s: int) -> GatewayStatusOut:
    online = row.last_seen_ts is not None and now - row.last_seen_ts <= online_s
    return GatewayStatusOut(
        gateway_id=row.gateway_id, status=row.status, created_at=row.created_at,
        meter_count=row.meter_count, last_seen_ts=row.last_seen_ts,
        online=online and row.status == "active",
    )  # fmt: skip


@router.get("/gateways")
async def my_gateways(
    principal: Me,
    engine: Db,
    request: Request,
    clock: Annotated[Clock, Depends(get_clock)],
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[GatewayStatusOut]:
    """Gateways behind the user's meters, online when they reported recently."""
    after = decode_cursor(cursor, [str])
    rows = await run_in_threadpool(
        lambda: queries.gateways(
            engine, after=None if after is None else str(after[0]), limit=limit,
            owner=principal.subject,
        )
    )  # fmt: skip
    auth: AuthSettings = request.app.state.auth_settings
    now = clock().timestamp()
    return Page(
        items=[gateway_out(r, now, auth.gateway_online_s) for r in rows],
        next_cursor=encode_cursor([rows[-1].gateway_id]) if len(rows) == limit else None,
    )


def energy_page(
    rows: list[queries.MyEpochEnergy], epochs: Epochs, limit: int
) -> Page[EpochEnergyOut]:
    return Page(
        items=[
            EpochEnergyOut(epoch=r.epoch, start=epoch_start(r.epoch, epochs),
                           import_wh=r.import_wh, export_wh=r.export_wh, closed=r.closed,
                           minted_base_units=r.minted_base_units,
                           withheld_base_units=r.withheld_base_units,
                           withheld_reason=r.withheld_reason,
                           withheld_reason_text=describe(r.withheld_reason),
                           pending_base_units=r.pending_base_units)
            for r in rows
        ],
        next_cursor=encode_cursor([rows[-1].epoch]) if len(rows) == limit else None,
    )  # fmt: skip


@router.get("/energy")
async def my_energy(
    principal: Me,
    reads: Reader,
    request: Request,
    since_epoch: Annotated[int | None, Query(ge=0)] = None,
    limit: Limit = 96,
    cursor: Cursor = None,
) -> Page[EpochEnergyOut]:
    """Exported and imported energy per epoch over all the user's meters, newest
    first; once the epoch is closed, the tokens minted for it, or withheld (with the
    reason, in words), or still to mint."""
    before = decode_cursor(cursor, [int])
    rows = await queries.my_energy(
        reads, principal.subject, before=None if before is None else int(before[0]),
        since=since_epoch, limit=limit,
    )  # fmt: skip
    return energy_page(rows, await get_calendar(request), limit)


@router.get("/mints")
async def my_mints(
    principal: Me, reads: Reader, request: Request, limit: Limit = 96, cursor: Cursor = None
) -> Page[EpochEnergyOut]:
    """Energy tokens minted to the user per closed epoch, newest first."""
    before = decode_cursor(cursor, [int])
    rows = await queries.my_energy(
        reads, principal.subject, before=None if before is None else int(before[0]),
        since=None, limit=limit,
    )  # fmt: skip
    page = energy_page(rows, await get_calendar(request), limit)
    page.items = [i for i in page.items if i.closed]
    return page


@router.get("/energy/hourly")
async def my_hours(
    principal: Me,
    engine: Db,
    request: Request,
    clock: Annotated[Clock, Depends(get_clock)],
    hours: Hours = 24,
) -> list[HourOut]:
    """Exported and imported energy over all the user's meters per UTC hour, oldest
    first (the open epoch included); hours with nothing are left out."""
    since = since_hours(clock(), hours)
    epochs = await get_calendar(request)
    rows = await run_in_threadpool(
        lambda: queries.my_hours(engine, principal.subject, since=since, epochs=epochs)
    )
    return [hour_out(r) for r in rows]


@router.get("/bill")
async def my_bill(
    principal: Me,
    engine: Db,
    request: Request,
    clock: Annotated[Clock, Depends(get_clock)],
    period: Period = Period.DAY,
    since_epoch: Annotated[int | None, Query(ge=0)] = None,
    until_epoch: Annotated[int | None, Query(ge=0)] = None,
) -> BillStatementOut:
    """The user's bill per epoch, UTC hour, day or month over the closed epochs in the
    range (by default the last week): metered import and export, market purchases and
    sales, what the grid supplied and took at its prices, the actual cost beside the
    bill the grid alone would have sent, the savings, and the emissions avoided."""
    epochs = await get_calendar(request)
    since, until = epoch_range(epochs, clock, since_epoch, until_epoch)
    service = await statements(request, engine)
    lines = await service.statement(principal.subject, since=since, until=until, period=period)
    total, avoided = Bill(), 0
    for line in lines:
        total, avoided = total + line.bill, avoided + line.avoided_mg
    return BillStatementOut(
        period=period.value, since_epoch=since, until_epoch=until,
        matched_rule=service.matched_rule,
        lines=[bill_out(line.start, line.bill, line.avoided_mg) for line in lines],
        total=bill_out(epochs.start(since), total, avoided),
    )  # fmt: skip

"""The campus's bills against the grid, for the REC authority and admins; and the
statements service the user's own bill (`routes.me`) shares."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.engine import Engine

from coordinator.api.deps import (
    ADMIN,
    REC_AUTHORITY,
    Clock,
    Principal,
    get_calendar,
    get_clock,
    get_engine,
    require_any_role,
)
from coordinator.api.schemas import BillOut, CampusTotalsOut
from coordinator.governance import GovernanceReader
from coordinator.lifecycle.bills import Bill
from coordinator.lifecycle.queries import RetiredEnergy
from coordinator.lifecycle.statements import Statements
from coordinator.lifecycle.usage_store import SqlUsage
from coordinator.readings.oracle import EpochCalendar

__all__ = ["EpochRange", "bill_out", "epoch_range", "router", "statements"]

router = APIRouter(prefix="/api/v1/campus", tags=["campus"])

Authority = Annotated[Principal, Depends(require_any_role(REC_AUTHORITY, ADMIN))]
Db = Annotated[Engine, Depends(get_engine)]

# A year of quarter-hour epochs: what one request may add up.
MAX_EPOCHS = 366 * 96
_DEFAULT_EPOCHS = 7 * 96
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z: periods are dated


async def statements(request: Request, engine: Engine) -> Statements:
    """The statements service over the database and the governed parameters; matched
    renewable energy (avoided emissions) is what was retired and certified."""
    reader: GovernanceReader = request.app.state.governance
    # Epochs dated by the calendar in force (the governed epoch length).
    return Statements(SqlUsage(engine), await reader.schedule(),
                      length_s=await reader.calendar(), matched=RetiredEnergy(engine))  # fmt: skip


EpochRange = tuple[int, int]


def epoch_range(
    epochs: EpochCalendar, clock: Clock, since: int | None, until: int | None
) -> EpochRange:
    """since..until (inclusive): by default the last week up to the running epoch (by
    the calendar in force); HTTP 422 when it is inverted, longer than MAX_EPOCHS or
    past what a date holds."""
    current = epochs.epoch_of(int(clock().timestamp()))
    until = current if until is None else until
    since = max(0, until - _DEFAULT_EPOCHS + 1) if since is None else since
    if since > until or until - since + 1 > MAX_EPOCHS or epochs.end(until) > _LAST_SECOND:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"code": "bad_range",
                    "message": f"since_epoch..until_epoch must be 1..{MAX_EPOCHS} epochs "
                               "in order, before the year 10000"},
        )  # fmt: skip
    return since, until


def bill_out(start: int, bill: Bill, avoided_mg: int) -> BillOut:
    return BillOut(
        start=start, import_energy=bill.import_energy, export_energy=bill.export_energy,
        bought=bill.bought, sold=bill.sold, paid=bill.paid, received=bill.received,
        residual_import=bill.residual_import, residual_export=bill.residual_export,
        grid_import_cost=bill.grid_import_cost, grid_export_revenue=bill.grid_export_revenue,
        actual_cost=bill.actual_cost, grid_only_cost=bill.grid_only_cost, savings=bill.savings,
        avoided_co2_mg=avoided_mg,
    )  # fmt: skip


@router.get("/totals")
async def totals(
    _: Authority,
    engine: Db,
    request: Request,
    clock: Annotated[Clock, Depends(get_clock)],
    since_epoch: Annotated[int | None, Query(ge=0)] = None,
    until_epoch: Annotated[int | None, Query(ge=0)] = None,
) -> CampusTotalsOut:
    """Every user's bills over the closed epochs in the range summed: the campus's
    metered and traded energy, what it paid the grid and the grid paid it, what the
    grid alone would have billed, the savings, and the emissions avoided."""
    epochs = await get_calendar(request)
    since, until = epoch_range(epochs, clock, since_epoch, until_epoch)
    service = await statements(request, engine)
    campus = await service.campus(since=since, until=until)
    return CampusTotalsOut(
        since_epoch=since, until_epoch=until, users=campus.users, matched_rule=service.matched_rule,
        total=bill_out(epochs.start(since), campus.bill, campus.avoided_mg),
    )  # fmt: skip

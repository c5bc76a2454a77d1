"""The public market: what anyone may see without signing in.

The epoch clock (which epoch orders are for, when its book closes), the market's
rules, clearing prices and volumes, campus-wide production and consumption, and
the ledger's word on a transaction. Nothing here names an owner. Every route
spends the caller's per-address budget, like sign-in does.
"""

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from solders.signature import Signature
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import queries
from coordinator.api.deps import (
    Clock,
    get_calendar,
    get_chain,
    get_clock,
    get_engine,
    get_settings,
)
from coordinator.api.deps import rate_limit_anonymous as _rate_limit
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.schemas import (
    CampusEpochOut,
    EpochSegmentOut,
    HourOut,
    MarketClearingOut,
    MarketSummaryOut,
    TransactionOut,
)
from coordinator.config import Settings
from coordinator.governance import GovernanceReader
from coordinator.readings.oracle import EpochCalendar
from programs.errors import LedgerError
from programs.roles.token import ENERGY_DECIMALS, PAYMENT_DECIMALS

__all__ = ["Hours", "clearing_out", "hour_out", "router", "since_hours"]

router = APIRouter(prefix="/api/v1/market", tags=["market"], dependencies=[Depends(_rate_limit)])

Db = Annotated[Engine, Depends(get_engine)]
Config = Annotated[Settings, Depends(get_settings)]
Calendar = Annotated[EpochCalendar, Depends(get_calendar)]
Hours = Annotated[int, Query(ge=1, le=7 * 24, description="how many UTC hours, up to now")]

_HOUR_S = queries.HOUR_S


def clearing_out(r: queries.ClearingRow, epochs: EpochCalendar) -> MarketClearingOut:
    return MarketClearingOut(
        epoch=r.epoch, start=epochs.start(r.epoch), length_s=epochs.length(r.epoch),
        clearing_price=r.clearing_price, volume=r.volume, turnover=r.turnover,
        order_count=r.order_count, match_count=r.match_count, cleared_at=r.cleared_at,
    )  # fmt: skip


def hour_out(r: queries.HourRow) -> HourOut:
    return HourOut(
        start=r.start, import_wh=r.import_wh, export_wh=r.export_wh, volume=r.volume,
        turnover=r.turnover,
    )  # fmt: skip


def since_hours(now: dt.datetime, hours: int) -> int:
    """The start of the oldest of the last `hours` UTC hours (the current one included)."""
    return (int(now.timestamp()) // _HOUR_S - hours + 1) * _HOUR_S


@router.get("/summary")
async def summary(
    engine: Db,
    settings: Config,
    clock: Annotated[Clock, Depends(get_clock)],
    epochs: Calendar,
    request: Request,
) -> MarketSummaryOut:
    """The epoch clock and the market's rules. A call auction: orders for the open
    epoch collect until `closes_at`, then all clear at once at one price; the grid's
    retail and feed-in prices bound the orders, as the counterparty of last resort."""
    now = int(clock().timestamp())
    current = epochs.epoch_of(now)
    last = await run_in_threadpool(queries.latest_clearing, engine)
    reader: GovernanceReader = request.app.state.governance
    # The open epoch's governed values: its orders are rounded to them and it clears
    # under them.
    grid = await reader.params_at(current + 1)
    rules = grid.market_rules()
    return MarketSummaryOut(
        now=now, epoch_length_s=epochs.length(current), current_epoch=current,
        epoch_segments=[EpochSegmentOut(first_epoch=s.first_epoch, start=s.start,
                                        length_s=s.length_s) for s in epochs.segments],
        open_epoch=current + 1, closes_at=epochs.start(current + 1), tick=rules.tick,
        lot=rules.lot,
        energy_decimals=ENERGY_DECIMALS, payment_decimals=PAYMENT_DECIMALS,
        pricing=str(rules.pricing),
        last_clearing=None if last is None else clearing_out(last, epochs),
        explorer_tx_url=settings.explorer_tx_url,
        grid_import_price=grid.grid_import_price, grid_export_price=grid.grid_export_price,
        emission_factor=grid.emission_factor,
    )  # fmt: skip


@router.get("/clearings")
async def clearings(
    engine: Db, epochs: Calendar, limit: Limit = 96, cursor: Cursor = None
) -> Page[MarketClearingOut]:
    """Each epoch's clearing price and volume, newest first."""
    before = decode_cursor(cursor, [int])
    rows = await run_in_threadpool(
        lambda: queries.clearings(
            engine, before=None if before is None else int(before[0]), limit=limit
        )
    )
    return Page(
        items=[clearing_out(r, epochs) for r in rows],
        next_cursor=encode_cursor([rows[-1].epoch]) if len(rows) == limit else None,
    )


@router.get("/energy")
async def campus_energy(
    engine: Db, limit: Limit = 96, cursor: Cursor = None
) -> Page[CampusEpochOut]:
    """Campus-wide production (export) and consumption (import) per closed epoch,
    newest first."""
    before = decode_cursor(cursor, [int])
    rows = await run_in_threadpool(
        lambda: queries.campus_energy(
            engine, before=None if before is None else int(before[0]), limit=limit
        )
    )
    return Page(
        items=[_campus_out(r) for r in rows],
        next_cursor=encode_cursor([rows[-1].epoch]) if len(rows) == limit else None,
    )


def _campus_out(r: queries.CampusEpochRow) -> CampusEpochOut:
    return CampusEpochOut(
        epoch=r.epoch, start=r.start, length_s=r.length_s, reading_count=r.reading_count,
        total_import_wh=r.total_import_wh, total_export_wh=r.total_export_wh,
        mint_base_units=r.mint_base_units,
    )  # fmt: skip


@router.get("/energy/hourly")
async def campus_hours(
    engine: Db, epochs: Calendar, clock: Annotated[Clock, Depends(get_clock)], hours: Hours = 24
) -> list[HourOut]:
    """Campus production, consumption, traded volume and turnover per UTC hour, oldest
    first; hours with nothing are left out."""
    since = since_hours(clock(), hours)
    rows = await run_in_threadpool(lambda: queries.campus_hours(engine, since=since, epochs=epochs))
    return [hour_out(r) for r in rows]


@router.get("/transactions/{signature}")
async def transaction(
    signature: Annotated[str, Path(min_length=32, max_length=100)],
    settings: Config,
    chain: Annotated[ChainAccess | None, Depends(get_chain)],
) -> TransactionOut:
    """What the ledger says of a transaction (settlements are public on chain)."""
    try:
        parsed = Signature.from_string(signature)
    except ValueError:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"code": "invalid_signature", "message": "not a base58 transaction signature"},
        ) from None
    explorer = None
    if settings.explorer_tx_url is not None:
        explorer = settings.explorer_tx_url.replace("{signature}", str(parsed))
    found = None
    if chain is not None:
        try:
            found = await chain.ledger.signature_status(parsed)
        except LedgerError as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail={"code": "ledger_unavailable", "message": str(exc)},
            ) from None
    return TransactionOut(
        signature=str(parsed), found=found is not None,
        slot=None if found is None else found.slot, ok=None if found is None else found.ok,
        error=None if found is None else found.error, explorer_url=explorer,
    )  # fmt: skip

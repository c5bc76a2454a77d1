"""Closed epochs: energy totals, mint, Merkle root and its attestation, clearing price and
volume."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import queries
from coordinator.api.deps import USER, get_engine, get_shared_pages, require_role
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.schemas import EpochOut
from coordinator.api.shared_pages import SharedPages

__all__ = ["epoch_out", "router"]

router = APIRouter(
    prefix="/api/v1/epochs", tags=["epochs"], dependencies=[Depends(require_role(USER))]
)


def epoch_out(r: queries.EpochRow) -> EpochOut:
    return EpochOut(
        epoch=r.epoch, start=r.start, length_s=r.length_s, closed_at=r.closed_at,
        reading_count=r.reading_count, total_import_wh=r.total_import_wh,
        total_export_wh=r.total_export_wh, mint_base_units=r.mint_base_units,
        merkle_root=r.merkle_root.hex(), clearing_price=r.clearing_price, volume=r.volume,
        turnover=r.turnover, inputs_hash=r.inputs_hash, result_hash=r.result_hash,
        attestation_signature=r.attestation_signature,
    )  # fmt: skip


@router.get("")
async def list_epochs(
    engine: Annotated[Engine, Depends(get_engine)],
    pages: Annotated[SharedPages, Depends(get_shared_pages)],
    limit: Limit = 96,
    cursor: Cursor = None,
) -> Page[EpochOut]:
    """Newest first."""
    decoded = decode_cursor(cursor, [int])
    before = None if decoded is None else int(decoded[0])

    async def load() -> Page[EpochOut]:
        rows = await run_in_threadpool(lambda: queries.epochs(engine, before=before, limit=limit))
        return Page(
            items=[epoch_out(r) for r in rows],
            next_cursor=encode_cursor([rows[-1].epoch]) if len(rows) == limit else None,
        )

    return await pages.get(("epochs", before, limit), load)


@router.get("/{epoch}")
async def get_epoch(epoch: int, engine: Annotated[Engine, Depends(get_engine)]) -> EpochOut:
    row = await run_in_threadpool(queries.epoch, engine, epoch)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail={"code": "epoch_not_closed", "message": f"epoch {epoch} is not closed"},
        )
    return epoch_out(row)

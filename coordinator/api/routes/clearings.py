"""A delivery epoch's clearing: its figures and hashes, the attestation memo's
transaction, and the publication itself (canonical inputs and result, byte for byte
what is retained on `{root}/v1/coord/clearing/{epoch}`), so anyone can recompute it
(`gtx-verify clearing`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api.deps import USER, get_engine, require_role
from coordinator.api.schemas import ClearingOut
from coordinator.config import Settings
from coordinator.market.sql_store import SqlMarketStore
from wire.clearing import encode_clearing
from wire.topics import epoch_clearing

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/clearings", tags=["clearings"], dependencies=[Depends(require_role(USER))]
)


def _not_cleared(epoch: int) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        detail={"code": "epoch_not_cleared", "message": f"epoch {epoch} is not cleared"},
    )


@router.get("/{epoch}")
async def get_clearing(
    epoch: int, request: Request, engine: Annotated[Engine, Depends(get_engine)]
) -> ClearingOut:
    view = await run_in_threadpool(SqlMarketStore(engine).get_clearing, epoch)
    if view is None:
        raise _not_cleared(epoch)
    settings: Settings = request.app.state.settings
    return ClearingOut(
        epoch=view.epoch, pricing=view.pricing, clearing_price=view.clearing_price,
        volume=view.volume, turnover=view.turnover, order_count=view.order_count,
        match_count=view.match_count, inputs_hash=view.inputs_hash,
        result_hash=view.result_hash, cleared_at=view.cleared_at,
        publication_topic=epoch_clearing(settings.topic_root, epoch),
        attestation_signature=view.attestation_signature,
    )  # fmt: skip


@router.get(
    "/{epoch}/publication",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "wire.clearing v1"}},
)
async def get_publication(epoch: int, engine: Annotated[Engine, Depends(get_engine)]) -> Response:
    """The clearing publication (`wire.clearing`): `{"epoch", "inputs", "inputs_hash",
    "result", "result_hash", "v"}` with the stored canonical bytes embedded verbatim."""
    stored = await run_in_threadpool(SqlMarketStore(engine).get_clearing_bytes, epoch)
    if stored is None:
        raise _not_cleared(epoch)
    return Response(encode_clearing(epoch, *stored), media_type="application/json")

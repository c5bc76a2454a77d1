"""A reading's Merkle proof against its closed epoch's attested root."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import queries
from coordinator.api.deps import USER, Principal, get_engine, require_role
from coordinator.api.routes.readings import check_meter_access
from coordinator.api.schemas import ProofOut, ProofStepOut
from coordinator.config import Settings
from coordinator.readings.oracle import MerkleTree, leaf_hash, ordered_leaves, verify_proof
from wire.reading import Reading as WireReading
from wire.reading import SignedReading

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/proofs", tags=["proofs"])


def _prove(engine: Engine, settings: Settings, principal: Principal, gateway_id: str,
           seq: int) -> ProofOut:  # fmt: skip
    row = queries.reading(engine, gateway_id, seq)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail={
                "code": "unknown_reading",
                "message": f"no accepted reading {gateway_id}/{seq}",
            },
        )
    check_meter_access(engine, principal, gateway_id, row.meter_id)
    closed = queries.epoch(engine, row.epoch)
    if closed is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            detail={"code": "epoch_open", "message": f"epoch {row.epoch} is not closed yet"},
        )
    signed = SignedReading(
        WireReading(row.gateway_id, row.meter_id, row.seq, row.meter_ts, row.import_wh,
                    row.export_wh),
        row.signature,
    )  # fmt: skip
    readings = queries.epoch_readings(
        engine, row.epoch, closed.length_s, settings.lateness_window_s
    )
    leaves = ordered_leaves(readings)
    leaf = leaf_hash(signed)
    tree = MerkleTree.build(leaves)
    proof = tree.proof(leaves.index(leaf))
    return ProofOut(
        gateway_id=gateway_id, seq=seq, meter_id=row.meter_id, epoch=row.epoch,
        leaf=leaf.hex(), merkle_root=closed.merkle_root.hex(),
        proof=[ProofStepOut(side=str(side), sibling=sib.hex()) for side, sib in proof],
        verified=verify_proof(leaf, proof, closed.merkle_root),
    )  # fmt: skip


@router.get("/{gateway_id}/{seq}")
async def reading_proof(
    gateway_id: str,
    seq: int,
    request: Request,
    principal: Annotated[Principal, Depends(require_role(USER))],
    engine: Annotated[Engine, Depends(get_engine)],
) -> ProofOut:
    """`verified` is the server's own check of the proof against the stored root;
    anyone can redo it with SHA-256 (see `coordinator.readings.oracle.merkle`)."""
    settings: Settings = request.app.state.settings
    return await run_in_threadpool(_prove, engine, settings, principal, gateway_id, seq)

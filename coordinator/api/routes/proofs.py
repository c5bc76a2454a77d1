"""A reading's Merkle proof against its closed epoch's attested root, with everything
needed to check it without trusting this server: the signed payload, the key it
verifies under, the leaf bytes, the path with sides, the root and the attestation
transaction (docs/protocol.md, "Reading proofs"; `gtx-verify reading` checks it)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import queries
from coordinator.api.deps import USER, Principal, get_engine, require_role
from coordinator.api.routes.readings import check_meter_access
from coordinator.api.schemas import ProofOut, ProofStepOut
from coordinator.governance import GovernanceReader
from coordinator.readings.oracle import MerkleTree, leaf_hash, ordered_leaves, verify_proof
from coordinator.readings.oracle.merkle import leaf_bytes
from coordinator.readings.oracle.signatures import signature_valid
from wire.base58 import b58encode
from wire.reading import Reading as WireReading
from wire.reading import SignedReading, encode_payload

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/proofs", tags=["proofs"])


def _signer(engine: Engine, signed: SignedReading) -> str:
    """The key the signature verifies under: the gateway's id first, then the keys it
    rotated through. Accepted readings always have one; the id if none verifies."""
    gateway = signed.reading.gateway_key
    for key in [gateway, *queries.gateway_keys(engine, signed.reading.gateway_id)]:
        if signature_valid(signed, key):
            return b58encode(key)
    return signed.reading.gateway_id


def _prove(engine: Engine, governance: GovernanceReader, principal: Principal,
           gateway_id: str, seq: int) -> ProofOut:  # fmt: skip
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
    # The window the close used: by the governed epochs and lateness in force then
    # (the schedule read just before, on the event loop's side).
    readings = queries.epoch_readings(
        engine, row.epoch, governance.known_calendar(), governance.lateness_at(row.epoch)
    )
    leaves = ordered_leaves(readings)
    leaf = leaf_hash(signed)
    tree = MerkleTree.build(leaves)
    index = leaves.index(leaf)
    proof = tree.proof(index)
    return ProofOut(
        gateway_id=gateway_id, seq=seq, meter_id=row.meter_id, epoch=row.epoch,
        payload=encode_payload(signed).decode(), signature=signed.signature.hex(),
        signer=_signer(engine, signed), leaf_bytes=leaf_bytes(signed).hex(), leaf=leaf.hex(),
        leaf_index=index, leaf_count=len(leaves),
        proof=[ProofStepOut(side=str(side), sibling=sib.hex()) for side, sib in proof],
        merkle_root=closed.merkle_root.hex(),
        attestation_signature=closed.attestation_signature,
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
    """The reading's proof. `verified` is the server's own check of the path against
    the stored root; anyone can redo every step with `gtx-verify reading`."""
    governance: GovernanceReader = request.app.state.governance
    await governance.changes()
    return await run_in_threadpool(_prove, engine, governance, principal, gateway_id, seq)

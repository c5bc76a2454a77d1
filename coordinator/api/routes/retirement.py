"""Retirement and certificates: a consumer's matched renewable share per hour, day and
month, their certificates and each one's Merkle proof against the root committed on
chain, and the campus's totals for the REC authority (`coordinator.lifecycle`)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api.deps import (
    ADMIN,
    REC_AUTHORITY,
    USER,
    Principal,
    get_calendar,
    get_engine,
    require_any_role,
    require_role,
)
from coordinator.api.schemas import (
    CampusRetirementOut,
    CertificateOut,
    CertificateProofOut,
    ProofStepOut,
    StatementLineOut,
)
from coordinator.lifecycle import queries
from coordinator.lifecycle.certificates import CertificateFacts, split_meter
from coordinator.readings.oracle.merkle import verify_proof
from coordinator.readings.oracle.summary import BASE_UNITS_PER_WH

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/retirement", tags=["retirement"])

Me = Annotated[Principal, Depends(require_role(USER))]
Anyone = Annotated[Principal, Depends(require_any_role(USER, ADMIN, REC_AUTHORITY))]
Overseer = Annotated[Principal, Depends(require_any_role(ADMIN, REC_AUTHORITY))]
Db = Annotated[Engine, Depends(get_engine)]
_LAST = 2**62


def _certificate(facts: CertificateFacts, leaf: str, state: str) -> CertificateOut:
    gateway_id, meter_id = split_meter(facts.meter)
    return CertificateOut(
        leaf=leaf, epoch=facts.epoch, holder=facts.holder,
        production_epoch=facts.production_epoch, gateway_id=gateway_id, meter_id=meter_id,
        base_units=facts.base_units, wh=facts.base_units // BASE_UNITS_PER_WH, status=state,
    )  # fmt: skip


@router.get("/statement")
async def statement(
    principal: Me,
    engine: Db,
    request: Request,
    period: Literal["hour", "day", "month"] = "day",
    since: Annotated[int, Query(ge=0, le=_LAST)] = 0,
    until: Annotated[int, Query(ge=0, le=_LAST)] = _LAST,
) -> list[StatementLineOut]:
    """The signed-in consumer's import and matched renewable share per period, for
    consumption epochs `since` to `until` (inclusive) retired so far."""
    # Epochs dated by the calendar in force (the governed epoch length).
    epochs = await get_calendar(request)
    lines = await run_in_threadpool(
        queries.statement, engine, principal.subject, epochs, period, since, until
    )
    return [
        StatementLineOut(start=x.start, import_wh=x.import_wh, matched_wh=x.matched_wh,
                         share=x.share)
        for x in lines
    ]  # fmt: skip


@router.get("/certificates")
async def certificates(
    principal: Me,
    engine: Db,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=_LAST)] = 0,
) -> list[CertificateOut]:
    """The signed-in user's certificates, newest consumption epoch first."""
    rows = await run_in_threadpool(
        lambda: queries.list_certificates(engine, principal.subject, limit=limit, offset=offset)
    )
    return [_certificate(r.facts, r.leaf, r.status) for r in rows]


def _not_found(leaf: str) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        detail={"code": "unknown_certificate",
                "message": f"no committed certificate with leaf {leaf}"},
    )  # fmt: skip


@router.get("/certificates/{leaf}")
async def certificate_proof(principal: Anyone, engine: Db, leaf: str) -> CertificateProofOut:
    """The certificate's Merkle proof (its holder, an admin or the REC authority);
    `gtx-verify certificate` redoes every step against the chain."""
    found = await run_in_threadpool(queries.certificate_proof, engine, leaf)
    overseer = bool(principal.roles & {ADMIN, REC_AUTHORITY})
    if found is None or (found.facts.holder != principal.subject and not overseer):
        raise _not_found(leaf)
    return CertificateProofOut(
        certificate=_certificate(found.facts, found.leaf.hex(), "retired"),
        leaf_bytes=found.leaf_bytes.hex(), leaf_index=found.leaf_index,
        leaf_count=found.leaf_count,
        proof=[ProofStepOut(side=str(side), sibling=sib.hex()) for side, sib in found.proof],
        merkle_root=found.merkle_root.hex(), attestation_signature=found.attestation_signature,
        verified=verify_proof(found.leaf, found.proof, found.merkle_root),
    )  # fmt: skip


@router.get("/campus")
async def campus(
    _: Overseer,
    engine: Db,
    since: Annotated[int, Query(ge=0, le=_LAST)] = 0,
    until: Annotated[int, Query(ge=0, le=_LAST)] = _LAST,
) -> list[CampusRetirementOut]:
    """Per consumption epoch: the campus's import, matched energy, certificates and
    root, and how many consumers were not retired (no approval, or a refused burn)."""
    rows = await run_in_threadpool(queries.campus_totals, engine, since, until)
    return [
        CampusRetirementOut(
            epoch=r.epoch, consumers=r.consumers, import_wh=r.import_wh,
            matched_wh=r.matched_wh, certificates=r.certificates, unapproved=r.unapproved,
            refused=r.refused, merkle_root=r.merkle_root,
            attestation_signature=r.attestation_signature,
        )
        for r in rows
    ]  # fmt: skip

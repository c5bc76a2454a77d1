"""Governance (role `rec_authority`): freeze and thaw a user's token accounts,
record parameter changes as signed Memos. Each action is audited with its chain
signature; admins and the REC authority can read them back."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import audit
from coordinator.api.auth.message import check_address
from coordinator.api.deps import (
    ADMIN,
    REC_AUTHORITY,
    Clock,
    Principal,
    get_clock,
    get_engine,
    request_id,
    require_any_role,
    require_chain,
    require_role,
)
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.schemas import AuditOut, ChainActionOut, GovernanceIn, MemoIn
from programs.roles.governance import freeze_user, record_governance_memo, thaw_user

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/governance", tags=["governance"])

Rec = Annotated[Principal, Depends(require_role(REC_AUTHORITY))]
Chain = Annotated[ChainAccess, Depends(require_chain)]
Db = Annotated[Engine, Depends(get_engine)]
Now = Annotated[Clock, Depends(get_clock)]


def _rec_key(chain: ChainAccess) -> Keypair:
    if chain.rec_authority is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"code": "rec_key_unavailable",
                    "message": "this coordinator does not hold the REC authority key"},
        )  # fmt: skip
    return chain.rec_authority


async def _done(
    engine: Engine,
    request: Request,
    principal: Principal,
    action: str,
    target: str,
    signature: str,
    clock: Clock,
    **detail: object,
) -> ChainActionOut:
    event = audit.AuditEvent(principal.subject, action, target, audit.OK,
                             {"signature": signature, **detail}, request_id(request))  # fmt: skip
    await run_in_threadpool(audit.record, engine, event, clock())
    return ChainActionOut(action=action, signature=signature)


@router.post("/freeze")
async def freeze(
    body: GovernanceIn, request: Request, principal: Rec, chain: Chain, engine: Db, clock: Now
) -> ChainActionOut:
    """Emergency stop: freeze both of `owner`'s token accounts."""
    return await _account_action(freeze_user, "governance.freeze", body, request, principal,
                                 chain, engine, clock)  # fmt: skip


@router.post("/thaw")
async def thaw(
    body: GovernanceIn, request: Request, principal: Rec, chain: Chain, engine: Db, clock: Now
) -> ChainActionOut:
    return await _account_action(thaw_user, "governance.thaw", body, request, principal,
                                 chain, engine, clock)  # fmt: skip


async def _account_action(
    act: Callable[..., Awaitable[Signature]],
    action: str,
    body: GovernanceIn,
    request: Request,
    principal: Principal,
    chain: ChainAccess,
    engine: Engine,
    clock: Clock,
) -> ChainActionOut:
    """Freeze or thaw `body.owner`'s token accounts with the REC authority, audited."""
    check_address(body.owner)
    owner = Pubkey.from_string(body.owner)
    signature = await act(chain.ledger, chain.deployment, payer=chain.payer,
                          rec_authority=_rec_key(chain), owner=owner)  # fmt: skip
    return await _done(engine, request, principal, action, body.owner, str(signature), clock,
                       reason=body.reason)  # fmt: skip


@router.post("/memo")
async def memo(
    body: MemoIn, request: Request, principal: Rec, chain: Chain, engine: Db, clock: Now
) -> ChainActionOut:
    """Record a parameter change as a Memo signed by the REC authority."""
    signature = await record_governance_memo(
        chain.ledger, payer=chain.payer, rec_authority=_rec_key(chain), change=body.change
    )
    return await _done(engine, request, principal, "governance.memo", "", str(signature),
                       clock, change=body.change)  # fmt: skip


@router.get("/actions")
def actions(
    _principal: Annotated[Principal, Depends(require_any_role(ADMIN, REC_AUTHORITY))],
    engine: Db,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditOut]:
    """Governance actions from the audit log, newest first."""
    before = decode_cursor(cursor, [int])
    rows = audit.list_entries(engine, limit=limit, action_prefix="governance.",
                              before_id=None if before is None else int(before[0]))  # fmt: skip
    return Page(
        items=[AuditOut(id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target,
                        outcome=r.outcome, detail=r.detail, request_id=r.request_id)
               for r in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )  # fmt: skip

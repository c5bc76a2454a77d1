"""Admin (role `admin`): enrolment tokens, gateways and revocation, rejected
readings by reason, user roles, and the audit log. Every change is audited."""

import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import audit, queries, users
from coordinator.api import repository as repo
from coordinator.api.auth.config import AuthSettings
from coordinator.api.auth.errors import AuthError
from coordinator.api.auth.roles import ALL_ROLES, role_change_problem
from coordinator.api.auth.sessions import SessionGuard
from coordinator.api.deps import (
    ADMIN,
    REC_AUTHORITY,
    USER,
    Clock,
    Principal,
    get_broker,
    get_clock,
    get_engine,
    get_settings,
    request_id,
    require_role,
)
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.routes.me import gateway_out
from coordinator.api.schemas import (
    AuditOut,
    GatewayOut,
    GatewayStatusOut,
    MeterOut,
    RejectedOut,
    RevokedOut,
    RolesIn,
    TokenIn,
    TokenInfoOut,
    TokenOut,
)
from coordinator.config import Settings
from coordinator.devices.broker_accounts import BrokerCredentials

__all__ = ["change_roles", "router"]

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])

Admin = Annotated[Principal, Depends(require_role(ADMIN))]
Db = Annotated[Engine, Depends(get_engine)]
Now = Annotated[Clock, Depends(get_clock)]


def _audit(engine: Engine, request: Request, principal: Principal, action: str, target: str,
           now: dt.datetime, **detail: object) -> None:  # fmt: skip
    event = audit.AuditEvent(principal.subject, action, target, audit.OK, detail,
                             request_id(request))  # fmt: skip
    audit.record(engine, event, now)


@router.post("/enrolment-tokens", status_code=status.HTTP_201_CREATED)
def issue_enrolment_token(
    body: TokenIn,
    request: Request,
    principal: Admin,
    engine: Db,
    settings: Annotated[Settings, Depends(get_settings)],
    clock: Now,
) -> TokenOut:
    """A one-time token an installer uses to enrol one gateway for `owner`.
    The token is shown once; only its hash is stored."""
    now = clock()
    issued = repo.issue_token(
        engine,
        owner=body.owner,
        ttl_s=body.ttl_s or settings.enrolment_token_ttl_s,
        note=body.note,
        now=now,
    )
    _audit(engine, request, principal, "admin.issue_enrolment_token", body.owner, now,
           note=body.note, expires_at=issued.expires_at.isoformat())  # fmt: skip
    return TokenOut(token=issued.token, owner=issued.owner, expires_at=issued.expires_at)


@router.get("/enrolment-tokens")
def list_enrolment_tokens(
    _principal: Admin, engine: Db, limit: Limit = 50, cursor: Cursor = None
) -> Page[TokenInfoOut]:
    """Issued tokens, newest first (the tokens themselves are never stored)."""
    before = decode_cursor(cursor, [int])
    rows = queries.tokens(engine, before=None if before is None else int(before[0]), limit=limit)
    return Page(
        items=[TokenInfoOut(id=r.id, owner=r.owner, note=r.note, created_at=r.created_at,
                            expires_at=r.expires_at, used_at=r.used_at, used_by=r.used_by)
               for r in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )  # fmt: skip


@router.get("/gateways")
def list_gateways(_principal: Admin, engine: Db) -> list[GatewayOut]:
    """Every gateway with its meters (what the provisioning tools read)."""
    return [
        GatewayOut(
            gateway_id=g.gateway_id,
            status=g.status,
            created_at=g.created_at,
            meters=[_meter(m) for m in g.meters],
        )
        for g in repo.list_gateways(engine)
    ]


@router.get("/gateways/status")
def gateway_status(
    request: Request, _principal: Admin, engine: Db, clock: Now, limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[GatewayStatusOut]:  # fmt: skip
    """Gateways online / offline with the newest meter time they reported."""
    after = decode_cursor(cursor, [str])
    rows = queries.gateways(engine, after=None if after is None else str(after[0]), limit=limit)
    auth: AuthSettings = request.app.state.auth_settings
    now = clock().timestamp()
    return Page(
        items=[gateway_out(r, now, auth.gateway_online_s) for r in rows],
        next_cursor=encode_cursor([rows[-1].gateway_id]) if len(rows) == limit else None,
    )


@router.post("/gateways/{gateway_id}/revoke")
def revoke_gateway(
    gateway_id: str,
    request: Request,
    principal: Admin,
    engine: Db,
    broker: Annotated[BrokerCredentials, Depends(get_broker)],
    clock: Now,
) -> RevokedOut:
    """Readings signed by this gateway are rejected from now on (`revoked_device`)
    and its broker account is disabled (the broker disconnects it). Idempotent."""
    now = clock()
    if not repo.revoke_gateway(engine, gateway_id, now):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail={"code": "unknown_gateway", "message": f"gateway {gateway_id} is not enrolled"},
        )
    _audit(engine, request, principal, "admin.revoke_gateway", gateway_id, now)
    broker.sync(repo.broker_entries(engine))
    return RevokedOut(gateway_id=gateway_id, status="revoked")


@router.get("/rejected-readings/by-reason")
def rejected_by_reason(
    _principal: Admin,
    engine: Db,
    since: Annotated[dt.datetime | None, Query(description="received at or after")] = None,
) -> dict[str, int]:
    """How many payloads were refused, per reason."""
    return queries.rejected_by_reason(engine, since)


@router.get("/rejected-readings")
def rejected_readings(
    _principal: Admin,
    engine: Db,
    reason: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[RejectedOut]:
    """Refused payloads, newest first, with the recorded reason and detail."""
    before = decode_cursor(cursor, [int])
    rows = queries.rejected(
        engine, reason=reason, before=None if before is None else int(before[0]), limit=limit
    )
    return Page(
        items=[RejectedOut(id=r.id, received_at=r.received_at, gateway_id=r.gateway_id,
                           reason=r.reason, detail=r.detail, topic=r.topic) for r in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )  # fmt: skip


@router.put("/users/{address}/roles")
async def set_user_roles(
    address: str, body: RolesIn, request: Request, principal: Admin, engine: Db, clock: Now
) -> list[str]:
    """Replace a user's roles (`user` is implied). Their live sessions end at once;
    from now on the database alone decides their roles (a wallet listed in
    GTX_ADMIN_WALLETS can be demoted). Nobody changes their own roles, and only a
    REC authority grants or removes `rec_authority` (`/governance/authorities`)."""
    unknown = set(body.roles) - ALL_ROLES
    if unknown:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"code": "unknown_role", "message": f"unknown roles {sorted(unknown)}"},
        )
    wanted = frozenset(body.roles)
    return await change_roles(request, engine, principal, address, lambda _: wanted, clock(),
                              "admin.set_roles")  # fmt: skip


async def change_roles(
    request: Request,
    engine: Engine,
    principal: Principal,
    address: str,
    new_roles: Callable[[frozenset[str]], frozenset[str]],
    now: dt.datetime,
    action: str,
) -> list[str]:
    """Change `address`'s roles to `new_roles(current)` if separation of duties allows
    it (`role_change_problem`), ending their sessions; audited either way."""
    config = users.role_config(request.app.state.auth_settings)

    def decide(user: users.UserRecord, authorities: set[str]) -> frozenset[str]:
        before = user.roles(config)
        after = new_roles(before) | {USER}
        left = authorities - {address} | ({address} if REC_AUTHORITY in after else set())
        problem = role_change_problem(
            actor=principal.subject, actor_roles=principal.roles, target=address,
            before=before, after=after, authorities_after=len(left),
        )  # fmt: skip
        if problem is not None:
            raise problem
        return after

    def event(roles: frozenset[str]) -> audit.AuditEvent:
        return audit.AuditEvent(principal.subject, action, address, audit.OK,
                                {"roles": sorted(roles)}, request_id(request))  # fmt: skip

    try:
        roles = await run_in_threadpool(users.set_roles, engine, address, decide, now, event,
                                        config)  # fmt: skip
    except AuthError as exc:
        refused = audit.AuditEvent(principal.subject, action, address, audit.REFUSED,
                                   {"code": exc.code}, request_id(request))  # fmt: skip
        await run_in_threadpool(audit.record, engine, refused, now)
        raise
    if roles is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail={"code": "unknown_user", "message": f"{address} has never signed in"},
        )
    sessions: SessionGuard = request.app.state.sessions
    await sessions.changed(address)
    return sorted(roles)


@router.get("/audit")
def audit_log(
    _principal: Admin,
    engine: Db,
    action: Annotated[str | None, Query(max_length=64, description="action prefix")] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditOut]:
    """Audit entries, newest first."""
    before = decode_cursor(cursor, [int])
    rows = audit.list_entries(
        engine, limit=limit, before_id=None if before is None else int(before[0]),
        action_prefix=action, actor=actor,
    )  # fmt: skip
    return Page(
        items=[AuditOut(id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target,
                        outcome=r.outcome, detail=r.detail, request_id=r.request_id)
               for r in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )  # fmt: skip


def _meter(m: repo.MeterSpec) -> MeterOut:
    return MeterOut(
        meter_id=m.meter_id, model=m.model, rated_power_w=m.rated_power_w, owner=m.owner
    )

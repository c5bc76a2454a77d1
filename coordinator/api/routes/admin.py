"""Admin: issue enrolment tokens, list and revoke gateways (role `admin`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from sqlalchemy.engine import Engine

from coordinator.api import repository as repo
from coordinator.api.deps import (
    ADMIN,
    Clock,
    get_broker,
    get_clock,
    get_engine,
    get_settings,
    require_role,
)
from coordinator.api.schemas import GatewayOut, MeterOut, RevokedOut, TokenIn, TokenOut
from coordinator.broker_credentials import BrokerCredentials
from coordinator.config import Settings

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(require_role(ADMIN))]
)


@router.post("/enrolment-tokens", status_code=status.HTTP_201_CREATED)
def issue_enrolment_token(
    body: TokenIn,
    engine: Annotated[Engine, Depends(get_engine)],
    settings: Annotated[Settings, Depends(get_settings)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> TokenOut:
    """A one-time token an installer uses to enrol one gateway for `owner`.
    The token is shown once; only its hash is stored."""
    issued = repo.issue_token(
        engine,
        owner=body.owner,
        ttl_s=body.ttl_s or settings.enrolment_token_ttl_s,
        note=body.note,
        now=clock(),
    )
    return TokenOut(token=issued.token, owner=issued.owner, expires_at=issued.expires_at)


@router.get("/gateways")
def list_gateways(engine: Annotated[Engine, Depends(get_engine)]) -> list[GatewayOut]:
    return [
        GatewayOut(
            gateway_id=g.gateway_id,
            status=g.status,
            created_at=g.created_at,
            meters=[_meter(m) for m in g.meters],
        )
        for g in repo.list_gateways(engine)
    ]


@router.post("/gateways/{gateway_id}/revoke")
def revoke_gateway(
    gateway_id: str,
    engine: Annotated[Engine, Depends(get_engine)],
    broker: Annotated[BrokerCredentials, Depends(get_broker)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> RevokedOut:
    """Readings signed by this gateway are rejected from now on (`revoked_device`)
    and its broker account is removed. Idempotent."""
    if not repo.revoke_gateway(engine, gateway_id, clock()):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail={"code": "unknown_gateway", "message": f"gateway {gateway_id} is not enrolled"},
        )
    broker.sync(repo.broker_entries(engine))
    return RevokedOut(gateway_id=gateway_id, status="revoked")


def _meter(m: repo.MeterSpec) -> MeterOut:
    return MeterOut(
        meter_id=m.meter_id, model=m.model, rated_power_w=m.rated_power_w, owner=m.owner
    )

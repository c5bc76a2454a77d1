"""Injected dependencies: engine, settings, broker, clock, and the caller's identity.

Authentication is pluggable: `app.state.authenticator` turns the request's
Authorization header into a `Principal` with roles, and routes only ever ask
`require_role(...)`. Today the one authenticator is a static admin bearer
token from settings; wallet-signature login hands out JWTs later, and a JWT
authenticator replaces (or chains with) this one without touching routes.
"""

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Header, HTTPException, Request, status
from sqlalchemy.engine import Engine

from coordinator.broker_credentials import BrokerCredentials
from coordinator.config import Settings

__all__ = [
    "ADMIN",
    "AdminTokenAuthenticator",
    "Authenticator",
    "Clock",
    "Principal",
    "get_broker",
    "get_clock",
    "get_engine",
    "get_principal",
    "get_settings",
    "require_role",
]

ADMIN = "admin"

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[str]


class Authenticator(Protocol):
    def authenticate(self, authorization: str | None) -> Principal | None:
        """The caller, or None when the credentials are missing or invalid."""
        ...


class AdminTokenAuthenticator:
    """`Authorization: Bearer <GTX_ADMIN_TOKEN>` -> the admin role. With no token
    configured (development only) nobody is admin."""

    def __init__(self, token: str | None) -> None:
        self._token = token

    def authenticate(self, authorization: str | None) -> Principal | None:
        if not self._token or authorization is None:
            return None
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(
            presented.strip().encode(), self._token.encode()
        ):
            return None
        return Principal("admin-token", frozenset({ADMIN}))


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_broker(request: Request) -> BrokerCredentials:
    broker: BrokerCredentials = request.app.state.broker
    return broker


def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def get_principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    authenticator: Authenticator = request.app.state.authenticator
    principal = authenticator.authenticate(authorization)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"code": "unauthenticated", "message": "missing or invalid credentials"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def require_role(role: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only callers holding `role`."""

    def _check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if role not in principal.roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={"code": "forbidden", "message": f"the {role} role is required"},
            )
        return principal

    return _check

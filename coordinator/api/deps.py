"""Injected dependencies: engine, settings, clock, ledger, and the caller's identity.

Every dependency here is `async def`, even those that only read `app.state`:
FastAPI runs a plain `def` dependency in a worker thread, a hand-off to a thread
and back on every request for a dictionary lookup (a sixth of a per-user
page's time under load).

Authentication is pluggable: `app.state.authenticator` turns the request's
credentials (the Authorization header, else the session cookie presented as a
bearer token) into a `Principal` with roles, and routes only ever ask
`require_role(...)`. The app chains the session-JWT authenticator (wallet
sign-in) with the static admin bearer token from settings (scripts and the
provisioning flow). A session token is then checked against the server's
revocations (`app.state.sessions`, `coordinator.api.auth.sessions`): a role
change or sign-out ends it at once, on every instance (the user's session stamp
in Redis, read in the same Lua call as the rate limit). Every authenticated
request also spends one unit of the caller's rate-limit budget. The caller is kept in
`request.state.principal`, so refusals can be audited with their actor.
"""

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine

from coordinator.api.auth.config import AuthSettings
from coordinator.api.auth.errors import AuthError
from coordinator.api.auth.roles import ADMIN, REC_AUTHORITY, USER
from coordinator.api.auth.sessions import STAMP_TTL_S, SessionGuard
from coordinator.api.auth.tokens import Session, decode_token
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.ratelimit import Decision, RateLimiter
from coordinator.api.reads import Reads
from coordinator.api.shared_pages import SharedPages
from coordinator.config import Settings
from coordinator.devices.broker_accounts import BrokerCredentials
from coordinator.embedded.memory_cache import NonceStore
from coordinator.governance import GovernanceReader
from coordinator.readings.oracle import EpochCalendar

__all__ = [
    "ADMIN",
    "ADMIN_TOKEN_SUBJECT",
    "REC_AUTHORITY",
    "SESSION_COOKIE",
    "USER",
    "AdminTokenAuthenticator",
    "Authenticator",
    "ChainedAuthenticator",
    "Clock",
    "JwtAuthenticator",
    "Principal",
    "get_auth_settings",
    "get_broker",
    "get_calendar",
    "get_chain",
    "get_clock",
    "get_engine",
    "get_nonce_store",
    "get_principal",
    "get_reads",
    "get_settings",
    "get_shared_pages",
    "rate_limit_anonymous",
    "request_id",
    "require_any_role",
    "require_chain",
    "require_role",
]

SESSION_COOKIE = "gtx_session"
ADMIN_TOKEN_SUBJECT = "admin-token"  # noqa: S105 (a label, not a secret)

# The two ways to present credentials, declared as OpenAPI security schemes (the
# docs' Authorize button); both optional here so that the authenticator decides.
_BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    description="the `token` of `POST /auth/login`, or the static admin token",
    auto_error=False,
)
_COOKIE = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session_cookie",
    description="the HttpOnly cookie `POST /auth/login` sets for the browser",
    auto_error=False,
)

Clock = Callable[[], dt.datetime]


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    roles: frozenset[str]
    session: Session | None = None  # None: not a session token (the admin token)


class Authenticator(Protocol):
    def authenticate(self, authorization: str | None) -> Principal | None:
        """The caller, or None when the credentials are missing or invalid."""
        ...


def _bearer(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, presented = authorization.partition(" ")
    return presented.strip() if scheme.lower() == "bearer" else None


class AdminTokenAuthenticator:
    """`Authorization: Bearer <GTX_ADMIN_TOKEN>` -> the admin role. With no token
    configured (development only) nobody is admin this way."""

    def __init__(self, token: str | None) -> None:
        self._token = token

    def authenticate(self, authorization: str | None) -> Principal | None:
        presented = _bearer(authorization)
        if not self._token or presented is None:
            return None
        if not secrets.compare_digest(presented.encode(), self._token.encode()):
            return None
        return Principal(ADMIN_TOKEN_SUBJECT, frozenset({ADMIN}))


class JwtAuthenticator:
    """A session JWT from wallet sign-in -> its wallet and roles. A token that is a
    JWT but expired or forged raises AuthError, so the caller learns which."""

    def __init__(self, key: bytes, clock: Clock) -> None:
        self._key = key
        self._clock = clock

    def authenticate(self, authorization: str | None) -> Principal | None:
        presented = _bearer(authorization)
        if presented is None or presented.count(".") != 2:
            return None
        session = decode_token(self._key, presented, int(self._clock().timestamp()))
        return Principal(session.subject, session.roles, session)


class ChainedAuthenticator:
    """The first authenticator that recognises the credentials wins."""

    def __init__(self, authenticators: Sequence[Authenticator]) -> None:
        self._authenticators = tuple(authenticators)

    def authenticate(self, authorization: str | None) -> Principal | None:
        refusal: AuthError | None = None
        for authenticator in self._authenticators:
            try:
                principal = authenticator.authenticate(authorization)
            except AuthError as exc:
                refusal = refusal or exc
                continue
            if principal is not None:
                return principal
        if refusal is not None:
            raise refusal
        return None


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_reads(request: Request) -> Reads:
    """The per-user pages' reads (on the event loop where the database allows)."""
    reads: Reads = request.app.state.reads
    return reads


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_shared_pages(request: Request) -> SharedPages:
    pages: SharedPages = request.app.state.shared_pages
    return pages


async def get_auth_settings(request: Request) -> AuthSettings:
    settings: AuthSettings = request.app.state.auth_settings
    return settings


async def get_broker(request: Request) -> BrokerCredentials:
    broker: BrokerCredentials = request.app.state.broker
    return broker


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_calendar(request: Request) -> EpochCalendar:
    """The epoch calendar in force (the governed epoch length; read every few seconds)."""
    governance: GovernanceReader = request.app.state.governance
    return await governance.calendar()


async def get_nonce_store(request: Request) -> NonceStore:
    store: NonceStore = request.app.state.nonce_store
    return store


async def get_chain(request: Request) -> ChainAccess | None:
    chain: ChainAccess | None = request.app.state.ledger
    return chain


async def require_chain(chain: Annotated[ChainAccess | None, Depends(get_chain)]) -> ChainAccess:
    if chain is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"code": "ledger_unavailable", "message": "no ledger is configured"},
        )
    return chain


def request_id(request: Request) -> str:
    """The request's id (X-Request-ID, set by the middleware)."""
    rid: str = request.scope.get("state", {}).get("request_id", "")
    return rid


async def _spend(request: Request, subject: str) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    clock: Clock = request.app.state.clock
    _refuse_over_budget(await limiter.hit(subject, clock().timestamp()), limiter)


def _refuse_over_budget(decision: Decision, limiter: RateLimiter) -> None:
    if not decision.allowed:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail={
                "code": "rate_limited",
                "message": f"more than {decision.limit} requests in {limiter.window_s} s; "
                f"retry in {decision.retry_after_s} s",
            },
            headers={"Retry-After": str(decision.retry_after_s)},
        )


async def get_principal(
    request: Request,
    _bearer_token: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
    _session_cookie: Annotated[str | None, Security(_COOKIE)],
) -> Principal:
    """The caller: the Authorization header when present, else the session cookie."""
    authenticator: Authenticator = request.app.state.authenticator
    authorization = request.headers.get("authorization")
    if authorization is None and SESSION_COOKIE in request.cookies:
        authorization = f"Bearer {request.cookies[SESSION_COOKIE]}"
    decision: Decision | None = None
    try:
        principal = authenticator.authenticate(authorization)
        if principal is not None and principal.session is not None:
            # The budget and the session stamp in one Redis call; the verdicts in the
            # usual order (an ended session 401, then over budget 429).
            sessions: SessionGuard = request.app.state.sessions
            limiter: RateLimiter = request.app.state.rate_limiter
            clock: Clock = request.app.state.clock
            decision, stamp = await limiter.hit_and_stamp(
                principal.subject, clock().timestamp(), sessions.stamp_key(principal.subject),
                sessions.fresh_stamp(), STAMP_TTL_S,
            )  # fmt: skip
            await sessions.check(principal.session, stamp)
    except AuthError as exc:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"code": exc.code, "message": exc.detail},
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"code": "unauthenticated", "message": "missing or invalid credentials"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    if decision is None:
        await _spend(request, principal.subject)
    else:
        _refuse_over_budget(decision, request.app.state.rate_limiter)
    return principal


async def rate_limit_anonymous(request: Request) -> None:
    """Budget for unauthenticated endpoints (sign-in), per client address."""
    host = request.client.host if request.client else "unknown"
    await _spend(request, f"ip:{host}")


def require_role(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only callers holding `role`."""

    async def _check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if role not in principal.roles:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={"code": "forbidden", "message": f"the {role} role is required"},
            )
        return principal

    return _check


def require_any_role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting callers holding at least one of `roles`."""

    async def _check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.roles & set(roles):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail={"code": "forbidden", "message": f"one of {sorted(roles)} is required"},
            )
        return principal

    return _check

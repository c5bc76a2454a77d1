"""Wallet sign-in: a one-time message to sign, then a session JWT.

1. `POST /auth/nonce {address}` issues the message (domain, nonce, expiry), kept
   under its nonce in Redis until it expires or is used. The domain is
   `GTX_AUTH_DOMAIN`, or in development (where it may be unset) the request's
   Host: the host the page was served from.
2. The wallet signs the message text (Ed25519, `signMessage`).
3. `POST /auth/login {message, signature}` takes the nonce (single use, even
   when the attempt fails), checks domain, wallet, expiry and signature, creates
   the user on first sign-in (and their token accounts on the ledger when one is
   configured), and answers a 24 h JWT: in the body for scripts, and as an
   HttpOnly SameSite=Strict cookie for the browser. The token carries the user's
   token version: a change of their roles ends it (`auth.sessions`).
4. `POST /auth/logout` ends the session on the server: the token is refused from
   then on.

Every sign-in, refusal and sign-out is written to the audit log.
"""

import datetime as dt
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from solders.pubkey import Pubkey
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import audit, users
from coordinator.api.auth import errors
from coordinator.api.auth.config import AuthSettings
from coordinator.api.auth.errors import AuthError
from coordinator.api.auth.message import (
    DOMAIN,
    check_address,
    check_challenge,
    new_challenge,
    parse_challenge,
    render_challenge,
    signature_valid,
)
from coordinator.api.auth.sessions import SessionGuard
from coordinator.api.auth.tokens import encode_token
from coordinator.api.deps import (
    SESSION_COOKIE,
    USER,
    Clock,
    Principal,
    get_auth_settings,
    get_chain,
    get_clock,
    get_engine,
    get_nonce_store,
    rate_limit_anonymous,
    request_id,
    require_role,
)
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.schemas import AuthConfigOut, LoginIn, NonceIn, NonceOut, SessionOut
from coordinator.embedded.memory_cache import NonceStore
from programs.errors import LedgerError
from programs.roles.registry import register_user
from wire.base58 import b58decode

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def sign_in_domain(settings: AuthSettings, request: Request) -> str:
    """The domain sign-in messages name here: the configured one, else (development
    only: production refuses to start without it) the Host the request was sent to."""
    if settings.auth_domain is not None:
        return settings.auth_domain
    host = request.headers.get("host", "")
    if not DOMAIN.fullmatch(host):
        raise AuthError(errors.WRONG_DOMAIN, "the request's Host is not a valid domain")
    return host


@router.get("/config")
def auth_config(
    request: Request, settings: Annotated[AuthSettings, Depends(get_auth_settings)]
) -> AuthConfigOut:
    """What the dashboard needs to sign in here."""
    return AuthConfigOut(
        domain=sign_in_domain(settings, request),
        nonce_ttl_s=settings.nonce_ttl_s,
        dev_login=settings.environment == "development",
    )


@router.post("/nonce", dependencies=[Depends(rate_limit_anonymous)])
async def issue_nonce(
    body: NonceIn,
    request: Request,
    settings: Annotated[AuthSettings, Depends(get_auth_settings)],
    store: Annotated[NonceStore, Depends(get_nonce_store)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> NonceOut:
    """A sign-in message for `address` to sign, valid once, for `nonce_ttl_s`."""
    check_address(body.address)
    challenge = new_challenge(
        sign_in_domain(settings, request),
        body.address,
        int(clock().timestamp()),
        settings.nonce_ttl_s,
    )
    text = render_challenge(challenge)
    if not await store.put_nonce(challenge.nonce, text.encode(), settings.nonce_ttl_s):
        raise AuthError(errors.NONCE_UNKNOWN, "nonce collision; ask again")
    return NonceOut(
        message=text,
        nonce=challenge.nonce,
        expires_at=dt.datetime.fromtimestamp(challenge.expires_at, dt.UTC),
    )


async def _register_on_ledger(engine: Engine, chain: ChainAccess, address: str) -> bool:
    """Create the user's token accounts (idempotent); False when deferred."""
    try:
        accounts = await register_user(
            chain.ledger, chain.deployment, payer=chain.payer, owner=Pubkey.from_string(address)
        )
    except LedgerError as exc:
        log.warning("token accounts of %s deferred to a later sign-in: %s", address, exc)
        return False
    await run_in_threadpool(
        users.set_accounts, engine, address, str(accounts.energy), str(accounts.payment)
    )
    return True


async def _verify(body: LoginIn, domain: str, store: NonceStore, now: int) -> tuple[str, str]:
    """The signing wallet and the nonce, or AuthError saying what is wrong."""
    challenge = parse_challenge(body.message)
    public_key = check_address(challenge.address)
    if challenge.domain != domain:
        # Refused before the nonce is spent: the message was made for another site.
        check_challenge(challenge, domain=domain, address=challenge.address, now=now)
    issued = await store.take_nonce(challenge.nonce)
    if issued is None:
        raise AuthError(errors.NONCE_UNKNOWN, "unknown or already used nonce; ask for a new one")
    if issued != body.message.encode():
        raise AuthError(errors.NONCE_UNKNOWN, "message differs from the one issued")
    check_challenge(challenge, domain=domain, address=challenge.address, now=now)
    try:
        signature = b58decode(body.signature)
    except ValueError:
        raise AuthError(errors.BAD_SIGNATURE, "signature is not base58") from None
    if not signature_valid(body.message.encode(), signature, public_key):
        raise AuthError(errors.BAD_SIGNATURE, "signature does not verify for this wallet")
    return challenge.address, challenge.nonce


@router.post("/login", dependencies=[Depends(rate_limit_anonymous)])
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    engine: Annotated[Engine, Depends(get_engine)],
    settings: Annotated[AuthSettings, Depends(get_auth_settings)],
    store: Annotated[NonceStore, Depends(get_nonce_store)],
    chain: Annotated[ChainAccess | None, Depends(get_chain)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> SessionOut:
    """Exchange the signed message for a session (see the module doc)."""
    now = clock()
    rid = request_id(request)
    try:
        domain = sign_in_domain(settings, request)
        address, nonce = await _verify(body, domain, store, int(now.timestamp()))
    except AuthError as exc:
        event = audit.AuditEvent(
            "anonymous", "auth.login", "", audit.REFUSED, {"code": exc.code}, rid
        )
        await run_in_threadpool(audit.record, engine, event, now)
        raise
    event = audit.AuditEvent(address, "auth.login", address, audit.OK, {"nonce": nonce}, rid)
    user = await run_in_threadpool(users.sign_in, engine, address, now, event)
    pending = user.energy_account is None
    if pending and chain is not None:
        pending = not await _register_on_ledger(engine, chain, address)
    roles = user.roles(users.role_config(settings))
    key: bytes = request.app.state.jwt_key
    token = encode_token(
        key, address, roles, int(now.timestamp()), settings.jwt_ttl_s, user.token_version
    )
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.jwt_ttl_s,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return SessionOut(
        token=token,
        address=address,
        roles=sorted(roles),
        expires_at=now + dt.timedelta(seconds=settings.jwt_ttl_s),
        first_login=user.first_time,
        accounts_pending=pending,
    )


@router.post("/logout", status_code=204)
async def logout(
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require_role(USER))],
    engine: Annotated[Engine, Depends(get_engine)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> None:
    """End this session: its token is refused from now on, by every instance (the
    cookie is dropped too)."""
    response.delete_cookie(SESSION_COOKIE, path="/")
    event = audit.AuditEvent(principal.subject, "auth.logout", principal.subject,
                             request_id=request_id(request))  # fmt: skip
    if principal.session is None:
        await run_in_threadpool(audit.record, engine, event, clock())
        return
    await run_in_threadpool(users.sign_out, engine, principal.session, clock(), event)
    sessions: SessionGuard = request.app.state.sessions
    await sessions.changed(principal.subject)

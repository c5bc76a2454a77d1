"""The FastAPI application: `create_app(settings, engine, ...)`.

Run with uvicorn's factory mode, e.g.
`uvicorn --factory coordinator.api.main:app_from_environment`.

Everything is under /api/v1 (OpenAPI at /api/v1/openapi.json, Swagger UI at
/api/v1/docs, its assets vendored in `coordinator/web/static/vendor`, so the docs
work offline); the dashboard is served at / from `coordinator/web/static`.
"""

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis
from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from coordinator.api import repository as repo
from coordinator.api.auth.config import AuthSettings, check_auth_domain, jwt_key
from coordinator.api.auth.nonces import FallbackNonceStore, RedisNonceStore
from coordinator.api.auth.secret_rules import require_strong_secrets
from coordinator.api.auth.sessions import SessionGuard
from coordinator.api.deps import (
    AdminTokenAuthenticator,
    Authenticator,
    ChainedAuthenticator,
    Clock,
    JwtAuthenticator,
)
from coordinator.api.errors import install_error_handlers
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.middleware import RequestIdMiddleware
from coordinator.api.ratelimit import RateLimiter
from coordinator.api.reads import reads_for
from coordinator.api.routes import (
    admin,
    auth,
    balances,
    campus,
    clearings,
    deployment,
    enrolment,
    epochs,
    events,
    gateways,
    governance,
    market,
    me,
    mints,
    notifications,
    orders,
    proofs,
    readings,
    retirement,
    trades,
)
from coordinator.api.shared_pages import SharedPages
from coordinator.config import Settings
from coordinator.db.session import make_engine
from coordinator.devices.broker_accounts import BrokerCredentials, broker_from_settings
from coordinator.embedded.memory_cache import MemoryNonceStore
from coordinator.errors import BrokerError
from coordinator.governance import GovernanceReader, SqlGovernance, defaults_from
from coordinator.ops import metrics

__all__ = [
    "WEB_ROOT",
    "app_from_environment",
    "broker_from_settings",
    "check_secrets",
    "create_app",
]

log = logging.getLogger(__name__)

WEB_ROOT = Path(__file__).resolve().parent.parent / "web" / "static"
_REDIS_TIMEOUT_S = 0.25
# The routes that still query in worker threads (anyio's 40; the per-user pages
# read on the event loop, `api.reads`, with a pool of their own of up to 10): with
# SQLAlchemy's default 5 + 10 connections most of them queued for one under load.
# 10 + the reads' 10 a worker keeps two workers' 40 well inside PostgreSQL's
# default 100 connections. All are kept: an overflow connection is closed when it
# comes back to a full pool, so under steady load (10 + 10 before) each request
# past the tenth opened a new one, a new PostgreSQL backend process each time.
_POOL_SIZE = 10
_POOL_OVERFLOW = 0
# A connection busy in the last second needs no ping before its next query.
_PING_IDLE_S = 1.0
_REDIS_MAX_CONNECTIONS = 1024
# The dashboard loads only its own files; no inline scripts, no third parties.
_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# Swagger UI sets style attributes as it renders; still nothing from elsewhere.
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def check_secrets(settings: Settings, auth_settings: AuthSettings) -> None:
    """Outside development, refuse a missing or weak admin token or JWT secret, or
    any two of the coordinator's secrets that are equal (`secret_rules`)."""
    environment = (
        settings.environment if settings.environment != "development" else auth_settings.environment
    )
    named: dict[str, str | None] = {
        "GTX_ADMIN_TOKEN": _reveal(settings.admin_token),
        "GTX_JWT_SECRET": _reveal(auth_settings.jwt_secret),
    }
    # Broker accounts, where this process holds them: each its own secret too.
    for name, value in (
        ("GTX_MQTT_PASSWORD", settings.mqtt_password),
        ("GTX_BROKER_ADMIN_PASSWORD", settings.broker_admin_password),
        ("GTX_BROKER_OPERATOR_PASSWORD", settings.broker_operator_password),
    ):
        if value is not None:
            named[name] = _reveal(value)
    require_strong_secrets(named, environment)


def _reveal(secret: SecretStr | str | None) -> str | None:
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _guards(app: FastAPI, client: aioredis.Redis | None, auth: AuthSettings) -> None:
    """Nonce store and rate limiter over `client` (memory only when None)."""
    primary = None if client is None else RedisNonceStore(client, auth.redis_prefix)
    app.state.nonce_store = FallbackNonceStore(primary, app.state.memory_nonces)
    app.state.rate_limiter = RateLimiter(
        client,
        prefix=auth.redis_prefix,
        limit=auth.rate_limit_requests,
        window_s=auth.rate_limit_window_s,
    )
    app.state.sessions.use_redis(client, auth.redis_prefix)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    broker: BrokerCredentials | None = None,
    authenticator: Authenticator | None = None,
    clock: Clock = _utcnow,
    auth_settings: AuthSettings | None = None,
    ledger: ChainAccess | None = None,
) -> FastAPI:
    """The API and dashboard. `ledger` (optional) enables balances, orders,
    governance and creating users' token accounts at their first sign-in."""
    auth_settings = AuthSettings() if auth_settings is None else auth_settings
    check_secrets(settings, auth_settings)
    check_auth_domain(
        auth_settings, production="production" in {settings.environment, auth_settings.environment}
    )
    broker = broker_from_settings(settings) if broker is None else broker

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The broker's gateway accounts are brought in line with the database at
        # start, so a change whose broker update failed earlier is not lost.
        try:
            broker.sync(repo.broker_entries(engine))
        except BrokerError as exc:
            log.error("broker credentials not synchronised at start: %s", exc)
        client = None
        if settings.redis_url:
            client = aioredis.Redis.from_url(
                settings.redis_url,
                socket_timeout=_REDIS_TIMEOUT_S,
                socket_connect_timeout=_REDIS_TIMEOUT_S,
                # redis-py's default pool holds 100: under 200 concurrent requests the
                # rest would fail over to memory instead of waiting their turn.
                max_connections=_REDIS_MAX_CONNECTIONS,
            )
        _guards(app, client, auth_settings)
        await app.state.reads.open()
        try:
            yield
        finally:
            await app.state.reads.close()
            if client is not None:
                await client.aclose()

    app = FastAPI(
        title="GridTokenX coordinator",
        version="1",
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # served below from the vendored Swagger UI, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.auth_settings = auth_settings
    app.state.engine = engine
    app.state.reads = reads_for(engine)
    app.state.broker = broker
    app.state.clock = clock
    app.state.ledger = ledger
    app.state.jwt_key = jwt_key(auth_settings)
    app.state.memory_nonces = MemoryNonceStore()
    app.state.shared_pages = SharedPages(settings.api_cache_s)
    app.state.sessions = SessionGuard(engine, ttl_s=auth_settings.session_check_s)
    app.state.governance = GovernanceReader(
        SqlGovernance(engine), defaults_from(settings), ttl_s=settings.governance_refresh_s
    )
    _guards(app, None, auth_settings)  # until the lifespan connects Redis
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    app.state.authenticator = authenticator or ChainedAuthenticator(
        [JwtAuthenticator(app.state.jwt_key, clock), AdminTokenAuthenticator(admin_token)]
    )
    install_error_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    for module in (auth, me, readings, epochs, clearings, balances, orders, trades, proofs,
                   events, market, admin, governance, enrolment, gateways, mints,
                   deployment, campus, notifications, retirement):  # fmt: skip
        app.include_router(module.router)
    app.include_router(events.market_router)

    @app.get("/api/v1/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: answers without touching the database (the latency baseline)."""
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(
            WEB_ROOT / "index.html",
            headers={"Content-Security-Policy": _CSP, "Cache-Control": "no-cache"},
        )

    @app.get("/api/v1/docs", include_in_schema=False)
    def api_docs() -> FileResponse:
        return FileResponse(
            WEB_ROOT / "api-docs.html",
            headers={"Content-Security-Policy": _DOCS_CSP, "Cache-Control": "no-cache"},
        )

    app.mount("/static", StaticFiles(directory=WEB_ROOT), name="static")
    return app


def app_from_environment() -> FastAPI:
    """The API as uvicorn runs it; with GTX_METRICS_PORT set, its own /metrics there
    (request durations, database and Redis errors) for Prometheus's `gtx-api` job."""
    settings = Settings()
    engine = make_engine(
        settings.database_url,
        pool_size=_POOL_SIZE,
        max_overflow=_POOL_OVERFLOW,
        ping_idle_s=_PING_IDLE_S,
    )
    metrics.watch_database(engine)
    if settings.metrics_port:
        metrics.serve_metrics(settings.metrics_port, settings.metrics_addr)
    return create_app(settings, engine)

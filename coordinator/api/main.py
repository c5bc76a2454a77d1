"""The FastAPI application: `create_app(settings, engine)`.

Run with uvicorn's factory mode, e.g.
`uvicorn --factory coordinator.api.main:app_from_environment`.
"""

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from coordinator.api import repository as repo
from coordinator.api.deps import AdminTokenAuthenticator, Authenticator, Clock
from coordinator.api.errors import install_error_handlers
from coordinator.api.routes import admin, enrolment, gateways
from coordinator.broker_credentials import (
    BrokerCredentials,
    PasswordFileBroker,
    UnmanagedBroker,
)
from coordinator.config import Settings
from coordinator.db.session import make_engine
from coordinator.errors import BrokerError, ConfigError

__all__ = ["app_from_environment", "broker_from_settings", "check_secrets", "create_app"]

log = logging.getLogger(__name__)

_PLACEHOLDERS = {"", "changethis", "change-me", "changeme", "secret", "admin", "password"}
_MIN_TOKEN_LEN = 24


def check_secrets(settings: Settings) -> None:
    """Outside development, refuse a missing, placeholder or short admin token."""
    if settings.environment == "development":
        return
    token = settings.admin_token.get_secret_value() if settings.admin_token else ""
    if token.strip().lower() in _PLACEHOLDERS or len(token) < _MIN_TOKEN_LEN:
        raise ConfigError(
            f"GTX_ADMIN_TOKEN must be set to a random secret of at least {_MIN_TOKEN_LEN} "
            f"characters when GTX_ENVIRONMENT={settings.environment}"
        )


def broker_from_settings(settings: Settings) -> BrokerCredentials:
    if settings.broker_password_file is None:
        return UnmanagedBroker()
    return PasswordFileBroker(
        settings.broker_password_file,
        pid_file=settings.broker_pid_file,
        static_file=settings.broker_static_password_file,
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(
    settings: Settings,
    engine: Engine,
    *,
    broker: BrokerCredentials | None = None,
    authenticator: Authenticator | None = None,
    clock: Clock = _utcnow,
) -> FastAPI:
    check_secrets(settings)
    broker = broker_from_settings(settings) if broker is None else broker

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The broker's password file is re-rendered from the database at start,
        # so a change whose broker update failed earlier is not lost.
        try:
            broker.sync(repo.broker_entries(engine))
        except BrokerError as exc:
            log.error("broker credentials not synchronised at start: %s", exc)
        yield

    app = FastAPI(title="GridTokenX coordinator", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.engine = engine
    app.state.broker = broker
    app.state.clock = clock
    admin_token = settings.admin_token.get_secret_value() if settings.admin_token else None
    app.state.authenticator = authenticator or AdminTokenAuthenticator(admin_token)
    install_error_handlers(app)
    app.include_router(admin.router)
    app.include_router(enrolment.router)
    app.include_router(gateways.router)
    return app


def app_from_environment() -> FastAPI:
    settings = Settings()
    return create_app(settings, make_engine(settings.database_url))

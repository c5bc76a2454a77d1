"""Sign-in and API-guard settings, parsed once from the environment (prefix ``GTX_``).

Kept beside, not inside, `coordinator.config.Settings` so the API's own knobs
live with the code that reads them; both read the same environment.
"""

import secrets
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from coordinator.api.auth.secret_rules import MIN_SECRET_LEN, require_strong_secrets
from coordinator.errors import ConfigError

__all__ = ["MIN_SECRET_LEN", "AuthSettings", "check_auth_domain", "jwt_key"]


class AuthSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GTX_", frozen=True, extra="ignore")

    environment: Literal["development", "production"] = "development"
    # HMAC key of the session JWTs. Required outside development; in development a
    # random key per process is used (sessions end when the coordinator restarts).
    jwt_secret: SecretStr | None = None
    jwt_ttl_s: int = Field(default=24 * 3600, ge=60, le=7 * 24 * 3600)
    # The domain sign-in messages name (the host, with its port if not the default,
    # that users open the dashboard at); a message for any other domain is refused,
    # so a signature phished by another site cannot sign in here. Required in
    # production; unset in development, each request's Host header is used, so the
    # message names whatever host the page was served from (127.0.0.1:8080).
    auth_domain: str | None = Field(default=None, min_length=1, max_length=253)
    nonce_ttl_s: int = Field(default=300, ge=10, le=3600)
    # Wallets (comma-separated base58) granted roles at sign-in, beside any roles
    # stored on the user, until someone sets the user's roles through the API (then
    # the database alone decides). The first admin and authority come from here.
    admin_wallets: str = ""
    rec_authority_wallets: str = ""
    # Per-user (per client address before sign-in) request budget.
    rate_limit_requests: int = Field(default=600, ge=1)
    rate_limit_window_s: int = Field(default=60, ge=1)
    # Key prefix in Redis for nonces and rate limits.
    redis_prefix: str = "gtx"
    # Send the session cookie over HTTPS only (set in production behind TLS).
    cookie_secure: bool = False
    # A gateway counts as online when it reported within this many seconds.
    gateway_online_s: int = Field(default=300, ge=1)

    # How long an instance trusts its last look at a session's revocation (seconds).
    session_check_s: float = Field(default=1.0, ge=0, le=60)

    def wallets(self, which: Literal["admin", "rec_authority"]) -> frozenset[str]:
        raw = self.admin_wallets if which == "admin" else self.rec_authority_wallets
        return frozenset(w.strip() for w in raw.split(",") if w.strip())


def jwt_key(settings: AuthSettings) -> bytes:
    """The JWT HMAC key. Outside development a missing or weak secret is refused
    (`secret_rules`); in development a short or missing one means a random key."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
    if settings.environment == "development" and len(secret) < MIN_SECRET_LEN:
        return secrets.token_bytes(32)
    require_strong_secrets({"GTX_JWT_SECRET": secret}, settings.environment)
    return secret.encode()


def check_auth_domain(settings: AuthSettings, *, production: bool) -> None:
    """Production names its sign-in domain: a domain taken from each request's Host
    would let a signature phished for another site be replayed with that Host."""
    if production and settings.auth_domain is None:
        raise ConfigError(
            "GTX_AUTH_DOMAIN is not set; production needs the host users open the "
            "dashboard at (e.g. gridtokenx.example.edu), see docs/operations.md"
        )

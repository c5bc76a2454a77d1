"""Wallet sign-in: nonce messages, Ed25519 verification, session JWTs, roles.

Pure parts (`message`, `tokens`, `roles`) have no I/O; `nonces` keeps issued
messages single-use in Redis (memory when Redis is down); the HTTP flow lives
in `coordinator.api.routes.auth`.
"""

from coordinator.api.auth.config import AuthSettings, jwt_key
from coordinator.api.auth.errors import AuthError
from coordinator.api.auth.message import (
    Challenge,
    check_address,
    check_challenge,
    new_challenge,
    parse_challenge,
    render_challenge,
    signature_valid,
)
from coordinator.api.auth.nonces import FallbackNonceStore, RedisNonceStore
from coordinator.api.auth.roles import ADMIN, ALL_ROLES, REC_AUTHORITY, USER, roles_at_login
from coordinator.api.auth.tokens import Session, decode_token, encode_token

__all__ = [
    "ADMIN",
    "ALL_ROLES",
    "REC_AUTHORITY",
    "USER",
    "AuthError",
    "AuthSettings",
    "Challenge",
    "FallbackNonceStore",
    "RedisNonceStore",
    "Session",
    "check_address",
    "check_challenge",
    "decode_token",
    "encode_token",
    "jwt_key",
    "new_challenge",
    "parse_challenge",
    "render_challenge",
    "roles_at_login",
    "signature_valid",
]

"""Session tokens: compact JWS, HS256 only, with the standard library.

Why not PyJWT: the coordinator both issues and verifies its tokens with one
HMAC key, so the whole of JWT it needs is ~40 lines; pinning the one algorithm
here (the header must say exactly HS256) leaves no `alg` confusion to get wrong
and adds no dependency to the pinned set.

Claims: `iss` ("gridtokenx"), `sub` (wallet address), `roles` (list), `iat`,
`exp` (Unix seconds), `jti` (random: the audit log, and sign-out revokes it), `ver`
(the user's token version at sign-in: a role change raises it, which ends every
session issued before; `coordinator.api.auth.sessions` checks both per request).
"""

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from coordinator.api.auth import errors
from coordinator.api.auth.errors import AuthError

__all__ = ["ISSUER", "Session", "decode_token", "encode_token"]

ISSUER = "gridtokenx"
_HEADER = {"alg": "HS256", "typ": "JWT"}


@dataclass(frozen=True, slots=True)
class Session:
    subject: str
    roles: frozenset[str]
    issued_at: int
    expires_at: int
    token_id: str
    version: int = 0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or len(text) > 4096:
        raise AuthError(errors.TOKEN_INVALID, "token is malformed")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise AuthError(errors.TOKEN_INVALID, "token is malformed") from None


def _mac(key: bytes, signing_input: str) -> bytes:
    return hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()


def encode_token(
    key: bytes, subject: str, roles: frozenset[str], now: int, ttl_s: int, version: int = 0
) -> str:
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "roles": sorted(roles),
        "iat": now,
        "exp": now + ttl_s,
        "jti": secrets.token_hex(8),
        "ver": version,
    }
    head = _b64(json.dumps(_HEADER, separators=(",", ":")).encode())
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}"
    return f"{signing_input}.{_b64(_mac(key, signing_input))}"


def decode_token(key: bytes, token: str, now: int) -> Session:
    """The session a token carries; AuthError when forged, malformed or expired."""
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError(errors.TOKEN_INVALID, "token is malformed")
    head, body, mac = parts
    if not hmac.compare_digest(_unb64(mac), _mac(key, f"{head}.{body}")):
        raise AuthError(errors.TOKEN_INVALID, "token signature does not verify")
    try:
        header = json.loads(_unb64(head))
        claims = json.loads(_unb64(body))
    except ValueError:
        raise AuthError(errors.TOKEN_INVALID, "token is malformed") from None
    if header != _HEADER or not isinstance(claims, dict) or claims.get("iss") != ISSUER:
        raise AuthError(errors.TOKEN_INVALID, "token is not a GridTokenX session")
    sub, roles = claims.get("sub"), claims.get("roles")
    iat, exp, jti = claims.get("iat"), claims.get("exp"), claims.get("jti")
    version = claims.get("ver", 0)
    if not (
        isinstance(sub, str)
        and isinstance(roles, list)
        and all(isinstance(r, str) for r in roles)
        and isinstance(iat, int)
        and isinstance(exp, int)
        and isinstance(jti, str)
        and type(version) is int
    ):
        raise AuthError(errors.TOKEN_INVALID, "token claims are malformed")
    if now >= exp:
        raise AuthError(errors.TOKEN_EXPIRED, "session expired; sign in again")
    return Session(sub, frozenset(roles), iat, exp, jti, version)

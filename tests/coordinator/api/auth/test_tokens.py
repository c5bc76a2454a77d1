"""Session JWTs (HS256): round trip, and every way a token is refused."""

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.api.auth import errors
from coordinator.api.auth.errors import AuthError
from coordinator.api.auth.tokens import decode_token, encode_token

KEY = b"k" * 32
NOW = 1_790_000_000


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@given(
    subject=st.text(min_size=1, max_size=44),
    roles=st.frozensets(st.sampled_from(["user", "admin", "rec_authority"])),
    ttl=st.integers(1, 10**6),
)
def test_round_trip(subject: str, roles: frozenset[str], ttl: int) -> None:
    session = decode_token(KEY, encode_token(KEY, subject, roles, NOW, ttl), NOW + ttl - 1)
    assert (session.subject, session.roles) == (subject, roles)
    assert session.expires_at == NOW + ttl


def _code(key: bytes, token: str, now: int = NOW) -> str:
    with pytest.raises(AuthError) as info:
        decode_token(key, token, now)
    return info.value.code


def test_expired_forged_and_malformed_tokens_are_refused() -> None:
    token = encode_token(KEY, "alice", frozenset({"user"}), NOW, 60)
    assert _code(KEY, token, NOW + 60) == errors.TOKEN_EXPIRED
    assert _code(b"x" * 32, token) == errors.TOKEN_INVALID
    head, body, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["roles"] = ["admin"]
    assert _code(KEY, f"{head}.{_b64(claims)}.{mac}") == errors.TOKEN_INVALID
    for junk in ("", "a.b", "a.b.c", token + "x", "..."):
        assert _code(KEY, junk) == errors.TOKEN_INVALID


def test_alg_none_is_refused() -> None:
    token = encode_token(KEY, "alice", frozenset({"user"}), NOW, 60)
    _, body, _ = token.split(".")
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{body}."
    assert _code(KEY, unsigned) == errors.TOKEN_INVALID

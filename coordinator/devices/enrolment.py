"""The coordinator's enrolment and key-rotation rules: pure functions, no I/O.

An admin issues a one-time token scoped to an owner's wallet; the coordinator
stores only its SHA-256. The gateway redeems it with a proof of possession
(an Ed25519 signature by its device key over the token and its id), so a
stolen token cannot enrol a key its thief does not hold. The signed messages
are the wire contract (`wire.enrolment`); here are the coordinator's own
rules: token state, redeemability, freshness, key-rotation overlap, and the
reason codes of its refusals.

Redeeming a used token again by the *same* gateway is allowed (the installer
re-runs `enroll`); any other gateway gets `token_used`.
"""

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from wire import enrolment as signed
from wire.enrolment import REQUEST_MAX_SKEW_S, TOKEN_PREFIX

__all__ = [
    "BAD_PROOF",
    "INVALID_WALLET",
    "OWNER_MISMATCH",
    "REVOKED_GATEWAY",
    "ROTATION_DISABLED",
    "STALE_REQUEST",
    "TOKEN_EXPIRED",
    "TOKEN_UNKNOWN",
    "TOKEN_USED",
    "UNKNOWN_GATEWAY",
    "EnrolmentError",
    "TokenState",
    "check_fresh",
    "check_redeemable",
    "check_wallet",
    "new_token",
    "old_key_valid_until",
    "public_key_of",
    "token_hash",
]

TOKEN_UNKNOWN = "token_unknown"  # noqa: S105
TOKEN_EXPIRED = "token_expired"  # noqa: S105
TOKEN_USED = "token_used"  # noqa: S105
INVALID_WALLET = "invalid_wallet"
OWNER_MISMATCH = "owner_mismatch"
BAD_PROOF = "bad_proof"
STALE_REQUEST = "stale_request"
UNKNOWN_GATEWAY = "unknown_gateway"
REVOKED_GATEWAY = "revoked_gateway"
ROTATION_DISABLED = "rotation_disabled"


class EnrolmentError(ValueError):
    """The request is refused; `code` is stable for scripts, `detail` for humans."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TokenState:
    owner: str
    expires_at: dt.datetime
    used_at: dt.datetime | None = None
    used_by: str | None = None


def new_token() -> str:
    """A fresh token: 256 random bits, URL-safe, with a recognisable prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def public_key_of(address: str, what: str = "address") -> bytes:
    """`wire.enrolment.public_key_of`, refused as `invalid_wallet`."""
    try:
        return signed.public_key_of(address, what)
    except ValueError as exc:
        raise EnrolmentError(INVALID_WALLET, str(exc)) from None


def check_wallet(address: str) -> str:
    public_key_of(address, "wallet address")
    return address


def check_redeemable(state: TokenState | None, gateway_id: str, now: dt.datetime) -> None:
    """Raise EnrolmentError unless `gateway_id` may redeem the token now."""
    if state is None:
        raise EnrolmentError(TOKEN_UNKNOWN, "enrolment token is not valid; ask for a new one")
    if now >= state.expires_at:
        raise EnrolmentError(
            TOKEN_EXPIRED,
            f"enrolment token expired at {state.expires_at.isoformat()}; ask for a new one",
        )
    if state.used_at is not None and state.used_by != gateway_id:
        raise EnrolmentError(
            TOKEN_USED,
            f"enrolment token was already used at {state.used_at.isoformat()} "
            "by another gateway; tokens are single use",
        )


def check_fresh(timestamp: int, now: dt.datetime) -> None:
    if abs(now.timestamp() - timestamp) > REQUEST_MAX_SKEW_S:
        raise EnrolmentError(
            STALE_REQUEST,
            f"request timestamp is more than {REQUEST_MAX_SKEW_S} s from the coordinator's "
            "clock; check the gateway's time",
        )


def old_key_valid_until(
    now: dt.datetime, requested_s: int | None, default_s: int, max_s: int
) -> dt.datetime:
    """When the replaced key stops verifying: the requested overlap, bounded by
    the coordinator's maximum (never negative)."""
    overlap = default_s if requested_s is None else requested_s
    return now + dt.timedelta(seconds=max(0, min(overlap, max_s)))

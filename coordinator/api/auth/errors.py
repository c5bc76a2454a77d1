"""Sign-in refusals. One family: `AuthError(code, detail)`, `code` stable for
scripts (and mapped to an HTTP status by the API), `detail` for people.

    AuthError
    ├── malformed_message, wrong_domain, address_mismatch   (the signed text)
    ├── nonce_unknown (never issued or already used), nonce_expired
    ├── bad_signature, invalid_wallet
    ├── token_invalid, token_expired, session_revoked         (session JWTs)
    └── self_role_change, admin_required, rec_authority_required,
        last_rec_authority                                     (separation of duties)
"""

__all__ = [
    "ADDRESS_MISMATCH",
    "BAD_SIGNATURE",
    "DUTY_ADMIN",
    "DUTY_REC_AUTHORITY",
    "INVALID_WALLET",
    "LAST_REC_AUTHORITY",
    "MALFORMED_MESSAGE",
    "NONCE_EXPIRED",
    "NONCE_UNKNOWN",
    "SELF_ROLE_CHANGE",
    "SESSION_REVOKED",
    "TOKEN_EXPIRED",
    "TOKEN_INVALID",
    "WRONG_DOMAIN",
    "AuthError",
]

MALFORMED_MESSAGE = "malformed_message"
WRONG_DOMAIN = "wrong_domain"
ADDRESS_MISMATCH = "address_mismatch"
NONCE_UNKNOWN = "nonce_unknown"
NONCE_EXPIRED = "nonce_expired"
BAD_SIGNATURE = "bad_signature"
INVALID_WALLET = "invalid_wallet"
TOKEN_INVALID = "token_invalid"  # noqa: S105 (a code, not a secret)
TOKEN_EXPIRED = "token_expired"  # noqa: S105
SESSION_REVOKED = "session_revoked"
SELF_ROLE_CHANGE = "self_role_change"
DUTY_ADMIN = "admin_required"
DUTY_REC_AUTHORITY = "rec_authority_required"
LAST_REC_AUTHORITY = "last_rec_authority"


class AuthError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

"""Sign-in refusals. One family: `AuthError(code, detail)`, `code` stable for
scripts (and mapped to an HTTP status by the API), `detail` for people.

    AuthError
    ├── malformed_message, wrong_domain, address_mismatch   (the signed text)
    ├── nonce_unknown (never issued or already used), nonce_expired
    ├── bad_signature, invalid_wallet
    └── token_invalid, token_expired                          (session JWTs)
"""

__all__ = [
    "ADDRESS_MISMATCH",
    "BAD_SIGNATURE",
    "INVALID_WALLET",
    "MALFORMED_MESSAGE",
    "NONCE_EXPIRED",
    "NONCE_UNKNOWN",
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


class AuthError(ValueError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

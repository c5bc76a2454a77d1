"""The one check behind every text a REC authority's wallet signs. Pure."""

from solders.pubkey import Pubkey
from solders.signature import Signature

from coordinator.governance.errors import ChangeRefused
from wire.base58 import b58decode

__all__ = ["MAX_AGE_S", "MAX_SKEW_S", "check_signed", "wallet_signed"]

# How old a signed text may be when it reaches the API (and how far ahead).
MAX_AGE_S = 300
MAX_SKEW_S = 60


def wallet_signed(wallet: str, text: str, signature: str) -> bool:
    """True when `signature` (base58) is `wallet`'s Ed25519 signature over `text`."""
    try:
        key = Pubkey.from_bytes(b58decode(wallet))
        sig = Signature.from_bytes(b58decode(signature))
    except ValueError:
        return False
    return sig.verify(key, text.encode())


def check_signed(wallet: str, text: str, signature: str, *, issued_at: int, now: int) -> None:
    """ChangeRefused unless `text` (which says it was signed at `issued_at`) was signed
    within the last MAX_AGE_S seconds by `wallet`: a replay is stale, a forgery fails."""
    if not now - MAX_AGE_S <= issued_at <= now + MAX_SKEW_S:
        raise ChangeRefused(
            "stale_request", f"the text was signed at {issued_at}; sign it again now"
        )
    if not wallet_signed(wallet, text, signature):
        raise ChangeRefused(
            "bad_signature", "the signature is not the caller's wallet's over this text"
        )

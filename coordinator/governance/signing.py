"""The one check behind every text a REC authority's wallet signs. Pure."""

from solders.pubkey import Pubkey
from solders.signature import Signature

from wire.base58 import b58decode

__all__ = ["wallet_signed"]


def wallet_signed(wallet: str, text: str, signature: str) -> bool:
    """True when `signature` (base58) is `wallet`'s Ed25519 signature over `text`."""
    try:
        key = Pubkey.from_bytes(b58decode(wallet))
        sig = Signature.from_bytes(b58decode(signature))
    except ValueError:
        return False
    return sig.verify(key, text.encode())

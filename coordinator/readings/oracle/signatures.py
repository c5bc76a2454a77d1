"""Signature verification of readings: the first thing done to any payload.

`solders` (Rust ed25519-dalek) is used on the hot path: measured on this
machine it verifies about 2.2x as many signatures per second as
`cryptography` (see benchmarks/). tests/coordinator/readings/oracle/test_signatures.py
checks the two agree on valid, tampered and forged signatures.
"""

from solders.pubkey import Pubkey
from solders.signature import Signature

from wire.reading import SignedReading

__all__ = ["signature_valid"]


def signature_valid(signed: SignedReading, public_key: bytes) -> bool:
    """True when `signed` carries a valid Ed25519 signature by `public_key`
    over the reading's canonical bytes."""
    if len(public_key) != 32:
        return False
    try:
        return Signature.from_bytes(signed.signature).verify(
            Pubkey.from_bytes(public_key), signed.reading.signing_bytes()
        )
    except ValueError:
        return False

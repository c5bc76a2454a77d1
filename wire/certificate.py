"""The granular certificate's Merkle leaf: what the coordinator commits to on chain and
what anyone checks a certificate proof against (docs/protocol.md, "Certificates").

A certificate says: `base_units` of energy tokens, produced by meter `meter_id` behind
gateway `gateway_id` in epoch `production_epoch`, were burned by `holder` against the
metered import of epoch `consumption_epoch`. Its leaf bytes are fixed-width but for
the meter id, which is length-prefixed, so they are unambiguous:

    "GTX-CERT-v1" || consumption_epoch u64 BE || holder (32 bytes)
                  || production_epoch u64 BE || gateway key (32 bytes)
                  || len(meter_id) u8 || meter_id (ASCII) || base_units u64 BE

The tree (node hash, promotion of an odd node, proof sides) is the readings' tree;
the leaves of an epoch are ordered by their leaf bytes.
"""

import hashlib

from wire.base58 import b58decode

__all__ = ["CERT_LEAF_TAG", "EMPTY_CERT_ROOT", "certificate_leaf_bytes", "certificate_leaf_hash"]

CERT_LEAF_TAG = b"GTX-CERT-v1"
EMPTY_CERT_ROOT = hashlib.sha256(b"GTX-CERT-EMPTY-v1").digest()
_U64 = 1 << 64


def _u64(value: int) -> bytes:
    if not 0 <= value < _U64:
        raise ValueError(f"{value} does not fit in 64 bits")
    return value.to_bytes(8, "big")


def _key(address: str) -> bytes:
    raw = b58decode(address)
    if len(raw) != 32:
        raise ValueError(f"{address!r} is not a 32-byte address")
    return raw


def certificate_leaf_bytes(
    *,
    consumption_epoch: int,
    holder: str,
    production_epoch: int,
    gateway_id: str,
    meter_id: str,
    base_units: int,
) -> bytes:
    meter = meter_id.encode("ascii")
    if not 0 < len(meter) < 256:
        raise ValueError("a meter id is 1 to 255 ASCII characters")
    if base_units <= 0:
        raise ValueError("a certificate covers a positive quantity")
    return b"".join((
        CERT_LEAF_TAG, _u64(consumption_epoch), _key(holder), _u64(production_epoch),
        _key(gateway_id), bytes((len(meter),)), meter, _u64(base_units),
    ))  # fmt: skip


def certificate_leaf_hash(leaf: bytes) -> bytes:
    """The leaf of the leaf bytes: SHA-256(0x00 || leaf bytes), as the readings'."""
    return hashlib.sha256(b"\x00" + leaf).digest()

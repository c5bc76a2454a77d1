"""A reading's proof checked from the proof document alone and the chain:

1. the payload is a well-formed v1 reading, the one the proof names;
2. its signature verifies over the canonical signed bytes under the signer's key
   (the gateway id, or a key the gateway rotated to);
3. the leaf bytes and leaf hash rebuild from payload and signature;
4. the path's sides are those of leaf `leaf_index` among `leaf_count` leaves, and
   the path leads from the leaf to `merkle_root`;
5. the attestation transaction landed, carries `gtx/v1 attest epoch=E root=HEX`
   for the proof's epoch and root, and the oracle's key signed it.

The proof document is what `GET /api/v1/proofs/{gateway_id}/{seq}` answers (a saved
copy does as well); docs/protocol.md, "Reading proofs", lists its fields.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from verify.attestation import attested_memo
from verify.errors import Refused, Unavailable
from verify.merkle import expected_sides, leaf_bytes, leaf_hash, root_from_path
from verify.proof_doc import attestation, field, hex_field, merkle_path
from verify.solana import SolanaRpc, check_address
from wire.base58 import b58decode
from wire.reading import ProtocolError, SignedReading, decode_payload

__all__ = ["ReadingProof", "check_reading", "read_proof"]


@dataclass(frozen=True, slots=True)
class ReadingProof:
    gateway_id: str
    seq: int
    epoch: int
    payload: bytes
    signature: bytes
    signer: str
    leaf_bytes: bytes
    leaf: bytes
    leaf_index: int
    leaf_count: int
    path: tuple[tuple[str, bytes], ...]
    merkle_root: bytes
    attestation_signature: str | None


def read_proof(doc: Mapping[str, Any]) -> ReadingProof:
    """The proof in `doc` (the API's JSON); `Refused` ("proof_malformed") if a field
    is missing or of the wrong shape."""
    return ReadingProof(
        gateway_id=field(doc, "gateway_id", str),
        seq=field(doc, "seq", int),
        epoch=field(doc, "epoch", int),
        payload=field(doc, "payload", str).encode(),
        signature=hex_field(doc, "signature", 64),
        signer=field(doc, "signer", str),
        leaf_bytes=hex_field(doc, "leaf_bytes"),
        leaf=hex_field(doc, "leaf", 32),
        leaf_index=field(doc, "leaf_index", int),
        leaf_count=field(doc, "leaf_count", int),
        path=merkle_path(doc),
        merkle_root=hex_field(doc, "merkle_root", 32),
        attestation_signature=attestation(doc),
    )


def _signed(proof: ReadingProof) -> SignedReading:
    try:
        signed = decode_payload(proof.payload)
    except ProtocolError as exc:
        raise Refused("payload_malformed", exc.detail) from exc
    reading = signed.reading
    if (reading.gateway_id, reading.seq) != (proof.gateway_id, proof.seq):
        raise Refused(
            "payload_mismatch",
            f"the payload is reading {reading.gateway_id}/{reading.seq}, the proof names"
            f" {proof.gateway_id}/{proof.seq}",
        )
    if signed.signature != proof.signature:
        raise Refused("payload_mismatch", "the payload's sig differs from the proof's signature")
    return signed


def _check_signature(signed: SignedReading, signer: str, note: Callable[[str], None]) -> None:
    try:
        key = b58decode(check_address(signer, "signer"))
        Ed25519PublicKey.from_public_bytes(key).verify(
            signed.signature, signed.reading.signing_bytes()
        )
    except (ValueError, InvalidSignature):
        raise Refused(
            "bad_signature",
            f"the signature does not verify under {signer} over the reading's signed bytes",
        ) from None
    if signer == signed.reading.gateway_id:
        note("signature verifies under the gateway's own key (its id)")
    else:
        note(f"signature verifies under {signer}, a key the gateway rotated to"
             " (rotations are the coordinator's record, not on chain)")  # fmt: skip


def check_reading(
    doc: Mapping[str, Any], rpc: SolanaRpc, *, oracle: str, note: Callable[[str], None]
) -> ReadingProof:
    """Check the proof document `doc` (module doc); `Refused` names the first check
    that fails, `Unavailable` says what could not be fetched."""
    proof = read_proof(doc)
    signed = _signed(proof)
    note(f"payload is reading {proof.gateway_id}/{proof.seq} of meter {signed.reading.meter_id}")
    _check_signature(signed, proof.signer, note)
    rebuilt = leaf_bytes(signed)
    if rebuilt != proof.leaf_bytes:
        raise Refused("leaf_mismatch", "leaf_bytes are not tag || signed bytes || signature")
    leaf = leaf_hash(rebuilt)
    if leaf != proof.leaf:
        raise Refused("leaf_mismatch", f"leaf is {proof.leaf.hex()}, SHA-256 gives {leaf.hex()}")
    note(f"leaf {leaf.hex()} rebuilt from the payload")
    try:
        sides = expected_sides(proof.leaf_index, proof.leaf_count)
    except ValueError as exc:
        raise Refused("path_shape", str(exc)) from exc
    if [side for side, _ in proof.path] != sides:
        raise Refused(
            "path_shape",
            f"leaf {proof.leaf_index} of {proof.leaf_count} has the sides {sides},"
            f" the proof {[side for side, _ in proof.path]}",
        )
    try:
        root = root_from_path(leaf, proof.path)
    except ValueError as exc:
        raise Refused("proof_malformed", str(exc)) from exc
    if root != proof.merkle_root:
        raise Refused(
            "root_mismatch",
            f"the path leads to {root.hex()}, not to the root {proof.merkle_root.hex()}",
        )
    steps = f"{len(proof.path)} step" + ("" if len(proof.path) == 1 else "s")
    note(f"path of {steps} (leaf {proof.leaf_index} of {proof.leaf_count})"
         f" leads to root {root.hex()}")  # fmt: skip
    if proof.attestation_signature is None:
        raise Unavailable(f"epoch {proof.epoch} is not attested on chain yet")
    memo = attested_memo(rpc, proof.attestation_signature, "attest", oracle, note)
    if memo.epoch() != proof.epoch or memo.fields["root"] != root.hex():
        raise Refused(
            "memo_mismatch",
            f"the chain attests epoch {memo.epoch()} root {memo.fields['root']}, the proof"
            f" epoch {proof.epoch} root {root.hex()}",
        )
    note(f"attested on chain: gtx/v1 attest epoch={proof.epoch} root={root.hex()}")
    return proof

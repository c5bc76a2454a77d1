"""A granular certificate's proof checked from the proof document alone and the chain:

1. the leaf bytes rebuild from the certificate's fields (`wire.certificate`) and hash
   to its leaf, its id;
2. the path's sides are those of leaf `leaf_index` among `leaf_count` leaves, and
   the path leads from the leaf to `merkle_root`;
3. the commitment transaction landed, carries `gtx/v1 certify epoch=E root=HEX ...`
   for the certificate's consumption epoch and that root, signed by the settlement
   authority (the key that burned the tokens).

The document is what `GET /api/v1/retirement/certificates/{leaf}` answers;
docs/protocol.md, "Certificates", lists its fields.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from verify.attestation import attested_memo
from verify.errors import Refused, Unavailable
from verify.merkle import expected_sides, root_from_path
from verify.proof_doc import attestation, field, hex_field, merkle_path
from verify.solana import SolanaRpc
from wire.certificate import certificate_leaf_bytes, certificate_leaf_hash

__all__ = ["CertificateProof", "check_certificate"]


@dataclass(frozen=True, slots=True)
class CertificateProof:
    epoch: int
    holder: str
    production_epoch: int
    gateway_id: str
    meter_id: str
    base_units: int
    leaf: bytes
    leaf_bytes: bytes
    leaf_index: int
    leaf_count: int
    path: tuple[tuple[str, bytes], ...]
    merkle_root: bytes
    attestation_signature: str | None


def read_certificate(doc: Mapping[str, Any]) -> CertificateProof:
    cert = field(doc, "certificate", dict)
    return CertificateProof(
        epoch=field(cert, "epoch", int), holder=field(cert, "holder", str),
        production_epoch=field(cert, "production_epoch", int),
        gateway_id=field(cert, "gateway_id", str), meter_id=field(cert, "meter_id", str),
        base_units=field(cert, "base_units", int), leaf=hex_field(cert, "leaf", 32),
        leaf_bytes=hex_field(doc, "leaf_bytes"), leaf_index=field(doc, "leaf_index", int),
        leaf_count=field(doc, "leaf_count", int), path=merkle_path(doc),
        merkle_root=hex_field(doc, "merkle_root", 32), attestation_signature=attestation(doc),
    )  # fmt: skip


def check_certificate(
    doc: Mapping[str, Any], rpc: SolanaRpc, *, authority: str, note: Callable[[str], None]
) -> CertificateProof:
    """Check the certificate proof `doc` (module doc); `Refused` names the first check
    that fails, `Unavailable` says what could not be fetched."""
    proof = read_certificate(doc)
    try:
        rebuilt = certificate_leaf_bytes(
            consumption_epoch=proof.epoch, holder=proof.holder,
            production_epoch=proof.production_epoch, gateway_id=proof.gateway_id,
            meter_id=proof.meter_id, base_units=proof.base_units,
        )  # fmt: skip
    except ValueError as exc:
        raise Refused("proof_malformed", str(exc)) from exc
    if rebuilt != proof.leaf_bytes:
        raise Refused("leaf_mismatch", "leaf_bytes do not encode the certificate's fields")
    leaf = certificate_leaf_hash(rebuilt)
    if leaf != proof.leaf:
        raise Refused("leaf_mismatch", f"leaf is {proof.leaf.hex()}, SHA-256 gives {leaf.hex()}")
    note(f"certificate {leaf.hex()}: {proof.base_units} base units of"
         f" {proof.gateway_id}/{proof.meter_id} (epoch {proof.production_epoch}) retired by"
         f" {proof.holder} for epoch {proof.epoch}")  # fmt: skip
    try:
        sides = expected_sides(proof.leaf_index, proof.leaf_count)
        root = root_from_path(leaf, proof.path)
    except ValueError as exc:
        raise Refused("path_shape", str(exc)) from exc
    if [side for side, _ in proof.path] != sides:
        raise Refused("path_shape", f"leaf {proof.leaf_index} of {proof.leaf_count} has the"
                      f" sides {sides}")  # fmt: skip
    if root != proof.merkle_root:
        raise Refused(
            "root_mismatch",
            f"the path leads to {root.hex()}, not to the root {proof.merkle_root.hex()}",
        )
    note(f"path (leaf {proof.leaf_index} of {proof.leaf_count}) leads to root {root.hex()}")
    if proof.attestation_signature is None:
        raise Unavailable(f"epoch {proof.epoch}'s certificates are not committed on chain yet")
    memo = attested_memo(rpc, proof.attestation_signature, "certify", authority, note)
    if memo.epoch() != proof.epoch or memo.fields["root"] != root.hex():
        raise Refused(
            "memo_mismatch",
            f"the chain commits epoch {memo.epoch()} root {memo.fields['root']}, the proof"
            f" epoch {proof.epoch} root {root.hex()}",
        )
    note(f"committed on chain: gtx/v1 certify epoch={proof.epoch} root={root.hex()}")
    return proof

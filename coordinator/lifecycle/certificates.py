"""Granular certificates and the Merkle tree committing each consumption epoch's: pure.

A certificate is one retired piece of one lot: `base_units` produced by one meter in
one epoch, retired by one holder against one consumption epoch. Its leaf is
`wire.certificate`'s; an epoch's tree holds its retired certificates ordered by leaf
bytes, built like the readings' tree (`coordinator.readings.oracle.merkle`).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from coordinator.lifecycle.matching import Lot
from coordinator.readings.oracle.merkle import MerkleTree, ProofStep
from wire.certificate import EMPTY_CERT_ROOT, certificate_leaf_bytes, certificate_leaf_hash

__all__ = ["CertificateFacts", "EpochCertificates", "certificates_of", "split_meter"]


def split_meter(meter: str) -> tuple[str, str]:
    """("<gateway id>/<meter id>") -> (gateway id, meter id)."""
    gateway_id, sep, meter_id = meter.partition("/")
    if not sep or not gateway_id or not meter_id:
        raise ValueError(f"not a gateway/meter pair: {meter!r}")
    return gateway_id, meter_id


@dataclass(frozen=True, slots=True)
class CertificateFacts:
    epoch: int  # the consumption epoch it covered
    holder: str
    production_epoch: int
    meter: str  # "<gateway id>/<meter id>"
    base_units: int

    def leaf_bytes(self) -> bytes:
        gateway_id, meter_id = split_meter(self.meter)
        return certificate_leaf_bytes(
            consumption_epoch=self.epoch, holder=self.holder,
            production_epoch=self.production_epoch, gateway_id=gateway_id,
            meter_id=meter_id, base_units=self.base_units,
        )  # fmt: skip

    def leaf(self) -> bytes:
        return certificate_leaf_hash(self.leaf_bytes())


def certificates_of(epoch: int, holder: str, retired: Iterable[Lot]) -> list[CertificateFacts]:
    """One certificate per retired lot piece."""
    return [
        CertificateFacts(epoch, holder, lot.production_epoch, lot.meter, lot.units)
        for lot in retired
    ]


@dataclass(frozen=True, slots=True)
class EpochCertificates:
    """An epoch's retired certificates in leaf order, and their tree."""

    ordered: tuple[CertificateFacts, ...]
    leaf_bytes: tuple[bytes, ...]
    tree: MerkleTree

    @classmethod
    def build(cls, certificates: Iterable[CertificateFacts]) -> "EpochCertificates":
        keyed = sorted((c.leaf_bytes(), c) for c in certificates)
        for (a, _), (b, _) in pairwise(keyed):
            if a == b:
                raise ValueError("the same certificate twice")
        leaves = [certificate_leaf_hash(raw) for raw, _ in keyed]
        return cls(
            tuple(c for _, c in keyed), tuple(raw for raw, _ in keyed), MerkleTree.build(leaves)
        )

    @property
    def root(self) -> bytes:
        return self.tree.root if self.ordered else EMPTY_CERT_ROOT

    @property
    def units(self) -> int:
        return sum(c.base_units for c in self.ordered)

    def index_of(self, leaf_bytes: bytes) -> int:
        return self.leaf_bytes.index(leaf_bytes)

    def proof(self, index: int) -> Sequence[ProofStep]:
        return self.tree.proof(index)

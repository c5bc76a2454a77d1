"""The Merkle tree of an epoch's accepted signed readings: the attestation root.

Anyone holding a signed reading, its proof and the root posted on chain can
check that the reading was counted in the epoch, with nothing but SHA-256:

    leaf      = SHA-256(0x00 || b"GTX-LEAF-v1" || signing_bytes || signature)
    node      = SHA-256(0x01 || left || right)
    empty     = SHA-256(b"GTX-MERKLE-EMPTY-v1")      (an epoch with no readings)

- Domain separation: the 0x00 / 0x01 prefixes make a leaf never equal an
  inner node, so no subtree can be passed off as a reading; the leaf's tag
  names the schema, so a v2 leaf cannot pass for a v1 one. The leaf bytes are
  unambiguous: the tag and signature have fixed lengths and the signing bytes
  length-prefix their one variable field (the meter id).
- Leaf order: by (gateway public key bytes, seq), unique among accepted
  readings; a verifier can rebuild the tree from the readings alone.
- An odd node at the end of a level is promoted unchanged to the next level
  (not paired with itself), so no two different leaf lists share a root the
  way duplicated last nodes allow (CVE-2012-2459). A promoted node adds no
  step to a proof.
- A single reading's root is its leaf hash.

A proof is a list of `(side, sibling)` steps from the leaf up, `side` saying
where the sibling sits: `node(sibling, h)` for LEFT, `node(h, sibling)` for RIGHT.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

from wire.reading import SignedReading

__all__ = [
    "EMPTY_ROOT",
    "HASH_LEN",
    "LEAF_TAG",
    "MerkleTree",
    "ProofStep",
    "Side",
    "epoch_root",
    "leaf_bytes",
    "leaf_hash",
    "merkle_proof",
    "merkle_root",
    "node_hash",
    "ordered_leaves",
    "verify_proof",
    "verify_reading",
]

LEAF_TAG = b"GTX-LEAF-v1"
HASH_LEN = 32
EMPTY_ROOT = hashlib.sha256(b"GTX-MERKLE-EMPTY-v1").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class Side(StrEnum):
    """Where a proof step's sibling sits relative to the running hash."""

    LEFT = "left"
    RIGHT = "right"


ProofStep = tuple[Side, bytes]


def leaf_bytes(signed: SignedReading) -> bytes:
    """The bytes a leaf commits to: schema tag, signed bytes, signature."""
    return LEAF_TAG + signed.reading.signing_bytes() + signed.signature


def leaf_hash(signed: SignedReading) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + leaf_bytes(signed)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def ordered_leaves(readings: Iterable[SignedReading]) -> list[bytes]:
    """Leaf hashes in tree order: by (gateway key, seq). Two readings with the
    same gateway and seq cannot both be accepted: ValueError."""
    keyed = sorted(
        (((s.reading.gateway_key, s.reading.seq), s) for s in readings), key=lambda pair: pair[0]
    )
    for (key_a, _), (key_b, _) in pairwise(keyed):
        if key_a == key_b:
            raise ValueError(f"two readings with gateway and seq {key_a[0].hex()}/{key_a[1]}")
    return [leaf_hash(s) for _, s in keyed]


@dataclass(frozen=True, slots=True)
class MerkleTree:
    """Every level of a tree, leaves first: build once, prove every leaf."""

    levels: tuple[tuple[bytes, ...], ...]

    @classmethod
    def build(cls, leaves: Sequence[bytes]) -> "MerkleTree":
        """The tree over leaf hashes, in the order given."""
        for leaf in leaves:
            if len(leaf) != HASH_LEN:
                raise ValueError("leaves must be 32-byte hashes")
        level = tuple(leaves)
        levels = [level]
        while len(level) > 1:
            paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                paired.append(level[-1])  # promoted, not duplicated
            level = tuple(paired)
            levels.append(level)
        return cls(tuple(levels))

    @property
    def root(self) -> bytes:
        top = self.levels[-1]
        return top[0] if top else EMPTY_ROOT

    def proof(self, index: int) -> list[ProofStep]:
        """The proof for the leaf at `index`."""
        if not 0 <= index < len(self.levels[0]):
            raise IndexError(f"no leaf {index} in a tree of {len(self.levels[0])}")
        steps: list[ProofStep] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                side = Side.LEFT if sibling < index else Side.RIGHT
                steps.append((side, level[sibling]))
            index //= 2
        return steps


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over leaf hashes in the order given (`EMPTY_ROOT` for none)."""
    return MerkleTree.build(leaves).root


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[ProofStep]:
    """The proof for `leaves[index]`; build a `MerkleTree` to prove many."""
    return MerkleTree.build(leaves).proof(index)


def verify_proof(leaf: bytes, proof: Sequence[ProofStep], root: bytes) -> bool:
    """True when `proof` leads from the leaf hash `leaf` to `root`."""
    if len(leaf) != HASH_LEN:
        return False
    running = leaf
    for side, sibling in proof:
        if len(sibling) != HASH_LEN:
            return False
        if side == Side.LEFT:
            running = node_hash(sibling, running)
        elif side == Side.RIGHT:
            running = node_hash(running, sibling)
        else:
            return False
    return running == root


def verify_reading(signed: SignedReading, proof: Sequence[ProofStep], root: bytes) -> bool:
    """True when `proof` shows `signed` was counted under `root`. Prefer this to
    `verify_proof` with a hash from elsewhere: starting from the reading itself
    is what rules out an inner node being passed off as a leaf."""
    return verify_proof(leaf_hash(signed), proof, root)


def epoch_root(readings: Iterable[SignedReading]) -> bytes:
    """The attestation root of an epoch's accepted readings, in any order."""
    return merkle_root(ordered_leaves(readings))

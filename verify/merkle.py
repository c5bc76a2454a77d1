"""The reading Merkle tree as docs/protocol.md specifies it, rebuilt from the spec:

    leaf bytes = b"GTX-LEAF-v1" || canonical signed bytes || signature (64 bytes)
    leaf       = SHA-256(0x00 || leaf bytes)
    node       = SHA-256(0x01 || left || right)

A proof step `("left", h)` means the sibling `h` is the left child (running =
node(h, running)); `("right", h)` the right one (running = node(running, h)).
Leaves are ordered by (gateway public key bytes, seq); an odd last node of a level
is promoted unchanged and adds no step, so the sides of a proof follow from the
leaf's index and the number of leaves (`expected_sides`).
"""

import hashlib
from collections.abc import Sequence

from wire.reading import SignedReading

__all__ = [
    "LEAF_TAG",
    "LEFT",
    "RIGHT",
    "expected_sides",
    "leaf_bytes",
    "leaf_hash",
    "node_hash",
    "root_from_path",
]

LEAF_TAG = b"GTX-LEAF-v1"
LEFT = "left"
RIGHT = "right"


def leaf_bytes(signed: SignedReading) -> bytes:
    return LEAF_TAG + signed.reading.signing_bytes() + signed.signature


def leaf_hash(data: bytes) -> bytes:
    """The leaf of `data`, the leaf bytes."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_path(leaf: bytes, path: Sequence[tuple[str, bytes]]) -> bytes:
    """The root that `path` leads to from `leaf`; ValueError on a malformed step."""
    running = leaf
    for number, (side, sibling) in enumerate(path):
        if len(sibling) != 32:
            raise ValueError(f"step {number}: a sibling is 32 bytes, not {len(sibling)}")
        if side == LEFT:
            running = node_hash(sibling, running)
        elif side == RIGHT:
            running = node_hash(running, sibling)
        else:
            raise ValueError(f"step {number}: side must be 'left' or 'right', not {side!r}")
    return running


def expected_sides(index: int, count: int) -> list[str]:
    """The sides of the proof of leaf `index` in a tree of `count` leaves, leaf upward."""
    if not 0 <= index < count:
        raise ValueError(f"no leaf {index} in a tree of {count}")
    sides = []
    while count > 1:
        sibling = index ^ 1
        if sibling < count:  # else this node is the odd last one: promoted, no step
            sides.append(LEFT if sibling < index else RIGHT)
        index //= 2
        count = (count + 1) // 2
    return sides

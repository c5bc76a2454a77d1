import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.readings.oracle.merkle import (
    EMPTY_ROOT,
    LEAF_TAG,
    MerkleTree,
    Side,
    epoch_root,
    leaf_bytes,
    leaf_hash,
    merkle_proof,
    merkle_root,
    node_hash,
    ordered_leaves,
    verify_proof,
    verify_reading,
)
from edge.signing import DeviceKey
from wire.reading import Reading, SignedReading

KEY_A = DeviceKey.generate()
KEY_B = DeviceKey.generate()


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def reading(key: DeviceKey, seq: int, imp: int = 0) -> SignedReading:
    return key.sign(Reading(key.gateway_id, "m1", seq, 1_764_028_800 + seq, imp, 0))


leaf_lists = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40)


def test_leaf_is_domain_separated_and_versioned() -> None:
    signed = reading(KEY_A, 1)
    raw = LEAF_TAG + signed.reading.signing_bytes() + signed.signature
    assert leaf_bytes(signed) == raw
    assert leaf_hash(signed) == sha(b"\x00" + raw)
    assert node_hash(b"a" * 32, b"b" * 32) == sha(b"\x01" + b"a" * 32 + b"b" * 32)


def test_small_trees_by_hand() -> None:
    a, b, c = sha(b"a"), sha(b"b"), sha(b"c")
    assert merkle_root([]) == EMPTY_ROOT == sha(b"GTX-MERKLE-EMPTY-v1")
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == node_hash(a, b)
    # The odd node is promoted, not paired with itself.
    assert merkle_root([a, b, c]) == node_hash(node_hash(a, b), c)
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c])
    assert merkle_proof([a, b, c], 2) == [(Side.LEFT, node_hash(a, b))]
    assert merkle_proof([a, b, c], 0) == [(Side.RIGHT, b), (Side.RIGHT, c)]


def test_leaf_order_is_gateway_key_then_seq_and_input_order_does_not_matter() -> None:
    readings = [reading(KEY_A, 2), reading(KEY_B, 1), reading(KEY_A, 10), reading(KEY_B, 3)]
    expected = sorted(readings, key=lambda s: (s.reading.gateway_key, s.reading.seq))
    assert ordered_leaves(readings) == [leaf_hash(s) for s in expected]
    assert epoch_root(readings) == epoch_root(list(reversed(readings)))
    assert epoch_root([]) == EMPTY_ROOT


def test_two_readings_with_one_seq_are_refused() -> None:
    with pytest.raises(ValueError, match="seq"):
        ordered_leaves([reading(KEY_A, 1, imp=1), reading(KEY_A, 1, imp=2)])


def test_a_real_readings_proof_verifies_and_a_changed_reading_does_not() -> None:
    readings = [reading(KEY_A, seq, imp=seq * 10) for seq in range(1, 8)]
    leaves = ordered_leaves(readings)
    root = merkle_root(leaves)
    proof = merkle_proof(leaves, 3)
    assert verify_proof(leaf_hash(readings[3]), proof, root)
    assert verify_reading(readings[3], proof, root)
    assert not verify_reading(reading(KEY_A, 4, imp=41), proof, root)
    assert not verify_reading(readings[2], proof, root)


@given(leaf_lists, st.data())
def test_every_leaf_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    tree = MerkleTree.build(leaves)
    assert tree.root == merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        assert verify_proof(leaf, tree.proof(index), tree.root)
    index = data.draw(st.integers(0, len(leaves) - 1))
    assert merkle_proof(leaves, index) == tree.proof(index)


@given(leaf_lists, st.data())
def test_proof_fails_for_a_modified_leaf_or_another_root(
    leaves: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(leaves) - 1))
    root = merkle_root(leaves)
    proof = merkle_proof(leaves, index)
    flip = data.draw(st.integers(0, 255))
    modified = bytes([leaves[index][0] ^ (flip or 1)]) + leaves[index][1:]
    assert not verify_proof(modified, proof, root)
    other_root = sha(root)
    assert not verify_proof(leaves[index], proof, other_root)
    if proof:  # a tampered step fails too
        side, sibling = proof[0]
        bad = [(side, sha(sibling)), *proof[1:]]
        assert not verify_proof(leaves[index], bad, root)
        flipped = [(Side.LEFT if side is Side.RIGHT else Side.RIGHT, sibling), *proof[1:]]
        assert leaves[index] == sibling or not verify_proof(leaves[index], flipped, root)


@given(leaf_lists)
def test_root_depends_on_every_leaf_and_the_count(leaves: list[bytes]) -> None:
    root = merkle_root(leaves)
    assert merkle_root(leaves) == root  # deterministic
    assert merkle_root([*leaves, leaves[-1]]) != root
    assert merkle_root(leaves[:-1]) != root
    changed = [sha(leaves[0]), *leaves[1:]]
    assert merkle_root(changed) != root


def test_malformed_inputs() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        merkle_root([b"short"])
    with pytest.raises(IndexError):
        merkle_proof([sha(b"a")], 1)
    a = sha(b"a")
    assert not verify_proof(b"short", [], a)
    assert not verify_proof(a, [(Side.LEFT, b"short")], a)
    assert not verify_proof(a, [("up", a)], a)  # type: ignore[list-item]
    assert not verify_proof(a, [], EMPTY_ROOT)

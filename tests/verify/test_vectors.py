"""tests/vectors/attestation_v1.json against every implementation and against the
worked example of docs/protocol.md: the coordinator's Merkle tree and clearing, the
on-chain roles' memo texts, and the verifier's own Merkle walk, memo parser and
clearing must all give the vectors' bytes, and the doc must show the vectors' values."""

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from solders.pubkey import Pubkey

from coordinator.governance import (
    Action,
    Param,
    ParamChange,
    Scope,
    change_memo,
    change_text,
    control_memo,
    control_text,
)
from coordinator.governance.notes import note_memo, note_text
from coordinator.governance.signing import wallet_signed
from coordinator.market.rules import clear_epoch, decode_inputs, encode_result
from coordinator.readings.oracle.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    epoch_root,
    ordered_leaves,
)
from coordinator.readings.oracle.merkle import leaf_bytes as coordinator_leaf_bytes
from coordinator.readings.oracle.merkle import leaf_hash as coordinator_leaf_hash
from programs.roles.oracle import attestation_memo, mint_memo
from programs.roles.registry import registration_memo
from programs.roles.trading import clearing_memo, settlement_memo
from verify import canonical, clear, parse_memo
from verify.merkle import expected_sides, leaf_bytes, leaf_hash, root_from_path
from wire.clearing import encode_clearing
from wire.reading import SignedReading, decode_payload

ROOT = Path(__file__).parents[2]
VECTORS: dict[str, Any] = json.loads((ROOT / "tests/vectors/attestation_v1.json").read_text())
DOC = (ROOT / "docs/protocol.md").read_text()
EPOCH: int = VECTORS["epoch"]


def _signed(index: int) -> SignedReading:
    return decode_payload(VECTORS["readings"][index]["payload"].encode())


READINGS = [_signed(i) for i in range(len(VECTORS["readings"]))]


@pytest.mark.parametrize("index", range(len(READINGS)))
def test_each_reading_signs_and_hashes_to_its_leaf(index: int) -> None:
    vector, signed = VECTORS["readings"][index], READINGS[index]
    assert signed.reading.signing_bytes().hex() == vector["signing_bytes_hex"]
    assert signed.signature.hex() == vector["signature_hex"]
    Ed25519PublicKey.from_public_bytes(signed.reading.gateway_key).verify(
        signed.signature, signed.reading.signing_bytes()
    )
    assert coordinator_leaf_bytes(signed).hex() == vector["leaf_bytes_hex"]
    assert leaf_bytes(signed).hex() == vector["leaf_bytes_hex"]
    assert coordinator_leaf_hash(signed).hex() == vector["leaf_hex"]
    assert leaf_hash(leaf_bytes(signed)).hex() == vector["leaf_hex"]


def test_leaves_are_ordered_by_key_bytes_then_seq_not_by_id_text() -> None:
    order = VECTORS["tree_order"]
    by_bytes = sorted(range(len(READINGS)), key=lambda i: (READINGS[i].reading.gateway_key,
                                                           READINGS[i].reading.seq))  # fmt: skip
    by_text = sorted(range(len(READINGS)), key=lambda i: (READINGS[i].reading.gateway_id,
                                                          READINGS[i].reading.seq))  # fmt: skip
    assert order == by_bytes
    assert order != by_text  # the example is chosen so that the two differ
    leaves = [VECTORS["readings"][i]["leaf_hex"] for i in order]
    assert [leaf.hex() for leaf in ordered_leaves(READINGS)] == leaves


def test_the_tree_and_its_root() -> None:
    tree = MerkleTree.build(ordered_leaves(READINGS))
    assert [[h.hex() for h in level] for level in tree.levels] == VECTORS["levels"]
    assert tree.root.hex() == VECTORS["root"]
    assert epoch_root(reversed(READINGS)).hex() == VECTORS["root"]
    assert EMPTY_ROOT.hex() == VECTORS["empty_root"]
    assert hashlib.sha256(b"GTX-MERKLE-EMPTY-v1").hexdigest() == VECTORS["empty_root"]


@pytest.mark.parametrize("proof", VECTORS["proofs"], ids=lambda p: f"leaf{p['leaf_index']}")
def test_each_proof_from_both_sides(proof: dict[str, Any]) -> None:
    tree = MerkleTree.build(ordered_leaves(READINGS))
    path = [(step["side"], bytes.fromhex(step["sibling"])) for step in proof["path"]]
    assert [(str(side), h) for side, h in tree.proof(proof["leaf_index"])] == path
    assert [side for side, _ in path] == expected_sides(proof["leaf_index"], proof["leaf_count"])
    leaf = bytes.fromhex(VECTORS["readings"][proof["reading"]]["leaf_hex"])
    assert root_from_path(leaf, path).hex() == VECTORS["root"]


def test_every_memo_kind_is_written_by_its_role_and_parsed_by_the_verifier() -> None:
    clearing = VECTORS["clearing"]
    root = bytes.fromhex(VECTORS["root"])
    # The governance memos: the wallet (discarded) signed the param's and the note's text.
    pause, param, note = (parse_memo(text).fields for text in VECTORS["memos"][6:])
    by = pause["by"]
    change = ParamChange(
        name=Param(param["name"]), value=param["value"], from_epoch=int(param["from"]),
        authority=param["by"], issued_at=int(param["at"]), signature=param["sig"],
    )  # fmt: skip
    written = [
        registration_memo(VECTORS["gateways"][0]["gateway_id"], "sdm630-0001",
                          Pubkey.from_string(clearing["owners"][0])),
        mint_memo(EPOCH),
        attestation_memo(EPOCH, root),
        clearing_memo(EPOCH, clearing["inputs_hash"], clearing["result_hash"]),
        settlement_memo(EPOCH),
        attestation_memo(EPOCH, root, attempt=1),
        control_memo(Action.PAUSE, [Scope.SETTLEMENT, Scope.CLEARING], EPOCH, by,
                     int(pause["at"]), pause["sig"]),
        change_memo(change),
        note_memo(by, int(note["at"]), note["text"], note["sig"]),
    ]  # fmt: skip
    assert [m.decode() for m in written] == VECTORS["memos"]
    assert wallet_signed(by, change_text(change), change.signature)
    pause_text = control_text(Action.PAUSE, [Scope.CLEARING, Scope.SETTLEMENT], EPOCH, by,
                              int(pause["at"]))  # fmt: skip
    assert wallet_signed(by, pause_text, pause["sig"])
    assert wallet_signed(by, note_text(by, int(note["at"]), note["text"]), note["sig"])
    kinds = [parse_memo(text).kind for text in VECTORS["memos"]]
    assert kinds == [
        "register", "mint", "attest", "clearing", "settle", "attest", "control", "param", "note"
    ]  # fmt: skip
    attest = parse_memo(VECTORS["memos"][2])
    assert (attest.epoch(), attest.fields["root"]) == (EPOCH, VECTORS["root"])
    assert "attempt" not in attest.fields
    assert parse_memo(VECTORS["memos"][5]).fields["attempt"] == "1"
    assert (param["name"], param["value"]) == ("lateness_window_s", "86400")


def test_the_clearing_from_both_implementations() -> None:
    clearing = VECTORS["clearing"]
    inputs, result = clearing["inputs"].encode(), clearing["result"].encode()
    assert hashlib.sha256(inputs).hexdigest() == clearing["inputs_hash"]
    assert hashlib.sha256(result).hexdigest() == clearing["result_hash"]
    assert encode_result(clear_epoch(decode_inputs(inputs))) == result
    assert canonical(json.loads(inputs)) == inputs
    assert canonical(clear(json.loads(inputs))) == result
    assert encode_clearing(EPOCH, inputs, result).decode() == clearing["publication"]


# --- the worked example in docs/protocol.md -------------------------------------------

WORKED = DOC[DOC.index("## Worked example") : DOC.index("## Versioning rule")]


def _all_hex(value: object) -> set[str]:
    if isinstance(value, str):
        return set(re.findall(r"[0-9a-f]{64}", value))
    if isinstance(value, dict):
        return set().union(*(_all_hex(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_all_hex(v) for v in value))
    return set()


def test_every_hash_the_doc_shows_is_in_the_vectors() -> None:
    shown = set(re.findall(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])", WORKED))
    assert shown
    assert shown <= _all_hex(VECTORS)


def test_the_doc_shows_the_root_the_proofs_and_the_memos() -> None:
    assert VECTORS["root"] in WORKED
    assert VECTORS["empty_root"] in WORKED
    for level in VECTORS["levels"]:
        for node in level:
            assert node in WORKED
    for proof in (VECTORS["proofs"][2], VECTORS["proofs"][4]):
        steps = [f"{s['side']:<6} {s['sibling']}" for s in proof["path"]]
        assert all(step in WORKED for step in steps), steps
    for memo in VECTORS["memos"]:
        assert f"\n{memo}\n" in WORKED
    for gateway in VECTORS["gateways"]:
        assert gateway["gateway_id"] in WORKED
        assert gateway["public_key_hex"] in WORKED


def test_the_doc_spells_out_the_leaf_bytes_of_seq_41() -> None:
    start = WORKED.rindex("```text", 0, WORKED.index('# "GTX-LEAF-v1"'))
    block = WORKED[start + len("```text") : WORKED.index("```", start + 7)]
    spelled = "".join(line.split("#")[0].replace(" ", "") for line in block.splitlines())
    (reading,) = [r for r in VECTORS["readings"] if '"seq":41' in r["payload"]]
    assert spelled == reading["leaf_bytes_hex"]
    assert reading["leaf_hex"] in WORKED

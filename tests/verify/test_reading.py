"""`check_reading` on the worked example's proofs: each honest proof verifies, and each
way of lying about a reading, its leaf, its path or its attestation is refused with
the code that names it."""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair

from programs.roles.oracle import attestation_memo, mint_memo
from tests.verify.fakes import RPC, FakeHttp, memo_transaction
from verify.errors import Refused, Unavailable
from verify.reading import check_reading
from verify.solana import SolanaRpc
from wire.base58 import b58encode

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors/attestation_v1.json").read_text()
)
EPOCH: int = VECTORS["epoch"]
ROOT = bytes.fromhex(VECTORS["root"])
ORACLE = Keypair()


def proof_doc(index: int, http: FakeHttp) -> dict[str, Any]:
    """The API's answer for leaf `index` of the example, its root attested on `http`."""
    proof = VECTORS["proofs"][index]
    reading = VECTORS["readings"][proof["reading"]]
    payload = json.loads(reading["payload"])
    signature = http.land(memo_transaction([attestation_memo(EPOCH, ROOT)], ORACLE))
    return {
        "gateway_id": payload["gw"], "seq": payload["seq"], "meter_id": payload["meter"],
        "epoch": EPOCH, "payload": reading["payload"], "signature": reading["signature_hex"],
        "signer": payload["gw"], "leaf_bytes": reading["leaf_bytes_hex"],
        "leaf": reading["leaf_hex"], "leaf_index": proof["leaf_index"],
        "leaf_count": proof["leaf_count"], "proof": copy.deepcopy(proof["path"]),
        "merkle_root": VECTORS["root"], "attestation_signature": signature, "verified": True,
    }  # fmt: skip


def run(doc: dict[str, Any], http: FakeHttp, oracle: Keypair = ORACLE) -> list[str]:
    notes: list[str] = []
    check_reading(doc, SolanaRpc(RPC, http), oracle=str(oracle.pubkey()), note=notes.append)
    return notes


@pytest.mark.parametrize("index", range(5))
def test_every_honest_proof_verifies(index: int) -> None:
    http = FakeHttp()
    notes = run(proof_doc(index, http), http)
    assert notes[-1] == f"attested on chain: gtx/v1 attest epoch={EPOCH} root={VECTORS['root']}"


def _flip_hex(text: str) -> str:
    return ("0" if text[0] != "0" else "1") + text[1:]


def _attest_other(doc: dict[str, Any], http: FakeHttp, memo: bytes, signer: Keypair) -> None:
    """The proof's attestation replaced by a transaction holding `memo`, signed by `signer`."""
    doc["attestation_signature"] = http.land(memo_transaction([memo], signer))


Doc = dict[str, Any]


def energy_changed(d: Doc, h: FakeHttp) -> None:
    d["payload"] = d["payload"].replace('"exp_wh":5000', '"exp_wh":5001')


def payload_not_json(d: Doc, h: FakeHttp) -> None:
    d["payload"] = "{"


def another_readings_payload(d: Doc, h: FakeHttp) -> None:
    d["seq"] += 1


def signature_field(d: Doc, h: FakeHttp) -> None:
    d["signature"] = _flip_hex(d["signature"])


def signer_not_the_gateway(d: Doc, h: FakeHttp) -> None:
    d["signer"] = b58encode(bytes(Keypair().pubkey()))


def leaf_bytes_extended(d: Doc, h: FakeHttp) -> None:
    d["leaf_bytes"] += "00"


def leaf_changed(d: Doc, h: FakeHttp) -> None:
    d["leaf"] = _flip_hex(d["leaf"])


def sibling_changed(d: Doc, h: FakeHttp) -> None:
    d["proof"][1]["sibling"] = _flip_hex(d["proof"][1]["sibling"])


def side_swapped(d: Doc, h: FakeHttp) -> None:
    d["proof"][0]["side"] = "left"


def index_changed(d: Doc, h: FakeHttp) -> None:
    d["leaf_index"] = 3


def count_changed(d: Doc, h: FakeHttp) -> None:
    d["leaf_count"] = 9


def step_dropped(d: Doc, h: FakeHttp) -> None:
    d["proof"].pop()


def root_changed(d: Doc, h: FakeHttp) -> None:
    d["merkle_root"] = _flip_hex(d["merkle_root"])


def malformed_step(d: Doc, h: FakeHttp) -> None:
    d["proof"][0]["sibling"] = "zz"


def another_root_attested(d: Doc, h: FakeHttp) -> None:
    _attest_other(d, h, attestation_memo(EPOCH, bytes(32)), ORACLE)


def another_epoch_attested(d: Doc, h: FakeHttp) -> None:
    _attest_other(d, h, attestation_memo(EPOCH + 1, ROOT), ORACLE)


def attested_by_another_key(d: Doc, h: FakeHttp) -> None:
    _attest_other(d, h, attestation_memo(EPOCH, ROOT), Keypair())


def no_attest_memo(d: Doc, h: FakeHttp) -> None:
    _attest_other(d, h, mint_memo(EPOCH), ORACLE)


def failed_transaction(d: Doc, h: FakeHttp) -> None:
    signature = d["attestation_signature"]
    h.transactions[signature] = (h.transactions[signature][0], {"InstructionError": [0, "X"]})


def endpoint_answers_another_transaction(d: Doc, h: FakeHttp) -> None:
    other = h.land(memo_transaction([attestation_memo(EPOCH, ROOT)], ORACLE))
    h.answer_as[d["attestation_signature"]] = other


Tamper = Callable[[Doc, FakeHttp], None]
TAMPERS: list[tuple[Tamper, str]] = [
    (energy_changed, "bad_signature"),
    (payload_not_json, "payload_malformed"),
    (another_readings_payload, "payload_mismatch"),
    (signature_field, "payload_mismatch"),
    (signer_not_the_gateway, "bad_signature"),
    (leaf_bytes_extended, "leaf_mismatch"),
    (leaf_changed, "leaf_mismatch"),
    (sibling_changed, "root_mismatch"),
    (side_swapped, "path_shape"),
    (index_changed, "path_shape"),
    (count_changed, "path_shape"),
    (step_dropped, "path_shape"),
    (root_changed, "root_mismatch"),
    (malformed_step, "proof_malformed"),
    (another_root_attested, "memo_mismatch"),
    (another_epoch_attested, "memo_mismatch"),
    (attested_by_another_key, "memo_unsigned"),
    (no_attest_memo, "memo_missing"),
    (failed_transaction, "attestation_failed"),
    (endpoint_answers_another_transaction, "attestation_mismatch"),
]


@pytest.mark.parametrize(("tamper", "code"), TAMPERS, ids=[t.__name__ for t, _ in TAMPERS])
def test_each_lie_is_refused_with_its_reason(tamper: Tamper, code: str) -> None:
    http = FakeHttp()
    doc = proof_doc(2, http)
    tamper(doc, http)
    with pytest.raises(Refused) as refused:
        run(doc, http)
    assert refused.value.code == code


def test_a_proof_needs_the_oracles_signature_not_anyones() -> None:
    http = FakeHttp()
    with pytest.raises(Refused, match="memo_unsigned"):
        run(proof_doc(0, http), http, oracle=Keypair())


@pytest.mark.parametrize("missing", ["payload", "signer", "leaf_index", "proof"])
def test_a_proof_without_a_field_is_malformed(missing: str) -> None:
    http = FakeHttp()
    doc = proof_doc(0, http)
    del doc[missing]
    with pytest.raises(Refused, match="proof_malformed"):
        run(doc, http)


def test_not_attested_yet_or_unknown_transaction_is_unavailable_not_refused() -> None:
    http = FakeHttp()
    doc = proof_doc(0, http)
    doc["attestation_signature"] = None
    with pytest.raises(Unavailable, match="not attested"):
        run(doc, http)
    doc["attestation_signature"] = str(Keypair().sign_message(b"x"))
    with pytest.raises(Unavailable, match="does not know"):
        run(doc, http)

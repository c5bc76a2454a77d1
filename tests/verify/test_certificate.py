"""Certificates: the pinned leaf encoding and tree (tests/vectors/certificate_v1.json)
rebuilt by the coordinator and by `gtx-verify`, each honest proof verified against its
`gtx/v1 certify` memo, and each lie refused with the code that names it."""

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair

from coordinator.lifecycle.certificates import CertificateFacts, EpochCertificates
from programs.roles.retirement import certify_memo, retire_memo
from tests.verify.fakes import RPC, FakeHttp, memo_transaction
from verify.certificate import check_certificate
from verify.errors import Refused, Unavailable
from verify.memos import parse_memo
from verify.solana import SolanaRpc

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors/certificate_v1.json").read_text()
)
EPOCH: int = VECTORS["epoch"]
ROOT = bytes.fromhex(VECTORS["root"])
AUTHORITY = Keypair()


def _facts(c: dict[str, Any]) -> CertificateFacts:
    meter = f"{c['gateway_id']}/{c['meter_id']}"
    return CertificateFacts(EPOCH, c["holder"], c["production_epoch"], meter, c["base_units"])


def test_the_coordinator_builds_the_pinned_leaves_tree_and_memos() -> None:
    tree = EpochCertificates.build(_facts(c) for c in VECTORS["certificates"])
    assert tree.root.hex() == VECTORS["root"]
    for c in VECTORS["certificates"]:
        facts = _facts(c)
        assert facts.leaf_bytes().hex() == c["leaf_bytes_hex"]
        assert facts.leaf().hex() == c["leaf_hex"]
        index = tree.index_of(facts.leaf_bytes())
        assert index == c["leaf_index"]
        assert [{"side": str(s), "sibling": h.hex()} for s, h in tree.proof(index)] == c["path"]
    count, units = len(VECTORS["certificates"]), VECTORS["units"]
    assert certify_memo(EPOCH, ROOT, count, units).decode() == VECTORS["certify_memo"]
    assert retire_memo(EPOCH).decode() == VECTORS["retire_memo"]
    assert parse_memo(VECTORS["certify_memo"]).fields["root"] == VECTORS["root"]
    assert parse_memo(retire_memo(EPOCH, 2).decode()).kind == "retire"


def proof_doc(index: int, http: FakeHttp, signer: Keypair = AUTHORITY) -> dict[str, Any]:
    c = VECTORS["certificates"][index]
    memo = certify_memo(EPOCH, ROOT, 3, VECTORS["units"])
    signature = http.land(memo_transaction([memo], signer))
    certificate = {
        "leaf": c["leaf_hex"], "epoch": EPOCH, "holder": c["holder"],
        "production_epoch": c["production_epoch"], "gateway_id": c["gateway_id"],
        "meter_id": c["meter_id"], "base_units": c["base_units"],
        "wh": c["base_units"] // 10**6, "status": "retired",
    }  # fmt: skip
    return {
        "certificate": certificate, "leaf_bytes": c["leaf_bytes_hex"],
        "leaf_index": c["leaf_index"], "leaf_count": 3, "proof": copy.deepcopy(c["path"]),
        "merkle_root": VECTORS["root"], "attestation_signature": signature, "verified": True,
    }  # fmt: skip


def run(doc: dict[str, Any], http: FakeHttp) -> list[str]:
    notes: list[str] = []
    rpc = SolanaRpc(RPC, http)
    check_certificate(doc, rpc, authority=str(AUTHORITY.pubkey()), note=notes.append)
    return notes


@pytest.mark.parametrize("index", range(3))
def test_every_honest_certificate_proof_verifies(index: int) -> None:
    http = FakeHttp()
    notes = run(proof_doc(index, http), http)
    assert notes[-1] == f"committed on chain: gtx/v1 certify epoch={EPOCH} root={VECTORS['root']}"


Tamper = Callable[[dict[str, Any], FakeHttp], None]


def _more_units(doc: dict[str, Any], http: FakeHttp) -> None:
    doc["certificate"]["base_units"] += 1


def _other_meter(doc: dict[str, Any], http: FakeHttp) -> None:
    doc["certificate"]["meter_id"] = "sdm630-0009"


def _swap_sides(doc: dict[str, Any], http: FakeHttp) -> None:
    for step in doc["proof"]:
        step["side"] = "left" if step["side"] == "right" else "right"


def _other_root(doc: dict[str, Any], http: FakeHttp) -> None:
    doc["merkle_root"] = "00" * 32


def _other_epoch_committed(doc: dict[str, Any], http: FakeHttp) -> None:
    memo = certify_memo(EPOCH + 1, ROOT, 3, VECTORS["units"])
    doc["attestation_signature"] = http.land(memo_transaction([memo], AUTHORITY))


def _signed_by_someone_else(doc: dict[str, Any], http: FakeHttp) -> None:
    memo = certify_memo(EPOCH, ROOT, 3, VECTORS["units"])
    doc["attestation_signature"] = http.land(memo_transaction([memo], Keypair()))


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        (_more_units, "leaf_mismatch"),
        (_other_meter, "leaf_mismatch"),
        (_swap_sides, "path_shape"),
        (_other_root, "root_mismatch"),
        (_other_epoch_committed, "memo_mismatch"),
        (_signed_by_someone_else, "memo_unsigned"),
    ],
)
def test_each_lie_is_refused_with_its_reason(tamper: Tamper, code: str) -> None:
    http = FakeHttp()
    doc = proof_doc(0, http)
    tamper(doc, http)
    with pytest.raises(Refused) as refused:
        run(doc, http)
    assert refused.value.code == code


def test_not_committed_yet_is_unavailable() -> None:
    http = FakeHttp()
    doc = proof_doc(1, http)
    doc["attestation_signature"] = None
    with pytest.raises(Unavailable):
        run(doc, http)


def test_the_doc_shows_the_pinned_leaf_and_root() -> None:
    doc = (Path(__file__).parents[2] / "docs/protocol.md").read_text()
    section = doc[doc.index("## Certificates") : doc.index("## Memos")]
    first = VECTORS["certificates"][0]
    assert first["leaf_hex"] in section
    assert VECTORS["root"] in section
    start = section.index("leaf bytes 4754") + len("leaf bytes")
    shown = section[start : section.index("leaf       ", start)]
    assert "".join(re.findall(r"[0-9a-f]{2,}", shown)) == first["leaf_bytes_hex"]

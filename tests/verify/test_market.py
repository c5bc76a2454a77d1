"""`check_clearing` on the worked example's clearing: the honest publication verifies;
a tampered result, tampered inputs, inputs out of canonical form, hashes that do not
match and attestations that do not hold are each refused with their reason, down to
a consistent forger (every hash recomputed) whom only the chain gives away."""

import copy
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from solders.keypair import Keypair

from programs.roles.trading import clearing_memo
from tests.verify.fakes import RPC, FakeHttp, memo_transaction
from verify.clearing import canonical
from verify.errors import Refused, Unavailable
from verify.market import check_clearing
from verify.solana import SolanaRpc
from wire.clearing import encode_clearing

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors/attestation_v1.json").read_text()
)
EPOCH: int = VECTORS["epoch"]
AUTHORITY = Keypair()


class World:
    """The published clearing of the example, as an API and a chain would serve it."""

    def __init__(self) -> None:
        self.http = FakeHttp()
        self.inputs: dict[str, Any] = json.loads(VECTORS["clearing"]["inputs"])
        self.result: dict[str, Any] = json.loads(VECTORS["clearing"]["result"])
        self.epoch = EPOCH
        self.publication = VECTORS["clearing"]["publication"].encode()
        self.summary: dict[str, Any] = {
            "epoch": EPOCH,
            "inputs_hash": VECTORS["clearing"]["inputs_hash"],
            "result_hash": VECTORS["clearing"]["result_hash"],
            "attestation_signature": self.attest(
                VECTORS["clearing"]["inputs_hash"], VECTORS["clearing"]["result_hash"]
            ),
        }

    def attest(self, inputs_hash: str, result_hash: str, signer: Keypair = AUTHORITY) -> str:
        memo = clearing_memo(EPOCH, inputs_hash, result_hash)
        return self.http.land(memo_transaction([memo], signer))

    def republish(self, *, summary: bool = True) -> None:
        """Publish the (changed) inputs and result with hashes that match them."""
        inputs, result = canonical(self.inputs), canonical(self.result)
        self.publication = encode_clearing(self.epoch, inputs, result)
        if summary:
            self.summary["inputs_hash"] = hashlib.sha256(inputs).hexdigest()
            self.summary["result_hash"] = hashlib.sha256(result).hexdigest()

    def check(self) -> list[str]:
        notes: list[str] = []
        check_clearing(EPOCH, self.summary, self.publication, SolanaRpc(RPC, self.http),
                       authority=str(AUTHORITY.pubkey()), note=notes.append)  # fmt: skip
        return notes


def test_the_honest_clearing_verifies() -> None:
    notes = World().check()
    assert "3 matches, price 35000" in notes[-3]
    assert notes[-1].startswith(f"attested on chain: gtx/v1 clearing epoch={EPOCH} inputs=")


def _reprice(w: World) -> None:
    w.result["clearing_price"] = 36_000
    for match in w.result["matches"]:
        match[5] = 36_000


def price_with_hashes_recomputed(w: World) -> None:
    _reprice(w)
    w.republish()


def match_with_hashes_recomputed(w: World) -> None:
    """the first match's buyer replaced"""
    w.result["matches"][0][2] = w.result["matches"][1][2]
    w.republish()


def price_but_not_the_apis_hashes(w: World) -> None:
    _reprice(w)
    w.republish(summary=False)


def price_but_not_the_stated_hash(w: World) -> None:
    honest = canonical(json.loads(VECTORS["clearing"]["result"]))
    _reprice(w)
    w.publication = w.publication.replace(honest, canonical(w.result))


def inputs_but_not_the_results_reference(w: World) -> None:
    w.inputs["rules"]["tick"] = 500
    w.republish()


def inputs_out_of_canonical_form(w: World) -> None:
    w.inputs["orders"].reverse()
    w.result["inputs_hash"] = hashlib.sha256(canonical(w.inputs)).hexdigest()
    w.republish()


def a_consistent_forgery(w: World) -> None:
    """a2's limit 20,000 -> 21,000: the same result, every hash recomputed"""
    (a2,) = [o for o in w.inputs["orders"] if o[0] == "a2"]
    a2[5] = 21_000
    w.result["inputs_hash"] = hashlib.sha256(canonical(w.inputs)).hexdigest()
    w.republish()


def another_epochs_publication(w: World) -> None:
    w.epoch = EPOCH + 1
    w.republish()


def not_a_publication(w: World) -> None:
    w.publication = b"[]"


def attested_by_another_key(w: World) -> None:
    signature = w.attest(w.summary["inputs_hash"], w.summary["result_hash"], Keypair())
    w.summary["attestation_signature"] = signature


def other_hashes_attested(w: World) -> None:
    signature = w.attest(w.summary["result_hash"], w.summary["inputs_hash"])
    w.summary["attestation_signature"] = signature


Tamper = Callable[[World], None]
TAMPERS: list[tuple[Tamper, str]] = [
    (price_with_hashes_recomputed, "result_differs"),
    (match_with_hashes_recomputed, "result_differs"),
    (price_but_not_the_apis_hashes, "summary_mismatch"),
    (price_but_not_the_stated_hash, "result_hash_mismatch"),
    (inputs_but_not_the_results_reference, "result_mismatch"),
    (inputs_out_of_canonical_form, "inputs_not_canonical"),
    (a_consistent_forgery, "memo_mismatch"),
    (another_epochs_publication, "epoch_mismatch"),
    (not_a_publication, "publication_malformed"),
    (attested_by_another_key, "memo_unsigned"),
    (other_hashes_attested, "memo_mismatch"),
]


@pytest.mark.parametrize(("tamper", "code"), TAMPERS, ids=[t.__name__ for t, _ in TAMPERS])
def test_each_lie_is_refused_with_its_reason(tamper: Tamper, code: str) -> None:
    world = World()
    tamper(world)
    with pytest.raises(Refused) as refused:
        world.check()
    assert refused.value.code == code, refused.value


def test_the_first_difference_is_named() -> None:
    world = World()
    price_with_hashes_recomputed(world)
    with pytest.raises(Refused, match="clearing_price is 36000, recomputed 35000"):
        world.check()


def test_not_attested_yet_is_unavailable() -> None:
    world = World()
    world.summary["attestation_signature"] = None
    with pytest.raises(Unavailable, match="not attested"):
        world.check()


def test_the_example_is_unchanged_by_the_tests() -> None:
    world = World()
    before = copy.deepcopy(world.inputs)
    world.check()
    assert world.inputs == before

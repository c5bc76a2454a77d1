import json
from dataclasses import replace

from coordinator.market.rules import (
    Match,
    clear_epoch,
    encode_inputs,
    encode_result,
    verify_encoded,
    verify_result,
)
from tests.coordinator.market.rules.books import ALICE, BOB, CAROL, ask, bid, book

INPUTS = book(
    [bid("b1", ALICE, 2, 200_000), bid("b2", CAROL, 1, 120_000), ask("s", BOB, 3, 100_000)]
)
RESULT = clear_epoch(INPUTS)


def test_a_true_result_agrees() -> None:
    verdict = verify_result(INPUTS, RESULT)
    assert verdict.agrees
    assert verdict.expected_hash == verdict.stored_hash == RESULT.result_hash
    assert verify_encoded(encode_inputs(INPUTS), encode_result(RESULT)).agrees


def test_a_tampered_payment_is_caught() -> None:
    first = RESULT.matches[0]
    forged = RESULT.matches[0]._replace(payment=first.payment - 1)
    assert isinstance(forged, Match)
    tampered = replace(RESULT, matches=(forged, *RESULT.matches[1:]))
    bytes_verdict = verify_encoded(encode_inputs(INPUTS), encode_result(tampered))
    assert not bytes_verdict.agrees
    assert bytes_verdict.reason == "matches differs from the recomputation"
    object_verdict = verify_result(INPUTS, tampered)
    assert not object_verdict.agrees
    assert "result_hash" in object_verdict.reason


def test_a_result_for_other_inputs_is_caught() -> None:
    other = book([bid("b1", ALICE, 2, 200_000), ask("s", BOB, 3, 100_000)])
    verdict = verify_result(other, RESULT)
    assert not verdict.agrees
    assert verdict.reason == "inputs_hash differs from the recomputation"


def test_non_canonical_or_broken_bytes_disagree() -> None:
    pretty = json.dumps(json.loads(encode_inputs(INPUTS)), indent=1).encode()
    verdict = verify_encoded(pretty, encode_result(RESULT))
    assert not verdict.agrees
    assert verdict.reason == "inputs are not in canonical form"
    assert not verify_encoded(b"{", encode_result(RESULT)).agrees
    garbled = verify_encoded(encode_inputs(INPUTS), encode_result(RESULT) + b" ")
    assert not garbled.agrees
    assert garbled.expected_hash == RESULT.result_hash

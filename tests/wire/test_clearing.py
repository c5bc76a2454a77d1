"""The clearing publication: the canonical bytes verbatim in a hand-written envelope."""

import hashlib

import pytest

from coordinator.market.rules import (
    ClearingInputs,
    Escrow,
    clear_epoch,
    encode_inputs,
    encode_result,
    inputs_hash,
    result_hash,
)
from tests.coordinator.market.rules.books import ALICE, BOB, EPOCH, KWH, ask, bid
from wire.clearing import decode_clearing, encode_clearing


def _hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_envelope_bytes_are_pinned() -> None:
    inputs, result = b'{"a":1}', b'{"b":[]}'
    assert encode_clearing(42, inputs, result) == (
        b'{"epoch":42,"inputs":{"a":1},"inputs_hash":"%s",'
        b'"result":{"b":[]},"result_hash":"%s","v":1}'
        % (_hex(inputs).encode(), _hex(result).encode())
    )


def test_a_cleared_epoch_round_trips_with_the_canonical_hashes() -> None:
    book = ClearingInputs(
        EPOCH,
        [ask("s", BOB, 1, 100_000, seq=2), bid("b", ALICE, 2, 200_000, seq=1)],
        Escrow(energy={BOB: KWH}, payment={ALICE: 400_000}),
    )
    cleared = clear_epoch(book)
    body = encode_clearing(EPOCH, encode_inputs(book), encode_result(cleared))
    # The canonical bytes are embedded verbatim, not re-serialised.
    assert encode_inputs(book) in body
    assert encode_result(cleared) in body
    published = decode_clearing(body)
    assert published.epoch == EPOCH
    assert published.inputs_hash == inputs_hash(book)
    assert published.result_hash == result_hash(cleared)
    assert published.result["volume"] == cleared.volume
    assert len(published.inputs["orders"]) == 2


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[]", "not a clearing"),
        (b"{}", "not a clearing"),
        (b"not json", "not a clearing"),
        (encode_clearing(1, b"{}", b"{}").replace(b'"v":1', b'"v":2'), "unsupported"),
        (encode_clearing(1, b"[]", b"{}"), "not a clearing"),
    ],
)
def test_other_payloads_are_refused(payload: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        decode_clearing(payload)

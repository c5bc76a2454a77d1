import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.market.rules import (
    ClearingInputs,
    Escrow,
    InputError,
    clear_epoch,
    decode_inputs,
    decode_result,
    encode_inputs,
    encode_result,
    inputs_hash,
)
from coordinator.market.rules.canonical import _dumps, _json_dumps
from coordinator.market.rules.orders import Order, Side
from tests.coordinator.market.rules.books import (
    ALICE,
    BOB,
    CAROL,
    EPOCH,
    KWH,
    ask,
    bid,
    book,
    books,
)


def test_inputs_bytes_are_pinned() -> None:
    inputs = ClearingInputs(
        EPOCH,
        [ask("s", BOB, 1, 100_000, seq=2), bid("b", ALICE, 2, 200_000, seq=1)],
        Escrow(energy={BOB: KWH, CAROL: 5}, payment={ALICE: 400_000}),
    )
    expected = (
        '{"epoch":100,"escrow":{"energy":[["' + BOB + '",1000000000]],'
        '"payment":[["' + ALICE + '",400000]]},'
        '"orders":[["b","' + ALICE + '","buy",100,2000000000,200000,1],'
        '["s","' + BOB + '","sell",100,1000000000,100000,2]],'
        '"rules":{"k":[1,2],"lot":1000000,"pricing":"pay_as_clear","tick":1000},"v":1}'
    ).encode()
    assert encode_inputs(inputs) == expected
    assert inputs_hash(inputs) == hashlib.sha256(expected).hexdigest()


def test_result_bytes_are_pinned_and_hashed() -> None:
    result = clear_epoch(book([bid("b", ALICE, 2, 200_000), ask("s", BOB, 1, 100_000)]))
    data = encode_result(result)
    doc = json.loads(data)
    assert doc["matches"] == [["b", "s", ALICE, BOB, KWH, 150_000, 150_000]]
    assert doc["orders"] == [
        ["b", ALICE, "buy", "partial", 2 * KWH, 2 * KWH, KWH, 150_000, None],
        ["s", BOB, "sell", "filled", KWH, KWH, KWH, 150_000, None],
    ]
    assert (doc["clearing_price"], doc["volume"], doc["turnover"]) == (150_000, KWH, 150_000)
    assert data == json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    assert result.result_hash == hashlib.sha256(data).hexdigest()
    assert doc["inputs_hash"] == result.inputs_hash


@settings(max_examples=150, deadline=None)
@given(books())
def test_inputs_and_results_round_trip(inputs: ClearingInputs) -> None:
    data = encode_inputs(inputs)
    again = decode_inputs(data)
    assert again == inputs
    assert encode_inputs(again) == data
    result = clear_epoch(inputs)
    decoded = decode_result(encode_result(result))
    assert decoded == result


def test_extra_escrow_and_order_of_arrival_do_not_change_the_hash() -> None:
    orders = [bid("b", ALICE, 2, 200_000), ask("s", BOB, 1, 100_000)]
    small = ClearingInputs(EPOCH, orders, Escrow(energy={BOB: 1}, payment={ALICE: 2}))
    large = ClearingInputs(
        EPOCH,
        reversed(orders),
        Escrow(energy={BOB: 1, ALICE: 9, CAROL: 3}, payment={ALICE: 2, BOB: 0}),
    )
    assert inputs_hash(small) == inputs_hash(large)
    missing = ClearingInputs(EPOCH, orders, Escrow(energy={BOB: 0}))
    explicit_zero = ClearingInputs(EPOCH, orders, Escrow(energy={BOB: 0}, payment={ALICE: 0}))
    assert inputs_hash(missing) == inputs_hash(explicit_zero)


def test_bad_inputs_are_refused() -> None:
    orders = [bid("b", ALICE, 1, 100_000), ask("b", BOB, 1, 100_000)]
    with pytest.raises(InputError, match="duplicate"):
        ClearingInputs(EPOCH, orders, Escrow())
    with pytest.raises(InputError, match="non-negative"):
        ClearingInputs(EPOCH, orders[:1], Escrow(payment={ALICE: -1}))
    with pytest.raises(InputError, match="epoch"):
        ClearingInputs(-1, [], Escrow())


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"v":2}',
        b'{"epoch":1.5,"escrow":{"energy":[],"payment":[]},"orders":[],'
        b'"rules":{"k":[1,2],"lot":1,"pricing":"pay_as_clear","tick":1},"v":1}',
        b'{"epoch":1,"escrow":{"energy":[],"payment":[]},"orders":[["x"]],'
        b'"rules":{"k":[1,2],"lot":1,"pricing":"pay_as_clear","tick":1},"v":1}',
        b'{"epoch":1,"escrow":{"energy":[],"payment":[]},"orders":[],'
        b'"rules":{"k":[1,2],"lot":1,"pricing":"pay_as_you_like","tick":1},"v":1}',
        b'{"epoch":1,"escrow":{"energy":[],"payment":[]},"orders":[],'
        b'"rules":{"k":[1,0],"lot":1,"pricing":"pay_as_clear","tick":1},"v":1}',
        b'{"epoch":true,"escrow":{"energy":[],"payment":[]},"orders":[],'
        b'"rules":{"k":[1,2],"lot":1,"pricing":"pay_as_clear","tick":1},"v":1}',
    ],
)
def test_malformed_inputs_bytes_raise_input_error(data: bytes) -> None:
    with pytest.raises(InputError):
        decode_inputs(data)


def test_malformed_result_bytes_raise_input_error() -> None:
    with pytest.raises(InputError):
        decode_result(b'{"v":1}')


# Every value the canonical documents hold: ints of any size, any text
# (control characters, non-ASCII, unpaired surrogates), null, arrays, objects.
_documents = st.recursive(
    st.none()
    | st.integers()
    | st.integers(-(2**70), 2**70)
    | st.text()
    | st.text(st.characters(categories=["Cc", "Cs", "Ll", "Nd", "Po"])),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


def test_every_ascii_character_and_some_beyond_encode_as_json_does() -> None:
    # DEL (0x7f) is the one ASCII character orjson and json write differently.
    documents = [{chr(c): [chr(c), f"a{chr(c)}z"]} for c in range(0x110)]
    assert [d for d in documents if _dumps(d) != _json_dumps(d)] == []


@settings(max_examples=600, deadline=None)
@given(_documents)
def test_the_fast_encoder_writes_what_the_json_module_writes(document: object) -> None:
    assert _dumps(document) == _json_dumps(document)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=8).filter(lambda s: s not in "bs"), st.integers(2**63, 2**80))
def test_odd_order_ids_and_huge_quantities_encode_canonically(odd: str, huge: int) -> None:
    # Excluded orders keep whatever id and quantity they came with; the bytes
    # must still be the json module's (escaped ASCII, exact big ints).
    inputs = ClearingInputs(
        EPOCH,
        [
            Order(odd, ALICE, Side.BUY, EPOCH, huge, 100_000, 1),
            bid("b", ALICE, 1, 200_000),
            ask("s", BOB, 1, 100_000),
        ],
        Escrow(energy={BOB: KWH}, payment={ALICE: 10**6}),
    )
    data = encode_inputs(inputs)
    assert data == _json_dumps(json.loads(data))
    assert decode_inputs(data) == inputs
    result = clear_epoch(inputs)
    assert encode_result(result) == _json_dumps(json.loads(encode_result(result)))
    assert decode_result(encode_result(result)) == result

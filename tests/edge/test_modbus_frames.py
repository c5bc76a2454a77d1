"""The Modbus TCP answer check: every prefix of a well-formed answer passes, and
an answer wrong in its header or byte count is told from its first bytes."""

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.modbus_frames import answer_problem


def _request(tid: int = 7, unit: int = 1, function: int = 4, count: int = 2) -> bytes:
    return struct.pack(">HHHBBHH", tid, 0, 6, unit, function, 0x34, count)


def _answer(
    tid: int = 7,
    unit: int = 1,
    function: int = 4,
    count: int = 2,
    *,
    length: int | None = None,
    byte_count: int | None = None,
    protocol: int = 0,
) -> bytes:
    data = bytes(range(2 * count))
    pdu = bytes([function, 2 * count if byte_count is None else byte_count]) + data
    header = struct.pack(">HHHB", tid, protocol, len(pdu) + 1 if length is None else length, unit)
    return header + pdu


@given(
    tid=st.integers(1, 0xFFFF),
    unit=st.integers(1, 247),
    function=st.sampled_from([3, 4]),
    count=st.integers(1, 125),
    exception=st.booleans(),
)
def test_every_prefix_of_a_well_formed_answer_passes(
    tid: int, unit: int, function: int, count: int, exception: bool
) -> None:
    request = _request(tid, unit, function, count)
    if exception:
        answer = struct.pack(">HHHBBB", tid, 0, 3, unit, function | 0x80, 2)
    else:
        answer = _answer(tid, unit, function, count)
    for end in range(len(answer) + 1):
        assert answer_problem(request, answer[:end]) is None


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (_answer(byte_count=6), "byte count 6 disagrees with the length 7"),
        (_answer(length=9), "length 9 fits no answer to a read of 2 registers"),
        (_answer(count=3), "length 9 fits no answer"),  # a long answer: more registers
        (_answer(count=1), "length 5 fits no answer"),  # a short one
        (_answer() + b"\x00\x01", "2 bytes beyond the length 7"),
        (_answer(tid=8), "answer to transaction 8, not 7"),
        (_answer(protocol=1), "protocol id 1, not 0"),
        (_answer(unit=2), "answer from unit 2, not 1"),
        (_answer(function=3), "function code 3 in the answer, not 4"),
        (struct.pack(">HHHBBB", 7, 0, 7, 1, 0x84, 2), "exception answer with length 7"),
        (b"\xde\xad\xbe\xef" * 4, "answer to transaction 57005"),
    ],
)
def test_a_wrong_answer_is_told_from_its_first_bytes(answer: bytes, problem: str) -> None:
    found = answer_problem(_request(), answer)
    assert found is not None
    assert found.startswith(problem)


def test_known_as_soon_as_the_wrong_byte_arrives() -> None:
    # The byte count is the 9th byte: 8 bytes cannot tell, 9 can.
    answer = _answer(byte_count=2)
    assert answer_problem(_request(), answer[:8]) is None
    assert answer_problem(_request(), answer[:9]) is not None


def test_zero_ids_are_tolerated_and_other_requests_not_judged() -> None:
    assert answer_problem(_request(), _answer(tid=0)) is None
    assert answer_problem(_request(), _answer(unit=0)) is None
    write = struct.pack(">HHHBBHH", 7, 0, 6, 1, 6, 0x34, 1)
    assert answer_problem(write, b"\xff" * 12) is None

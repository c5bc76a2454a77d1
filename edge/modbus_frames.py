"""Checking a Modbus TCP answer against its read request, byte by byte as it arrives.

pymodbus waits for as many bytes as an answer's header announces and only
then decodes it; an answer that is wrong from its first bytes (a byte count
that disagrees with the length, a length no answer to this request can have,
another transaction's or unit's answer) costs a full response timeout, and
one it cannot decode escapes its protocol callback as an asyncio "Fatal
error" traceback. `answer_problem` tells such an answer from its first bytes,
so the reader can give up on it at once. Pure: bytes in, a sentence out.

A read request (function 3 or 4) for `count` registers has exactly two
well-formed answers:

    [tid][0][length = 3 + 2 * count][unit][function][2 * count][registers ...]
    [tid][0][length = 3]            [unit][function | 0x80][exception code]
"""

__all__ = ["answer_problem"]

_MBAP = 6  # transaction id, protocol id, length; the length counts from the unit id on
_READ_FUNCTIONS = (3, 4)
_REQUEST_LEN = 12


def answer_problem(request: bytes, received: bytes) -> str | None:
    """What is wrong with `received` (the bytes so far) as the answer to the
    read `request` (the whole frame sent), or None while it may still be right.

    Only read requests of functions 3 and 4 are judged; any other request
    gives None. A transaction id or unit id of 0 in the answer is tolerated,
    as pymodbus tolerates it, for devices that do not echo them.
    """
    if len(request) != _REQUEST_LEN or request[7] not in _READ_FUNCTIONS:
        return None
    count = int.from_bytes(request[10:12], "big")
    return _header_problem(request, received, 3 + 2 * count) or _pdu_problem(
        request[7], count, received
    )


def _header_problem(request: bytes, received: bytes, data_length: int) -> str | None:
    n = len(received)
    if n >= 2:
        tid = int.from_bytes(received[0:2], "big")
        if tid and received[0:2] != request[0:2]:
            return f"answer to transaction {tid}, not {int.from_bytes(request[0:2], 'big')}"
    if n >= 4 and received[2:4] != b"\x00\x00":
        return f"protocol id {int.from_bytes(received[2:4], 'big')}, not 0 (Modbus)"
    if n >= 6:
        length = int.from_bytes(received[4:6], "big")
        if length not in (3, data_length):
            return (
                f"length {length} fits no answer to a read of {(data_length - 3) // 2} "
                f"registers ({data_length}, or 3 for an exception)"
            )
        if n > _MBAP + length:
            return f"{n - _MBAP - length} bytes beyond the length {length} the header gives"
    if n >= 7 and received[6] and request[6] and received[6] != request[6]:
        return f"answer from unit {received[6]}, not {request[6]}"
    return None


def _pdu_problem(function: int, count: int, received: bytes) -> str | None:
    if len(received) < 8:
        return None
    answered = received[7]
    length = int.from_bytes(received[4:6], "big")
    if answered == function | 0x80:
        return None if length == 3 else f"exception answer with length {length}, not 3"
    if answered != function:
        return f"function code {answered} in the answer, not {function}"
    if length != 3 + 2 * count:
        return f"length {length} for {count} registers, not {3 + 2 * count}"
    if len(received) >= 9 and received[8] != 2 * count:
        return (
            f"byte count {received[8]} disagrees with the length {length} "
            f"({2 * count} bytes of registers)"
        )
    return None

"""Exercises the gateway's portable core and prints the results as one JSON line.

Runs unchanged under MicroPython (tests/micropython/run.mjs) and CPython, from a
directory holding `wire/`, `edge/` and `tests/vectors/protocol_v1.json`; the pytest side
(tests/edge/test_micropython.py) compares the two outputs and the vectors.
Written in the subset both interpreters share: no f-strings with `=`, no
dict-order reliance, no CPython-only modules.
"""

# MicroPython has no `typing`, so the JSON vectors are plain `dict`s here.
# mypy: allow-any-generics

import json
import sys

from edge import registers
from wire import base58, topics
from wire import reading as protocol

VECTORS = "tests/vectors/protocol_v1.json"

# (high word, low word, scale) register samples: ordinary, rounding, subnormal,
# zero, negative zero, and the refusals (negative, NaN, infinity, > 16 bits).
REGISTER_SAMPLES = (
    (0x4640, 0xE47E, 1000),
    (0x3F80, 0x0000, 1000),
    (0x3F00, 0x0001, 1),
    (0x0000, 0x0001, 1 << 149),
    (0x0000, 0x0000, 1000),
    (0x8000, 0x0000, 1000),
    (0x7F7F, 0xFFFF, 1000),
    (0xBF80, 0x0000, 1000),
    (0x7FC0, 0x0000, 1000),
    (0x7F80, 0x0000, 1000),
    (0x10000, 0x0000, 1000),
)

TOPIC_SAMPLES = (
    "gtx/v1/gw/9ujv3NyGXqL62BR8T43EnkgjBJCaiw14EdVcvd9uKvm5/readings",
    "gtx/v1/gw//readings",
    "gtx/v1/gw/a/b/readings",
    "gtx/v1/gw/x/status",
)

BASE58_SAMPLES = (b"", b"\x00", b"\x00\x00\x01", b"\xff" * 32, bytes(range(32)))


def _valid(vector: dict) -> dict:
    f = vector["fields"]
    reading = protocol.Reading(f["gw"], f["meter"], f["seq"], f["ts"], f["imp_wh"], f["exp_wh"])
    signature = bytes.fromhex(vector["signature_hex"])
    payload = protocol.encode_payload(protocol.SignedReading(reading, signature))
    decoded = protocol.decode_payload(payload)
    return {
        "signing_bytes_hex": reading.signing_bytes().hex(),
        "payload": payload.decode(),
        "round_trip": decoded.reading == reading and decoded.signature == signature,
        "readings_topic": topics.gateway_readings(topics.DEFAULT_ROOT, f["gw"]),
    }


def _invalid(vector: dict) -> str:
    try:
        protocol.decode_payload(vector["payload"].encode())
    except protocol.ProtocolError as exc:
        return exc.code
    return "accepted"


def _register(sample: tuple[int, int, int]) -> int | str:
    try:
        return registers.float32_words_to_scaled_int(sample[0], sample[1], sample[2])
    except registers.RegisterError:
        return "RegisterError"


def main() -> None:
    with open(VECTORS) as fh:
        vectors = json.loads(fh.read())
    b58 = []
    for data in BASE58_SAMPLES:
        text = base58.b58encode(data)
        b58.append([text, base58.b58decode(text) == data])
    result = {
        "implementation": sys.implementation.name,
        "protocol_file": protocol.__file__,
        "valid": [_valid(v) for v in vectors["valid"]],
        "invalid": [[v["name"], _invalid(v)] for v in vectors["invalid"]],
        "registers": [_register(s) for s in REGISTER_SAMPLES],
        "topics": [topics.gateway_id_from_topic("gtx", t) for t in TOPIC_SAMPLES],
        "subscription": topics.readings_subscription("gtx"),
        "base58": b58,
    }
    print(json.dumps(result))


main()

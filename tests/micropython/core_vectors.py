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

from edge import registers, registers_sunspec
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

# edge.registers_sunspec: (function name, arguments) with the edges of each:
# sign bits, not-implemented markers, scale factors beyond +-10, rounding
# half away from zero both ways, and words outside 16 bits.
SUNSPEC_SAMPLES = (
    ("word_to_int16", (0x0000,)),
    ("word_to_int16", (0x7FFF,)),
    ("word_to_int16", (0x8000,)),
    ("word_to_int16", (0xFFFF,)),
    ("word_to_int16", (0x10000,)),
    ("word_to_int16", (-1,)),
    ("words_to_uint32", (0x0000, 0x0000)),
    ("words_to_uint32", (0xFFFF, 0xFFFF)),
    ("words_to_uint32", (0x8000, 0x8000)),
    ("words_to_uint32", (0x1234, 0x10000)),
    ("sunssf", (0x0000,)),
    ("sunssf", (0xFFFE,)),
    ("sunssf", (0x000A,)),
    ("sunssf", (0xFFF6,)),
    ("sunssf", (0x000B,)),
    ("sunssf", (0xFFF5,)),
    ("sunssf", (0x8000,)),
    ("apply_scale_factor", (12345, -2, 1)),
    ("apply_scale_factor", (-12345, -2, 1)),
    ("apply_scale_factor", (250, -2, 1)),
    ("apply_scale_factor", (-250, -2, 1)),
    ("apply_scale_factor", (249, -2, 1)),
    ("apply_scale_factor", (0xFFFFFFFF, 10, 1000)),
    ("apply_scale_factor", (0xFFFFFFFF, -10, 1000)),
    ("apply_scale_factor", (-32767, 3, 1)),
    ("apply_scale_factor", (5, -1, 1)),
    ("apply_scale_factor", (-5, -1, 1)),
    ("float32_words_to_signed_scaled_int", (0xC49A, 0x4000, 1)),
    ("float32_words_to_signed_scaled_int", (0x449A, 0x4000, 1)),
    ("float32_words_to_signed_scaled_int", (0xBF00, 0x0000, 1)),
    ("float32_words_to_signed_scaled_int", (0x8000, 0x0000, 1000)),
    ("float32_words_to_signed_scaled_int", (0xFF7F, 0xFFFF, 1)),
    ("float32_words_to_signed_scaled_int", (0xFF80, 0x0000, 1)),
    ("float32_words_to_signed_scaled_int", (0xFFC0, 0x0000, 1)),
    ("float32_words_to_signed_scaled_int", (0x10000, 0x0000, 1)),
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


def _sunspec(sample: tuple) -> int | str:
    name, args = sample
    try:
        return int(getattr(registers_sunspec, name)(*args))
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
        "sunspec": [_sunspec(s) for s in SUNSPEC_SAMPLES],
        "sunspec_constants": [
            list(registers_sunspec.SUNSPEC_MARKER),
            registers_sunspec.SUNSPEC_END_ID,
            registers_sunspec.INT16_NOT_IMPLEMENTED,
            registers_sunspec.UINT16_NOT_IMPLEMENTED,
            registers_sunspec.SUNSSF_NOT_IMPLEMENTED,
        ],
        # Where each module of the portable core was loaded from (.py or .mpy).
        "modules": {
            "wire.reading": protocol.__file__,
            "wire.base58": base58.__file__,
            "wire.topics": topics.__file__,
            "edge.registers": registers.__file__,
            "edge.registers_sunspec": registers_sunspec.__file__,
        },
        "topics": [topics.gateway_id_from_topic("gtx", t) for t in TOPIC_SAMPLES],
        "subscription": topics.readings_subscription("gtx"),
        "base58": b58,
    }
    print(json.dumps(result))


main()

"""Signs with edge.ed25519 as job.json asks and prints the result as one JSON line.

Runs unchanged under MicroPython (tests/micropython/run.mjs) and CPython, from
a directory holding `edge/` and `job.json`: {"seed_hex", "message_hex",
"repeat"}. Used by tests/edge/test_micropython.py and
benchmarks/bench_ed25519_pure.py.
"""

import hashlib
import json
import time

from edge import ed25519


def _now_ms() -> int:
    # MicroPython has ticks_ms; CPython has perf_counter.
    if hasattr(time, "ticks_ms"):
        return int(time.ticks_ms())
    return int(time.perf_counter() * 1000)


def main() -> None:
    with open("job.json") as fh:
        job = json.loads(fh.read())
    seed = bytes.fromhex(job["seed_hex"])
    message = bytes.fromhex(job["message_hex"])
    repeat = job["repeat"]
    start = _now_ms()
    for _ in range(repeat):
        signature = ed25519.sign(seed, message)
    elapsed = _now_ms() - start
    public = ed25519.public_key(seed)
    result = {
        "public_key_hex": public.hex(),
        "signature_hex": signature.hex(),
        "verified": ed25519.verify(public, message, signature),
        "tampered_verified": ed25519.verify(public, message + b"x", signature),
        "native_sha512": hasattr(hashlib, "sha512"),
        "ms_per_sign": elapsed / repeat,
    }
    print(json.dumps(result))


main()

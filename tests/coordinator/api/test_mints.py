"""What became of each owner's energy, over HTTP on PostgreSQL: the owner sees it
minted, withheld (the reason in words) or still to mint; admins and the REC authority
list what is withheld across owners."""

import datetime as dt
import secrets

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from coordinator.db.models import MintGrant
from provisioning.keys import Signer
from tests.coordinator.api.conftest import Api
from tests.coordinator.api.factories import store_epoch

pytestmark = pytest.mark.services
WH = 10**6


def test_withheld_energy_is_shown_to_its_owner_and_listed_for_operators(
    api: Api, engine: Engine
) -> None:
    owner = Signer.generate()
    gw = Signer.generate()
    token = api.issue(owner.address)
    r = api.client.post("/api/v1/enrolment", json=api.enrol_body(gw, token))
    assert r.status_code == 200, r.text
    first = 5_000_000 + secrets.randbelow(1_000_000) * 4
    store_epoch(engine, gw, "sdm630-0001", first, 3)
    store_epoch(engine, gw, "sdm630-0001", first + 1, 2, seq0=4)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(MintGrant),
            [
                {"epoch": first, "owner": owner.address, "base_units": 60 * WH,
                 "status": "minted", "reason": None, "batch_key": "b", "attempts": 0,
                 "failures": 0, "signature": "sig", "updated_at": now},
                {"epoch": first + 1, "owner": owner.address, "base_units": 40 * WH,
                 "status": "withheld", "reason": "account_frozen", "batch_key": None,
                 "attempts": 0, "failures": 0, "signature": None, "updated_at": now},
            ],
        )  # fmt: skip
    me = api.login(owner)
    energy = {
        e["epoch"]: e for e in api.client.get("/api/v1/me/energy", headers=me).json()["items"]
    }
    assert (energy[first]["minted_base_units"], energy[first]["withheld_base_units"]) == (
        60 * WH,
        0,
    )
    withheld = energy[first + 1]
    assert (withheld["minted_base_units"], withheld["withheld_base_units"]) == (0, 40 * WH)
    assert withheld["withheld_reason"] == "account_frozen"
    assert "frozen by the REC authority" in withheld["withheld_reason_text"]

    assert api.client.get("/api/v1/mints", headers=me).status_code == 403
    rec = api.login(api.rec_wallet)
    listed = api.client.get(
        f"/api/v1/mints?status=withheld&owner={owner.address}", headers=rec
    ).json()
    assert [(m["epoch"], m["base_units"], m["reason"]) for m in listed["items"]] == [
        (first + 1, 40 * WH, "account_frozen")
    ]
    assert "frozen" in listed["items"][0]["reason_text"]
    paged = api.client.get(f"/api/v1/mints?owner={owner.address}&limit=1", headers=api.admin())
    page = paged.json()
    assert [m["epoch"] for m in page["items"]] == [first + 1]
    rest = api.client.get(
        f"/api/v1/mints?owner={owner.address}&limit=1&cursor={page['next_cursor']}",
        headers=api.admin(),
    ).json()
    assert [m["epoch"] for m in rest["items"]] == [first]

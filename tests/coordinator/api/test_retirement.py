"""Retirement over HTTP on PostgreSQL: a consumer sees their matched share and their
certificates, proves one against the committed root, and no one else's; the campus
totals are for admins and the REC authority only."""

import datetime as dt
import secrets

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from coordinator.db.models import Certificate, RetirementRow, RetirementRun
from coordinator.lifecycle.certificates import CertificateFacts, EpochCertificates
from coordinator.readings.oracle.merkle import Side, verify_proof
from provisioning.keys import Signer
from tests.coordinator.api.conftest import Api
from wire.certificate import certificate_leaf_hash

pytestmark = pytest.mark.services
WH = 10**6


def _retired(engine: Engine, epoch: int, certs: list[CertificateFacts], imports: dict[str, int],
             states: dict[str, str]) -> EpochCertificates:  # fmt: skip
    tree = EpochCertificates.build(c for c in certs if states[c.holder] == "retired")
    with engine.begin() as conn:
        conn.execute(insert(RetirementRun).values(
            epoch=epoch, policy="hour", status="done", retired_base_units=tree.units,
            certificate_count=len(tree.ordered), merkle_root=tree.root,
            attestation_signature="memo-sig", planned_at=dt.datetime.now(dt.UTC),
        ))  # fmt: skip
        conn.execute(insert(RetirementRow), [
            {"epoch": epoch, "holder": h, "import_base_units": imported * WH,
             "eligible_base_units": imported * WH, "approved_base_units": imported * WH,
             "matched_base_units": sum(c.base_units for c in certs if c.holder == h),
             "status": states[h], "reason": None if states[h] == "retired" else "no_approval",
             "job_key": None, "signature": None}
            for h, imported in imports.items()
        ])  # fmt: skip
        conn.execute(insert(Certificate), [
            {"epoch": c.epoch, "holder": c.holder, "production_epoch": c.production_epoch,
             "meter": c.meter, "base_units": c.base_units, "leaf": c.leaf().hex(),
             "status": "retired" if states[c.holder] == "retired" else "void"}
            for c in certs
        ])  # fmt: skip
    return tree


def test_a_consumer_sees_and_proves_their_certificates(api: Api, engine: Engine) -> None:
    consumer, other = Signer.generate(), Signer.generate()
    gw = Signer.generate().address
    epoch = 7_000_000 + secrets.randbelow(1_000_000) * 4  # the first quarter of its hour
    certs = [
        CertificateFacts(epoch + 1, consumer.address, epoch, f"{gw}/pv-1", 30 * WH),
        CertificateFacts(epoch + 1, consumer.address, epoch + 1, f"{gw}/pv-1", 10 * WH),
        CertificateFacts(epoch + 1, other.address, epoch, f"{gw}/pv-2", 5 * WH),
    ]
    _retired(engine, epoch + 1, certs, {consumer.address: 80, other.address: 5},
             {consumer.address: "retired", other.address: "retired"})  # fmt: skip
    me = api.login(consumer)

    r = api.client.get("/api/v1/retirement/statement?period=hour", headers=me)
    assert r.status_code == 200, r.text
    (line,) = [x for x in r.json() if x["import_wh"] == 80]
    assert (line["matched_wh"], line["share"]) == (40, 0.5)

    mine = api.client.get("/api/v1/retirement/certificates", headers=me).json()
    assert sorted((c["production_epoch"], c["wh"], c["meter_id"]) for c in mine) == [
        (epoch, 30, "pv-1"), (epoch + 1, 10, "pv-1"),
    ]  # fmt: skip
    proof = api.client.get(f"/api/v1/retirement/certificates/{mine[0]['leaf']}", headers=me)
    assert proof.status_code == 200, proof.text
    body = proof.json()
    leaf = certificate_leaf_hash(bytes.fromhex(body["leaf_bytes"]))
    assert leaf.hex() == mine[0]["leaf"]
    steps = [(Side(s["side"]), bytes.fromhex(s["sibling"])) for s in body["proof"]]
    assert verify_proof(leaf, steps, bytes.fromhex(body["merkle_root"]))
    assert (body["leaf_count"], body["verified"]) == (3, True)

    # Another user's certificate is not shown to this one; an admin sees it.
    others = [c for c in certs if c.holder == other.address]
    theirs = others[0].leaf().hex()
    assert (
        api.client.get(f"/api/v1/retirement/certificates/{theirs}", headers=me).status_code == 404
    )
    seen = api.client.get(f"/api/v1/retirement/certificates/{theirs}", headers=api.admin())
    assert seen.status_code == 200

    assert api.client.get("/api/v1/retirement/campus", headers=me).status_code == 403
    campus = api.client.get(f"/api/v1/retirement/campus?since={epoch}&until={epoch + 1}",
                            headers=api.admin()).json()  # fmt: skip
    assert [(c["epoch"], c["import_wh"], c["matched_wh"], c["certificates"]) for c in campus] == [
        (epoch + 1, 85, 45, 3)
    ]

"""Bills over HTTP on PostgreSQL: the user's statement per period beside the grid-only
bill, the campus's totals for the REC authority, the grid's prices in the market
summary."""

import datetime as dt
import secrets

import pytest
from sqlalchemy.engine import Engine

from coordinator.lifecycle.bills import WH
from provisioning.keys import Signer
from tests.coordinator.api.conftest import Api
from tests.coordinator.lifecycle.factories import closed, meter_of, metered, retired, traded

pytestmark = pytest.mark.services

LENGTH = 900


def test_a_users_bill_shows_what_the_market_saved_against_the_grid(
    api: Api, engine: Engine
) -> None:
    # Whole hours of 900 s epochs, long before other tests' epochs (the database is the
    # run's: epochs listed newest first must stay theirs).
    epoch = 1_000_000 + secrets.randbelow(250_000) * 4
    buyer, seller = Signer.generate(), Signer.generate()
    b, s = meter_of(engine, buyer.address), meter_of(engine, seller.address)
    for e in (epoch, epoch + 1):
        metered(engine, b, e, 1000, 0)  # 1 kWh imported
        metered(engine, s, e, 0, 2000)  # 2 kWh exported
        closed(engine, e)
    traded(engine, epoch, 0, buyer.address, seller.address, 600 * WH, 150_000)
    # The buyer's tokens met 600 Wh of the first epoch's import, burned and certified;
    # the second epoch's match is planned, not yet burned: no avoided emissions yet.
    retired(engine, epoch, buyer.address, 1000, 600)
    retired(engine, epoch + 1, buyer.address, 1000, 400, status="planned")
    api.clock.now = dt.datetime.fromtimestamp((epoch + 2) * LENGTH, dt.UTC)

    r = api.client.get(
        "/api/v1/me/bill", params={"period": "epoch", "since_epoch": epoch},
        headers=api.login(buyer),
    )  # fmt: skip
    assert r.status_code == 200, r.text
    bill = r.json()
    first, second = bill["lines"]
    # Retail 0.25, feed-in 0.06 credit/kWh (the defaults); bought 0.6 kWh at 0.15.
    assert first["start"] == epoch * LENGTH
    assert (first["paid"], first["grid_import_cost"]) == (90_000, 100_000)
    assert (first["actual_cost"], first["grid_only_cost"], first["savings"]) == (
        190_000, 250_000, 60_000,
    )  # fmt: skip
    assert first["avoided_co2_mg"] == 600 * 400  # 600 Wh retired, 400 gCO2/kWh
    assert (second["savings"], second["avoided_co2_mg"]) == (0, 0)
    assert bill["total"]["savings"] == 60_000
    assert bill["matched_rule"].startswith("retired")

    daily = api.client.get(
        "/api/v1/me/bill", params={"since_epoch": epoch}, headers=api.login(seller)
    ).json()
    (day,) = daily["lines"]
    # Sold 0.6 kWh at 0.15 instead of 0.06: 54,000 better than the grid.
    assert (day["received"], day["savings"]) == (90_000, 54_000)
    assert day["grid_only_cost"] == -240_000

    campus = api.client.get(
        "/api/v1/campus/totals", params={"since_epoch": epoch, "until_epoch": epoch + 1},
        headers=api.login(api.rec_wallet),
    )  # fmt: skip
    assert campus.status_code == 200, campus.text
    totals = campus.json()
    assert totals["users"] == 2
    assert totals["total"]["savings"] == 60_000 + 54_000
    assert totals["total"]["paid"] == totals["total"]["received"]  # money only changed hands
    assert totals["total"]["avoided_co2_mg"] == 240_000
    assert totals["matched_rule"] == bill["matched_rule"]


def test_campus_totals_are_for_the_rec_authority_and_admins_only(api: Api) -> None:
    r = api.client.get("/api/v1/campus/totals", headers=api.login(Signer.generate()))
    assert r.status_code == 403
    assert api.client.get("/api/v1/campus/totals", headers=api.admin()).status_code == 200


@pytest.mark.parametrize(
    "params",
    [{"since_epoch": 10, "until_epoch": 9}, {"since_epoch": 0, "until_epoch": 10**6},
     {"period": "month", "since_epoch": 10**15, "until_epoch": 10**15}],
)  # fmt: skip
def test_a_bill_over_a_bad_range_is_refused(api: Api, params: dict[str, int | str]) -> None:
    r = api.client.get("/api/v1/me/bill", params=params, headers=api.login(Signer.generate()))
    assert r.status_code == 422
    assert r.json()["detail"]["code"] == "bad_range"


def test_the_market_summary_shows_the_grid_prices_in_force(api: Api) -> None:
    summary = api.client.get("/api/v1/market/summary").json()
    assert (summary["grid_import_price"], summary["grid_export_price"]) == (250_000, 60_000)
    assert summary["emission_factor"] == 400

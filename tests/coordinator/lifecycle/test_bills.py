"""Bills against the grid: exact, zero savings without trades, no trade inside the
grid band leaves both parties worse off, and bills add up to the campus's."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.lifecycle.bills import (
    WH,
    Bill,
    GridPrices,
    Period,
    Usage,
    bill,
    bill_mismatches,
    bills,
    by_period,
    campus_total,
    period_start,
)
from coordinator.market.rules.orders import payment_for

PRICES = GridPrices(retail=250_000, feed_in=60_000)
wh = st.integers(0, 10**7)
steps = st.integers(0, 10**6).map(lambda n: n * 1000)


@st.composite
def band(draw: st.DrawFn) -> GridPrices:
    feed_in, retail = sorted((draw(steps), draw(steps)))
    return GridPrices(retail=retail, feed_in=feed_in)


def test_a_worked_example() -> None:
    # Imports 3 kWh, buys 2 kWh at 0.15 credit; exports 1 kWh, sells none.
    b = bill(Usage(import_wh=3000, export_wh=1000, bought=2000 * WH, paid=300_000), PRICES)
    assert b.grid_import_cost == 250_000  # 1 kWh at retail
    assert b.grid_export_revenue == 60_000  # 1 kWh at feed-in
    assert b.actual_cost == 300_000 + 250_000 - 60_000
    assert b.grid_only_cost == 3 * 250_000 - 60_000
    assert b.savings == 200_000  # 2 kWh at 0.10 below retail


@given(wh, wh, band())
def test_who_trades_nothing_saves_nothing(imported: int, exported: int, prices: GridPrices) -> None:
    b = bill(Usage(import_wh=imported, export_wh=exported), prices)
    assert b.savings == 0
    assert b.actual_cost == b.grid_only_cost


@given(wh, wh, wh, wh, st.integers(0, 10**6), band(), st.data())
def test_a_trade_inside_the_band_leaves_neither_party_worse_off_than_the_grid(
    buyer_import: int, seller_export: int, buyer_export: int, seller_import: int,
    traded_wh: int, prices: GridPrices, data: st.DataObject,
) -> None:  # fmt: skip
    price = data.draw(st.integers(prices.feed_in // 1000, prices.retail // 1000)) * 1000
    # What the market lets through: nobody sells more than they exported here.
    quantity = min(traded_wh, seller_export) * WH
    payment = payment_for(quantity, price)
    buyer = bill(Usage(buyer_import, buyer_export, bought=quantity, paid=payment), prices)
    seller = bill(Usage(seller_import, seller_export, sold=quantity, received=payment), prices)
    assert buyer.savings >= 0 or seller.savings >= 0
    # The grid band makes it better than that: each gains where the energy met demand.
    if quantity <= buyer_import * WH:
        assert buyer.savings >= 0
    assert seller.savings >= 0


@given(st.dictionaries(st.tuples(st.sampled_from("abc"), st.integers(0, 20)),
                       st.builds(Usage, wh, wh, wh, wh, wh, wh), max_size=30), band())  # fmt: skip
def test_bills_sum_to_the_campus_total_and_savings_are_the_difference(
    usages: dict[tuple[str, int], Usage], prices: GridPrices
) -> None:
    every = bills(usages, lambda _: prices)
    total = campus_total(every.values())
    assert total.savings == sum(b.savings for b in every.values())
    assert total.grid_only_cost - total.actual_cost == total.savings
    assert total.paid == sum(u.paid for u in usages.values())


def test_prices_come_from_the_epoch_of_each_bill() -> None:
    dear = GridPrices(retail=500_000, feed_in=0)
    usage = Usage(import_wh=1000)
    got = bills({("a", 1): usage, ("a", 2): usage}, lambda e: dear if e == 2 else PRICES)
    assert (got[("a", 1)].grid_only_cost, got[("a", 2)].grid_only_cost) == (250_000, 500_000)


def test_epoch_bills_add_up_per_utc_hour_day_and_month() -> None:
    one = Bill(savings=1)
    # 900 s epochs: 4 per hour, 96 per day; epoch 2_000_000 starts on a whole hour.
    epochs = {e: one for e in range(2_000_000, 2_000_000 + 200)}
    hours = by_period(epochs, 900, Period.HOUR)
    assert all(start % 3600 == 0 for start in hours)
    assert sum(b.savings for b in hours.values()) == 200
    assert max(b.savings for b in hours.values()) == 4
    days = by_period(epochs, 900, Period.DAY)
    assert max(b.savings for b in days.values()) == 96
    months = by_period(epochs, 900, Period.MONTH)
    assert sum(b.savings for b in months.values()) == 200
    assert period_start(0, 900, Period.MONTH) == 0
    assert period_start(2_000_000, 900, Period.EPOCH) == 1_800_000_000


def test_bad_prices_and_usage_are_refused() -> None:
    with pytest.raises(ValueError, match="feed-in"):
        GridPrices(retail=1000, feed_in=2000)
    with pytest.raises(ValueError, match="import_wh"):
        Usage(import_wh=-1)


def test_bills_that_do_not_add_up_are_named() -> None:
    buyer = bill(Usage(import_wh=1000, bought=500 * WH, paid=60_000), PRICES)
    seller = bill(Usage(export_wh=1000, sold=500 * WH, received=60_000), PRICES)
    assert bill_mismatches({("b", 1): buyer, ("s", 1): seller}) == []
    assert bill_mismatches({("b", 1): buyer}) == [
        "buyers paid 60000, sellers received 0",
        f"buyers bought {500 * WH} base units, sellers sold 0",
    ]
    cooked = replace(buyer, savings=1)
    assert bill_mismatches({("b", 1): cooked, ("s", 1): seller})[0].startswith(
        "b epoch 1: bill does not add up"
    )

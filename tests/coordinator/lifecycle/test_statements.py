"""The statements service over a fake usage source: per-period lines, the campus's
totals, the parameters of each epoch, and the gauges Prometheus scrapes."""

import asyncio

from prometheus_client import REGISTRY

from coordinator.governance import GovernedParams
from coordinator.lifecycle.bills import WH, Period, Usage
from coordinator.lifecycle.carbon import MemoryMatched
from coordinator.lifecycle.statements import Statements
from coordinator.lifecycle.usage_store import MemoryUsage
from coordinator.readings.oracle import EpochCalendar

LENGTH = 900
EPOCH = 2_000_000  # starts on a whole day


def _params(epoch: int) -> GovernedParams:
    # Dearer grid and a cleaner one from the second hour on.
    later = epoch >= EPOCH + 4
    return GovernedParams(grid_import_price=300_000 if later else 250_000,
                          emission_factor=100 if later else 400)  # fmt: skip


def _service() -> Statements:
    usage = Usage(import_wh=1000, bought=500 * WH, paid=60_000)
    seller = Usage(export_wh=1000, sold=500 * WH, received=60_000)
    usages = {("a", e): usage for e in range(EPOCH, EPOCH + 8)}
    usages |= {("s", e): seller for e in range(EPOCH, EPOCH + 8)}
    # "a" retired 500 Wh of each epoch's import (and an epoch not closed yet, which
    # no bill counts); "s" retired nothing.
    retired = {("a", e): 500 for e in range(EPOCH, EPOCH + 9)}
    return Statements(MemoryUsage(usages), _params, length_s=LENGTH, matched=MemoryMatched(retired))


def test_a_statement_sums_epochs_per_hour_at_each_epochs_prices() -> None:
    lines = asyncio.run(_service().statement("a", since=EPOCH, until=EPOCH + 7, period=Period.HOUR))
    assert [line.start for line in lines] == [EPOCH * LENGTH, EPOCH * LENGTH + 3600]
    first, second = lines
    # 0.5 kWh a quarter hour at 0.12 instead of retail 0.25, then 0.30.
    assert first.bill.savings == 4 * (125_000 - 60_000)
    assert second.bill.savings == 4 * (150_000 - 60_000)
    assert (first.avoided_mg, second.avoided_mg) == (4 * 500 * 400, 4 * 500 * 100)


def test_campus_totals_and_their_gauges() -> None:
    service = _service()
    campus = asyncio.run(service.campus(since=EPOCH, until=EPOCH + 7))
    assert campus.users == 2
    assert campus.bill.paid == campus.bill.received == 8 * 60_000
    recorded = asyncio.run(service.record_last_day(EPOCH + 7))
    assert recorded == campus
    value = REGISTRY.get_sample_value
    assert value("gtx_campus_bill_last_day", {"part": "savings"}) == campus.bill.savings
    assert value("gtx_campus_avoided_co2_last_day_mg") == campus.avoided_mg


def test_bills_are_dated_by_the_epoch_calendar_across_a_length_change() -> None:
    # 900 s epochs, then hour-long ones from EPOCH + 4 (the governed epoch length).
    calendar = EpochCalendar.uniform(LENGTH).with_length(EPOCH + 4, 3600)
    usage = Usage(import_wh=1000, bought=500 * WH, paid=60_000)
    usages = {("a", e): usage for e in range(EPOCH, EPOCH + 8)}
    matched = MemoryMatched({("a", e): 500 for e in range(EPOCH, EPOCH + 8)})
    service = Statements(MemoryUsage(usages), _params, length_s=calendar, matched=matched)
    lines = asyncio.run(service.statement("a", since=EPOCH, until=EPOCH + 7, period=Period.EPOCH))
    assert [line.start for line in lines] == [calendar.start(e) for e in range(EPOCH, EPOCH + 8)]
    assert lines[-1].start == EPOCH * LENGTH + 4 * 3600  # not (EPOCH + 7) * 900
    hours = asyncio.run(service.statement("a", since=EPOCH, until=EPOCH + 7, period=Period.HOUR))
    assert [line.start for line in hours] == [EPOCH * LENGTH + h * 3600 for h in range(5)]
    # The last day before EPOCH + 30 ends holds EPOCH + 7 on (24 hour-long epochs), not
    # the 96 quarter hours a uniform calendar would count back.
    recorded = asyncio.run(service.record_last_day(EPOCH + 30))
    assert (recorded.bill.paid, recorded.avoided_mg) == (60_000, 500 * 100)

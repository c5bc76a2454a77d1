"""Abnormal trading: properties of each rule, and the quiet market none of them flags."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.market.rules.surveillance import (
    ClearedEpoch,
    EpochFigures,
    FindingKind,
    QuotedOrder,
    SurveillanceRules,
    Trade,
    inspect_epoch,
)

RULES = SurveillanceRules()
PRICE = 1_000  # the recent clearing price of the generated markets


def _history(n: int, volume: int, price: int | None = PRICE, last: int = 99) -> list[EpochFigures]:
    return [EpochFigures(last - i, price, volume) for i in range(n)]


def _wallet(i: int) -> str:
    return f"w{i:03d}"


@st.composite
def quiet_markets(
    draw: st.DrawFn,
) -> tuple[ClearedEpoch, list[EpochFigures], dict[str, frozenset[str]]]:
    """Independent parties (each behind gateways of their own), every order inside the
    band, no party above the dominance share, volume near its trailing average."""
    sellers = draw(st.integers(min_value=2, max_value=6))
    buyers = draw(st.integers(min_value=2, max_value=6))
    pairs = max(sellers, buyers)
    # Equal quantities spread round-robin: each party's share is at most 1/2 of a side.
    quantity = draw(st.integers(min_value=1, max_value=10**9))
    price = draw(st.integers(min_value=PRICE // 2, max_value=PRICE * 2))
    trades = tuple(
        Trade(_wallet(100 + i % buyers), _wallet(i % sellers), quantity, price)
        for i in range(pairs * 2)
    )
    volume = quantity * len(trades)
    orders = tuple(
        QuotedOrder(f"o{i}", t.buyer if i % 2 else t.seller, "buy" if i % 2 else "sell",
                    draw(st.integers(min_value=PRICE // 2, max_value=PRICE * 2)))
        for i, t in enumerate(trades)
    )  # fmt: skip
    wallets = {p for t in trades for p in (t.buyer, t.seller)}
    gateways = {
        w: frozenset({f"gw-{w}-{k}" for k in range(draw(st.integers(0, 2)))}) for w in wallets
    }
    trailing = draw(st.integers(min_value=RULES.min_history, max_value=RULES.trailing_epochs))
    history = _history(trailing, draw(st.integers(min_value=volume // 2, max_value=volume * 2)))
    return ClearedEpoch(100, trades, orders), history, gateways


@given(quiet_markets())
def test_a_quiet_market_has_no_finding(
    market: tuple[ClearedEpoch, list[EpochFigures], dict[str, frozenset[str]]],
) -> None:
    cleared, history, gateways = market
    assert inspect_epoch(cleared, history, gateways, RULES) == []


@given(quiet_markets(), st.data())
def test_a_buyer_and_seller_sharing_a_gateway_is_always_self_dealing(
    market: tuple[ClearedEpoch, list[EpochFigures], dict[str, frozenset[str]]], data: st.DataObject
) -> None:
    cleared, history, gateways = market
    trade = data.draw(st.sampled_from(cleared.trades))
    shared = {**gateways}
    shared[trade.buyer] = gateways[trade.buyer] | {"gw-shared"}
    shared[trade.seller] = gateways[trade.seller] | {"gw-shared"}
    findings = inspect_epoch(cleared, history, shared, RULES)
    dealing = [f for f in findings if f.kind is FindingKind.SELF_DEALING]
    assert [(f.epoch, f.parties) for f in dealing] == [(100, (trade.buyer, trade.seller))]
    pair = [t for t in cleared.trades if (t.buyer, t.seller) == (trade.buyer, trade.seller)]
    assert dealing[0].figures["quantity"] == sum(t.quantity for t in pair)
    assert dealing[0].figures["matches"] == len(pair)


@given(quiet_markets(), st.sampled_from([0.1, 0.3, 3.5, 10.0]))
def test_an_order_outside_the_band_is_found_with_its_figures(
    market: tuple[ClearedEpoch, list[EpochFigures], dict[str, frozenset[str]]], factor: float
) -> None:
    cleared, history, gateways = market
    wild = QuotedOrder("wild", "w999", "buy", int(PRICE * factor))
    with_wild = ClearedEpoch(cleared.epoch, cleared.trades, (*cleared.orders, wild))
    (finding,) = inspect_epoch(with_wild, history, gateways, RULES)
    assert (finding.kind, finding.parties) == (FindingKind.OFF_BAND_ORDER, ("w999",))
    assert finding.figures["limit_price"] == wild.limit_price
    assert finding.figures["reference_price"] == PRICE


def test_no_band_before_enough_history() -> None:
    wild = QuotedOrder("wild", "w1", "sell", PRICE * 100)
    cleared = ClearedEpoch(100, (), (wild,))
    assert inspect_epoch(cleared, _history(RULES.min_history - 1, 0), {}, RULES) == []
    (finding,) = inspect_epoch(cleared, _history(RULES.min_history, 0), {}, RULES)
    assert finding.kind is FindingKind.OFF_BAND_ORDER


@given(st.integers(min_value=2, max_value=5), st.integers(min_value=1, max_value=10**6))
def test_one_seller_taking_a_contested_side_is_dominant(rivals: int, quantity: int) -> None:
    trades = tuple(Trade(_wallet(100 + i), "big", quantity, PRICE) for i in range(5))
    orders = tuple(QuotedOrder(f"s{i}", _wallet(i), "sell", PRICE * 2) for i in range(rivals))
    cleared = ClearedEpoch(100, trades, (*orders, QuotedOrder("sb", "big", "sell", PRICE)))
    (finding,) = inspect_epoch(cleared, _history(RULES.min_history, quantity * 5), {}, RULES)
    assert (finding.kind, finding.parties) == (FindingKind.DOMINANT_PARTY, ("big",))
    assert finding.figures["share"] == 1.0
    assert finding.figures["rivals"] == rivals
    # Alone on its side (no rival quoted), the same seller is not flagged.
    alone = ClearedEpoch(100, trades, (QuotedOrder("sb", "big", "sell", PRICE),))
    assert inspect_epoch(alone, _history(RULES.min_history, quantity * 5), {}, RULES) == []


@given(st.integers(min_value=1, max_value=10**9), st.floats(min_value=1.01, max_value=100))
def test_volume_spike_exactly_above_the_factor(average: int, ratio: float) -> None:
    volume = int(average * ratio)
    trades = (Trade("b1", "s1", volume, PRICE),)
    findings = inspect_epoch(
        ClearedEpoch(100, trades), _history(RULES.min_history, average), {}, RULES
    )
    spiked = [f for f in findings if f.kind is FindingKind.VOLUME_SPIKE]
    assert bool(spiked) == (volume > RULES.spike_factor * average)
    if spiked:
        assert spiked[0].figures["trailing_average"] == average
        assert spiked[0].parties == ("b1", "s1")


def test_only_the_trailing_window_before_the_epoch_counts() -> None:
    rules = SurveillanceRules(trailing_epochs=8, min_history=8)
    # Eight quiet epochs just before, and a huge one long ago (outside the window)
    # and one after (not before the inspected epoch): neither counts.
    history = [*_history(8, 10), EpochFigures(50, PRICE, 10**12), EpochFigures(101, PRICE, 10**12)]
    cleared = ClearedEpoch(100, (Trade("b", "s", 50, PRICE),))
    (finding,) = inspect_epoch(cleared, history, {}, rules)
    assert finding.figures["trailing_average"] == 10


def test_the_same_wallet_on_both_sides_is_self_dealing_without_gateways() -> None:
    cleared = ClearedEpoch(7, (Trade("w", "w", 5, PRICE), Trade("w", "w", 6, PRICE)))
    (finding,) = inspect_epoch(cleared, [], {}, RULES)
    assert (finding.kind, finding.parties) == (FindingKind.SELF_DEALING, ("w", "w"))
    assert finding.figures == {"matches": 2, "quantity": 11, "shared_gateways": 0}
    assert finding.key == "self_dealing:7:w>w"


@pytest.mark.parametrize(
    "bad",
    [{"band_factor": 1.0}, {"spike_factor": 0.5}, {"dominance_share": 0.0},
     {"dominance_share": 1.5}, {"dominance_rivals": 0}, {"min_history": 0}],
)  # fmt: skip
def test_thresholds_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        SurveillanceRules(**bad)  # type: ignore[arg-type]

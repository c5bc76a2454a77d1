"""Abnormal trading: properties of each rule, and the quiet market none of them flags."""

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coordinator.market.rules.surveillance import (
    ClearedEpoch,
    EpochFigures,
    Finding,
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


Market = tuple[ClearedEpoch, list[EpochFigures], dict[str, frozenset[str]]]


@st.composite
def quiet_markets(draw: st.DrawFn) -> Market:
    """Independent parties (each with gateways of their own, and all of them behind one
    building gateway), every order inside the band, no party above the dominance
    share, volume near its trailing average."""
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
    wallets = sorted({p for t in trades for p in (t.buyer, t.seller)})
    owners = {
        f"gw-{w}-{k}": frozenset({w}) for w in wallets for k in range(draw(st.integers(0, 2)))
    }
    # A building's gateway: every party, and six bystanders (ten owners or more).
    owners["gw-building"] = frozenset({*wallets, *(f"y{i}" for i in range(6))})
    trailing = draw(st.integers(min_value=RULES.min_history, max_value=RULES.trailing_epochs))
    history = _history(trailing, draw(st.integers(min_value=volume // 2, max_value=volume * 2)))
    return ClearedEpoch(100, trades, orders), history, owners


@given(quiet_markets())
def test_a_quiet_market_has_no_finding(market: Market) -> None:
    cleared, history, owners = market
    assert inspect_epoch(cleared, history, owners, RULES) == []


@given(quiet_markets(), st.data())
def test_a_gateway_of_few_owners_always_links_them(market: Market, data: st.DataObject) -> None:
    """One household's or installer's gateway: a buyer and seller among its at most
    `household_owners` owners are self-dealing, however many building gateways and
    gateways of their own they have besides."""
    cleared, history, owners = market
    rules = SurveillanceRules(household_owners=data.draw(st.integers(2, 5)))
    trade = data.draw(st.sampled_from(cleared.trades))
    extra = data.draw(st.integers(0, rules.household_owners - 2))
    household = frozenset({trade.buyer, trade.seller, *(f"x{i}" for i in range(extra))})
    findings = inspect_epoch(cleared, history, {**owners, "gw-home": household}, rules)
    dealing = [f for f in findings if f.kind is FindingKind.SELF_DEALING]
    assert [(f.epoch, f.parties) for f in dealing] == [(100, (trade.buyer, trade.seller))]
    pair = [t for t in cleared.trades if (t.buyer, t.seller) == (trade.buyer, trade.seller)]
    assert dealing[0].figures == {
        "matches": len(pair), "quantity": sum(t.quantity for t in pair), "shared_gateways": 1,
    }  # fmt: skip


@given(quiet_markets(), st.data())
def test_a_building_gateway_of_many_owners_never_links_them(
    market: Market, data: st.DataObject
) -> None:
    """Any number of gateways each reading meters of more than `household_owners`
    wallets, buyer and seller among them: no self-dealing."""
    cleared, history, owners = market
    rules = SurveillanceRules(household_owners=data.draw(st.integers(1, 4)))
    trade = data.draw(st.sampled_from(cleared.trades))
    buildings = {
        f"gw-b{k}": frozenset(
            {trade.buyer, trade.seller, *(f"x{k}-{i}" for i in range(rules.household_owners))}
        )
        for k in range(data.draw(st.integers(1, 3)))
    }
    assert inspect_epoch(cleared, history, {**owners, **buildings}, rules) == []


@given(quiet_markets(), st.sampled_from([0.1, 0.3, 3.5, 10.0]))
def test_an_order_outside_the_band_is_found_with_its_figures(market: Market, factor: float) -> None:
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


def _judge_in_turn(epochs: Sequence[ClearedEpoch], rules: SurveillanceRules) -> list[Finding]:
    """Each epoch inspected as the monitor does: against the figures of those before."""
    findings: list[Finding] = []
    before: list[EpochFigures] = []
    for cleared in epochs:
        findings += inspect_epoch(cleared, before, {}, rules)
        before.append(cleared.figures())
    return findings


def _contested(epoch: int, winner: str, rivals: int, quantity: int) -> ClearedEpoch:
    """`winner` sells `quantity` to five buyers; `rivals` other sellers quote too."""
    trades = tuple(Trade(_wallet(100 + i), winner, quantity, PRICE) for i in range(5))
    orders = tuple(QuotedOrder(f"s{epoch}-{i}", _wallet(i), "sell", PRICE) for i in range(rivals))
    return ClearedEpoch(epoch, trades, (*orders, QuotedOrder(f"w{epoch}", winner, "sell", PRICE)))


def _shared(epoch: int, sellers: int, quantity: int) -> ClearedEpoch:
    """Five buyers, `sellers` sellers each selling them alike: nobody dominates."""
    trades = tuple(
        Trade(_wallet(100 + b), _wallet(s), quantity, PRICE)
        for b in range(5)
        for s in range(sellers)
    )
    return ClearedEpoch(epoch, trades)


@given(
    st.integers(min_value=2, max_value=5),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=0, max_value=3),
)
def test_one_epoch_of_total_dominance_is_no_finding(rivals: int, quantity: int, n: int) -> None:
    """Taking a whole contested side in one epoch: with short history nothing is
    judged; after a day of shared trading it is far below the share of the window."""
    rules = SurveillanceRules(min_history=4, trailing_epochs=24)
    grab = _contested(100, "big", rivals, quantity)
    short = [_contested(100 - n + i, "big", rivals, quantity) for i in range(n)]
    assert _judge_in_turn([*short, grab], rules) == []
    day = [_shared(100 - rules.trailing_epochs + i, 3, quantity) for i in range(24)]
    assert _judge_in_turn([*day, grab], rules) == []


@given(
    st.integers(min_value=2, max_value=5),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=0, max_value=8),
    st.integers(min_value=0, max_value=30),
)
def test_sustained_dominance_is_found_once_when_it_begins(
    rivals: int, quantity: int, min_history: int, longer: int, shared: int
) -> None:
    """A seller winning every epoch against quoting rivals, after `shared` epochs of
    shared trading: one finding, at the first epoch where its share of the window
    reaches the threshold with enough history, however long it goes on."""
    trailing = min_history + longer
    rules = SurveillanceRules(min_history=min_history, trailing_epochs=trailing)
    epochs = [_shared(e, 5, quantity) for e in range(shared)]
    epochs += [_contested(e, "big", rivals, quantity) for e in range(shared, shared + 40)]
    findings = _judge_in_turn(epochs, rules)
    # Independently: big's share of the window ending at each epoch.
    expected = None
    for i in range(min_history, len(epochs)):
        span = epochs[max(0, i - trailing) : i + 1]
        big = sum(t.quantity for e in span for t in e.trades if t.seller == "big")
        if big / sum(e.volume for e in span) >= rules.dominance_share:
            expected = epochs[i].epoch
            break
    assert expected is not None  # forty epochs of it fill any window drawn
    (finding,) = findings
    assert (finding.kind, finding.epoch, finding.parties) == (
        FindingKind.DOMINANT_PARTY, expected, ("big",),
    )  # fmt: skip
    assert finding.key == f"dominant_party:{expected}:sell:big"
    assert finding.figures["share"] >= rules.dominance_share
    assert finding.figures["rivals"] >= rivals
    # Alone on its side (no rival quoted), the same seller is never flagged.
    alone = [_contested(e, "big", 0, quantity) for e in range(40)]
    assert _judge_in_turn(alone, rules) == []


def test_dominance_that_lapses_and_returns_is_found_again() -> None:
    rules = SurveillanceRules(min_history=2, trailing_epochs=2, dominance_share=0.9)
    epochs = [
        *(_contested(e, "big", 2, 10) for e in range(0, 5)),
        *(_shared(e, 5, 10) for e in range(5, 8)),
        *(_contested(e, "big", 2, 10) for e in range(8, 13)),
    ]
    found = _judge_in_turn(epochs, rules)
    dominant = [f.epoch for f in found if f.kind is FindingKind.DOMINANT_PARTY]
    assert dominant == [2, 10]  # dominant at 2-4 and 10-12: one finding each


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


def test_figures_of_an_epoch_are_its_price_volume_and_each_side() -> None:
    cleared = ClearedEpoch(
        5,
        (Trade("b1", "s1", 3, 900), Trade("b1", "s2", 4, 900), Trade("b2", "s1", 5, 900)),
        (QuotedOrder("o1", "b3", "buy", 800), QuotedOrder("o2", "s3", "sell", 990)),
    )
    assert cleared.figures() == EpochFigures(
        5, 900, 12, {"b1": 7, "b2": 5}, {"s1": 8, "s2": 4},
        frozenset({"b1", "b2", "b3"}), frozenset({"s1", "s2", "s3"}),
    )  # fmt: skip
    assert ClearedEpoch(6, ()).figures() == EpochFigures(6, None, 0)


def test_the_same_wallet_on_both_sides_is_self_dealing_without_gateways() -> None:
    cleared = ClearedEpoch(7, (Trade("w", "w", 5, PRICE), Trade("w", "w", 6, PRICE)))
    (finding,) = inspect_epoch(cleared, [], {}, RULES)
    assert (finding.kind, finding.parties) == (FindingKind.SELF_DEALING, ("w", "w"))
    assert finding.figures == {"matches": 2, "quantity": 11, "shared_gateways": 0}
    assert finding.key == "self_dealing:7:w>w"


@pytest.mark.parametrize(
    "bad",
    [{"band_factor": 1.0}, {"spike_factor": 0.5}, {"dominance_share": 0.0},
     {"dominance_share": 1.5}, {"dominance_rivals": 0}, {"min_history": 0},
     {"household_owners": 0}],
)  # fmt: skip
def test_thresholds_are_checked(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        SurveillanceRules(**bad)  # type: ignore[arg-type]

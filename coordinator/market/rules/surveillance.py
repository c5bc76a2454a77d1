"""Abnormal trading in cleared epochs: pure rules over what a clearing matched.

Four patterns an operator of a campus market wants to hear about, each a
`Finding` naming the epoch, the parties and the figures behind it:

- `self_dealing`: a match whose buyer and seller are one wallet, or wallets
  that own meters behind one gateway (one household or one installer's
  hardware trading with itself to mint turnover or move tokens);
- `off_band_order`: an order whose limit price lies outside `band_factor`
  times the recent price (the median clearing price of the trailing epochs)
  in either direction: a fat finger, or an attempt to move the uniform price;
- `dominant_party`: one wallet holding at least `dominance_share` of an
  epoch's matched volume on one side while at least `dominance_rivals` other
  wallets had orders on that side (a party that wins a contested market
  nearly alone may be cornering it; a lone seller is not flagged);
- `volume_spike`: an epoch's matched volume above `spike_factor` times the
  trailing average, once `min_history` trailing epochs are known.

The findings are facts about one epoch: the alert monitor publishes each once
(`coordinator.ops.alerts`). Pure: standard library only, no I/O.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from statistics import median

__all__ = [
    "ClearedEpoch",
    "EpochFigures",
    "Finding",
    "FindingKind",
    "QuotedOrder",
    "SurveillanceRules",
    "Trade",
    "inspect_epoch",
]


class FindingKind(StrEnum):
    SELF_DEALING = "self_dealing"
    OFF_BAND_ORDER = "off_band_order"
    DOMINANT_PARTY = "dominant_party"
    VOLUME_SPIKE = "volume_spike"


@dataclass(frozen=True, slots=True)
class Trade:
    """One match: energy base units from seller to buyer at `price` per kWh."""

    buyer: str
    seller: str
    quantity: int
    price: int


@dataclass(frozen=True, slots=True)
class QuotedOrder:
    """An order that took part in the clearing, as submitted."""

    order_id: str
    owner: str
    side: str  # "buy" | "sell"
    limit_price: int


@dataclass(frozen=True, slots=True)
class EpochFigures:
    """What the trailing window needs of an earlier cleared epoch."""

    epoch: int
    clearing_price: int | None  # None: nothing traded
    volume: int


@dataclass(frozen=True, slots=True)
class ClearedEpoch:
    """One cleared epoch: its matches and the orders that entered it."""

    epoch: int
    trades: tuple[Trade, ...]
    orders: tuple[QuotedOrder, ...] = ()

    @property
    def volume(self) -> int:
        return sum(t.quantity for t in self.trades)


@dataclass(frozen=True, slots=True)
class SurveillanceRules:
    """Thresholds (GTX_SURVEILLANCE_* settings); the defaults suit a campus market
    of tens of wallets and 15-minute epochs."""

    band_factor: float = 3.0
    dominance_share: float = 0.8
    dominance_rivals: int = 2
    spike_factor: float = 4.0
    trailing_epochs: int = 96  # one day of 15-minute epochs
    min_history: int = 8

    def __post_init__(self) -> None:
        if self.band_factor <= 1 or self.spike_factor <= 1:
            raise ValueError("band_factor and spike_factor must exceed 1")
        if not 0 < self.dominance_share <= 1:
            raise ValueError("dominance_share must be in (0, 1]")
        if self.dominance_rivals < 1 or self.trailing_epochs < 1 or self.min_history < 1:
            raise ValueError("dominance_rivals, trailing_epochs and min_history must be >= 1")


@dataclass(frozen=True, slots=True)
class Finding:
    """One abnormal pattern in one epoch; `figures` are what it was judged on."""

    kind: FindingKind
    epoch: int
    parties: tuple[str, ...]
    figures: Mapping[str, int | float] = field(default_factory=dict)
    subject: str = ""  # what distinguishes findings of one kind in one epoch

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.epoch}:{self.subject or ','.join(self.parties)}"


def inspect_epoch(
    cleared: ClearedEpoch,
    trailing: Sequence[EpochFigures],
    gateways_of: Mapping[str, frozenset[str]],
    rules: SurveillanceRules,
) -> list[Finding]:
    """Every finding of `cleared`, given the epochs before it (`trailing`, any order;
    the newest `rules.trailing_epochs` are used) and each wallet's gateways."""
    before = sorted((f for f in trailing if f.epoch < cleared.epoch), key=lambda f: f.epoch)
    window = before[-rules.trailing_epochs :]
    return [
        *_self_dealing(cleared, gateways_of),
        *_off_band(cleared, window, rules),
        *_dominant(cleared, rules),
        *_spike(cleared, window, rules),
    ]


def _self_dealing(
    cleared: ClearedEpoch, gateways_of: Mapping[str, frozenset[str]]
) -> list[Finding]:
    # One finding per pair of wallets, whatever the number of their matches.
    pairs: dict[tuple[str, str], tuple[int, int, frozenset[str]]] = {}
    for t in cleared.trades:
        shared = gateways_of.get(t.buyer, frozenset()) & gateways_of.get(t.seller, frozenset())
        if t.buyer != t.seller and not shared:
            continue
        n, quantity, gateways = pairs.get((t.buyer, t.seller), (0, 0, frozenset()))
        pairs[(t.buyer, t.seller)] = (n + 1, quantity + t.quantity, gateways | shared)
    return [
        Finding(
            FindingKind.SELF_DEALING,
            cleared.epoch,
            (buyer, seller),
            {"matches": n, "quantity": quantity, "shared_gateways": len(gateways)},
            subject=f"{buyer}>{seller}",
        )
        for (buyer, seller), (n, quantity, gateways) in sorted(pairs.items())
    ]


def _reference_price(window: Iterable[EpochFigures]) -> float | None:
    prices = [f.clearing_price for f in window if f.clearing_price is not None]
    return float(median(prices)) if prices else None


def _off_band(
    cleared: ClearedEpoch, window: Sequence[EpochFigures], rules: SurveillanceRules
) -> list[Finding]:
    traded = [f for f in window if f.clearing_price is not None]
    reference = _reference_price(traded)
    if reference is None or reference <= 0 or len(traded) < rules.min_history:
        return []
    low, high = reference / rules.band_factor, reference * rules.band_factor
    return [
        Finding(
            FindingKind.OFF_BAND_ORDER,
            cleared.epoch,
            (o.owner,),
            {
                "limit_price": o.limit_price,
                "reference_price": reference,
                "band_low": low,
                "band_high": high,
            },
            subject=o.order_id,
        )
        for o in sorted(cleared.orders, key=lambda o: o.order_id)
        if not low <= o.limit_price <= high
    ]


def _dominant(cleared: ClearedEpoch, rules: SurveillanceRules) -> list[Finding]:
    total = cleared.volume
    if total <= 0:
        return []
    findings = []
    for side in ("buy", "sell"):
        by_party: dict[str, int] = {}
        for t in cleared.trades:
            party = t.buyer if side == "buy" else t.seller
            by_party[party] = by_party.get(party, 0) + t.quantity
        quoting = {o.owner for o in cleared.orders if o.side == side} | set(by_party)
        for party, quantity in sorted(by_party.items()):
            share = quantity / total
            rivals = len(quoting - {party})
            if share >= rules.dominance_share and rivals >= rules.dominance_rivals:
                findings.append(
                    Finding(
                        FindingKind.DOMINANT_PARTY,
                        cleared.epoch,
                        (party,),
                        {
                            "share": share,
                            "quantity": quantity,
                            "volume": total,
                            "rivals": rivals,
                        },
                        subject=f"{side}:{party}",
                    )
                )
    return findings


def _spike(
    cleared: ClearedEpoch, window: Sequence[EpochFigures], rules: SurveillanceRules
) -> list[Finding]:
    if len(window) < rules.min_history:
        return []
    average = sum(f.volume for f in window) / len(window)
    volume = cleared.volume
    if average <= 0 or volume <= rules.spike_factor * average:
        return []
    parties = sorted({p for t in cleared.trades for p in (t.buyer, t.seller)})
    return [
        Finding(
            FindingKind.VOLUME_SPIKE,
            cleared.epoch,
            tuple(parties),
            {
                "volume": volume,
                "trailing_average": average,
                "ratio": volume / average,
                "trailing_epochs": len(window),
            },
            subject="volume",
        )
    ]

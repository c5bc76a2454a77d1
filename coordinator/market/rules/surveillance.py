"""Abnormal trading in cleared epochs: pure rules over what a clearing matched.

Four patterns an operator of a campus market wants to hear about, each a
`Finding` naming the epoch, the parties and the figures behind it:

- `self_dealing`: a match whose buyer and seller are one wallet, or linked
  wallets: both own meters behind a gateway whose meters belong to at most
  `household_owners` wallets (one household's or one installer's own hardware
  trading with itself to mint turnover or move tokens). A building gateway
  reading the meters of many owners links nobody: sharing it says nothing
  about common control;
- `off_band_order`: an order whose limit price lies outside `band_factor`
  times the recent price (the median clearing price of the trailing epochs)
  in either direction: a fat finger, or an attempt to move the uniform price;
- `dominant_party`: one wallet holding at least `dominance_share` of a side's
  matched volume over the trailing window and this epoch, while at least
  `dominance_rivals` other wallets quoted on that side in it (a party that
  wins a contested market nearly alone, day after day, may be cornering it; a
  lone seller is not flagged). One epoch says nothing: in a uniform-price call
  auction with scarce supply the highest bidder takes all of it. Judged once
  `min_history` trailing epochs are known, and found when the party *becomes*
  dominant (it was not, judged at the previous epoch over its own window), so
  a standing condition is one finding, not one per epoch;
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
    "household_gateways",
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
    """What the trailing window needs of an earlier cleared epoch: its price and
    volume, each wallet's matched quantity per side, and who quoted on each side."""

    epoch: int
    clearing_price: int | None  # None: nothing traded
    volume: int
    bought: Mapping[str, int] = field(default_factory=dict)
    sold: Mapping[str, int] = field(default_factory=dict)
    bidders: frozenset[str] = frozenset()  # wallets with a buy order in the clearing
    askers: frozenset[str] = frozenset()  # wallets with a sell order in the clearing

    def side(self, side: str) -> tuple[Mapping[str, int], frozenset[str]]:
        """(matched quantity per wallet, quoting wallets) of "buy" or "sell"."""
        return (self.bought, self.bidders) if side == "buy" else (self.sold, self.askers)


@dataclass(frozen=True, slots=True)
class ClearedEpoch:
    """One cleared epoch: its matches and the orders that entered it."""

    epoch: int
    trades: tuple[Trade, ...]
    orders: tuple[QuotedOrder, ...] = ()

    @property
    def volume(self) -> int:
        return sum(t.quantity for t in self.trades)

    def figures(self) -> EpochFigures:
        """This epoch as trailing history for the epochs after it."""
        bought: dict[str, int] = {}
        sold: dict[str, int] = {}
        for t in self.trades:
            bought[t.buyer] = bought.get(t.buyer, 0) + t.quantity
            sold[t.seller] = sold.get(t.seller, 0) + t.quantity
        # Pay-as-clear: every match of an epoch carries the one clearing price.
        price = self.trades[0].price if self.trades else None
        return EpochFigures(
            self.epoch,
            price,
            self.volume,
            bought,
            sold,
            frozenset(o.owner for o in self.orders if o.side == "buy") | frozenset(bought),
            frozenset(o.owner for o in self.orders if o.side == "sell") | frozenset(sold),
        )


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
    household_owners: int = 2  # a gateway of at most this many owners links them

    def __post_init__(self) -> None:
        if self.band_factor <= 1 or self.spike_factor <= 1:
            raise ValueError("band_factor and spike_factor must exceed 1")
        if not 0 < self.dominance_share <= 1:
            raise ValueError("dominance_share must be in (0, 1]")
        if min(self.dominance_rivals, self.trailing_epochs, self.min_history) < 1:
            raise ValueError("dominance_rivals, trailing_epochs and min_history must be >= 1")
        if self.household_owners < 1:
            raise ValueError("household_owners must be >= 1 (1: no gateway links wallets)")


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
    gateway_owners: Mapping[str, frozenset[str]],
    rules: SurveillanceRules,
) -> list[Finding]:
    """Every finding of `cleared`, given the epochs before it (`trailing`, any order;
    the newest `rules.trailing_epochs` are its window, and one more tells whether a
    dominant party already was) and the owners of the meters behind each gateway."""
    before = sorted((f for f in trailing if f.epoch < cleared.epoch), key=lambda f: f.epoch)
    window = before[-rules.trailing_epochs :]
    return [
        *_self_dealing(cleared, household_gateways(gateway_owners, rules)),
        *_off_band(cleared, window, rules),
        *_dominant(cleared, before, rules),
        *_spike(cleared, window, rules),
    ]


def household_gateways(
    gateway_owners: Mapping[str, frozenset[str]], rules: SurveillanceRules
) -> dict[str, frozenset[str]]:
    """Each wallet's household gateways: those whose meters belong to at least two and
    at most `rules.household_owners` wallets. Two wallets sharing one are linked; a
    building gateway reading the meters of many owners links nobody."""
    of: dict[str, set[str]] = {}
    for gateway, owners in gateway_owners.items():
        if 2 <= len(owners) <= rules.household_owners:
            for owner in owners:
                of.setdefault(owner, set()).add(gateway)
    return {w: frozenset(g) for w, g in of.items()}


def _self_dealing(cleared: ClearedEpoch, households: Mapping[str, frozenset[str]]) -> list[Finding]:
    # One finding per pair of wallets, whatever the number of their matches.
    pairs: dict[tuple[str, str], tuple[int, int, frozenset[str]]] = {}
    for t in cleared.trades:
        shared = households.get(t.buyer, frozenset()) & households.get(t.seller, frozenset())
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


def _dominant(
    cleared: ClearedEpoch, before: Sequence[EpochFigures], rules: SurveillanceRules
) -> list[Finding]:
    """Parties that become dominant at `cleared`: dominant over its window (the newest
    `trailing_epochs` of `before`, and itself), not over the previous epoch's."""
    n = rules.trailing_epochs
    now = _dominance([*before[-n:], cleared.figures()], rules)
    if not now:
        return []
    was = _dominance(before[-n - 1 :], rules)
    findings = []
    for (side, party), figures in sorted(now.items()):
        if (side, party) in was:
            continue
        findings.append(
            Finding(
                FindingKind.DOMINANT_PARTY,
                cleared.epoch,
                (party,),
                figures,
                subject=f"{side}:{party}",
            )
        )
    return findings


def _dominance(
    span: Sequence[EpochFigures], rules: SurveillanceRules
) -> dict[tuple[str, str], dict[str, int | float]]:
    """(side, party) -> figures of each party dominant over `span`, whose last epoch
    is the one judged (none unless `min_history` epochs precede it)."""
    if len(span) - 1 < rules.min_history:
        return {}
    total = sum(f.volume for f in span)
    if total <= 0:
        return {}
    found: dict[tuple[str, str], dict[str, int | float]] = {}
    for side in ("buy", "sell"):
        by_party: dict[str, int] = {}
        quoting: set[str] = set()
        for f in span:
            matched, quoted = f.side(side)
            for party, quantity in matched.items():
                by_party[party] = by_party.get(party, 0) + quantity
            quoting |= quoted | set(matched)
        for party, quantity in by_party.items():
            share = quantity / total
            rivals = len(quoting - {party})
            if share >= rules.dominance_share and rivals >= rules.dominance_rivals:
                found[(side, party)] = {
                    "share": share,
                    "quantity": quantity,
                    "volume": total,
                    "rivals": rivals,
                    "epochs": len(span),
                }
    return found


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

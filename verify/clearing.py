"""An epoch's clearing recomputed from its published canonical inputs, written from
the rules in docs/protocol.md ("Clearing") and sharing no code with the coordinator's
(`coordinator.market.rules`): a second implementation from the spec catches a fault
in the first, not only a tampered publication. tests/verify/test_clearing.py checks
the two agree byte for byte on seeded and generated books.

`clear(inputs)` takes the inputs document (parsed JSON) and returns the result
document; `canonical(document)` gives the bytes that are hashed. Straightforward
rather than fast: a linear scan per bid where the coordinator keeps two cursors.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from fractions import Fraction
from math import floor
from typing import Any

__all__ = ["FORMAT_VERSION", "InputsError", "canonical", "clear", "read_inputs"]

FORMAT_VERSION = 1
KWH = 10**9  # energy base units per kWh: payment = quantity * price // KWH
U64_MAX = (1 << 64) - 1

_ORDER_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ADDRESS = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
_PRICING = ("pay_as_clear", "pay_as_bid")


class InputsError(ValueError):
    """The inputs document is not a canonical v1 clearing input."""


def canonical(document: object) -> bytes:
    """Compact JSON, keys sorted, ASCII only, no floats: the bytes that are hashed."""
    return json.dumps(
        document, separators=(",", ":"), sort_keys=True, ensure_ascii=True, allow_nan=False
    ).encode("ascii")


@dataclass(frozen=True, slots=True)
class _Order:
    order_id: str
    owner: str
    side: str
    epoch: int
    quantity: int
    price: int
    seq: int


@dataclass(frozen=True, slots=True)
class _Inputs:
    epoch: int
    orders: list[_Order]
    energy: dict[str, int]
    payment: dict[str, int]
    lot: int
    tick: int
    pricing: str
    k: Fraction


def _int(value: object, what: str, *, low: int | None = None) -> int:
    if type(value) is not int:
        raise InputsError(f"{what} must be an integer")
    if low is not None and value < low:
        raise InputsError(f"{what} must be at least {low}")
    return value


def _str(value: object, what: str) -> str:
    if type(value) is not str:
        raise InputsError(f"{what} must be a string")
    return value


def _object(value: object, keys: set[str], what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) != keys:
        raise InputsError(f"{what} must be an object with keys {sorted(keys)}")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InputsError(f"{what} must be an array")
    return value


def _escrow(rows: object, owners: set[str], what: str) -> dict[str, int]:
    """Escrow rows [[owner, amount], ...]: sorted by owner, exactly `owners`."""
    out: dict[str, int] = {}
    for row in _list(rows, what):
        if not isinstance(row, list) or len(row) != 2:
            raise InputsError(f"{what} rows are [owner, amount]")
        owner = _str(row[0], f"{what} owner")
        if out and owner <= max(out):
            raise InputsError(f"{what} is not sorted by owner, once each")
        out[owner] = _int(row[1], f"{what} of {owner}", low=0)
    if set(out) != owners:
        raise InputsError(f"{what} must list exactly the owners with orders it backs")
    return out


def read_inputs(document: object) -> _Inputs:
    """The inputs in `document`, checked for the canonical form; `InputsError` if not."""
    doc = _object(document, {"epoch", "escrow", "orders", "rules", "v"}, "inputs")
    if doc["v"] != FORMAT_VERSION:
        raise InputsError(f"unsupported inputs version {doc['v']!r}")
    rules = _object(doc["rules"], {"k", "lot", "pricing", "tick"}, "rules")
    k = _list(rules["k"], "rules.k")
    if len(k) != 2:
        raise InputsError("rules.k is [numerator, denominator]")
    numerator, denominator = _int(k[0], "k numerator"), _int(k[1], "k denominator", low=1)
    k_value = Fraction(numerator, denominator)
    if (k_value.numerator, k_value.denominator) != (numerator, denominator):
        raise InputsError("rules.k must be in lowest terms")
    if not 0 <= k_value <= 1:
        raise InputsError("rules.k must lie in [0, 1]")
    pricing = _str(rules["pricing"], "rules.pricing")
    if pricing not in _PRICING:
        raise InputsError(f"rules.pricing must be one of {_PRICING}")
    orders: list[_Order] = []
    for row in _list(doc["orders"], "orders"):
        if not isinstance(row, list) or len(row) != 7:
            raise InputsError("orders rows are [id, owner, side, epoch, quantity, price, seq]")
        order_id, owner, side = _str(row[0], "order id"), _str(row[1], "owner"), row[2]
        if side not in ("buy", "sell"):
            raise InputsError(f"order {order_id!r}: side must be 'buy' or 'sell'")
        order = _Order(order_id, owner, side, _int(row[3], "order epoch"),
                       _int(row[4], "quantity"), _int(row[5], "limit price"),
                       _int(row[6], "seq"))  # fmt: skip
        if orders and order.order_id <= orders[-1].order_id:
            raise InputsError("orders must be sorted by id, each id once")
        orders.append(order)
    escrow = _object(doc["escrow"], {"energy", "payment"}, "escrow")
    return _Inputs(
        epoch=_int(doc["epoch"], "epoch", low=0),
        orders=orders,
        energy=_escrow(escrow["energy"], {o.owner for o in orders if o.side == "sell"},
                       "energy escrow"),
        payment=_escrow(escrow["payment"], {o.owner for o in orders if o.side == "buy"},
                        "payment escrow"),
        lot=_int(rules["lot"], "rules.lot", low=1),
        tick=_int(rules["tick"], "rules.tick", low=1),
        pricing=pricing,
        k=k_value,
    )  # fmt: skip


def _problem(order: _Order, inputs: _Inputs) -> str | None:
    """Why `order` cannot take part, checked in the documented order; None if it can."""
    q, p = order.quantity, order.price
    checks = (
        (order.epoch != inputs.epoch, "wrong_epoch"),
        (q <= 0, "non_positive_quantity"),
        (q < inputs.lot, "dust_quantity"),
        (q % inputs.lot != 0, "off_lot_quantity"),
        (q > U64_MAX, "quantity_too_large"),
        (p <= 0, "non_positive_price"),
        (p % inputs.tick != 0, "off_tick_price"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    if q * p // KWH > U64_MAX:
        return "notional_too_large"
    if order.seq < 0:
        return "bad_sequence"
    if not _ORDER_ID.fullmatch(order.order_id):
        return "bad_order_id"
    if not _ADDRESS.fullmatch(order.owner):
        return "bad_owner"
    return None


def _affordable(quantity: int, price: int, budget: int, lot: int) -> int:
    """The order's quantity if its payment at `price` fits `budget`, else the largest
    multiple of `lot` whose payment does."""
    if quantity * price // KWH <= budget:
        return quantity
    # q * price // KWH <= budget  exactly when  q * price < (budget + 1) * KWH
    largest = ((budget + 1) * KWH - 1) // price
    return largest - largest % lot


def _uniform_price(ask: int, bid: int, k: Fraction, tick: int) -> int:
    """ask + k * (bid - ask) to the nearest multiple of `tick`, an exact half down."""
    ticks = (ask + k * (bid - ask)) / tick
    whole = floor(ticks)
    return (whole + 1 if ticks - whole > Fraction(1, 2) else whole) * tick


def _admit(inputs: _Inputs, reason: dict[str, str | None]) -> tuple[list[_Order], list[_Order]]:
    """Bids and asks that may take part, each in priority order; records the others."""
    taking_part = []
    for order in inputs.orders:
        problem = _problem(order, inputs)
        if problem is None:
            taking_part.append(order)
        else:
            reason[order.order_id] = problem
    bids = sorted((o for o in taking_part if o.side == "buy"),
                  key=lambda o: (-o.price, o.seq, o.order_id))  # fmt: skip
    asks = sorted((o for o in taking_part if o.side == "sell"),
                  key=lambda o: (o.price, o.seq, o.order_id))  # fmt: skip
    return bids, asks


def _escrow_caps(
    inputs: _Inputs, bids: list[_Order], asks: list[_Order], reason: dict[str, str | None]
) -> dict[str, int]:
    """What each order may trade once its owner's escrow is spent in priority order."""
    eligible: dict[str, int] = {}
    money = dict(inputs.payment)
    for bid in bids:
        q = _affordable(bid.quantity, bid.price, money[bid.owner], inputs.lot)
        money[bid.owner] -= q * bid.price // KWH
        eligible[bid.order_id] = q
    energy = dict(inputs.energy)
    for ask in asks:
        have = energy[ask.owner]
        q = ask.quantity if ask.quantity <= have else have - have % inputs.lot
        energy[ask.owner] -= q
        eligible[ask.order_id] = q
    for order in (*bids, *asks):
        q = eligible[order.order_id]
        reason[order.order_id] = (
            "insufficient_escrow" if q == 0 else "escrow_capped" if q < order.quantity else None
        )
    return eligible


def _match(
    bids: list[_Order], asks: list[_Order], eligible: dict[str, int], *, uniform: bool
) -> list[tuple[_Order, _Order, int]]:
    """Each bid in turn takes the best asks left of other owners, while not above its
    limit; matching stops at the first bid below the best ask left (and, under one
    uniform price, below the highest ask matched so far)."""
    left = [eligible[a.order_id] for a in asks]
    first = 0  # the best ask with something left
    fills: list[tuple[_Order, _Order, int]] = []
    highest_ask = 0
    for bid in bids:
        while first < len(asks) and left[first] == 0:
            first += 1
        if first == len(asks) or bid.price < asks[first].price:
            break
        if uniform and bid.price < highest_ask:
            break
        want = eligible[bid.order_id]
        for i in range(first, len(asks)):
            ask = asks[i]
            if want == 0 or ask.price > bid.price:
                break
            if left[i] == 0 or ask.owner == bid.owner:
                continue
            q = min(want, left[i])
            fills.append((bid, ask, q))
            left[i] -= q
            want -= q
            highest_ask = max(highest_ask, ask.price)
    return fills


def _status(quantity: int, eligible: int, filled: int) -> str:
    if eligible == 0:
        return "excluded"
    if filled == quantity:
        return "filled"
    return "partial" if filled else "unfilled"


def clear(document: object) -> dict[str, Any]:
    """The result document of clearing the inputs `document` (raises `InputsError`)."""
    inputs = read_inputs(document)
    reason: dict[str, str | None] = {}
    bids, asks = _admit(inputs, reason)
    eligible = _escrow_caps(inputs, bids, asks, reason)
    uniform = inputs.pricing == "pay_as_clear"
    fills = _match(
        [b for b in bids if eligible[b.order_id]],
        [a for a in asks if eligible[a.order_id]],
        eligible,
        uniform=uniform,
    )
    price = None
    if uniform and fills:
        marginal_bid = min(b.price for b, _, _ in fills)
        marginal_ask = max(a.price for _, a, _ in fills)
        price = _uniform_price(marginal_ask, marginal_bid, inputs.k, inputs.tick)
    matches = []
    filled: dict[str, int] = {}
    paid: dict[str, int] = {}
    for bid, ask, q in fills:
        at = bid.price if price is None else price
        payment = q * at // KWH
        matches.append([bid.order_id, ask.order_id, bid.owner, ask.owner, q, at, payment])
        for order_id in (bid.order_id, ask.order_id):
            filled[order_id] = filled.get(order_id, 0) + q
            paid[order_id] = paid.get(order_id, 0) + payment
    outcomes = []
    for o in inputs.orders:
        take, done = eligible.get(o.order_id, 0), filled.get(o.order_id, 0)
        outcomes.append([o.order_id, o.owner, o.side, _status(o.quantity, take, done), o.quantity,
                         take, done, paid.get(o.order_id, 0), reason[o.order_id]])  # fmt: skip
    return {
        "clearing_price": price,
        "epoch": inputs.epoch,
        "inputs_hash": _sha256_hex(canonical(document)),
        "matches": matches,
        "orders": outcomes,
        "pricing": inputs.pricing,
        "turnover": sum(m[6] for m in matches),
        "v": FORMAT_VERSION,
        "volume": sum(m[4] for m in matches),
    }


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

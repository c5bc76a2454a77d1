"""An epoch's book: the orders, the escrow behind them and the rules, i.e.
everything the clearing depends on (and so everything its inputs hash covers)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from coordinator.market.rules.errors import InputError
from coordinator.market.rules.orders import MarketRules, Order, Side

__all__ = ["ClearingInputs", "Escrow"]


@dataclass(frozen=True, slots=True)
class Escrow:
    """What each owner has put in escrow, per owner, at clearing time.

    An order's escrow is an SPL `Approve` to the settlement authority, so what
    can be settled is min(delegated allowance, balance) of the owner's token
    account: `energy` (energy base units) backs sell orders, `payment`
    (payment base units) backs buy orders. An owner missing from a mapping
    has nothing in escrow.
    """

    energy: Mapping[str, int] = field(default_factory=dict)
    payment: Mapping[str, int] = field(default_factory=dict)


def _escrow_for(owners: set[str], amounts: Mapping[str, int], name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for owner in sorted(owners):
        amount = amounts.get(owner, 0)
        if type(amount) is not int or amount < 0:
            raise InputError(f"{name} escrow of {owner!r} must be a non-negative int")
        out[owner] = amount
    return out


@dataclass(frozen=True, slots=True, init=False)
class ClearingInputs:
    """Everything one epoch's clearing depends on, in canonical form.

    Orders are kept sorted by `order_id` (code-point order) and escrow is kept
    only for owners with an order on the side it backs (missing = 0), so two
    inputs that clear alike are equal and encode to the same bytes, whatever
    order the orders came in. Order ids must be unique.
    """

    epoch: int
    orders: tuple[Order, ...]
    escrow: Escrow
    rules: MarketRules

    def __init__(
        self,
        epoch: int,
        orders: Iterable[Order],
        escrow: Escrow,
        rules: MarketRules | None = None,
    ) -> None:
        if type(epoch) is not int or epoch < 0:
            raise InputError("epoch must be a non-negative int")
        ordered = sorted(orders, key=_order_id)
        for before, after in pairwise(ordered):
            if before.order_id == after.order_id:
                raise InputError(f"duplicate order id {after.order_id!r}")
        sellers = {o.owner for o in ordered if o.side is Side.SELL}
        buyers = {o.owner for o in ordered if o.side is Side.BUY}
        object.__setattr__(self, "epoch", epoch)
        object.__setattr__(self, "orders", tuple(ordered))
        object.__setattr__(
            self,
            "escrow",
            Escrow(
                energy=_escrow_for(sellers, escrow.energy, "energy"),
                payment=_escrow_for(buyers, escrow.payment, "payment"),
            ),
        )
        object.__setattr__(self, "rules", MarketRules() if rules is None else rules)


def _order_id(order: Order) -> str:
    return order.order_id

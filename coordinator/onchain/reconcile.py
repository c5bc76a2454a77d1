"""The reconciliation: every closed epoch's verified export accounted for, and every
balance on the ledger explained (`gtx-coordinator reconcile`, the demo's last step).

Per closed epoch, the export is recomputed from the stored signed readings alone
(`readings.epoch_close.recompute_epoch`) and set, owner by owner, against the
mint records (`mint_grants`): each owner's grant must be exactly their verified
export, and the epoch's export must be minted + withheld (per reason; meters
with no owner: `no_owner`) + pending (not yet decided, e.g. an epoch not yet
planned). No epoch is left out, whatever its mint went through.

Then the ledger: every minted grant's transaction must be confirmed; the energy
mint's supply must equal everything minted less what was retired (burned against
metered consumption, `coordinator.lifecycle`); each wallet's energy balance must
equal what was minted to it plus its settled trades' net less what it retired;
and the provenance lots must hold, per meter and production epoch, the export
minted less what certificates retired of it (`lifecycle.audit`); and where the credit
issued is known (the demo keeps it), each payment balance likewise. Energy moved
outside the market (a plain transfer or burn by its owner) therefore shows as a
mismatch on that wallet: on this campus the tokens are meant to move only
through the market, and an auditor wants to see any that did not.

Each mismatch names the epoch and the owner, or the wallet. Read while the
chain worker is busy, the newest epoch may be caught half-minted: a mismatch
that persists when run again is real.

`account_epoch` and `expected_balances` are the arithmetic, pure; `reconcile`
loads what they need and asks the ledger.
"""

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from coordinator.db.models import (
    EpochOnchain,
    EpochRecord,
    MatchRow,
    Meter,
    MintGrant,
    ParkedTrade,
)
from coordinator.lifecycle.audit import provenance
from coordinator.onchain.grants import NO_OWNER, Grant, MintStatus, plan_grants
from coordinator.readings.epoch_close import recompute_epoch
from coordinator.readings.oracle import Epochs
from programs.ledger.base import Ledger
from programs.roles.deployment import Deployment, user_accounts

__all__ = [
    "EpochAccount",
    "PerEpoch",
    "Reconciliation",
    "Recorded",
    "account_epoch",
    "expected_balances",
    "reconcile",
]

BASE_UNITS_PER_WH = 1_000_000

PerEpoch = int | Callable[[int], int]
"""A setting, fixed or as in force at each epoch (a governed parameter)."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `epoch_onchain` says of an epoch the chain worker has done."""

    minted_base_units: int
    unowned_base_units: int


@dataclass(frozen=True, slots=True)
class EpochAccount:
    """Where one epoch's verified export went, in energy-token base units."""

    epoch: int
    export_base_units: int
    minted: int
    withheld: tuple[tuple[str, int], ...]  # (reason, base units), by reason
    pending: int

    @property
    def withheld_total(self) -> int:
        return sum(units for _, units in self.withheld)


def account_epoch(
    epoch: int,
    exports: Iterable[tuple[str | None, int]],
    grants: Sequence[Grant],
    recorded: Recorded | None,
) -> tuple[EpochAccount, list[str]]:
    """Set an epoch's verified export, (owner or None, Wh) per meter, against its
    grants and its record (None: not done yet); returns the account and what does
    not agree. What the records say is what is accounted, so a wrong record shows
    both as its own mismatch and in the epoch's sum."""
    problems: list[str] = []
    expected = plan_grants(exports)
    grant_of = {g.owner: g for g in grants}
    minted = pending = 0
    withheld: dict[str, int] = {}

    def count(g: Grant) -> None:
        nonlocal minted, pending
        if g.status is MintStatus.MINTED:
            minted += g.base_units
        elif g.status is MintStatus.WITHHELD:
            reason = g.reason_code or "unknown"
            withheld[reason] = withheld.get(reason, 0) + g.base_units
        else:
            pending += g.base_units

    for owner, units in expected.per_owner:
        found = grant_of.pop(owner, None)
        if found is None:
            if recorded is None:
                pending += units  # not planned yet
            else:
                problems.append(
                    f"epoch {epoch}, {owner}: verified export {units} base units, no mint record"
                )
            continue
        if found.base_units != units:
            problems.append(
                f"epoch {epoch}, {owner}: verified export {units} base units, "
                f"mint record {found.base_units}"
            )
        count(found)
    for extra in sorted(grant_of.values(), key=lambda g: g.owner):
        problems.append(
            f"epoch {epoch}, {extra.owner}: mint record of {extra.base_units} base units "
            "without verified export"
        )
        count(extra)
    if recorded is None:
        pending += expected.unowned_base_units
    else:
        if recorded.unowned_base_units != expected.unowned_base_units:
            problems.append(
                f"epoch {epoch}: {expected.unowned_base_units} base units exported by meters "
                f"with no owner, recorded {recorded.unowned_base_units}"
            )
        if recorded.unowned_base_units:
            withheld[NO_OWNER] = recorded.unowned_base_units
        if recorded.minted_base_units != minted:
            problems.append(
                f"epoch {epoch}: recorded as {recorded.minted_base_units} base units minted, "
                f"its grants minted {minted}"
            )
    total = sum(units for _, units in expected.per_owner) + expected.unowned_base_units
    account = EpochAccount(epoch, total, minted, tuple(sorted(withheld.items())), pending)
    if total != minted + account.withheld_total + pending:
        problems.append(
            f"epoch {epoch}: verified export {total} base units, but minted {minted} + "
            f"withheld {account.withheld_total} + pending {pending}"
        )
    return account, problems


def expected_balances(
    mints: Iterable[tuple[str, int]],
    credits: Iterable[tuple[str, int]],
    trades: Iterable[tuple[str, str, int, int]],
) -> dict[str, tuple[int, int]]:
    """(energy, payment) per wallet from mints, credit issued and settled
    trades (seller, buyer, energy quantity, payment)."""
    energy: dict[str, int] = {}
    payment: dict[str, int] = {}
    for wallet, units in mints:
        energy[wallet] = energy.get(wallet, 0) + units
    for wallet, units in credits:
        payment[wallet] = payment.get(wallet, 0) + units
    for seller, buyer, quantity, paid in trades:
        energy[seller] = energy.get(seller, 0) - quantity
        energy[buyer] = energy.get(buyer, 0) + quantity
        payment[buyer] = payment.get(buyer, 0) - paid
        payment[seller] = payment.get(seller, 0) + paid
    wallets = set(energy) | set(payment)
    return {w: (energy.get(w, 0), payment.get(w, 0)) for w in wallets}


@dataclass(frozen=True, slots=True)
class Reconciliation:
    epochs: tuple[EpochAccount, ...]
    trades_settled: int
    users: int
    payments_checked: bool
    mismatches: tuple[str, ...]
    # Trades failed on a frozen account, not settled yet: they moved nothing, and
    # settle once their parties are thawed (`market.settlement.settle_parked`).
    trades_parked: int = 0
    retired_base_units: int = 0
    certificates: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def verified_export_wh(self) -> int:
        return sum(a.export_base_units for a in self.epochs) // BASE_UNITS_PER_WH

    @property
    def minted_base_units(self) -> int:
        return sum(a.minted for a in self.epochs)

    @property
    def pending_base_units(self) -> int:
        return sum(a.pending for a in self.epochs)

    @property
    def withheld(self) -> dict[str, int]:
        """Base units withheld, per reason."""
        totals: dict[str, int] = {}
        for account in self.epochs:
            for reason, units in account.withheld:
                totals[reason] = totals.get(reason, 0) + units
        return dict(sorted(totals.items()))

    def lines(self) -> list[str]:
        """The report a person reads: totals, then each mismatch."""
        withheld = self.withheld
        reasons = ", ".join(f"{r} {u}" for r, u in withheld.items()) or "none"
        summary = (
            f"reconciled {len(self.epochs)} epochs: verified export {self.verified_export_wh} "
            f"Wh, minted {self.minted_base_units} base units, withheld "
            f"{sum(withheld.values())} ({reasons}), pending {self.pending_base_units}; "
            f"{self.trades_settled} trades settled"
            + (f" ({self.trades_parked} parked on a freeze)" if self.trades_parked else "")
            + f", {self.users} users' balances checked on the ledger"
            + ("" if self.payments_checked else " (energy only: credit issued not known)")
            + f"; retired {self.retired_base_units} base units in {self.certificates} "
            f"certificates, minted = held + retired per meter and epoch"
        )
        return [summary, *(f"MISMATCH {m}" for m in self.mismatches)]


def _load(
    engine: Engine, since_epoch: int | None
) -> tuple[
    list[int], dict[int, list[Grant]], dict[int, Recorded], dict[tuple[str, str], str | None],
    list[tuple[str, str, int, int]],
]:  # fmt: skip
    with engine.connect() as conn:
        query = select(EpochRecord.epoch).order_by(EpochRecord.epoch)
        if since_epoch is not None:
            query = query.where(EpochRecord.epoch >= since_epoch)
        epochs = [int(e) for e in conn.execute(query).scalars()]
        grants: dict[int, list[Grant]] = {}
        for row in conn.execute(
            select(
                MintGrant.epoch, MintGrant.owner, MintGrant.base_units, MintGrant.status,
                MintGrant.reason, MintGrant.signature,
            )
        ):  # fmt: skip
            e, owner, units, status, reason, signature = row
            grants.setdefault(int(e), []).append(
                Grant(int(e), owner, int(units), MintStatus(status), reason, signature=signature)
            )
        recorded = {
            int(e): Recorded(int(m), int(u))
            for e, m, u in conn.execute(
                select(
                    EpochOnchain.epoch, EpochOnchain.minted_base_units,
                    EpochOnchain.unowned_base_units,
                )
            )
        }  # fmt: skip
        owners = {
            (gw, m): owner
            for gw, m, owner in conn.execute(select(Meter.gateway_id, Meter.meter_id, Meter.owner))
        }
        trades = [
            (s, b, int(q), int(p))
            for s, b, q, p in conn.execute(
                select(MatchRow.seller, MatchRow.buyer, MatchRow.quantity, MatchRow.payment).where(
                    MatchRow.status == "settled"
                )
            )
        ]
    return epochs, grants, recorded, owners, trades


def _exports(
    engine: Engine,
    epoch: int,
    length_s: Epochs,
    lateness_s: PerEpoch,
    owners: Mapping[tuple[str, str], str | None],
) -> list[tuple[str | None, int]]:
    length = length_s
    lateness = lateness_s if isinstance(lateness_s, int) else lateness_s(epoch)
    summary = recompute_epoch(engine, epoch, length, lateness).summary
    return [
        (owners.get((line.meter.gateway_id, line.meter.meter_id)), line.export_wh)
        for line in summary.meters
    ]


async def reconcile(
    engine: Engine,
    ledger: Ledger,
    deployment: Deployment,
    *,
    length_s: Epochs,
    lateness_s: PerEpoch,
    credits: Mapping[str, int] | None = None,
    wallets: Iterable[str] = (),
    since_epoch: int | None = None,
) -> Reconciliation:
    """Reconcile every closed epoch (from `since_epoch`) and every wallet's balances
    (those with mints or trades, and `wallets`); `credits`, the payment tokens issued
    to each wallet, where known. The epochs (a length, or the calendar of the governed
    length) and lateness window are those the epochs were closed under (the window
    a function of the epoch where it changed)."""
    epochs, grants, recorded, owners, trades = await asyncio.to_thread(_load, engine, since_epoch)
    mismatches: list[str] = []
    accounts = []
    for epoch in epochs:
        exports = await asyncio.to_thread(_exports, engine, epoch, length_s, lateness_s, owners)
        account, problems = account_epoch(
            epoch, exports, grants.get(epoch, []), recorded.get(epoch)
        )
        accounts.append(account)
        mismatches += problems
    minted = [g for gs in grants.values() for g in gs if g.status is MintStatus.MINTED]
    for signature in sorted({g.signature or "" for g in minted}):
        status = (
            None
            if not signature
            else await ledger.signature_status(Signature.from_string(signature))
        )
        if status is None or not status.ok:
            whose = sorted(
                {f"epoch {g.epoch}, {g.owner}" for g in minted if (g.signature or "") == signature}
            )
            mismatches.append(
                f"{'; '.join(whose)}: recorded minted by {signature or 'no transaction'}, "
                f"which the ledger {'does not know' if status is None else 'failed'}"
            )
    # Retired tokens are burned: off the supply and their holders' balances. A burn in
    # flight (planned, not yet recorded) may or may not have landed: either is right.
    lots = await asyncio.to_thread(provenance, engine)
    mismatches += lots.problems
    mint = await ledger.get_mint(deployment.energy_mint)
    total = sum(g.base_units for g in minted) - lots.retired
    if mint is None or mint.supply not in (total, total - lots.retiring):
        mismatches.append(
            f"energy mint supply {None if mint is None else mint.supply} base units, "
            f"minted less retired by the records {total}"
        )
    expected = expected_balances(
        ((g.owner, g.base_units) for g in minted), (credits or {}).items(), trades
    )
    users = sorted(set(wallets) | set(expected))
    for wallet in users:
        accounts_of = user_accounts(deployment, Pubkey.from_string(wallet))
        want_energy, want_payment = expected.get(wallet, (0, 0))
        want_energy -= lots.retired_by_holder.get(wallet, 0)
        in_flight = lots.retiring_by_holder.get(wallet, 0)
        energy = await ledger.token_balance(accounts_of.energy)
        if energy not in (want_energy, want_energy - in_flight):
            mismatches.append(f"{wallet}: energy balance {energy}, expected {want_energy}")
        if credits is not None:
            payment = await ledger.token_balance(accounts_of.payment)
            if payment != want_payment:
                mismatches.append(f"{wallet}: payment balance {payment}, expected {want_payment}")
    parked = await asyncio.to_thread(_parked_count, engine)
    return Reconciliation(
        tuple(accounts), len(trades), len(users), credits is not None, tuple(mismatches),
        trades_parked=parked, retired_base_units=lots.retired, certificates=lots.certificates,
    )  # fmt: skip


def _parked_count(engine: Engine) -> int:
    query = (
        select(func.count())
        .select_from(ParkedTrade)
        .join(MatchRow, (MatchRow.epoch == ParkedTrade.epoch) & (MatchRow.idx == ParkedTrade.idx))
        .where(ParkedTrade.resolved_at.is_(None), MatchRow.status == "failed")
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())

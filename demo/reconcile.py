"""End-of-demo reconciliation: what the ledger holds against what the records say.

For every epoch minted on chain, the exported energy is recomputed from the
stored signed readings alone (`recompute_epoch`) and turned into each owner's
expected mint; settled trades move energy tokens seller -> buyer and credit
buyer -> seller; credit issued by the REC authority is known. Every user's two
token balances on the ledger must then equal, exactly, what that arithmetic
gives.
"""

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from solders.pubkey import Pubkey
from sqlalchemy import select
from sqlalchemy.engine import Engine

from coordinator.db.models import EpochOnchain, MatchRow, Meter
from coordinator.onchain.ledger import Chain
from coordinator.readings.epoch_close import recompute_epoch
from coordinator.readings.oracle import wh_to_base_units
from programs.roles.deployment import user_accounts

__all__ = ["Reconciliation", "expected_balances", "reconcile"]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    epochs: int
    verified_export_wh: int
    minted_base_units: int
    trades_settled: int
    users: int
    mismatches: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches


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


def _verified_mints(
    engine: Engine, length_s: int, lateness_s: int
) -> tuple[list[tuple[str, int]], int, int, int]:
    with engine.connect() as conn:
        epochs = conn.execute(
            select(EpochOnchain.epoch, EpochOnchain.minted_base_units).where(
                EpochOnchain.error.is_(None)
            )
        ).all()
        owners = {
            (gw, m): owner
            for gw, m, owner in conn.execute(select(Meter.gateway_id, Meter.meter_id, Meter.owner))
        }
    mints: list[tuple[str, int]] = []
    export_wh = minted = 0
    for epoch, on_chain in epochs:
        summary = recompute_epoch(engine, epoch, length_s, lateness_s).summary
        minted += on_chain
        for line in summary.meters:
            owner = owners.get((line.meter.gateway_id, line.meter.meter_id))
            export_wh += line.export_wh
            if owner is not None:
                mints.append((owner, wh_to_base_units(line.export_wh)))
    return mints, export_wh, minted, len(epochs)


def _settled_trades(engine: Engine) -> list[tuple[str, str, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(MatchRow.seller, MatchRow.buyer, MatchRow.quantity, MatchRow.payment).where(
                MatchRow.status == "settled"
            )
        ).all()
    return [(s, b, q, p) for s, b, q, p in rows]


async def reconcile(
    engine: Engine,
    chain: Chain,
    credits: Mapping[str, int],
    wallets: Iterable[str],
    *,
    length_s: int,
    lateness_s: int,
) -> Reconciliation:
    mints, export_wh, minted, epochs = await asyncio.to_thread(
        _verified_mints, engine, length_s, lateness_s
    )
    trades = await asyncio.to_thread(_settled_trades, engine)
    expected = expected_balances(mints, credits.items(), trades)
    mismatches = []
    if sum(units for _, units in mints) != minted:
        mismatches.append(
            f"minted {minted} base units on chain, verified export gives "
            f"{sum(units for _, units in mints)}"
        )
    users = sorted(set(wallets) | set(expected))
    for wallet in users:
        accounts = user_accounts(chain.deployment, Pubkey.from_string(wallet))
        actual = (
            await chain.ledger.token_balance(accounts.energy),
            await chain.ledger.token_balance(accounts.payment),
        )
        if actual != expected.get(wallet, (0, 0)):
            mismatches.append(f"{wallet}: ledger {actual}, expected {expected.get(wallet)}")
    return Reconciliation(epochs, export_wh, minted, len(trades), len(users), tuple(mismatches))

"""Retirement of each minted epoch's matched energy, exactly once, run by the chain
worker after minting.

For each epoch minted and attested, oldest first (`retire_epochs`):

1. Bring the lots up to date (`sync_lots`): every minted grant not yet applied
   adds its meters' lots to its owner; every settled trade not yet applied moves
   the seller's oldest lots to the buyer, in the clearing's order. The epoch
   waits while a clearing up to it is not settled, or a trade cannot be traced.
2. Plan, once: each owner's metered import in the epoch is matched against their
   lots under the campus policy (`matching.match_import`), up to what their
   approval allows above market escrow (read from the chain). The matches, the
   certificates and the lots left are written in one transaction
   (`store.save_plan`); a user with eligible tokens but no approval left is
   recorded `unmatched` with the reason `no_approval` or `approval_short`.
3. Burn: exactly-once chain jobs of up to `BURNS_PER_TRANSACTION` consumers
   each (`retire:epoch:E:batch:N`, BurnChecked under the escrow delegation);
   the consumers of a batch the ledger refused (it applied nothing) each get a
   job of their own (`retire:epoch:E:holder:H`). A confirmed burn retires its
   certificates; a refused single one voids them and puts the lots back
   (`store.record_outcomes`, in one transaction).
4. Commit the epoch's retired certificates: their Merkle root in the memo
   `gtx/v1 certify ...` (one more exactly-once job; none when nothing was
   retired), then the run is `done`.

A crash anywhere resumes from what is stored: the plan is all or nothing, a job
lands at most once, and an outcome is recorded once.
"""

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence

from solders.hash import Hash
from solders.pubkey import Pubkey
from sqlalchemy.engine import Engine

from coordinator.lifecycle import store
from coordinator.lifecycle.certificates import EpochCertificates, certificates_of
from coordinator.lifecycle.matching import (
    Lot,
    Lots,
    MatchingPolicy,
    ShortOfLotsError,
    add,
    match_import,
    transfer,
)
from coordinator.market.escrow import read_escrow, required_escrow
from coordinator.market.store import MarketStore
from coordinator.onchain.ledger import Chain
from coordinator.ops import metrics
from programs.errors import LedgerError
from programs.jobs import Build, Hook, Job, no_hook, run_jobs
from programs.ledger.base import AnyTransaction
from programs.roles.retirement import build_burns, build_certify

__all__ = [
    "ACCOUNT_FROZEN",
    "APPROVAL_SHORT",
    "BURNS_PER_TRANSACTION",
    "NO_APPROVAL",
    "CertifyRefusedError",
    "batch_key",
    "burn_key",
    "plan_epoch",
    "retire_epochs",
    "sync_lots",
]

log = logging.getLogger(__name__)

NO_APPROVAL = "no_approval"
"""Eligible tokens held, but no approval above market escrow (none, or revoked)."""
ACCOUNT_FROZEN = "account_frozen"
"""Eligible tokens held, but the energy account is frozen by the REC authority."""
APPROVAL_SHORT = "approval_short"
"""Some import matched; the approval did not allow the rest of the eligible tokens."""


class CertifyRefusedError(LedgerError):
    """The ledger refused an epoch's certificate root memo: the run stays unfinished
    and is tried again on the next pass."""


BURNS_PER_TRANSACTION = 16
"""Consumers burned by one batch job (well under 1,232 bytes: one account each)."""


def batch_key(epoch: int, n: int) -> str:
    """The epoch's `n`-th batch burn job."""
    return f"retire:epoch:{epoch}:batch:{n}"


def burn_key(epoch: int, holder: str) -> str:
    """A consumer's own burn job, tried only after their batch was refused."""
    return f"retire:epoch:{epoch}:holder:{holder}"


def _certify_key(epoch: int) -> str:
    return f"certify:epoch:{epoch}"


# --- lots ---------------------------------------------------------------------------


def _mint_step(events: Sequence[store.MintEvent]) -> store.Step:
    def step(lots: dict[str, Lots]) -> Mapping[str, Sequence[Lot]]:
        out = dict(lots)
        for event in events:
            out[event.owner] = add(out[event.owner], event.lots)
        return out

    return step


def _trade_step(events: Sequence[store.TradeEvent]) -> store.Step:
    def step(lots: dict[str, Lots]) -> Mapping[str, Sequence[Lot]]:
        out = dict(lots)
        for t in events:
            out[t.seller], out[t.buyer] = transfer(out[t.seller], out[t.buyer], t.units)
        return out

    return step


def sync_lots(engine: Engine) -> bool:
    """Apply every minted grant and settled trade not yet applied (blocking: run it in a
    thread). False when a trade cannot be traced to lots (it waits; logged)."""
    mints = store.unapplied_mints(engine)
    if mints:
        holders = {m.owner for m in mints}
        keys = [(m.key, "mint") for m in mints]
        store.apply_events(engine, holders, _mint_step(mints), keys)
    trades = store.unapplied_trades(engine)
    by_epoch: dict[int, list[store.TradeEvent]] = {}
    for trade in trades:
        by_epoch.setdefault(trade.epoch, []).append(trade)
    for epoch, events in sorted(by_epoch.items()):
        holders = {t.seller for t in events} | {t.buyer for t in events}
        keys = [(t.key, "trade") for t in events]
        try:
            store.apply_events(engine, holders, _trade_step(events), keys)
        except ShortOfLotsError as exc:
            log.error("epoch %d: a settled trade is not covered by lots: %s", epoch, exc)
            metrics.RETIREMENT_UNTRACED.inc()
            return False
    return True


# --- planning -------------------------------------------------------------------------


async def _approvals(
    chain: Chain, market: MarketStore, holders: Sequence[str], frozen: set[str]
) -> dict[str, int]:
    """What each holder's energy approval allows to be burned now: the delegation to the
    settlement authority (as far as the balance covers it) above what the market
    holds for open sell orders and unsettled trades."""
    owed = await asyncio.to_thread(market.owed_by_owner, holders)
    live = await asyncio.to_thread(lambda: {h: market.live_orders(h) for h in holders})
    allowed = {}
    for holder in holders:
        escrow = await read_escrow(chain.ledger, chain.deployment, Pubkey.from_string(holder))
        orders = ((o.side, o.quantity, o.limit_price) for o in live[holder])
        need = required_escrow(orders, owed[holder])
        allowed[holder] = max(0, escrow.energy.usable - need.energy)
        if escrow.energy.frozen:
            frozen.add(holder)
    return allowed


def _plan_rows(
    epoch: int,
    imports: Mapping[str, int],
    lots: Mapping[str, Lots],
    approvals: Mapping[str, int],
    policy: MatchingPolicy,
    frozen: frozenset[str] = frozenset(),
) -> tuple[list[store.PlannedHolder], dict[str, Lots]]:
    rows = []
    after: dict[str, Lots] = {}
    batched = 0
    for holder in sorted(imports):
        match = match_import(lots[holder], imports[holder], approvals[holder], policy, epoch)
        reason = None
        if match.short_of_approval:
            reason = APPROVAL_SHORT if match.matched else NO_APPROVAL
            if holder in frozen:
                reason = ACCOUNT_FROZEN
        matched = match.matched
        key = batch_key(epoch, batched // BURNS_PER_TRANSACTION) if matched else None
        batched += matched > 0
        rows.append(
            store.PlannedHolder(
                holder, match.import_units, match.eligible_units, match.approved_units,
                matched, "planned" if matched else "unmatched", reason,
                key, tuple(certificates_of(epoch, holder, match.retired)),
            )
        )  # fmt: skip
        if matched:
            after[holder] = match.left
    return rows, after


async def plan_epoch(
    chain: Chain, market: MarketStore, engine: Engine, epoch: int, policy: MatchingPolicy
) -> None:
    imports = await asyncio.to_thread(store.imports_of, engine, epoch)
    lots = await asyncio.to_thread(store.load_lots, engine, list(imports))
    # Only those with eligible lots are asked about their approval (a chain read each).
    candidates = [
        h for h in imports
        if any(policy.eligible(lot.production_epoch, epoch) for lot in lots[h])
    ]  # fmt: skip
    frozen: set[str] = set()
    approvals = dict.fromkeys(imports, 0) | await _approvals(chain, market, candidates, frozen)
    rows, after = _plan_rows(epoch, imports, lots, approvals, policy, frozenset(frozen))
    await asyncio.to_thread(store.save_plan, engine, epoch, policy.window.value, rows, after)
    for row in rows:
        if row.reason is not None:
            metrics.RETIREMENT_REFUSED.labels(row.reason).inc()


# --- the ledger side --------------------------------------------------------------------


def _burn_builder(chain: Chain) -> Build:
    def build(job: Job, blockhash: Hash) -> AnyTransaction:
        body = json.loads(job.payload)
        return build_burns(
            chain.deployment, authority=chain.keys.settlement_authority, epoch=body["epoch"],
            burns=[(Pubkey.from_string(h), int(u)) for h, u in body["burns"]],
            blockhash=blockhash, fee=chain.ledger.fee_policy,
            attempt=int(body.get("attempt", 0)),
        )  # fmt: skip

    return build


def _certify_builder(chain: Chain) -> Build:
    def build(job: Job, blockhash: Hash) -> AnyTransaction:
        body = json.loads(job.payload)
        return build_certify(
            authority=chain.keys.settlement_authority, epoch=body["epoch"],
            root=bytes.fromhex(body["root"]), count=body["count"], units=body["units"],
            blockhash=blockhash, fee=chain.ledger.fee_policy,
        )  # fmt: skip

    return build


def _burn_job(key: str, epoch: int, burns: Sequence[tuple[str, int]], attempt: int = 0) -> Job:
    body: dict[str, object] = {"epoch": epoch, "burns": [[h, u] for h, u in burns]}
    if attempt:
        body["attempt"] = attempt  # in its memo too: never the same transaction
    return Job(key=key, kind="retire", payload=json.dumps(body))


async def _run_burns(chain: Chain, jobs: Sequence[Job], hook: Hook) -> list[Job]:
    done = await run_jobs(chain.ledger, chain.jobs, jobs, _burn_builder(chain), hook=hook)
    metrics.record_ledger(
        "retire",
        confirmed=sum(j.status == "confirmed" for j in done),
        failed=sum(j.status == "failed" for j in done),
    )
    return done


async def _burn(chain: Chain, engine: Engine, epoch: int, hook: Hook) -> None:
    """Burn the epoch's planned consumers: their batch jobs first; the consumers of a
    batch the ledger refused (it applied nothing) each on their own, so a refusal
    (a revoked approval, a frozen account) stays with its consumer."""
    planned = await asyncio.to_thread(store.planned_holders, engine, epoch)
    if not planned:
        return
    batches: dict[str, list[tuple[str, int]]] = {}
    for holder, units, key in planned:
        batches.setdefault(key, []).append((holder, units))
    jobs = [_burn_job(key, epoch, burns) for key, burns in batches.items()]
    outcomes: list[tuple[str, str | None, str | None]] = []
    alone: list[tuple[str, int]] = []
    for job, burns in zip(await _run_burns(chain, jobs, hook), batches.values(), strict=True):
        if job.status == "confirmed":
            outcomes += [(holder, str(job.signature), None) for holder, _ in burns]
        else:
            alone += burns
    singles = [_burn_job(burn_key(epoch, h), epoch, [(h, u)], attempt=1) for h, u in alone]
    for job, (holder, _) in zip(await _run_burns(chain, singles, hook), alone, strict=True):
        ok = job.status == "confirmed"
        outcomes.append(
            (holder, str(job.signature) if ok else None, None if ok else job.error or "failed")
        )
    await asyncio.to_thread(store.record_outcomes, engine, epoch, outcomes)
    for holder, _, error in outcomes:
        if error is not None:
            metrics.RETIREMENT_REFUSED.labels("burn_failed").inc()
            log.warning("epoch %d: burn for %s refused: %s", epoch, holder, error,
                        extra={"epoch": epoch})  # fmt: skip


async def _certify(chain: Chain, engine: Engine, epoch: int, hook: Hook) -> None:
    certs = EpochCertificates.build(await asyncio.to_thread(store.certificates_for, engine, epoch))
    signature = None
    if certs.ordered:
        body = {"epoch": epoch, "root": certs.root.hex(), "count": len(certs.ordered),
                "units": certs.units}  # fmt: skip
        job = Job(key=_certify_key(epoch), kind="certify", payload=json.dumps(body))
        (done,) = await run_jobs(chain.ledger, chain.jobs, [job], _certify_builder(chain),
                                 hook=hook)  # fmt: skip
        if done.status != "confirmed":
            raise CertifyRefusedError(f"epoch {epoch}: certificate root refused: {done.error}")
        signature = str(done.signature)
    await asyncio.to_thread(
        store.mark_done, engine, epoch, certs.root, len(certs.ordered), certs.units, signature
    )
    metrics.RETIRED_BASE_UNITS.inc(certs.units)
    metrics.CERTIFICATES.inc(len(certs.ordered))


async def retire_epochs(
    chain: Chain,
    market: MarketStore,
    engine: Engine,
    policy: MatchingPolicy,
    *,
    limit: int = 10,
    hook: Hook = no_hook,
) -> list[int]:
    """Bring lots up to date, then plan, burn and certify each minted epoch not yet
    done (oldest first), finishing first what a crash left planned. Returns the
    epochs done."""
    done = []
    for epoch in await asyncio.to_thread(store.unfinished_runs, engine):
        await _burn(chain, engine, epoch, hook)
        await _certify(chain, engine, epoch, hook)
        done.append(epoch)
    if not await asyncio.to_thread(sync_lots, engine):
        return done
    unsettled = await asyncio.to_thread(market.unsettled_epochs)
    for epoch in await asyncio.to_thread(store.epochs_to_retire, engine, limit):
        if unsettled and min(unsettled) <= epoch:
            break  # its trades are not all settled: the lots are not final yet
        await plan_epoch(chain, market, engine, epoch, policy)
        await _burn(chain, engine, epoch, hook)
        await _certify(chain, engine, epoch, hook)
        log.info("epoch %d retired", epoch, extra={"epoch": epoch})
        done.append(epoch)
    return done

"""Minting each closed epoch's exported energy, one owner's frozen account never
holding up another's.

`mint_closed_epochs` takes each closed epoch not yet done, oldest first:

1. Plan, once: the epoch's grants per owner (`grants.plan_grants`), the owners'
   token accounts created, and each owner's energy account read. A frozen one's
   grant is withheld (`account_frozen`); the others are packed into the epoch's
   batch jobs. The plan is stored (`mint_grants`) before any job is, so a restart
   finds the same jobs.
2. Run the batch jobs. A confirmed batch mints its grants. A batch the ledger
   refused (an account frozen after it was read, say) applied nothing: each of
   its grants is then tried on its own (`grants.next_move`), so the fault stays
   with its owner.
3. Attest the epoch's Merkle root and record the epoch (`epoch_onchain`).

`mint_withheld` runs on every pass of the chain worker: a withheld grant whose
account has been thawed, or a pending one (a failed attempt), gets its next
single-owner attempt. Each grant's jobs form a chain in which a new job is
planned only once every earlier one failed, so a grant is minted at most once,
whatever crashes in between. A grant the ledger refuses `MINT_ATTEMPTS` times
for another reason is parked (`mint_failed: <error>`): the alert
`mint_withheld` names it, and `retry_parked` (`gtx-coordinator mint-retry`)
puts it back once the cause is mended.

SQL runs in worker threads, never on the event loop.
"""

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from solders.pubkey import Pubkey
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from coordinator.db.models import EpochOnchain, EpochRecord, Meter, MeterEpochEnergyRow, MintGrant
from coordinator.onchain.grants import (
    ACCOUNT_FROZEN,
    MINT_FAILED,
    Grant,
    MintStatus,
    Step,
    after_attempt,
    attempt_key,
    next_move,
    plan_grants,
)
from coordinator.onchain.ledger import Chain
from coordinator.ops import metrics
from programs.errors import LedgerUsageError
from programs.jobs import Build, Job, mint_builder, mint_job, mint_jobs, run_attestation, run_jobs
from programs.roles.deployment import user_accounts
from programs.roles.governance import is_frozen
from programs.roles.registry import register_user

__all__ = ["mint_closed_epochs", "mint_withheld", "retry_parked", "withheld_totals"]

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- storage ----------------------------------------------------------------------------


def _pending_epochs(engine: Engine, limit: int) -> list[tuple[int, bytes]]:
    done = select(EpochOnchain.epoch)
    with engine.connect() as conn:
        rows = conn.execute(
            select(EpochRecord.epoch, EpochRecord.merkle_root)
            .where(EpochRecord.epoch.not_in(done))
            .order_by(EpochRecord.epoch)
            .limit(limit)
        ).all()
    return [(int(e), bytes(root)) for e, root in rows]


def _export_rows(engine: Engine, epoch: int) -> list[tuple[str | None, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Meter.owner, func.sum(MeterEpochEnergyRow.export_wh))
            .select_from(MeterEpochEnergyRow)
            .join(
                Meter,
                (Meter.gateway_id == MeterEpochEnergyRow.gateway_id)
                & (Meter.meter_id == MeterEpochEnergyRow.meter_id),
                isouter=True,
            )
            .where(MeterEpochEnergyRow.epoch == epoch)
            .group_by(Meter.owner)
        ).all()
    return [(owner, int(total or 0)) for owner, total in rows]


_COLUMNS = (
    MintGrant.epoch, MintGrant.owner, MintGrant.base_units, MintGrant.status, MintGrant.reason,
    MintGrant.batch_key, MintGrant.attempts, MintGrant.failures, MintGrant.signature,
)  # fmt: skip


def _grant(row: Sequence[Any]) -> Grant:
    epoch, owner, units, status, reason, batch_key, attempts, failures, signature = row
    return Grant(
        int(epoch), owner, int(units), MintStatus(status), reason, batch_key, int(attempts),
        int(failures), signature,
    )  # fmt: skip


def _values(grant: Grant, now: dt.datetime) -> dict[str, object]:
    return {
        "epoch": grant.epoch, "owner": grant.owner, "base_units": grant.base_units,
        "status": grant.status.value, "reason": grant.reason, "batch_key": grant.batch_key,
        "attempts": grant.attempts, "failures": grant.failures, "signature": grant.signature,
        "updated_at": now,
    }  # fmt: skip


def _load_grants(engine: Engine, epoch: int) -> list[Grant]:
    with engine.connect() as conn:
        rows = conn.execute(select(*_COLUMNS).where(MintGrant.epoch == epoch)).all()
    # By wallet as Python orders strings (a database collation may not), as planned.
    return sorted((_grant(r) for r in rows), key=lambda g: g.owner)


def _insert_grants(engine: Engine, grants: Sequence[Grant]) -> None:
    now = _now()
    try:
        with engine.begin() as conn:
            conn.execute(insert(MintGrant), [_values(g, now) for g in grants])
    except IntegrityError:
        pass  # planned already (by a previous leader): the stored plan stands


def _save_grants(engine: Engine, changes: Sequence[tuple[Grant, Grant]]) -> None:
    """Write each (before, after) in one transaction; a grant newly minted adds to its
    epoch's `minted_base_units` (where the epoch is recorded already)."""
    if not changes:
        return
    now = _now()
    with engine.begin() as conn:
        for before, after in changes:
            values = _values(after, now)
            conn.execute(
                update(MintGrant)
                .where(MintGrant.epoch == after.epoch, MintGrant.owner == after.owner)
                .values(**{k: v for k, v in values.items() if k not in ("epoch", "owner")})
            )
            if after.status is MintStatus.MINTED and before.status is not MintStatus.MINTED:
                conn.execute(
                    update(EpochOnchain)
                    .where(EpochOnchain.epoch == after.epoch)
                    .values(minted_base_units=EpochOnchain.minted_base_units + after.base_units)
                )


def _minted_of(conn: Connection, epoch: int) -> int:
    total = conn.execute(
        select(func.sum(MintGrant.base_units)).where(
            MintGrant.epoch == epoch, MintGrant.status == MintStatus.MINTED.value
        )
    ).scalar_one_or_none()
    return int(total or 0)


def _record_epoch(
    engine: Engine, epoch: int, unowned: int, signatures: Sequence[str], attestation: str
) -> int:
    with engine.begin() as conn:
        minted = _minted_of(conn, epoch)
        conn.execute(
            insert(EpochOnchain).values(
                epoch=epoch, minted_base_units=minted, unowned_base_units=unowned,
                mint_signatures=",".join(signatures), attestation_signature=attestation,
                error=None, done_at=_now(),
            )
        )  # fmt: skip
    return minted


def _open_grants(engine: Engine, limit: int) -> list[Grant]:
    """Grants of recorded epochs still to mint: pending, or withheld on a freeze."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(*_COLUMNS)
            .where(
                MintGrant.epoch.in_(select(EpochOnchain.epoch)),
                (MintGrant.status == MintStatus.PENDING.value)
                | (
                    (MintGrant.status == MintStatus.WITHHELD.value)
                    & (MintGrant.reason == ACCOUNT_FROZEN)
                ),
            )
            .order_by(MintGrant.epoch, MintGrant.owner)
            .limit(limit)
        ).all()
    return [_grant(r) for r in rows]


def withheld_totals(engine: Engine) -> dict[str, int]:
    """Base units withheld, per reason code (`account_frozen`, `mint_failed`)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(MintGrant.reason, func.sum(MintGrant.base_units))
            .where(MintGrant.status == MintStatus.WITHHELD.value)
            .group_by(MintGrant.reason)
        ).all()
    totals: dict[str, int] = {}
    for reason, units in rows:
        code = (reason or "").split(":", 1)[0]
        totals[code] = totals.get(code, 0) + int(units or 0)
    return totals


def retry_parked(engine: Engine, *, epoch: int | None = None, owner: str | None = None) -> int:
    """Put parked grants (`mint_failed`) back to pending with their failures forgotten,
    so the chain worker tries them again; returns how many."""
    query = update(MintGrant).where(
        MintGrant.status == MintStatus.WITHHELD.value, MintGrant.reason.like(f"{MINT_FAILED}%")
    )
    if epoch is not None:
        query = query.where(MintGrant.epoch == epoch)
    if owner is not None:
        query = query.where(MintGrant.owner == owner)
    with engine.begin() as conn:
        values = {"status": MintStatus.PENDING.value, "failures": 0, "updated_at": _now()}
        return int(conn.execute(query.values(**values)).rowcount)


# --- the ledger side --------------------------------------------------------------------


async def _energy_frozen(chain: Chain, owner: str) -> bool:
    address = user_accounts(chain.deployment, Pubkey.from_string(owner)).energy
    return await is_frozen(chain.ledger, address) is True


def _batch_jobs(chain: Chain, epoch: int, grants: Sequence[Grant]) -> list[Job]:
    """The epoch's batch jobs, rebuilt from the stored plan (packing depends on the
    grants alone), checked against the keys the plan recorded."""
    batched = [g for g in grants if g.batch_key is not None]
    keys = chain.keys
    jobs = mint_jobs(
        chain.deployment, payer=keys.payer, oracle=keys.oracle, epoch=epoch,
        grants=[(Pubkey.from_string(g.owner), g.base_units) for g in batched],
    )  # fmt: skip
    carried = {owner: job.key for job in jobs for owner, _ in json.loads(job.payload)["grants"]}
    if any(carried.get(g.owner) != g.batch_key for g in batched):
        raise LedgerUsageError(f"epoch {epoch}: the stored mint plan does not pack as recorded")
    return jobs


def _build(chain: Chain) -> Build:
    return mint_builder(chain.ledger, chain.deployment, chain.keys.payer, chain.keys.oracle)


async def _run(chain: Chain, jobs: Sequence[Job]) -> list[Job]:
    done = await run_jobs(chain.ledger, chain.jobs, jobs, _build(chain))
    metrics.record_ledger(
        "mint",
        confirmed=sum(j.status == "confirmed" for j in done),
        failed=sum(j.status == "failed" for j in done),
    )
    return done


async def _plan(chain: Chain, engine: Engine, epoch: int) -> tuple[list[Grant], int]:
    """The epoch's grants as stored, planned first if need be; and its unowned units."""
    planned = plan_grants(await asyncio.to_thread(_export_rows, engine, epoch))
    stored = await asyncio.to_thread(_load_grants, engine, epoch)
    if stored or not planned.per_owner:
        return stored, planned.unowned_base_units
    keys = chain.keys
    frozen = set()
    for owner, _ in planned.per_owner:
        wallet = Pubkey.from_string(owner)
        await register_user(chain.ledger, chain.deployment, payer=keys.payer, owner=wallet)
        if await _energy_frozen(chain, owner):
            frozen.add(owner)
    jobs = mint_jobs(
        chain.deployment, payer=keys.payer, oracle=keys.oracle, epoch=epoch,
        grants=[(Pubkey.from_string(o), u) for o, u in planned.per_owner if o not in frozen],
    )  # fmt: skip
    carried = {owner: job.key for job in jobs for owner, _ in json.loads(job.payload)["grants"]}
    grants = [
        Grant(epoch, owner, units, MintStatus.WITHHELD, ACCOUNT_FROZEN)
        if owner in frozen
        else Grant(epoch, owner, units, MintStatus.PENDING, batch_key=carried[owner])
        for owner, units in planned.per_owner
    ]
    await asyncio.to_thread(_insert_grants, engine, grants)
    return await asyncio.to_thread(_load_grants, engine, epoch), planned.unowned_base_units


async def _advance(chain: Chain, engine: Engine, grant: Grant, frozen: bool) -> Grant:
    """Take `grant` one step on (`grants.next_move`): at most one new attempt."""
    while True:
        jobs = [await asyncio.to_thread(chain.jobs.get, key) for key in grant.job_keys()]
        move = next_move(grant, jobs, frozen)
        after: Grant | None = None
        if move.step is Step.MINTED:
            assert move.job is not None
            after = replace(
                grant, status=MintStatus.MINTED, reason=None, signature=str(move.job.signature)
            )
        elif move.step is Step.WITHHOLD:
            after = replace(grant, status=MintStatus.WITHHELD, reason=ACCOUNT_FROZEN)
        elif move.step is Step.PARK:
            after = replace(grant, status=MintStatus.WITHHELD, reason=grant.reason or MINT_FAILED)
        elif move.step is Step.ATTEMPT:
            # Numbered durably before its job exists: a key is never used for two jobs.
            wallet = Pubkey.from_string(grant.owner)  # its account may have been closed
            await register_user(
                chain.ledger, chain.deployment, payer=chain.keys.payer, owner=wallet
            )
            n = grant.attempts + 1
            after = replace(grant, status=MintStatus.PENDING, reason=None, attempts=n)
            await asyncio.to_thread(_save_grants, engine, [(grant, after)])
            grant = after
            continue
        elif move.step is Step.DRIVE:
            job = move.job or mint_job(
                attempt_key(grant.epoch, grant.owner, grant.attempts), grant.epoch,
                [(Pubkey.from_string(grant.owner), grant.base_units)], grant.attempts,
            )  # fmt: skip
            (finished,) = await _run(chain, [job])
            if job.key == grant.batch_key:
                continue  # the batch decided: look again
            after = after_attempt(grant, finished)
            if after.status is not MintStatus.MINTED:
                log.warning(
                    "epoch %d: mint for %s failed: %s", grant.epoch, grant.owner, finished.error,
                    extra={"epoch": grant.epoch},
                )  # fmt: skip
        if after is None or after == grant:
            return grant
        await asyncio.to_thread(_save_grants, engine, [(grant, after)])
        return after


async def mint_closed_epochs(chain: Chain, engine: Engine, limit: int = 10) -> list[int]:
    """Plan, mint and attest every closed epoch not yet done (oldest first); returns
    the epochs recorded. A withheld grant does not hold its epoch back."""
    done = []
    for epoch, root in await asyncio.to_thread(_pending_epochs, engine, limit):
        grants, unowned = await _plan(chain, engine, epoch)
        batches = await _run(chain, _batch_jobs(chain, epoch, grants))
        confirmed = {job.key: job for job in batches if job.status == "confirmed"}
        minted = [
            (g, replace(g, status=MintStatus.MINTED, signature=str(confirmed[key].signature)))
            for g in grants
            if g.status is MintStatus.PENDING and (key := g.batch_key) in confirmed
        ]
        await asyncio.to_thread(_save_grants, engine, minted)
        settled = {g.owner for g, _ in minted}
        for grant in grants:
            if grant.status is MintStatus.PENDING and grant.owner not in settled:
                await _advance(chain, engine, grant, await _energy_frozen(chain, grant.owner))
        keys = chain.keys
        # A refused attestation raises (the epoch waits for the next pass) and is retried.
        attestation = await run_attestation(
            chain.ledger, chain.jobs, epoch, root, keys.oracle, payer=keys.payer, retry=True
        )
        metrics.record_ledger("attestation", confirmed=1)
        signatures = [str(job.signature) for job in confirmed.values()]
        total = await asyncio.to_thread(
            _record_epoch, engine, epoch, unowned, signatures, str(attestation)
        )
        log.info(
            "epoch %d on chain: minted %d base units of %d, root %s attested",
            epoch, total, sum(g.base_units for g in grants), root.hex(), extra={"epoch": epoch},
        )  # fmt: skip
        done.append(epoch)
    return done


async def mint_withheld(chain: Chain, engine: Engine, limit: int = 1000) -> list[Grant]:
    """Give every open grant of a recorded epoch its next step: those withheld on a
    freeze since thawed, and pending ones, are tried again. Returns those minted."""
    frozen: dict[str, bool] = {}
    minted = []
    for grant in await asyncio.to_thread(_open_grants, engine, limit):
        if grant.owner not in frozen:
            frozen[grant.owner] = await _energy_frozen(chain, grant.owner)
        if grant.status is MintStatus.WITHHELD and frozen[grant.owner]:
            continue  # still frozen: nothing changed
        after = await _advance(chain, engine, grant, frozen[grant.owner])
        if after.status is MintStatus.MINTED:
            log.info(
                "epoch %d: minted %d base units withheld from %s",
                grant.epoch, grant.base_units, grant.owner, extra={"epoch": grant.epoch},
            )  # fmt: skip
            minted.append(after)
    totals = await asyncio.to_thread(withheld_totals, engine)
    for reason in (ACCOUNT_FROZEN, MINT_FAILED):
        metrics.MINT_WITHHELD.labels(reason).set(totals.get(reason, 0))
    return minted

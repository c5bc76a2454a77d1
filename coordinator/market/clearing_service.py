"""An epoch's clearing as a service: snapshot, clear, store, publish, attest, settle.

`clear` loads the epoch's live orders, what their owners still owe on earlier
unsettled trades and their escrow on chain; the pure
`coordinator.market.rules.snapshot` decides which orders enter (pending orders
whose approval never came, and orders past `expires_at`, are expired with that
reason; orders of owners whose token accounts are frozen are excluded,
`account_frozen`) and with what escrow; `coordinator.market.rules.clear_epoch` clears
them, the garbage collector paused (`clear_paused`); and the store keeps the
canonical inputs and result bytes, their hashes, the matches and every order's
outcome at once (the epoch's primary key makes it exactly once across instances).

Then `publish_pending` puts inputs and result (`wire.clearing`) on the
retained topic `wire.topics.epoch_clearing` (until the broker acknowledges),
`attest` posts the memo ``gtx/v1 clearing epoch=E inputs=H result=H`` signed by the
settlement authority (an exactly-once job), and `settlement.settle_epoch`
moves the tokens. `run_market_epoch` does all four; `resume_market` finishes
whatever a crash interrupted. `recompute` clears a stored epoch again from
its stored inputs and compares, byte for byte.
"""

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction

from coordinator.market.book_cache import book_snapshot
from coordinator.market.collector import collector_paused
from coordinator.market.escrow import EscrowNeed, read_escrow
from coordinator.market.orders_service import MarketContext
from coordinator.market.records import ClearingView
from coordinator.market.rules import (
    ClearingInputs,
    ClearingResult,
    Verdict,
    admit,
    clear_epoch,
    encode_inputs,
    encode_result,
    snapshot,
    verify_encoded,
)
from coordinator.market.rules.canonical import sha256_hex
from coordinator.market.settlement import SettlementKeys, SettlementReport, settle_epoch
from coordinator.market.store import MarketStore
from coordinator.ops import metrics
from programs import spl
from programs.jobs import Hook, Job, JobsFailed, attempt_of, next_attempt, no_hook, run_jobs
from programs.roles.trading import clearing_memo
from programs.roles.transactions import sign
from wire.clearing import encode_clearing
from wire.topics import DEFAULT_ROOT, epoch_clearing

__all__ = [
    "MarketEpochReport",
    "Publish",
    "attest",
    "clear",
    "clear_paused",
    "publish_pending",
    "recompute",
    "resume_market",
    "run_market_epoch",
    "settle",
]

Publish = Callable[[str, bytes], Awaitable[bool]]
"""Publish (topic, payload) retained at QoS 1; True once the broker acknowledged."""


def clear_paused(inputs: ClearingInputs) -> ClearingResult:
    """`clear_epoch` with the garbage collector paused (`collector_paused`): it halves
    the time of a 100k-order clearing."""
    with collector_paused():
        return clear_epoch(inputs)


async def clear(ctx: MarketContext, epoch: int) -> ClearingView:
    """Clear `epoch` once; a second call (or another instance) returns the stored clearing."""
    cleared = await asyncio.to_thread(ctx.store.get_clearing, epoch)
    if cleared is not None:
        return cleared
    now = ctx.clock()
    orders = await asyncio.to_thread(ctx.store.open_orders_for, epoch)
    escrows = {
        owner: await read_escrow(ctx.ledger, ctx.deployment, Pubkey.from_string(owner))
        for owner in sorted({o.owner for o in orders})
    }
    frozen = {owner for owner, e in escrows.items() if e.energy.frozen or e.payment.frozen}
    admitted = admit(orders, now, frozen)
    owners = sorted(admitted.owners)
    owed = await asyncio.to_thread(ctx.store.owed_by_owner, owners)
    # What settlement could move from each owner now, per side.
    usable = {o: EscrowNeed(escrows[o].energy.usable, escrows[o].payment.usable) for o in owners}
    inputs = snapshot(epoch, admitted, usable, owed, ctx.rules)
    result = await asyncio.to_thread(clear_paused, inputs)
    await asyncio.to_thread(
        ctx.store.save_clearing,
        result,
        encode_inputs(inputs),
        encode_result(result),
        now,
        admitted.expired,
        admitted.excluded,
    )
    await ctx.cache.put(epoch, book_snapshot(epoch, ()))
    view = await asyncio.to_thread(ctx.store.get_clearing, epoch)
    assert view is not None
    metrics.record_clearing(
        epoch, view.clearing_price, view.volume,
        orders=view.order_count, matches=view.match_count, turnover=view.turnover,
    )  # fmt: skip
    return view


async def publish_pending(
    store: MarketStore, publish: Publish, root: str = DEFAULT_ROOT, limit: int = 100
) -> int:
    """Publish stored clearings not yet acknowledged by the broker; returns how many were."""
    done = 0
    for epoch in await asyncio.to_thread(store.unpublished_epochs, limit):
        stored = await asyncio.to_thread(store.get_clearing_bytes, epoch)
        assert stored is not None
        if not await publish(epoch_clearing(root, epoch), encode_clearing(epoch, *stored)):
            break
        await asyncio.to_thread(store.mark_published, epoch, dt.datetime.now(dt.UTC))
        done += 1
    return done


def _attestation_key(epoch: int) -> str:
    return f"clearing:epoch:{epoch}"


def _attestation_job(view: ClearingView, attempt: int) -> Job:
    body: dict[str, object] = {
        "epoch": view.epoch, "inputs_hash": view.inputs_hash, "result_hash": view.result_hash
    }  # fmt: skip
    if attempt:
        body["attempt"] = attempt  # in its memo too: never the same transaction
    payload = json.dumps(body, separators=(",", ":"))
    key = attempt_of(_attestation_key(view.epoch), attempt)
    return Job(key=key, kind="clearing", payload=payload)


async def attest(
    ctx: MarketContext, epoch: int, keys: SettlementKeys, *, hook: Hook = no_hook
) -> Signature:
    """Post the epoch's clearing hashes as a memo signed by the settlement authority,
    exactly once; returns its signature. A refused memo raises JobsFailed, and the
    next call tries again under a new key (`programs.jobs.next_attempt`)."""
    view = await asyncio.to_thread(ctx.store.get_clearing, epoch)
    if view is None:
        raise LookupError(f"epoch {epoch} is not cleared")
    fee = ctx.ledger.fee_policy
    authority = keys.settlement_authority

    def build(job: Job, blockhash: Hash) -> Transaction:
        payload = json.loads(job.payload)
        memo = clearing_memo(
            payload["epoch"], payload["inputs_hash"], payload["result_hash"],
            int(payload.get("attempt", 0)),
        )  # fmt: skip
        instructions = [*fee.instructions(), spl.memo(memo, [authority.pubkey()])]
        return sign(instructions, keys.payer, [authority], blockhash)

    jobs_store = ctx.store.attestation_jobs(ctx.clock)
    attempt = await asyncio.to_thread(next_attempt, jobs_store, _attestation_key(epoch))
    (job,) = await run_jobs(
        ctx.ledger, jobs_store, [_attestation_job(view, attempt)], build, hook=hook
    )
    if job.status != "confirmed" or job.signature is None:
        raise JobsFailed([job])
    return job.signature


@dataclass(frozen=True, slots=True)
class MarketEpochReport:
    clearing: ClearingView
    attestation: Signature
    settlement: SettlementReport  # while settlement is paused: every match pending


async def _allowed(check: Callable[[], Awaitable[bool]] | None) -> bool:
    return True if check is None else await check()


async def settle(
    ctx: MarketContext, epoch: int, keys: SettlementKeys, *, hook: Hook = no_hook
) -> SettlementReport:
    """Settle `epoch`'s pending matches (exactly once, `settlement.settle_epoch`)."""
    report = await settle_epoch(
        ctx.store, ctx.ledger, ctx.deployment, epoch, keys, hook=hook, clock=ctx.clock
    )
    # Matches, not transactions: what an operator needs to chase is a failed trade.
    metrics.record_ledger("settlement", confirmed=len(report.settled), failed=len(report.failed))
    return report


async def run_market_epoch(
    ctx: MarketContext,
    epoch: int,
    keys: SettlementKeys,
    *,
    publish: Publish | None = None,
    root: str = DEFAULT_ROOT,
    hook: Hook = no_hook,
    may_settle: Callable[[], Awaitable[bool]] | None = None,
) -> MarketEpochReport:
    """Clear, publish, attest and settle `epoch`; idempotent, so the epoch loop may call
    it again after any failure. `may_settle()` is asked after the clearing is stored:
    False (settlement paused, even while this clearing ran) leaves the matches pending
    for `settle` later."""
    view = await clear(ctx, epoch)
    if publish is not None:
        await publish_pending(ctx.store, publish, root)
    signature = await attest(ctx, epoch, keys, hook=hook)
    if await _allowed(may_settle):
        report = await settle(ctx, epoch, keys, hook=hook)
    else:
        waiting = await asyncio.to_thread(ctx.store.matches_to_settle, epoch)
        report = SettlementReport(epoch, (), (), tuple(m.idx for m in waiting), 0)
    latest = await asyncio.to_thread(ctx.store.get_clearing, epoch)
    return MarketEpochReport(latest or view, signature, report)


async def resume_market(
    ctx: MarketContext,
    keys: SettlementKeys,
    *,
    publish: Publish | None = None,
    root: str = DEFAULT_ROOT,
    settlement: bool = True,
) -> list[SettlementReport]:
    """On start: finish unfinished attestations and (unless `settlement` is False:
    paused) settlements, publish what is unpublished."""
    jobs_store = ctx.store.attestation_jobs(ctx.clock)
    for job in await asyncio.to_thread(jobs_store.unfinished):
        await attest(ctx, int(json.loads(job.payload)["epoch"]), keys)
    if publish is not None:
        await publish_pending(ctx.store, publish, root)
    if not settlement:
        return []
    return [
        await settle_epoch(ctx.store, ctx.ledger, ctx.deployment, epoch, keys, clock=ctx.clock)
        for epoch in await asyncio.to_thread(ctx.store.unsettled_epochs)
    ]


def recompute(store: MarketStore, epoch: int) -> Verdict:
    """Clear stored `epoch` again from its stored inputs and compare with the stored
    result, byte for byte (`gtx-coordinator market recompute E`)."""
    stored = store.get_clearing_bytes(epoch)
    if stored is None:
        raise LookupError(f"epoch {epoch} is not cleared")
    view = store.get_clearing(epoch)
    assert view is not None
    with collector_paused():
        verdict = verify_encoded(*stored)
    if verdict.agrees and (view.inputs_hash, view.result_hash) != (
        sha256_hex(stored[0]),
        verdict.stored_hash,
    ):
        return Verdict(
            False,
            "stored hashes differ from the stored bytes",
            verdict.expected_hash,
            view.result_hash,
        )
    return verdict

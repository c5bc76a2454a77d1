"""An epoch's clearing as a service: snapshot, clear, store, publish, attest, settle.

`clear` snapshots the epoch's open orders and each owner's escrow on chain
(what settlement could move now: min(allowance to the settlement authority,
balance), 0 when frozen, less what the owner still owes on earlier unsettled
trades), runs the pure `coordinator.market.rules.clear_epoch`, and stores the
canonical inputs and result bytes, their hashes, the matches and every
order's outcome in one database transaction (the epoch's primary key makes
it exactly once across instances). Pending orders whose approval never came,
and orders past `expires_at`, are expired with that reason.

Then `publish_pending` puts inputs and result on the retained topic
`wire.topics.epoch_clearing` (until the broker acknowledges), `attest` posts
the memo ``gtx/v1 clearing epoch=E inputs=H result=H`` signed by the
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
from sqlalchemy.engine import Engine

from coordinator.db.models import ClearingAttestationJob
from coordinator.market import store
from coordinator.market.book_cache import book_snapshot
from coordinator.market.escrow import read_escrow
from coordinator.market.orders_service import MarketContext
from coordinator.market.records import ClearingView, OrderStatus
from coordinator.market.rules import (
    ClearingInputs,
    Escrow,
    Order,
    Verdict,
    clear_epoch,
    encode_inputs,
    encode_result,
    verify_encoded,
)
from coordinator.market.rules.canonical import sha256_hex
from coordinator.market.settlement import SettlementKeys, SettlementReport, settle_epoch
from coordinator.ops import metrics
from programs import spl
from programs.jobs import Hook, Job, JobsFailed, no_hook, run_jobs
from programs.roles import MEMO_PREFIX, sign
from wire.topics import DEFAULT_ROOT, epoch_clearing

__all__ = [
    "ESCROW_NOT_VERIFIED",
    "EXPIRED",
    "MarketEpochReport",
    "Publish",
    "attest",
    "attestation_memo",
    "clear",
    "publication",
    "publish_pending",
    "recompute",
    "resume_market",
    "run_market_epoch",
]

Publish = Callable[[str, bytes], Awaitable[bool]]
"""Publish (topic, payload) retained at QoS 1; True once the broker acknowledged."""

ESCROW_NOT_VERIFIED = "escrow_not_verified"
EXPIRED = "expired"


async def clear(ctx: MarketContext, epoch: int) -> ClearingView:
    """Clear `epoch` once; a second call (or another instance) returns the stored clearing."""
    cleared = await asyncio.to_thread(store.get_clearing, ctx.engine, epoch)
    if cleared is not None:
        return cleared
    now = ctx.clock()
    orders = await asyncio.to_thread(store.open_orders_for, ctx.engine, epoch)
    expired: dict[str, str] = {}
    live = []
    for o in orders:
        if o.expires_at is not None and o.expires_at <= now:
            expired[o.order_id] = EXPIRED
        elif o.status is OrderStatus.PENDING:
            expired[o.order_id] = ESCROW_NOT_VERIFIED
        else:
            live.append(o)
    owners = {o.owner for o in live}
    owed = await asyncio.to_thread(store.owed_by_owner, ctx.engine, owners)
    energy: dict[str, int] = {}
    payment: dict[str, int] = {}
    for owner in sorted(owners):
        escrow = await read_escrow(ctx.ledger, ctx.deployment, Pubkey.from_string(owner))
        energy[owner] = max(0, escrow.energy.usable - owed[owner].energy)
        payment[owner] = max(0, escrow.payment.usable - owed[owner].payment)
    inputs = ClearingInputs(
        epoch,
        [
            Order(o.order_id, o.owner, o.side, o.epoch, o.quantity, o.limit_price, o.seq)
            for o in live
        ],
        Escrow(energy=energy, payment=payment),  # kept for the side each owner trades
        ctx.rules,
    )
    result = await asyncio.to_thread(clear_epoch, inputs)
    await asyncio.to_thread(
        store.save_clearing,
        ctx.engine,
        result,
        encode_inputs(inputs),
        encode_result(result),
        now,
        expired,
    )
    await ctx.cache.put(epoch, book_snapshot(epoch, ()))
    view = await asyncio.to_thread(store.get_clearing, ctx.engine, epoch)
    assert view is not None
    metrics.record_clearing(epoch, view.clearing_price, view.volume)
    return view


def publication(epoch: int, inputs_bytes: bytes, result_bytes: bytes) -> bytes:
    """The retained message: canonical JSON holding the stored bytes verbatim, so a
    reader can re-encode `inputs`, clear it and compare with `result`."""
    return b"".join(
        [
            b'{"epoch":%d,"inputs":' % epoch,
            inputs_bytes,
            b',"inputs_hash":"%s","result":' % sha256_hex(inputs_bytes).encode(),
            result_bytes,
            b',"result_hash":"%s","v":1}' % sha256_hex(result_bytes).encode(),
        ]
    )


async def publish_pending(
    engine: Engine, publish: Publish, root: str = DEFAULT_ROOT, limit: int = 100
) -> int:
    """Publish stored clearings not yet acknowledged by the broker; returns how many were."""
    done = 0
    for epoch in await asyncio.to_thread(store.unpublished_epochs, engine, limit):
        stored = await asyncio.to_thread(store.get_clearing_bytes, engine, epoch)
        assert stored is not None
        if not await publish(epoch_clearing(root, epoch), publication(epoch, *stored)):
            break
        await asyncio.to_thread(store.mark_published, engine, epoch, dt.datetime.now(dt.UTC))
        done += 1
    return done


def attestation_memo(epoch: int, inputs_hash: str, result_hash: str) -> bytes:
    return (
        f"{MEMO_PREFIX} clearing epoch={epoch} inputs={inputs_hash} result={result_hash}".encode()
    )


def _attestation_job(view: ClearingView) -> Job:
    payload = json.dumps(
        {"epoch": view.epoch, "inputs_hash": view.inputs_hash, "result_hash": view.result_hash},
        separators=(",", ":"),
    )
    return Job(key=f"clearing:epoch:{view.epoch}", kind="clearing", payload=payload)


async def attest(
    ctx: MarketContext, epoch: int, keys: SettlementKeys, *, hook: Hook = no_hook
) -> Signature:
    """Post the epoch's clearing hashes as a memo signed by the settlement authority,
    exactly once; returns its signature."""
    view = await asyncio.to_thread(store.get_clearing, ctx.engine, epoch)
    if view is None:
        raise LookupError(f"epoch {epoch} is not cleared")
    fee = ctx.ledger.fee_policy
    authority = keys.settlement_authority

    def build(job: Job, blockhash: Hash) -> Transaction:
        payload = json.loads(job.payload)
        memo = attestation_memo(payload["epoch"], payload["inputs_hash"], payload["result_hash"])
        instructions = [*fee.instructions(), spl.memo(memo, [authority.pubkey()])]
        return sign(instructions, keys.payer, [authority], blockhash)

    jobs_store = store.SqlMarketJobStore(ctx.engine, ClearingAttestationJob, ctx.clock)
    (job,) = await run_jobs(ctx.ledger, jobs_store, [_attestation_job(view)], build, hook=hook)
    if job.status != "confirmed" or job.signature is None:
        raise JobsFailed([job])
    return job.signature


@dataclass(frozen=True, slots=True)
class MarketEpochReport:
    clearing: ClearingView
    attestation: Signature
    settlement: SettlementReport


async def run_market_epoch(
    ctx: MarketContext,
    epoch: int,
    keys: SettlementKeys,
    *,
    publish: Publish | None = None,
    root: str = DEFAULT_ROOT,
    hook: Hook = no_hook,
) -> MarketEpochReport:
    """Clear, publish, attest and settle `epoch`; idempotent, so the epoch loop may call
    it again after any failure."""
    view = await clear(ctx, epoch)
    if publish is not None:
        await publish_pending(ctx.engine, publish, root)
    signature = await attest(ctx, epoch, keys, hook=hook)
    report = await settle_epoch(
        ctx.engine, ctx.ledger, ctx.deployment, epoch, keys, hook=hook, clock=ctx.clock
    )
    # Matches, not transactions: what an operator needs to chase is a failed trade.
    metrics.record_ledger("settlement", confirmed=len(report.settled), failed=len(report.failed))
    latest = await asyncio.to_thread(store.get_clearing, ctx.engine, epoch)
    return MarketEpochReport(latest or view, signature, report)


async def resume_market(
    ctx: MarketContext,
    keys: SettlementKeys,
    *,
    publish: Publish | None = None,
    root: str = DEFAULT_ROOT,
) -> list[SettlementReport]:
    """On start: finish unfinished attestations and settlements, publish what is unpublished."""
    jobs_store = store.SqlMarketJobStore(ctx.engine, ClearingAttestationJob, ctx.clock)
    for job in await asyncio.to_thread(jobs_store.unfinished):
        await attest(ctx, int(json.loads(job.payload)["epoch"]), keys)
    if publish is not None:
        await publish_pending(ctx.engine, publish, root)
    return [
        await settle_epoch(ctx.engine, ctx.ledger, ctx.deployment, epoch, keys, clock=ctx.clock)
        for epoch in await asyncio.to_thread(store.unsettled_epochs, ctx.engine)
    ]


def recompute(engine: Engine, epoch: int) -> Verdict:
    """Clear stored `epoch` again from its stored inputs and compare with the stored
    result, byte for byte (`gtx-coordinator market recompute E`)."""
    stored = store.get_clearing_bytes(engine, epoch)
    if stored is None:
        raise LookupError(f"epoch {epoch} is not cleared")
    view = store.get_clearing(engine, epoch)
    assert view is not None
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

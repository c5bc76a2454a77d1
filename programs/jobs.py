"""Exactly-once on-chain jobs: minting an epoch's energy and posting its attestation
survive a crash between any two steps, and never apply twice.

Each transaction-to-be is a `Job` with a unique key (``mint:epoch:42:batch:0``,
``attest:epoch:42``) stored in a `JobStore` and moved through

    planned --sign: signature, blockhash and bytes stored BEFORE sending--> sent
    sent --the ledger knows the signature--> confirmed | failed

Driving a job again (after a restart, by calling the same `run_*` again or
`resume`) looks at what the ledger knows of its stored signature (`next_step`):

- known: record confirmed (or failed, with the runtime's error);
- unknown and its blockhash still valid: send the same bytes again (a ledger
  applies one signature once);
- unknown and its blockhash expired: it can never land, so rebuild with a new
  blockhash (a new signature, stored first) and send.

The plan (which grants go in which batch) is fixed when first stored: running
an epoch again with other grants raises LedgerUsageError instead of minting
the difference. `run_jobs` is the generic driver, reusable for settlement.
"""

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal, Protocol, runtime_checkable

from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from programs.errors import (
    LedgerUsageError,
    TransactionExpired,
    TransactionFailed,
)
from programs.ledger.base import AnyTransaction, Ledger, TxStatus
from programs.roles.deployment import Deployment
from programs.roles.oracle import build_attestation, build_mint_energy

__all__ = [
    "WAVE",
    "BatchSender",
    "Build",
    "Hook",
    "Job",
    "JobStatus",
    "JobStore",
    "JobsFailed",
    "Step",
    "attempt_of",
    "attestation_job",
    "mint_builder",
    "mint_job",
    "mint_jobs",
    "next_attempt",
    "next_step",
    "no_hook",
    "resume",
    "run_attestation",
    "run_jobs",
    "run_mint_epoch",
]

JobStatus = Literal["planned", "sent", "confirmed", "failed"]


@runtime_checkable
class BatchSender(Protocol):
    """A ledger that can process several transactions and store them in one durable
    write, reporting no outcome before it (`EmbeddedLedger.send_transactions`)."""

    async def send_transactions(
        self, txs: Sequence[AnyTransaction]
    ) -> list[TxStatus | TransactionFailed | TransactionExpired]: ...


@dataclass(frozen=True, slots=True)
class Job:
    """One transaction-to-be. `payload` (JSON) is what to build; the rest is its progress."""

    key: str
    kind: str
    payload: str
    status: JobStatus = "planned"
    signature: Signature | None = None
    blockhash: Hash | None = None
    tx: bytes | None = None
    slot: int | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("confirmed", "failed")


class JobStore(Protocol):
    """Durable jobs, keyed by `Job.key` (implementations in `programs.jobstore`)."""

    def plan(self, jobs: Sequence[Job]) -> list[Job]:
        """Insert the jobs whose keys are new; return every job as stored, in input order."""
        ...

    def save(self, job: Job) -> None:
        """Overwrite the stored job with the same key (it must exist)."""
        ...

    def save_many(self, jobs: Sequence[Job]) -> None:
        """`save` each job, all in one durable transaction (all or none)."""
        ...

    def get(self, key: str) -> Job | None: ...

    def unfinished(self, prefix: str = "") -> list[Job]:
        """Jobs planned or sent whose key starts with `prefix`, by key."""
        ...


class JobsFailed(TransactionFailed):
    """Some jobs ended failed (the runtime rejected them; nothing of theirs applied)."""

    def __init__(self, failed: Sequence[Job]) -> None:
        first = failed[0]
        super().__init__(str(first.signature), first.error or "failed")
        self.jobs = tuple(failed)
        self.args = (f"{len(failed)} job(s) failed, first {first.key}: {first.error}",)


class Step(Enum):
    SIGN = "sign"  # planned: build, store the signature, send
    RESEND = "resend"  # sent, unknown, blockhash valid: the same bytes again
    REBUILD = "rebuild"  # sent, unknown, blockhash expired: new blockhash, store, send
    CONFIRM = "confirm"
    FAIL = "fail"
    DONE = "done"


def next_step(job: Job, status: TxStatus | None, blockhash_valid: bool) -> Step:
    """What to do with `job`, given what the ledger knows of its stored signature."""
    if job.finished:
        return Step.DONE
    if job.status == "planned":
        return Step.SIGN
    if status is not None:
        return Step.CONFIRM if status.ok else Step.FAIL
    return Step.RESEND if blockhash_valid else Step.REBUILD


Build = Callable[[Job, Hash], AnyTransaction]
"""Builds and signs a job's transaction, legacy or v0."""
Hook = Callable[[str, Job], None]
"""Called at "planned" (stored), "signed" (signature stored, not yet sent) and "sent"
(sent, outcome not yet stored): tests raise from it to simulate a crash."""


def no_hook(point: str, job: Job) -> None:
    """The default hook: nothing."""
    return


WAVE = 256
"""Jobs signed, stored, sent and confirmed together by `run_jobs`."""


async def run_jobs(
    ledger: Ledger,
    store: JobStore,
    jobs: Sequence[Job],
    build: Build,
    *,
    hook: Hook = no_hook,
    wave: int = WAVE,
    on_wave: Callable[[Sequence[Job]], None] | None = None,
) -> list[Job]:
    """Store `jobs` (those not yet stored) and drive each to confirmed or failed.

    `on_wave` gets each wave's finished jobs once their outcomes are stored (so a
    caller can record what they mean while the next wave runs).

    New jobs go in waves of up to `wave`: the whole wave's signatures are stored in
    one store transaction before any of them is sent, the wave is sent, and its
    outcomes are stored in one more transaction (two durable writes per wave, not
    two per job). Jobs already sent before (a restart) are driven one by one.

    Returns them as finished, in order. Raises LedgerUsageError if a stored job
    with the same key has another kind or payload.
    """
    if wave < 1:
        raise ValueError("a wave holds at least one job")
    stored = await asyncio.to_thread(store.plan, jobs)
    for wanted, found in zip(jobs, stored, strict=True):
        if (wanted.kind, wanted.payload) != (found.kind, found.payload):
            raise LedgerUsageError(f"job {found.key} was planned with another payload")
    for job in stored:
        hook("planned", job)
    finished: dict[str, Job] = {}
    pending = [job for job in stored if job.status == "planned"]
    shapes: dict[str, _Shape] = {}
    while pending:
        chosen, pending = _next_wave(pending, shapes, wave)
        done, deferred = await _drive_wave(ledger, store, chosen, build, hook, shapes)
        finished.update((job.key, job) for job in done)
        if on_wave is not None and done:
            on_wave(done)
        pending = deferred + pending
    for job in stored:
        if job.key not in finished:
            finished[job.key] = await _drive(ledger, store, job, build, hook)
    return [finished[job.key] for job in stored]


_Shape = tuple[object, ...]
"""A transaction's content but its blockhash: equal shapes sign alike under one blockhash."""


def _shape(tx: AnyTransaction) -> _Shape:
    message = tx.message
    lookups = getattr(message, "address_table_lookups", ())  # v0 only
    return (
        bytes(message.header),
        tuple(message.account_keys),
        tuple((ix.program_id_index, bytes(ix.accounts), ix.data) for ix in message.instructions),
        tuple(
            (t.account_key, bytes(t.writable_indexes), bytes(t.readonly_indexes)) for t in lookups
        ),
    )


def _next_wave(
    pending: Sequence[Job], shapes: dict[str, _Shape], size: int
) -> tuple[list[Job], list[Job]]:
    """Up to `size` pending jobs, no two of a known equal shape; and the rest, in order."""
    chosen: list[Job] = []
    skipped: list[Job] = []
    used: set[_Shape] = set()
    for n, job in enumerate(pending):
        if len(chosen) == size:
            return chosen, skipped + list(pending[n:])
        shape = shapes.get(job.key)
        if shape is None or shape not in used:
            chosen.append(job)
            if shape is not None:
                used.add(shape)
        else:
            skipped.append(job)
    return chosen, skipped


async def _drive_wave(
    ledger: Ledger,
    store: JobStore,
    wave: Sequence[Job],
    build: Build,
    hook: Hook,
    shapes: dict[str, _Shape],
) -> tuple[list[Job], list[Job]]:
    """Sign, store, send and confirm planned jobs together. Returns those it finished,
    and those it left planned for a later wave because their transaction came out
    identical to an earlier one's (same instructions, same blockhash: one signature,
    which a ledger would apply once). The rest, left "sent", are for `_drive`."""
    blockhash = await ledger.latest_blockhash()
    signed: list[Job] = []
    deferred: list[Job] = []
    seen: set[Signature] = set()
    for job in wave:
        tx = build(job, blockhash)
        signature = tx.signatures[0]
        if signature in seen:
            shapes[job.key] = _shape(tx)  # so later waves take it apart from its twin
            deferred.append(job)
            continue
        seen.add(signature)
        signed.append(
            replace(job, status="sent", signature=signature, blockhash=blockhash, tx=bytes(tx))
        )
    await asyncio.to_thread(store.save_many, signed)
    if isinstance(ledger, BatchSender):
        return await _send_batch(ledger, store, signed, hook), deferred
    outcomes: list[Job] = []
    for job in signed:
        hook("signed", job)
        assert job.tx is not None
        try:
            await ledger.send_transaction(VersionedTransaction.from_bytes(job.tx))
        except TransactionExpired:
            continue  # `_drive` rebuilds it
        except TransactionFailed as exc:
            if await ledger.signature_status(_signature_of(job)) is None:
                # Rejected before the runtime took a fee: nothing landed, nor can it now.
                outcomes.append(replace(job, status="failed", error=exc.error))
                continue
        hook("sent", job)
    decided = {job.key for job in outcomes}
    for job in signed:
        if job.key in decided:
            continue
        status = await ledger.signature_status(_signature_of(job))
        if status is not None:
            outcome: JobStatus = "confirmed" if status.ok else "failed"
            outcomes.append(replace(job, status=outcome, slot=status.slot, error=status.error))
    if outcomes:
        await asyncio.to_thread(store.save_many, outcomes)
    return outcomes, deferred


async def _drive(ledger: Ledger, store: JobStore, job: Job, build: Build, hook: Hook) -> Job:
    while True:
        status = None
        valid = False
        if job.status == "sent" and job.signature is not None:
            status = await ledger.signature_status(job.signature)
            if status is None and job.blockhash is not None:
                valid = await ledger.is_blockhash_valid(job.blockhash)
        step = next_step(job, status, valid)
        if step is Step.DONE:
            return job
        if step is Step.CONFIRM and status is not None:
            return await _save(store, replace(job, status="confirmed", slot=status.slot))
        if step is Step.FAIL and status is not None:
            failed = replace(job, status="failed", slot=status.slot, error=status.error)
            return await _save(store, failed)
        if step in (Step.SIGN, Step.REBUILD):
            blockhash = await ledger.latest_blockhash()
            tx = build(job, blockhash)
            job = replace(
                job, status="sent", signature=tx.signatures[0], blockhash=blockhash, tx=bytes(tx)
            )
            await _save(store, job)
            hook("signed", job)
        assert job.tx is not None
        try:
            await ledger.send_transaction(VersionedTransaction.from_bytes(job.tx))
        except TransactionExpired:
            continue  # next_step sees the expired blockhash and rebuilds
        except TransactionFailed as exc:
            if await ledger.signature_status(_signature_of(job)) is None:
                # Rejected before the runtime took a fee: nothing landed, nor can it now.
                return await _save(store, replace(job, status="failed", error=exc.error))
            continue  # journaled as failed: the loop records it
        hook("sent", job)


async def _send_batch(
    ledger: "BatchSender", store: JobStore, signed: Sequence[Job], hook: Hook
) -> list[Job]:
    for job in signed:
        hook("signed", job)
    results = await ledger.send_transactions(
        [VersionedTransaction.from_bytes(_tx_of(j)) for j in signed]
    )
    outcomes: list[Job] = []
    for job, result in zip(signed, results, strict=True):
        if isinstance(result, TxStatus):
            status: JobStatus = "confirmed" if result.ok else "failed"
            outcomes.append(replace(job, status=status, slot=result.slot, error=result.error))
        elif isinstance(result, TransactionFailed):
            # Rejected before the runtime took a fee: nothing landed, nor can it now.
            outcomes.append(replace(job, status="failed", error=result.error))
        # expired: left "sent" for `_drive` to rebuild
    for job in signed:
        hook("sent", job)
    if outcomes:
        await asyncio.to_thread(store.save_many, outcomes)
    return outcomes


def _tx_of(job: Job) -> bytes:
    if job.tx is None:
        raise ValueError(f"job {job.key} has no transaction yet")
    return job.tx


def _signature_of(job: Job) -> Signature:
    if job.signature is None:
        raise ValueError(f"job {job.key} has no signature yet")
    return job.signature


async def _save(store: JobStore, job: Job) -> Job:
    await asyncio.to_thread(store.save, job)
    return job


def attempt_of(key: str, n: int) -> str:
    """The key of the `n`-th retry of the job keyed `key` (n = 0: the job itself)."""
    if n < 0:
        raise ValueError("attempts are numbered from 0")
    return key if n == 0 else f"{key}:attempt:{n}"


def next_attempt(store: JobStore, key: str) -> int:
    """The first attempt of the job keyed `key` that has not failed (unfinished,
    confirmed, or not stored yet). A failed job applied nothing, and a retry is
    planned only once every earlier attempt failed, so at most one of them lands."""
    n = 0
    while (job := store.get(attempt_of(key, n))) is not None and job.status == "failed":
        n += 1
    return n


def _raise_failed(jobs: Sequence[Job]) -> None:
    failed = [j for j in jobs if j.status == "failed"]
    if failed:
        raise JobsFailed(failed)


# --- minting --------------------------------------------------------------------------


def mint_jobs(
    deployment: Deployment,
    *,
    payer: Keypair,
    oracle: Keypair,
    epoch: int,
    grants: Sequence[tuple[Pubkey, int]],
    cosigners: Sequence[Keypair] = (),
) -> list[Job]:
    """The jobs of an epoch's minting: the grants packed into transactions as
    `build_mint_energy` packs them, one job per transaction. Zero grants are dropped."""
    if any(amount < 0 for _, amount in grants):
        raise ValueError("grants must not be negative")
    kept = [(owner, amount) for owner, amount in grants if amount > 0]
    # Packing depends on sizes only, not on the blockhash's value.
    planned = build_mint_energy(
        deployment,
        payer=payer,
        oracle=oracle,
        epoch=epoch,
        grants=kept,
        blockhash=Hash.default(),
        cosigners=cosigners,
    )
    return [
        mint_job(f"mint:epoch:{epoch}:batch:{index}", epoch, [kept[i] for i in p.item_indices])
        for index, p in enumerate(planned)
    ]


def mint_job(key: str, epoch: int, grants: Sequence[tuple[Pubkey, int]], attempt: int = 0) -> Job:
    """A job minting `grants` of `epoch` in one transaction, under `key` (which must
    name this transaction alone: a key is used once). A retry of refused grants
    gives its `attempt` (> 0), which its memo carries: two attempts never make the
    same transaction, even under one blockhash."""
    payload: dict[str, object] = {
        "epoch": epoch,
        "grants": [[str(owner), amount] for owner, amount in grants],
    }
    if attempt:
        payload["attempt"] = attempt
    return Job(key=key, kind="mint", payload=json.dumps(payload))


def mint_builder(
    ledger: Ledger,
    deployment: Deployment,
    payer: Keypair,
    oracle: Keypair,
    cosigners: Sequence[Keypair] = (),
) -> Build:
    """Builds a mint job's transaction from its payload (`mint_jobs`, `mint_job`)."""

    def build(job: Job, blockhash: Hash) -> AnyTransaction:
        payload = json.loads(job.payload)
        grants = [(Pubkey.from_string(owner), int(amount)) for owner, amount in payload["grants"]]
        (planned,) = build_mint_energy(
            deployment,
            payer=payer,
            oracle=oracle,
            epoch=int(payload["epoch"]),
            grants=grants,
            blockhash=blockhash,
            cosigners=cosigners,
            fee=ledger.fee_policy,
            attempt=int(payload.get("attempt", 0)),
        )
        return planned.tx

    return build


async def run_mint_epoch(
    ledger: Ledger,
    store: JobStore,
    deployment: Deployment,
    epoch: int,
    grants: Sequence[tuple[Pubkey, int]],
    oracle: Keypair,
    *,
    payer: Keypair | None = None,
    cosigners: Sequence[Keypair] = (),
    hook: Hook = no_hook,
) -> list[Signature]:
    """Mint each (owner wallet, base units) grant of `epoch` exactly once; safe to call
    again after any crash. Returns the confirmed signatures, one per batch.

    Raises JobsFailed if a batch was rejected (e.g. a frozen account); the other
    batches are minted. `payer` defaults to the oracle.
    """
    payer = payer or oracle
    jobs = mint_jobs(
        deployment, payer=payer, oracle=oracle, epoch=epoch, grants=grants, cosigners=cosigners
    )
    build = mint_builder(ledger, deployment, payer, oracle, cosigners)
    done = await run_jobs(ledger, store, jobs, build, hook=hook)
    _raise_failed(done)
    return [_signature_of(job) for job in done]


# --- attestation ----------------------------------------------------------------------


def attestation_job(epoch: int, merkle_root: bytes, attempt: int = 0) -> Job:
    """The job posting `epoch`'s root; `attempt` n > 0 is its n-th retry (`attempt_of`)."""
    if len(merkle_root) != 32:
        raise ValueError("a Merkle root is 32 bytes")
    body: dict[str, object] = {"epoch": epoch, "root": merkle_root.hex()}
    if attempt:
        body["attempt"] = attempt  # in its memo too: never the same transaction
    key = attempt_of(f"attest:epoch:{epoch}", attempt)
    return Job(key=key, kind="attest", payload=json.dumps(body))


def _attestation_builder(ledger: Ledger, payer: Keypair, oracle: Keypair) -> Build:
    def build(job: Job, blockhash: Hash) -> Transaction:
        payload = json.loads(job.payload)
        return build_attestation(
            payer=payer,
            oracle=oracle,
            epoch=int(payload["epoch"]),
            merkle_root=bytes.fromhex(payload["root"]),
            blockhash=blockhash,
            fee=ledger.fee_policy,
            attempt=int(payload.get("attempt", 0)),
        )

    return build


async def run_attestation(
    ledger: Ledger,
    store: JobStore,
    epoch: int,
    merkle_root: bytes,
    oracle: Keypair,
    *,
    payer: Keypair | None = None,
    hook: Hook = no_hook,
    retry: bool = False,
) -> Signature:
    """Post `epoch`'s Merkle root exactly once; returns the memo's confirmed signature.
    A second call with another root raises LedgerUsageError. A failed attestation
    raises JobsFailed; with `retry` a call after it tries again under the next
    attempt's key (`next_attempt`), still landing at most once."""
    payer = payer or oracle
    build = _attestation_builder(ledger, payer, oracle)
    attempt = await asyncio.to_thread(next_attempt, store, f"attest:epoch:{epoch}") if retry else 0
    job = attestation_job(epoch, merkle_root, attempt)
    done = await run_jobs(ledger, store, [job], build, hook=hook)
    _raise_failed(done)
    return _signature_of(done[0])


async def resume(
    ledger: Ledger,
    store: JobStore,
    deployment: Deployment,
    oracle: Keypair,
    *,
    payer: Keypair | None = None,
    cosigners: Sequence[Keypair] = (),
    hook: Hook = no_hook,
) -> list[Job]:
    """Finish every unfinished mint and attestation job from its stored payload (on
    start, before new work). Returns them finished; failures are in their status."""
    payer = payer or oracle
    builders = {
        "mint": mint_builder(ledger, deployment, payer, oracle, cosigners),
        "attest": _attestation_builder(ledger, payer, oracle),
    }
    pending = await asyncio.to_thread(store.unfinished)
    return [
        await _drive(ledger, store, job, builders[job.kind], hook)
        for job in pending
        if job.kind in builders
    ]

"""Settlement of an epoch's matches: atomic pairs, exactly once, failures with reasons.

Each match is one `programs.roles.trading.Trade`: energy seller -> buyer and payment
buyer -> seller, both TransferChecked under the users' approvals, always in the
same transaction, as many matches per transaction as fit in 1232 bytes. Each
transaction is a `programs.jobs.Job` in the `settlements` table driven by
`run_jobs`: its signature and bytes are stored before it is sent, so a crash at
any step neither settles a match twice nor half (after a restart the job is
confirmed from the ledger, resent, or rebuilt only once its blockhash expired).

A batch the runtime rejects applied nothing; its matches are then tried one
per transaction (jobs of their own, equally exactly-once), so every other
match settles and the failure is pinned on the match that caused it, with a
reason read from the SPL error (`failure_reason`): approval_revoked,
insufficient_funds (balance or allowance), account_frozen.

The plan is a pure function of the epoch's stored matches, so calling
`settle_epoch` again (after a crash, on another instance) finds the same jobs.

A match that failed with account_frozen (a party's token accounts frozen by the
REC authority after the clearing) is parked (`MatchOutcome.parked`, stored with
the outcome). `settle_parked` settles it again once neither party is frozen: one
single-match job per thaw, keyed by the attempt (`...:retry:N`, N one more than
the key of the job that failed), so a crash resumes the same job and it settles
at most once; it then ends settled, failed for good with another reason (the
tokens were spent meanwhile: insufficient_funds), or parked again (frozen again
before it landed).
"""

import asyncio
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from coordinator.market.records import MatchOutcome, MatchStatus, MatchToSettle
from coordinator.market.store import MarketStore
from programs.jobs import Build, Hook, Job, no_hook, run_jobs
from programs.ledger.base import NO_PRIORITY_FEE, AnyTransaction, FeePolicy, Ledger
from programs.roles.deployment import Deployment, user_accounts
from programs.roles.trading import SettlementSigner, Trade, pack_settlement
from programs.table_jobs import ensure_tables

__all__ = [
    "SETTLE_KIND",
    "SettlementKeys",
    "SettlementReport",
    "batch_jobs",
    "failure_reason",
    "job_matches",
    "retry_job",
    "settle_epoch",
    "settle_parked",
    "single_job",
]

SETTLE_KIND = "settle"

# SPL Token custom errors a settlement meets, as the reasons orders carry.
_SPL_ERRORS = {
    1: "insufficient_funds",  # balance or delegated allowance below the amount
    4: "approval_revoked",  # the settlement authority is no longer the delegate
    17: "account_frozen",
}
_INSTRUCTION_ERROR = re.compile(r"InstructionError\(\((\d+),.*?Custom\((\d+)\)")


@dataclass(frozen=True, slots=True)
class SettlementKeys:
    """`payer` pays the fees; `settlement_authority` is every approval's delegate."""

    payer: Keypair
    settlement_authority: Keypair


@dataclass(frozen=True, slots=True)
class SettlementReport:
    epoch: int
    settled: tuple[int, ...]  # match indices
    failed: tuple[tuple[int, str], ...]  # (match index, reason)
    pending: tuple[int, ...]
    transactions: int


def _trade(match: MatchToSettle) -> Trade:
    return Trade(
        Pubkey.from_string(match.seller),
        Pubkey.from_string(match.buyer),
        match.quantity,
        match.payment,
    )


def _payload(epoch: int, matches: Sequence[MatchToSettle], v0: bool, batch: bool = False) -> str:
    body: dict[str, object] = {
        "epoch": epoch,
        "trades": [[m.idx, m.seller, m.buyer, m.quantity, m.payment] for m in matches],
    }
    # A plan's shape travels with each job, so a rebuild after a restart (or by
    # another version) compiles the transaction it was packed for.
    if v0:
        body["tx"] = "v0"  # planned for lookup tables; a legacy plan has no marker
    if batch:
        body["batch"] = True  # the transfers in one p-token Batch instruction
    return json.dumps(body, separators=(",", ":"))


def _batch_key(epoch: int, n: int) -> str:
    return f"settle:epoch:{epoch}:batch:{n:06d}"


def _is_batched(payload: Mapping[str, object]) -> bool:
    return payload.get("batch") is True


def _batched(job: Job) -> bool:
    return _is_batched(json.loads(job.payload))


def job_matches(job: Job) -> list[int]:
    """The match indices a settlement job carries."""
    return [int(row[0]) for row in json.loads(job.payload)["trades"]]


def batch_jobs(
    deployment: Deployment,
    keys: SettlementKeys,
    epoch: int,
    matches: Sequence[MatchToSettle],
    fee: FeePolicy = NO_PRIORITY_FEE,
    tables: Sequence[AddressLookupTableAccount] = (),
    batch: bool = False,
) -> list[Job]:
    """The epoch's matches packed, in order, into as few transactions as fit (v0 over
    `tables` when given; each transaction's transfers in one batch with `batch`)."""
    packed = pack_settlement(
        deployment,
        payer=keys.payer.pubkey(),
        epoch=epoch,
        trades=[_trade(m) for m in matches],
        fee=fee,
        tables=tables,
        batch=batch,
    )
    return [
        Job(
            key=_batch_key(epoch, n),
            kind=SETTLE_KIND,
            payload=_payload(epoch, [matches[i] for i in indices], bool(tables), batch),
        )
        for n, indices in enumerate(packed)
    ]


def single_job(epoch: int, match: MatchToSettle, v0: bool = False) -> Job:
    """One match alone, after its batch was rejected: never in a Batch instruction, so
    that the runtime's error names the failing leg."""
    return Job(
        key=f"settle:epoch:{epoch}:match:{match.idx:07d}",
        kind=SETTLE_KIND,
        payload=_payload(epoch, [match], v0),
    )


_RETRY = re.compile(r"^(.*?)(?::retry:(\d+))?$")


def retry_job(epoch: int, match: MatchToSettle, last_key: str) -> Job:
    """The next attempt at a parked match, after the job `last_key` failed."""
    found = _RETRY.fullmatch(last_key or single_job(epoch, match).key)
    assert found is not None  # the pattern matches any text
    base, attempt = found.groups()
    return Job(
        key=f"{base}:retry:{int(attempt or 0) + 1}",
        kind=SETTLE_KIND,
        payload=_payload(epoch, [match], False),
    )


async def settle_parked(
    store: MarketStore,
    ledger: Ledger,
    deployment: Deployment,
    keys: SettlementKeys,
    frozen: Callable[[str], Awaitable[bool]],
    *,
    clock: Callable[[], dt.datetime] | None = None,
) -> list[MatchOutcome]:
    """Settle again each parked match neither of whose parties is `frozen` now (module
    doc); the outcomes of those tried."""
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    parked = await asyncio.to_thread(store.parked_matches)
    if not parked:
        return []
    fee = ledger.fee_policy
    build = _builder(deployment, keys, fee, ())
    prefix_len = len(fee.instructions()) + 1
    known: dict[str, bool] = {}
    tried: list[MatchOutcome] = []
    for epoch, match, last_key in parked:
        for owner in (match.seller, match.buyer):
            if owner not in known:
                known[owner] = await frozen(owner)
        if known[match.seller] or known[match.buyer]:
            continue  # still frozen: it waits for the thaw
        done = await run_jobs(
            ledger, store.settlement_jobs(now), [retry_job(epoch, match, last_key)], build
        )
        outcomes = _outcomes(done, prefix_len)
        await asyncio.to_thread(store.record_settlement, epoch, outcomes, now())
        for outcome in outcomes:
            if not outcome.parked:
                await asyncio.to_thread(store.resolve_parked, epoch, outcome.idx, now())
        tried += outcomes
    return tried


def failure_reason(error: str | None, prefix_len: int) -> str:
    """A rejected single-match transaction's error as `code (leg)`; `prefix_len` is the
    number of instructions before the first transfer (fee policy, memo)."""
    found = _INSTRUCTION_ERROR.search(error or "")
    if found is None:
        return f"rejected: {error}"
    position = int(found[1]) - prefix_len
    code = int(found[2])
    leg = "energy leg, seller -> buyer" if position % 2 == 0 else "payment leg, buyer -> seller"
    return f"{_SPL_ERRORS.get(code, f'spl_error_{code}')} ({leg})"


def _builder(
    deployment: Deployment,
    keys: SettlementKeys,
    fee: FeePolicy,
    tables: Sequence[AddressLookupTableAccount],
) -> Build:
    signer = SettlementSigner(deployment, keys.payer, keys.settlement_authority)

    parties: dict[str, Pubkey] = {}  # they recur across an epoch's transactions

    def key(owner: str) -> Pubkey:
        found = parties.get(owner)
        if found is None:
            found = parties[owner] = Pubkey.from_string(owner)
        return found

    def build(job: Job, blockhash: Hash) -> AnyTransaction:
        payload = json.loads(job.payload)
        trades = [
            Trade(key(seller), key(buyer), int(q), int(p))
            for _, seller, buyer, q, p in payload["trades"]
        ]
        # Tables only grow and an address is never added twice, so a rebuild after a
        # restart compiles the same trades to the same accounts.
        batch = _is_batched(payload)
        return signer.sign(int(payload["epoch"]), trades, blockhash, fee, tables, batch)

    return build


async def settle_epoch(
    store: MarketStore,
    ledger: Ledger,
    deployment: Deployment,
    epoch: int,
    keys: SettlementKeys,
    *,
    hook: Hook = no_hook,
    clock: Callable[[], dt.datetime] | None = None,
    lookup_tables: bool = True,
    token_batch: bool | None = None,
) -> SettlementReport:
    """Settle every match of `epoch` exactly once; safe to call again at any time (it
    then finishes what a crash interrupted and changes nothing already final).

    With `lookup_tables` the parties' token accounts and the mints are first put in
    address lookup tables of the settlement authority (`programs.table_jobs`) and
    the matches go in v0 transactions, about three times as many per transaction.
    With `token_batch` (default: what the ledger takes) each transaction's transfers
    go in one p-token Batch instruction, about half the runtime's work."""
    now = clock or (lambda: dt.datetime.now(dt.UTC))
    matches = await asyncio.to_thread(store.matches_to_settle, epoch)
    if not matches:
        return SettlementReport(epoch, (), (), (), 0)
    jobs_store = store.settlement_jobs(now)
    fee = ledger.fee_policy
    tables: list[AddressLookupTableAccount] = []
    # An epoch planned before keeps its plan (e.g. legacy, by an earlier version).
    first = await asyncio.to_thread(jobs_store.get, _batch_key(epoch, 0))
    batch = ledger.token_batch if token_batch is None else token_batch
    if first is not None:
        shape = json.loads(first.payload)
        lookup_tables = shape.get("tx") == "v0"
        batch = _is_batched(shape)
    if lookup_tables:
        tables = await ensure_tables(
            ledger,
            store.lookup_table_jobs(),
            authority=keys.settlement_authority,
            payer=keys.payer,
            addresses=party_accounts(deployment, matches),
            hook=hook,
        )
    build = _builder(deployment, keys, fee, tables)
    planned = batch_jobs(deployment, keys, epoch, matches, fee, tables, batch)
    prefix_len = len(fee.instructions()) + 1  # + the settle memo
    # Each wave's matches are written while the next wave runs (the database's work
    # then overlaps the SVM's); what a crash interrupts is written again on the next
    # call, from the jobs.
    written: set[int] = set()
    writes: list[asyncio.Future[None]] = []
    by_job: dict[str, list[MatchOutcome]] = {}  # a finished job's, worked out once

    def outcomes_of(jobs: Sequence[Job]) -> list[MatchOutcome]:
        found: list[MatchOutcome] = []
        for job in jobs:
            if job.key not in by_job:
                by_job[job.key] = _outcomes([job], prefix_len)
            found += by_job[job.key]
        return found

    def record_wave(jobs: Sequence[Job]) -> None:
        fresh = [o for o in outcomes_of(jobs) if o.idx not in written]
        written.update(o.idx for o in fresh)
        if fresh:
            writes.append(
                asyncio.ensure_future(asyncio.to_thread(store.record_match_outcomes, epoch, fresh))
            )

    try:
        done = await run_jobs(ledger, jobs_store, planned, build, hook=hook, on_wave=record_wave)
        by_idx = {m.idx: m for m in matches}
        # A batched job is retried even for one match: the retry names the leg (and
        # settles, should the cluster's token program not take batches after all).
        retry = [
            single_job(epoch, by_idx[idx], bool(tables))
            for job in done
            if job.status == "failed" and (len(job_matches(job)) > 1 or _batched(job))
            for idx in job_matches(job)
        ]
        if retry:
            done += await run_jobs(ledger, jobs_store, retry, build, hook=hook)
    finally:
        # Never leave a write running past this call, whatever ended it.
        results = await asyncio.gather(*writes, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    outcomes = outcomes_of(done)
    rest = [o for o in outcomes if o.idx not in written]
    await asyncio.to_thread(store.record_settlement, epoch, rest, now())
    settled = tuple(sorted(o.idx for o in outcomes if o.status is MatchStatus.SETTLED))
    failed = tuple(
        sorted((o.idx, o.error or "") for o in outcomes if o.status is MatchStatus.FAILED)
    )
    final = set(settled) | {i for i, _ in failed}
    pending = tuple(i for i in by_idx if i not in final)
    return SettlementReport(epoch, settled, failed, pending, len(done))


def _outcomes(jobs: Sequence[Job], prefix_len: int) -> list[MatchOutcome]:
    """What finished jobs mean for their matches: all settled by a confirmed job; a
    failed single-match job pins its failure (a failed batch, or batched job, is
    retried one match a transaction)."""
    outcomes: list[MatchOutcome] = []
    for job in jobs:
        indices = job_matches(job)
        if job.status == "confirmed":
            outcomes += [
                MatchOutcome(i, MatchStatus.SETTLED, job.key, job.signature, None) for i in indices
            ]
        elif job.status == "failed" and len(indices) == 1 and not _batched(job):
            reason = failure_reason(job.error, prefix_len)
            outcomes.append(MatchOutcome(indices[0], MatchStatus.FAILED, job.key, None, reason))
    return outcomes


def party_accounts(deployment: Deployment, matches: Sequence[MatchToSettle]) -> list[Pubkey]:
    """The mints and every party's two token accounts, in first-seen order."""
    owners = dict.fromkeys(o for m in matches for o in (m.seller, m.buyer))
    addresses = [deployment.energy_mint, deployment.payment_mint]
    for owner in owners:
        accounts = user_accounts(deployment, Pubkey.from_string(owner))
        addresses += [accounts.energy, accounts.payment]
    return addresses

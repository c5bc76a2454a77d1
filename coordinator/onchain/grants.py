"""What each owner is owed for a closed epoch, and what to do next about it: pure.

An epoch's exported energy becomes one grant per owner wallet (`plan_grants`).
Each grant ends minted, or is withheld with a reason, or is pending (not yet
decided); nothing else, so that an epoch's verified export is always
minted + withheld + pending (`coordinator.onchain.reconcile` checks it).

A grant is minted by at most one of a chain of exactly-once jobs: the epoch's
batch job that carries it, then single-owner attempts (`attempt_key`, numbered
from 1). A new job is planned only once every earlier one has failed, and a
failed job applied nothing, so at most one of them ever lands. `next_move`
decides, from the jobs as stored and whether the owner's energy account is
frozen, what the service does with a grant:

- a job confirmed: the grant is minted;
- a job unfinished (a crash, or a job in flight): drive it first;
- every job failed (or none yet): a frozen account withholds the grant
  (`account_frozen`) until it is thawed; a grant parked after
  `MINT_ATTEMPTS` failures (`mint_failed`) waits for an operator's retry;
  otherwise the next attempt.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum, StrEnum

from coordinator.readings.oracle import wh_to_base_units
from programs.jobs import Job

__all__ = [
    "ACCOUNT_FROZEN",
    "MINT_ATTEMPTS",
    "MINT_FAILED",
    "NO_OWNER",
    "Grant",
    "Grants",
    "MintStatus",
    "Move",
    "Step",
    "after_attempt",
    "attempt_key",
    "is_frozen_error",
    "next_move",
    "plan_grants",
]

ACCOUNT_FROZEN = "account_frozen"
"""Withheld: the owner's energy token account is frozen; minted once it is thawed."""
MINT_FAILED = "mint_failed"
"""Withheld (parked): the ledger refused `MINT_ATTEMPTS` mints for another reason."""
NO_OWNER = "no_owner"
"""Exported by meters with no owner wallet on record: counted, never minted."""

MINT_ATTEMPTS = 3
"""Failures (not caused by a freeze) after which a grant is parked."""

# SPL Token's custom error 17: AccountFrozen.
_FROZEN = re.compile(r"Custom\(17\)")


class MintStatus(StrEnum):
    PENDING = "pending"
    MINTED = "minted"
    WITHHELD = "withheld"


@dataclass(frozen=True, slots=True)
class Grants:
    """Base units to mint per owner wallet, and what no owner can receive."""

    per_owner: tuple[tuple[str, int], ...]
    unowned_base_units: int


def plan_grants(rows: Iterable[tuple[str | None, int]]) -> Grants:
    """Sum exported Wh per owner wallet into energy-token base units, in a
    deterministic order (by wallet). Rows are (owner or None, export_wh)."""
    per_owner: dict[str, int] = {}
    unowned = 0
    for owner, export_wh in rows:
        units = wh_to_base_units(export_wh)
        if units <= 0:
            continue
        if owner is None:
            unowned += units
        else:
            per_owner[owner] = per_owner.get(owner, 0) + units
    return Grants(tuple(sorted(per_owner.items())), unowned)


def attempt_key(epoch: int, owner: str, n: int) -> str:
    """The job key of a grant's `n`-th single-owner attempt (n >= 1)."""
    if n < 1:
        raise ValueError("attempts are numbered from 1")
    return f"mint:epoch:{epoch}:owner:{owner}:attempt:{n}"


@dataclass(frozen=True, slots=True)
class Grant:
    """One owner's energy of one epoch as stored (`mint_grants`)."""

    epoch: int
    owner: str
    base_units: int
    status: MintStatus
    reason: str | None = None
    batch_key: str | None = None
    attempts: int = 0
    failures: int = 0
    signature: str | None = None

    @property
    def parked(self) -> bool:
        return self.status is MintStatus.WITHHELD and self.reason_code == MINT_FAILED

    @property
    def reason_code(self) -> str | None:
        """The reason without its detail (`mint_failed: ...` -> `mint_failed`)."""
        return None if self.reason is None else self.reason.split(":", 1)[0]

    def job_keys(self) -> list[str]:
        """Every job that may have minted it, in the order they were planned."""
        keys = [] if self.batch_key is None else [self.batch_key]
        return keys + [attempt_key(self.epoch, self.owner, n) for n in range(1, self.attempts + 1)]


class Step(Enum):
    MINTED = "minted"  # a job confirmed: record it
    DRIVE = "drive"  # a job unfinished (or an attempt planned but not stored): run it
    WITHHOLD = "withhold"  # the account is frozen: withhold, account_frozen
    WAIT = "wait"  # parked, or already withheld for the same reason: nothing to do
    PARK = "park"  # too many failures: withhold, mint_failed
    ATTEMPT = "attempt"  # every job failed: plan the next attempt


@dataclass(frozen=True, slots=True)
class Move:
    step: Step
    job: Job | None = None  # MINTED: the confirmed job; DRIVE: the job to run


def next_move(grant: Grant, jobs: Sequence[Job | None], frozen: bool) -> Move:
    """What to do with `grant`, given its jobs as stored (`jobs[i]` is the job of
    `grant.job_keys()[i]`, None if never stored) and whether the owner's energy
    account is frozen now."""
    for job in jobs:
        if job is not None and job.status == "confirmed":
            return Move(Step.MINTED, job)
    for job in jobs:
        if job is not None and not job.finished:
            return Move(Step.DRIVE, job)
    if grant.attempts and jobs and jobs[-1] is None:
        # The attempt was numbered (durably) but a crash came before its job was stored.
        return Move(Step.DRIVE)
    if frozen:
        if grant.status is MintStatus.WITHHELD and grant.reason_code == ACCOUNT_FROZEN:
            return Move(Step.WAIT)
        return Move(Step.WITHHOLD)
    if grant.parked:
        return Move(Step.WAIT)
    if grant.failures >= MINT_ATTEMPTS:
        return Move(Step.PARK)
    return Move(Step.ATTEMPT)


def is_frozen_error(error: str | None) -> bool:
    """Whether a failed mint's runtime error is SPL Token's AccountFrozen."""
    return error is not None and _FROZEN.search(error) is not None


def after_attempt(grant: Grant, job: Job) -> Grant:
    """`grant` once its latest job finished: minted, withheld because the account was
    frozen after all, or one failure more (parked at `MINT_ATTEMPTS`)."""
    if job.status == "confirmed":
        return replace(grant, status=MintStatus.MINTED, reason=None, signature=str(job.signature))
    if job.status != "failed":
        raise ValueError(f"job {job.key} is not finished")
    if is_frozen_error(job.error):
        return replace(grant, status=MintStatus.WITHHELD, reason=ACCOUNT_FROZEN)
    failures = grant.failures + 1
    reason = f"{MINT_FAILED}: {job.error or 'failed'}"
    status = MintStatus.WITHHELD if failures >= MINT_ATTEMPTS else MintStatus.PENDING
    return replace(grant, status=status, reason=reason, failures=failures)

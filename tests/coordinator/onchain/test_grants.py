"""What to do about a grant (`onchain.grants`), pure: a job that landed is the mint,
one in flight is finished first, a frozen account withholds, refusals park after
`MINT_ATTEMPTS`; and a new attempt only ever follows failed ones."""

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from solders.signature import Signature

from coordinator.onchain.grants import (
    MINT_ATTEMPTS,
    Grant,
    MintStatus,
    Step,
    after_attempt,
    attempt_key,
    is_frozen_error,
    next_move,
)
from programs.jobs import Job, JobStatus

FROZEN = "TransactionErrorInstructionError((2, Tagged(InstructionErrorCustom(17))))"
GRANT = Grant(7, "W", 1000, MintStatus.PENDING, batch_key="mint:epoch:7:batch:0")


def _job(key: str, status: JobStatus, error: str | None = None) -> Job:
    return Job(key, "mint", "{}", status, Signature.default(), error=error)


def test_the_keys_of_a_grants_jobs_are_its_batch_then_its_attempts() -> None:
    grant = replace(GRANT, attempts=2)
    assert grant.job_keys() == [
        "mint:epoch:7:batch:0",
        "mint:epoch:7:owner:W:attempt:1",
        "mint:epoch:7:owner:W:attempt:2",
    ]
    with pytest.raises(ValueError, match="from 1"):
        attempt_key(7, "W", 0)


def test_a_confirmed_job_is_the_mint_whatever_else_holds() -> None:
    batch = _job(GRANT.batch_key or "", "failed", FROZEN)
    landed = _job("a1", "confirmed")
    move = next_move(replace(GRANT, attempts=1), [batch, landed], frozen=True)
    assert (move.step, move.job) == (Step.MINTED, landed)


def test_a_job_in_flight_is_finished_before_anything_new() -> None:
    sent = _job("b", "sent")
    assert next_move(GRANT, [sent], frozen=True) == next_move(GRANT, [sent], frozen=False)
    assert next_move(GRANT, [sent], frozen=False).step is Step.DRIVE
    # An attempt numbered but never stored (a crash in between) is driven, not skipped.
    numbered = replace(GRANT, attempts=1)
    assert next_move(numbered, [_job("b", "failed"), None], frozen=False).step is Step.DRIVE


def test_after_failures_a_frozen_account_withholds_and_a_thawed_one_is_tried() -> None:
    failed = [_job("b", "failed", FROZEN)]
    assert next_move(GRANT, failed, frozen=True).step is Step.WITHHOLD
    withheld = replace(GRANT, status=MintStatus.WITHHELD, reason="account_frozen")
    assert next_move(withheld, failed, frozen=True).step is Step.WAIT
    assert next_move(withheld, failed, frozen=False).step is Step.ATTEMPT
    unbatched = Grant(7, "W", 1000, MintStatus.WITHHELD, "account_frozen")
    assert next_move(unbatched, [], frozen=False).step is Step.ATTEMPT


def test_refusals_park_the_grant_and_a_freeze_is_not_one() -> None:
    grant = replace(GRANT, attempts=1)
    frozen_after_all = after_attempt(grant, _job("a1", "failed", FROZEN))
    assert (frozen_after_all.status, frozen_after_all.reason) == (
        MintStatus.WITHHELD, "account_frozen",
    )  # fmt: skip
    assert frozen_after_all.failures == 0
    for n in range(1, MINT_ATTEMPTS + 1):
        grant = after_attempt(grant, _job(f"a{n}", "failed", "AccountNotFound"))
        assert grant.failures == n
        assert grant.reason == "mint_failed: AccountNotFound"
        assert grant.status is (MintStatus.WITHHELD if n == MINT_ATTEMPTS else MintStatus.PENDING)
    assert grant.parked
    assert next_move(grant, [_job("x", "failed")], frozen=False).step is Step.WAIT
    minted = after_attempt(grant, _job("a9", "confirmed"))
    assert (minted.status, minted.reason) == (MintStatus.MINTED, None)
    with pytest.raises(ValueError, match="not finished"):
        after_attempt(grant, _job("a9", "sent"))


def test_only_spl_account_frozen_is_a_freeze() -> None:
    assert is_frozen_error(FROZEN)
    assert not is_frozen_error(
        "TransactionErrorInstructionError((2, Tagged(InstructionErrorCustom(1))))"
    )
    assert not is_frozen_error(None)


@given(
    st.lists(st.sampled_from(["planned", "sent", "confirmed", "failed", None]), max_size=5),
    st.booleans(),
)
def test_a_new_attempt_only_ever_follows_failed_jobs(
    statuses: list[JobStatus | None], frozen: bool
) -> None:
    grant = replace(GRANT, attempts=max(0, len(statuses) - 1))
    jobs = [None if s is None else _job(f"k{i}", s) for i, s in enumerate(statuses)]
    move = next_move(grant, jobs, frozen)
    if move.step is Step.ATTEMPT:  # none landed, none in flight: a new one is safe
        assert all(j is None or j.status == "failed" for j in jobs)
        assert not frozen
    if any(j is not None and j.status == "confirmed" for j in jobs):
        assert move.step is Step.MINTED

"""Settlement planning, failure reasons and the grouping of outcomes (pure)."""

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from coordinator.market.records import MatchOutcome, MatchStatus, MatchToSettle
from coordinator.market.settlement import (
    SettlementKeys,
    batch_jobs,
    failure_reason,
    job_matches,
    single_job,
)
from coordinator.market.sql_store import _runs
from programs.roles.deployment import Deployment


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            "TransactionErrorInstructionError((1, Tagged(InstructionErrorCustom(4))))",
            "approval_revoked (energy leg, seller -> buyer)",
        ),
        (
            "TransactionErrorInstructionError((2, Tagged(InstructionErrorCustom(1))))",
            "insufficient_funds (payment leg, buyer -> seller)",
        ),
        (
            "TransactionErrorInstructionError((1, Tagged(InstructionErrorCustom(17))))",
            "account_frozen (energy leg, seller -> buyer)",
        ),
        (
            "TransactionErrorInstructionError((2, Tagged(InstructionErrorCustom(9))))",
            "spl_error_9 (payment leg, buyer -> seller)",
        ),
        ("TransactionErrorAccountNotFound", "rejected: TransactionErrorAccountNotFound"),
    ],
)
def test_failure_reason(error: str, reason: str) -> None:
    assert failure_reason(error, prefix_len=1) == reason


def _matches(count: int) -> list[MatchToSettle]:
    owners = [str(Pubkey.new_unique()) for _ in range(6)]
    return [MatchToSettle(i, owners[3 + i % 3], owners[i % 3], 10**9, 1000) for i in range(count)]


def _deployment(keys: SettlementKeys) -> Deployment:
    energy, payment, oracle, rec = (Pubkey.new_unique() for _ in range(4))
    return Deployment(energy, payment, oracle, rec, keys.settlement_authority.pubkey())


def test_batches_carry_every_match_once_in_order_and_plan_the_same_twice() -> None:
    keys = SettlementKeys(Keypair(), Keypair())
    deployment = _deployment(keys)
    matches = _matches(40)
    jobs = batch_jobs(deployment, keys, 7, matches)
    assert len(jobs) > 3
    assert [i for job in jobs for i in job_matches(job)] == list(range(40))
    assert jobs == batch_jobs(deployment, keys, 7, matches)
    assert len({job.key for job in jobs}) == len(jobs)
    assert job_matches(single_job(7, matches[5])) == [5]


def test_a_batched_plan_says_so_in_every_job_and_a_single_match_never_batches() -> None:
    keys = SettlementKeys(Keypair(), Keypair())
    deployment = _deployment(keys)
    matches = _matches(40)
    batched = batch_jobs(deployment, keys, 7, matches, batch=True)
    plain = batch_jobs(deployment, keys, 7, matches)
    assert {json.loads(job.payload).get("batch") for job in batched} == {True}
    assert {json.loads(job.payload).get("batch") for job in plain} == {None}
    assert [i for job in batched for i in job_matches(job)] == list(range(40))
    assert len(batched) <= len(plain)  # a batch entry is a byte smaller than an instruction
    assert "batch" not in json.loads(single_job(7, matches[5], v0=True).payload)


_OUTCOMES = st.builds(
    lambda status, key: MatchOutcome(0, status, f"settle:{key}", None, None),
    st.sampled_from([MatchStatus.SETTLED, MatchStatus.FAILED]),
    st.integers(0, 2),
)


@given(st.lists(st.tuples(st.integers(0, 40), _OUTCOMES), max_size=30))
def test_runs_cover_each_outcome_once_and_join_only_equal_neighbours(
    items: list[tuple[int, MatchOutcome]],
) -> None:
    by_idx = {idx: o._replace(idx=idx) for idx, o in items}  # one outcome per match
    runs = _runs(list(by_idx.values()))
    covered = [i for lo, hi, _ in runs for i in range(lo, hi + 1)]
    assert covered == sorted(by_idx)  # every match once, in order, nothing else
    for lo, hi, first in runs:
        for i in range(lo, hi + 1):
            assert by_idx[i]._replace(idx=first.idx) == first  # one statement fits all
    for (_, hi, a), (lo, _, b) in itertools.pairwise(runs):
        # Neighbours are joined whenever they could be.
        assert lo != hi + 1 or b._replace(idx=a.idx) != a

"""Settlement planning and failure reasons (pure)."""

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from coordinator.trading.records import MatchStatus, MatchView
from coordinator.trading.settlement import (
    SettlementKeys,
    batch_jobs,
    failure_reason,
    job_matches,
    single_job,
)
from programs.roles import Deployment


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


def _matches(count: int) -> list[MatchView]:
    owners = [str(Pubkey.new_unique()) for _ in range(6)]
    return [
        MatchView(
            7,
            i,
            f"b{i}",
            f"s{i}",
            owners[i % 3],
            owners[3 + i % 3],
            10**9,
            1000,
            1000,
            MatchStatus.PENDING,
            None,
            None,
        )
        for i in range(count)
    ]


def test_batches_carry_every_match_once_in_order_and_plan_the_same_twice() -> None:
    keys = SettlementKeys(Keypair(), Keypair())
    deployment = Deployment(
        *(Pubkey.new_unique() for _ in range(4)), keys.settlement_authority.pubkey()
    )
    matches = _matches(40)
    jobs = batch_jobs(deployment, keys, 7, matches)
    assert len(jobs) > 3
    assert [i for job in jobs for i in job_matches(job)] == list(range(40))
    assert jobs == batch_jobs(deployment, keys, 7, matches)
    assert len({job.key for job in jobs}) == len(jobs)
    assert job_matches(single_job(7, matches[5])) == [5]

"""The exactly-once job state machine: pure steps, and crashes between every two steps of
minting and attesting, restarted on SQLite and PostgreSQL."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.signature import Signature
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from programs.errors import LedgerUsageError
from programs.jobs import (
    Hook,
    Job,
    JobsFailed,
    Step,
    _attestation_builder,
    attempt_of,
    attestation_job,
    next_attempt,
    next_step,
    resume,
    run_attestation,
    run_jobs,
    run_mint_epoch,
)
from programs.jobstore import MemoryJobStore, SqlJobStore
from programs.ledger import EmbeddedLedger, SqlLedgerStore, TxStatus
from programs.roles.deployment import user_accounts
from programs.roles.governance import freeze_user
from programs.roles.oracle import attestation_memo
from tests.programs.conftest import World, add_users, make_world, run
from tests.utils.services import fresh_database

KWH = 10**9
SIG = Signature.new_unique()


@pytest.mark.parametrize(
    ("status", "blockhash_status", "ledger_status", "valid", "step"),
    [
        ("planned", None, None, True, Step.SIGN),
        ("sent", Hash.default(), TxStatus(SIG, 3, None), False, Step.CONFIRM),
        ("sent", Hash.default(), TxStatus(SIG, 3, "boom"), True, Step.FAIL),
        ("sent", Hash.default(), None, True, Step.RESEND),
        ("sent", Hash.default(), None, False, Step.REBUILD),
        ("confirmed", Hash.default(), None, False, Step.DONE),
        ("failed", Hash.default(), None, True, Step.DONE),
    ],
)
def test_next_step(
    status: str,
    blockhash_status: Hash | None,
    ledger_status: TxStatus | None,
    valid: bool,
    step: Step,
) -> None:
    job = Job("k", "mint", "{}", status=status, blockhash=blockhash_status)  # type: ignore[arg-type]
    assert next_step(job, ledger_status, valid) is step


class CrashError(Exception):
    pass


def crash_at(point: str, times: int = 1) -> Hook:
    state = {"left": times}

    def hook(at: str, job: Job) -> None:
        if at == point and state["left"] > 0:
            state["left"] -= 1
            raise CrashError(f"{point} {job.key}")

    return hook


async def _epoch_survives_crashes(
    engine: Engine, point: str, restart_ledger: bool, backend: str = "embedded"
) -> None:
    ledger_store = SqlLedgerStore(engine)
    ledger_store.create_tables()
    world = await make_world(ledger_store, backend)
    users = await add_users(world, 25)  # two batches
    grants = [(u.pubkey(), (i + 1) * KWH + i) for i, u in enumerate(users)]
    expected = sum(a for _, a in grants)

    jobs = SqlJobStore(engine)
    for attempt in range(2):  # crash in the first batch, then (but for "planned") the second
        try:
            await run_mint_epoch(
                world.ledger,
                jobs,
                world.deployment,
                7,
                grants,
                world.oracle,
                payer=world.payer,
                hook=crash_at(point),
            )
        except CrashError:
            pass
        else:
            # Both batches were signed (and stored) in one wave before the first crash, and
            # sent in one ledger write: the rerun resends or confirms them, never signing
            # (with the blockhash still valid) nor sending afresh.
            assert attempt == 1
            assert point == "sent" or (point, restart_ledger) == ("signed", False)
        if restart_ledger:  # a new process: new SVM from the store, blockhashes forgotten
            world.ledger = await EmbeddedLedger.open(ledger_store)
            jobs = SqlJobStore(engine)
    signatures = await run_mint_epoch(
        world.ledger, jobs, world.deployment, 7, grants, world.oracle, payer=world.payer
    )
    assert len(signatures) == 2
    again = await run_mint_epoch(
        world.ledger, jobs, world.deployment, 7, grants, world.oracle, payer=world.payer
    )
    assert again == signatures
    mint = await world.ledger.get_mint(world.deployment.energy_mint)
    assert mint is not None
    assert mint.supply == expected
    for owner, amount in grants:
        assert (
            await world.ledger.token_balance(user_accounts(world.deployment, owner).energy)
            == amount
        )
    assert jobs.unfinished() == []
    for signature in signatures:
        status = await world.ledger.signature_status(signature)
        assert status is not None
        assert status.ok


POINTS = ["planned", "signed", "sent"]


@pytest.mark.parametrize("restart_ledger", [False, True])
@pytest.mark.parametrize("point", POINTS)
def test_minting_survives_a_crash_on_sqlite(
    tmp_path: Path, point: str, restart_ledger: bool
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
    run(_epoch_survives_crashes(engine, point, restart_ledger))


@pytest.mark.parametrize("point", POINTS)
def test_minting_survives_a_crash_over_rpc(tmp_path: Path, point: str) -> None:
    # The coordinator crashes, the cluster (an embedded ledger served over HTTP) does not.
    engine = create_engine(f"sqlite:///{tmp_path / 'gtx.db'}")
    run(_epoch_survives_crashes(engine, point, restart_ledger=False, backend="rpc"))


@pytest.mark.services
@pytest.mark.parametrize("point", POINTS)
def test_minting_survives_a_crash_on_postgres(point: str) -> None:
    with fresh_database("gtx_jobs") as url:
        engine = create_engine(url)
        try:
            run(_epoch_survives_crashes(engine, point, restart_ledger=True))
        finally:
            engine.dispose()


def test_a_signed_but_unsent_job_is_rebuilt_once_its_blockhash_expired(
    embedded_world: World,
) -> None:
    # Embedded only: reopening the SVM from its store is what forgets the blockhash.
    world = embedded_world

    async def scenario() -> None:
        (user,) = await add_users(world, 1)
        jobs = MemoryJobStore()
        grants = [(user.pubkey(), 5 * KWH)]
        with pytest.raises(CrashError):
            await run_mint_epoch(
                world.ledger,
                jobs,
                world.deployment,
                1,
                grants,
                world.oracle,
                payer=world.payer,
                hook=crash_at("signed"),
            )
        (stale,) = jobs.unfinished()
        assert stale.status == "sent"
        assert stale.signature is not None
        restarted = await EmbeddedLedger.open(world.store)
        assert not await restarted.is_blockhash_valid(stale.blockhash)  # type: ignore[arg-type]
        (done,) = await resume(restarted, jobs, world.deployment, world.oracle, payer=world.payer)
        assert done.status == "confirmed"
        assert done.signature != stale.signature
        assert await restarted.signature_status(stale.signature) is None
        energy = user_accounts(world.deployment, user.pubkey()).energy
        assert await restarted.token_balance(energy) == 5 * KWH

    run(scenario())


def test_an_epoch_cannot_be_replanned_with_other_grants(world: World) -> None:
    async def scenario() -> None:
        a, b = await add_users(world, 2)
        jobs = MemoryJobStore()
        kwargs: dict[str, Any] = {"payer": world.payer}
        await run_mint_epoch(
            world.ledger, jobs, world.deployment, 3, [(a.pubkey(), 1)], world.oracle, **kwargs
        )
        with pytest.raises(LedgerUsageError):
            await run_mint_epoch(
                world.ledger, jobs, world.deployment, 3, [(b.pubkey(), 1)], world.oracle, **kwargs
            )
        assert (
            await world.ledger.token_balance(user_accounts(world.deployment, b.pubkey()).energy)
            == 0
        )

    run(scenario())


def test_attestation_is_posted_once_across_crashes(world: World) -> None:
    async def scenario() -> None:
        jobs = MemoryJobStore()
        root = bytes(range(32))
        for point in POINTS:
            with pytest.raises(CrashError):
                await run_attestation(
                    world.ledger,
                    jobs,
                    9,
                    root,
                    world.oracle,
                    payer=world.payer,
                    hook=crash_at(point),
                )
        signature = await run_attestation(
            world.ledger, jobs, 9, root, world.oracle, payer=world.payer
        )
        assert await run_attestation(world.ledger, jobs, 9, root, world.oracle) == signature
        history = await world.embedded.signatures_for_address(world.oracle.pubkey())
        assert [h.signature for h in history] == [signature]  # one memo, signed by the oracle
        with pytest.raises(LedgerUsageError):
            await run_attestation(world.ledger, jobs, 9, b"\x01" * 32, world.oracle)
        with pytest.raises(ValueError, match="32 bytes"):
            attestation_job(9, b"short")

    run(scenario())


def test_a_refused_attestation_is_retried_under_a_new_key_and_lands_once(world: World) -> None:
    async def scenario() -> None:
        jobs = MemoryJobStore()
        root = bytes(range(32))
        broke = Keypair()  # a fee payer with no account: the ledger refuses
        with pytest.raises(JobsFailed):
            await run_attestation(world.ledger, jobs, 9, root, world.oracle, payer=broke)
        with pytest.raises(JobsFailed):  # without retry the refusal is final
            await run_attestation(world.ledger, jobs, 9, root, world.oracle, payer=world.payer)
        assert next_attempt(jobs, "attest:epoch:9") == 1
        signature = await run_attestation(
            world.ledger, jobs, 9, root, world.oracle, payer=world.payer, retry=True
        )
        again = await run_attestation(
            world.ledger, jobs, 9, root, world.oracle, payer=world.payer, retry=True
        )
        assert again == signature
        retried = jobs.get(attempt_of("attest:epoch:9", 1))
        assert retried is not None
        assert (retried.status, retried.signature) == ("confirmed", signature)
        history = await world.embedded.signatures_for_address(world.oracle.pubkey())
        assert [h.signature for h in history] == [signature]
        entry = await world.embedded.journal_entry(signature)
        assert entry is not None
        assert attestation_memo(9, root, attempt=1) in entry.tx

    run(scenario())


def test_a_frozen_owner_fails_its_batch_and_the_failure_is_recorded(world: World) -> None:
    async def scenario() -> None:
        (user,) = await add_users(world, 1)
        await freeze_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=user.pubkey(),
        )
        jobs = MemoryJobStore()
        with pytest.raises(JobsFailed) as info:
            await run_mint_epoch(
                world.ledger,
                jobs,
                world.deployment,
                4,
                [(user.pubkey(), KWH)],
                world.oracle,
                payer=world.payer,
            )
        (failed,) = info.value.jobs
        assert failed.status == "failed"
        assert failed.error
        stored = jobs.get(failed.key)
        assert stored is not None
        assert stored.status == "failed"
        energy = user_accounts(world.deployment, user.pubkey()).energy
        assert await world.ledger.token_balance(energy) == 0  # a frozen account cannot receive

    run(scenario())


def test_sql_job_store_round_trips(tmp_path: Path) -> None:
    store = SqlJobStore(create_engine(f"sqlite:///{tmp_path / 'jobs.db'}"))
    store.create_tables()
    job = Job("mint:epoch:1:batch:0", "mint", '{"x": 1}')
    assert store.plan([job]) == [job]
    sent = Job(
        job.key,
        "mint",
        job.payload,
        "sent",
        Signature.new_unique(),
        Hash.new_unique(),
        b"tx",
        None,
        None,
    )
    store.save(sent)
    assert store.plan([job]) == [sent]  # planning again keeps what is stored
    assert store.unfinished("mint:") == [sent]
    assert store.unfinished("attest:") == []
    done = Job(job.key, "mint", job.payload, "confirmed", sent.signature, sent.blockhash, b"tx", 5)
    store.save(done)
    assert store.get(job.key) == done
    assert store.unfinished() == []
    with pytest.raises(KeyError):
        store.save(Job("nope", "mint", "{}"))


def test_jobs_whose_transactions_would_be_identical_go_in_separate_waves(world: World) -> None:
    async def scenario() -> None:
        # Three jobs building the same memo: under one blockhash they would share one
        # signature, so the ledger would apply one of them only.
        twin = attestation_job(9, bytes(32))
        jobs = [Job(f"twin:{n}", twin.kind, twin.payload) for n in range(3)]
        build = _attestation_builder(world.ledger, world.payer, world.oracle)
        store = MemoryJobStore()
        done = await run_jobs(world.ledger, store, jobs, build, wave=64)
        assert [job.status for job in done] == ["confirmed"] * 3
        signatures = {job.signature for job in done}
        assert len(signatures) == 3
        for signature in signatures:
            assert signature is not None
            assert await world.ledger.signature_status(signature) is not None
        assert store.unfinished() == []

    run(scenario())


def test_each_wave_is_reported_once_its_outcomes_are_stored(world: World) -> None:
    async def scenario() -> None:
        jobs = [attestation_job(100 + n, bytes([n]) * 32) for n in range(5)]
        build = _attestation_builder(world.ledger, world.payer, world.oracle)
        store = MemoryJobStore()
        waves: list[list[str]] = []

        def on_wave(done: Sequence[Job]) -> None:
            assert all(store.get(job.key) == job for job in done)  # stored first
            waves.append([job.key for job in done])

        done = await run_jobs(world.ledger, store, jobs, build, wave=2, on_wave=on_wave)
        assert [len(w) for w in waves] == [2, 2, 1]
        assert [key for w in waves for key in w] == [job.key for job in done]

    run(scenario())

"""The on-chain roles on both ledger backends (embedded LiteSVM, and rpc over HTTP to
it): mints, registration, minting, escrow and settlement, emergency freeze."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction

from programs import spl
from programs.errors import LedgerUsageError, TransactionFailed
from programs.ledger import EmbeddedLedger, FeePolicy, Ledger, MemoryLedgerStore
from programs.roles import (
    ENERGY_DECIMALS,
    PAYMENT_DECIMALS,
    MultisigSpec,
    Trade,
    TradeOutcome,
    approve_escrow,
    bootstrap,
    build_mint_energy,
    freeze_user,
    mint_energy,
    mint_payment,
    post_attestation,
    record_governance_memo,
    record_registration_memo,
    register_user,
    settle,
    sign,
    thaw_user,
    user_accounts,
)
from programs.txsize import MAX_TRANSACTION_SIZE
from tests.programs.conftest import Backend, World, add_users, connect, run

KWH = 10**ENERGY_DECIMALS
CREDIT = 10**PAYMENT_DECIMALS


def test_bootstrap_makes_the_two_mints_and_is_idempotent(ledger: Ledger) -> None:
    async def scenario() -> None:
        payer, oracle, rec, settler = Keypair(), Keypair(), Keypair(), Keypair()
        energy, payment = Keypair(), Keypair()
        await ledger.airdrop(payer.pubkey(), 10**10)
        kwargs = {
            "payer": payer,
            "energy_mint": energy,
            "payment_mint": payment,
            "oracle": oracle.pubkey(),
            "rec_authority": rec.pubkey(),
            "settlement_authority": settler.pubkey(),
        }
        first = await bootstrap(ledger, **kwargs)  # type: ignore[arg-type]
        lamports = await ledger.get_account(payer.pubkey())
        assert await bootstrap(ledger, **kwargs) == first  # type: ignore[arg-type]
        assert await ledger.get_account(payer.pubkey()) == lamports  # nothing sent again
        energy_mint = await ledger.get_mint(first.energy_mint)
        payment_mint = await ledger.get_mint(first.payment_mint)
        assert energy_mint is not None
        assert payment_mint is not None
        assert (energy_mint.decimals, energy_mint.mint_authority) == (9, oracle.pubkey())
        assert (payment_mint.decimals, payment_mint.mint_authority) == (6, rec.pubkey())
        assert energy_mint.freeze_authority == payment_mint.freeze_authority == rec.pubkey()
        with pytest.raises(LedgerUsageError):
            await bootstrap(ledger, **{**kwargs, "oracle": Keypair().pubkey()})  # type: ignore[arg-type]

    run(scenario())


def test_register_user_is_idempotent(world: World) -> None:
    async def scenario() -> None:
        owner = Keypair().pubkey()
        accounts = await register_user(
            world.ledger, world.deployment, payer=world.payer, owner=owner
        )
        again = await register_user(world.ledger, world.deployment, payer=world.payer, owner=owner)
        assert accounts == again == user_accounts(world.deployment, owner)
        energy = await world.ledger.get_token_account(accounts.energy)
        assert energy is not None
        assert (energy.owner, energy.mint, energy.amount) == (
            owner,
            world.deployment.energy_mint,
            0,
        )

    run(scenario())


def test_mint_energy_packs_many_grants_under_the_size_limit(world: World) -> None:
    async def scenario() -> None:
        users = await add_users(world, 30)
        grants = [(u.pubkey(), (i + 1) * KWH // 4) for i, u in enumerate(users)]
        planned = build_mint_energy(
            world.deployment,
            payer=world.payer,
            oracle=world.oracle,
            epoch=42,
            grants=grants,
            blockhash=await world.ledger.latest_blockhash(),
        )
        assert len(planned) > 1
        assert all(len(bytes(p.tx)) <= MAX_TRANSACTION_SIZE for p in planned)
        await mint_energy(
            world.ledger,
            world.deployment,
            payer=world.payer,
            oracle=world.oracle,
            epoch=42,
            grants=grants,
        )
        for owner, amount in grants:
            energy = user_accounts(world.deployment, owner).energy
            assert await world.ledger.token_balance(energy) == amount
        mint = await world.ledger.get_mint(world.deployment.energy_mint)
        assert mint is not None
        assert mint.supply == sum(a for _, a in grants)

    run(scenario())


def test_only_the_oracle_can_mint_energy(world: World) -> None:
    async def scenario() -> None:
        (user,) = await add_users(world, 1)
        with pytest.raises(TransactionFailed):
            await mint_energy(
                world.ledger,
                world.deployment,
                payer=world.payer,
                oracle=Keypair(),
                epoch=1,
                grants=[(user.pubkey(), 1)],
            )

    run(scenario())


def test_memos_are_recorded_and_signed(world: World) -> None:
    async def scenario() -> None:
        signatures = [
            await post_attestation(
                world.ledger, payer=world.payer, oracle=world.oracle, epoch=3, merkle_root=b"r" * 32
            ),
            await record_registration_memo(
                world.ledger,
                payer=world.payer,
                rec_authority=world.rec,
                gateway_id="GwId",
                meter_id="m1",
                owner=Keypair().pubkey(),
            ),
            await record_governance_memo(
                world.ledger, payer=world.payer, rec_authority=world.rec, change="lateness=900"
            ),
        ]
        for signature in signatures:
            status = await world.ledger.signature_status(signature)
            assert status is not None
            assert status.ok
        with pytest.raises(ValueError, match="32 bytes"):
            await post_attestation(
                world.ledger, payer=world.payer, oracle=world.oracle, epoch=3, merkle_root=b"r"
            )

    run(scenario())


async def _market(world: World, *, payment_allowance: int) -> tuple[Keypair, Keypair]:
    seller, buyer = await add_users(world, 2, payment=100 * CREDIT)
    await mint_energy(
        world.ledger,
        world.deployment,
        payer=world.payer,
        oracle=world.oracle,
        epoch=1,
        grants=[(seller.pubkey(), 5 * KWH)],
    )
    await approve_escrow(
        world.ledger, world.deployment, payer=world.payer, owner=seller, energy=5 * KWH, payment=0
    )
    await approve_escrow(
        world.ledger,
        world.deployment,
        payer=world.payer,
        owner=buyer,
        energy=0,
        payment=payment_allowance,
    )
    return seller, buyer


async def _balances(world: World, *owners: Keypair) -> list[int]:
    result = []
    for owner in owners:
        accounts = user_accounts(world.deployment, owner.pubkey())
        result += [
            await world.ledger.token_balance(accounts.energy),
            await world.ledger.token_balance(accounts.payment),
        ]
    return result


async def _settle(
    world: World, trades: list[Trade], *, epoch: int = 1, batch: bool | None = None
) -> list[TradeOutcome]:
    """`roles.settle` by the world's payer and settlement authority."""
    return await settle(
        world.ledger,
        world.deployment,
        payer=world.payer,
        settlement_authority=world.settler,
        epoch=epoch,
        trades=trades,
        batch=batch,
    )


def test_delegated_settlement_moves_both_tokens_atomically(world: World) -> None:
    async def scenario() -> None:
        seller, buyer = await _market(world, payment_allowance=10 * CREDIT)
        trade = Trade(seller.pubkey(), buyer.pubkey(), energy=2 * KWH, payment=3 * CREDIT)
        (outcome,) = await _settle(world, [trade])
        assert outcome.error is None
        assert outcome.signature is not None
        assert await _balances(world, seller, buyer) == [
            3 * KWH,
            103 * CREDIT,
            2 * KWH,
            97 * CREDIT,
        ]
        buyer_payment = await world.ledger.get_token_account(
            user_accounts(world.deployment, buyer.pubkey()).payment
        )
        assert buyer_payment is not None
        assert buyer_payment.delegated_amount == 7 * CREDIT  # allowance used up by the trade

    run(scenario())


def test_insufficient_payment_delegation_fails_the_whole_pair(world: World) -> None:
    async def scenario() -> None:
        seller, buyer = await _market(world, payment_allowance=1 * CREDIT)
        before = await _balances(world, seller, buyer)
        trade = Trade(seller.pubkey(), buyer.pubkey(), energy=2 * KWH, payment=3 * CREDIT)
        (outcome,) = await _settle(world, [trade])
        assert outcome.signature is None
        assert outcome.error is not None
        assert await _balances(world, seller, buyer) == before  # not even the energy leg

    run(scenario())


def test_one_bad_trade_does_not_block_the_others(world: World) -> None:
    async def scenario() -> None:
        seller, buyer = await _market(world, payment_allowance=10 * CREDIT)
        good = Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=CREDIT)
        bad = Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=50 * CREDIT)
        outcomes = await _settle(world, [good, bad, good])
        assert [o.error is None for o in outcomes] == [True, False, True]
        assert await _balances(world, seller, buyer) == [
            3 * KWH,
            102 * CREDIT,
            2 * KWH,
            98 * CREDIT,
        ]

    run(scenario())


def test_a_frozen_account_cannot_trade_until_thawed(world: World) -> None:
    async def scenario() -> None:
        seller, buyer = await _market(world, payment_allowance=10 * CREDIT)
        trade = Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=CREDIT)
        await freeze_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=seller.pubkey(),
        )
        frozen = await world.ledger.get_token_account(
            user_accounts(world.deployment, seller.pubkey()).energy
        )
        assert frozen is not None
        assert str(frozen.state) == str(type(frozen.state).Frozen)
        before = await _balances(world, seller, buyer)
        (outcome,) = await _settle(world, [trade])
        assert outcome.error is not None
        assert await _balances(world, seller, buyer) == before
        await thaw_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=seller.pubkey(),
        )
        (outcome,) = await _settle(world, [trade])
        assert outcome.error is None

    run(scenario())


def test_a_two_of_two_mint_multisig_needs_both_signers(ledger: Ledger) -> None:
    async def scenario() -> None:
        payer, oracle, rec, settler = Keypair(), Keypair(), Keypair(), Keypair()
        await ledger.airdrop(payer.pubkey(), 10**10)
        spec = MultisigSpec(Keypair(), (oracle.pubkey(), rec.pubkey()), 2)
        kwargs = {
            "payer": payer,
            "energy_mint": Keypair(),
            "payment_mint": Keypair(),
            "oracle": oracle.pubkey(),
            "rec_authority": rec.pubkey(),
            "settlement_authority": settler.pubkey(),
        }
        deployment = await bootstrap(ledger, mint_multisig=spec, **kwargs)  # type: ignore[arg-type]
        assert await bootstrap(ledger, mint_multisig=spec, **kwargs) == deployment  # type: ignore[arg-type]
        mint = await ledger.get_mint(deployment.energy_mint)
        assert mint is not None
        assert mint.mint_authority == spec.account.pubkey() == deployment.energy_mint_authority
        other = MultisigSpec(spec.account, (oracle.pubkey(), rec.pubkey()), 1)
        with pytest.raises(LedgerUsageError):
            await bootstrap(ledger, mint_multisig=other, **kwargs)  # type: ignore[arg-type]
        owner = Keypair().pubkey()
        energy = (await register_user(ledger, deployment, payer=payer, owner=owner)).energy
        grant = [(owner, 3 * KWH)]
        with pytest.raises(TransactionFailed):  # the oracle alone is 1 of 2
            await mint_energy(ledger, deployment, payer=payer, oracle=oracle, epoch=1, grants=grant)
        assert await ledger.token_balance(energy) == 0
        await mint_energy(
            ledger, deployment, payer=payer, oracle=oracle, epoch=1, grants=grant, cosigners=[rec]
        )
        assert await ledger.token_balance(energy) == 3 * KWH
        with pytest.raises(ValueError, match="m <= n"):
            MultisigSpec(Keypair(), (oracle.pubkey(),), 2)

    run(scenario())


def test_a_frozen_account_cannot_receive_energy(world: World) -> None:
    async def scenario() -> None:
        (user,) = await add_users(world, 1)
        await freeze_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=user.pubkey(),
        )
        grant = [(user.pubkey(), KWH)]
        kwargs = {"payer": world.payer, "oracle": world.oracle, "epoch": 1, "grants": grant}
        with pytest.raises(TransactionFailed):
            await mint_energy(world.ledger, world.deployment, **kwargs)  # type: ignore[arg-type]
        energy = user_accounts(world.deployment, user.pubkey()).energy
        assert await world.ledger.token_balance(energy) == 0
        await thaw_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=user.pubkey(),
        )
        await mint_energy(world.ledger, world.deployment, **kwargs)  # type: ignore[arg-type]
        assert await world.ledger.token_balance(energy) == KWH

    run(scenario())


def test_a_frozen_account_cannot_send_or_receive_even_by_its_owner(world: World) -> None:
    async def scenario() -> None:
        frozen, other = await add_users(world, 2, payment=10 * CREDIT)
        frozen_accounts = user_accounts(world.deployment, frozen.pubkey())
        other_accounts = user_accounts(world.deployment, other.pubkey())
        await freeze_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=frozen.pubkey(),
        )

        async def pay(source: Keypair, src: Pubkey, dest: Pubkey) -> None:
            ix = spl.transfer_checked(
                source=src,
                mint=world.deployment.payment_mint,
                destination=dest,
                authority=source.pubkey(),
                amount=CREDIT,
                decimals=PAYMENT_DECIMALS,
            )
            tx = sign([ix], world.payer, [source], await world.ledger.latest_blockhash())
            await world.ledger.send_transaction(tx)

        with pytest.raises(TransactionFailed):  # send, signed by the owner itself
            await pay(frozen, frozen_accounts.payment, other_accounts.payment)
        with pytest.raises(TransactionFailed):  # receive
            await pay(other, other_accounts.payment, frozen_accounts.payment)
        balances = [frozen_accounts.payment, other_accounts.payment]
        assert [await world.ledger.token_balance(a) for a in balances] == [10 * CREDIT] * 2
        await thaw_user(
            world.ledger,
            world.deployment,
            payer=world.payer,
            rec_authority=world.rec,
            owner=frozen.pubkey(),
        )
        await pay(frozen, frozen_accounts.payment, other_accounts.payment)
        assert [await world.ledger.token_balance(a) for a in balances] == [9 * CREDIT, 11 * CREDIT]

    run(scenario())


def test_every_transaction_sent_fits_the_limit_including_the_largest_batches(
    backend: Backend,
) -> None:
    """The largest shapes the roles build: a priority fee opening every transaction, an
    11-signer mint multisig needing 3 signatures per mint, and epochs of many grants and
    trades. Every transaction journaled is within 1232 bytes; the batches are full."""
    fee = FeePolicy(compute_unit_price=10**6, compute_unit_limit=1_400_000)

    async def scenario() -> None:
        embedded = await EmbeddedLedger.open(MemoryLedgerStore(), fee_policy=fee)
        ledger = await connect(backend.name, embedded, fee_policy=fee)
        payer, oracle, rec, settler, cosigner = (Keypair() for _ in range(5))
        await ledger.airdrop(payer.pubkey(), 10**11)
        others = [Keypair().pubkey() for _ in range(spl.MAX_MULTISIG_SIGNERS - 3)]
        signers = (oracle.pubkey(), rec.pubkey(), cosigner.pubkey(), *others)
        deployment = await bootstrap(
            ledger,
            payer=payer,
            energy_mint=Keypair(),
            payment_mint=Keypair(),
            oracle=oracle.pubkey(),
            rec_authority=rec.pubkey(),
            settlement_authority=settler.pubkey(),
            mint_multisig=MultisigSpec(Keypair(), signers, 3),
        )
        users = [Keypair() for _ in range(41)]
        for user in users:
            await register_user(ledger, deployment, payer=payer, owner=user.pubkey())
        epoch = 2**63 - 1  # the longest epoch number in the memos
        grants = [(u.pubkey(), 10**6 * KWH + i) for i, u in enumerate(users)]
        await mint_payment(ledger, deployment, payer=payer, rec_authority=rec, grants=grants)
        minted = await mint_energy(
            ledger,
            deployment,
            payer=payer,
            oracle=oracle,
            epoch=epoch,
            grants=grants,
            cosigners=[rec, cosigner],
        )
        assert len(minted) > 1
        for user in users:
            await approve_escrow(
                ledger, deployment, payer=payer, owner=user, energy=KWH, payment=CREDIT
            )
        trades = [
            Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=CREDIT)
            for seller, buyer in itertools.pairwise(users)
        ]
        outcomes = await settle(
            ledger,
            deployment,
            payer=payer,
            settlement_authority=settler,
            epoch=epoch,
            trades=trades,
        )
        assert all(o.error is None for o in outcomes)
        assert len({o.signature for o in outcomes}) > 1
        await freeze_user(
            ledger, deployment, payer=payer, rec_authority=rec, owner=users[0].pubkey()
        )
        await post_attestation(
            ledger, payer=payer, oracle=oracle, epoch=epoch, merkle_root=b"\xff" * 32
        )
        await record_registration_memo(
            ledger,
            payer=payer,
            rec_authority=rec,
            gateway_id=str(Keypair().pubkey()),
            meter_id="meter-" + "9" * 32,
            owner=users[0].pubkey(),
        )
        await record_governance_memo(
            ledger, payer=payer, rec_authority=rec, change="lateness_s=900 pause=minting"
        )

        history = await embedded.signatures_for_address(payer.pubkey(), limit=10_000)
        sizes = []
        for item in history:
            entry = await embedded.journal_entry(item.signature)
            assert entry is not None
            assert entry.error is None
            sizes.append(len(entry.tx))
        batched = {*minted, *(o.signature for o in outcomes)}
        assert batched <= {item.signature for item in history}
        assert len(sizes) > 2 * len(users) + len(batched)  # registrations, escrows, ...
        assert max(sizes) <= MAX_TRANSACTION_SIZE
        assert max(sizes) > MAX_TRANSACTION_SIZE - 64  # a batch filled to the brim

    run(scenario())


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=1, max_value=3), st.booleans())
def test_sign_is_byte_identical_to_solders_signing(n_memos: int, payer_in_signers: bool) -> None:
    """`sign` signs the message bytes itself; the result must be what
    `Transaction(keypairs, message, blockhash)` makes, whatever the signer order."""
    payer, first, second = Keypair(), Keypair(), Keypair()
    signers = [second, first, payer] if payer_in_signers else [second, first]
    instructions = [spl.memo(b"m%d" % i, [first.pubkey()]) for i in range(n_memos)]
    instructions.append(spl.memo(b"last", [second.pubkey()]))
    blockhash = Hash.new_unique()
    reference = Transaction(
        [payer, first, second], Message(instructions, payer.pubkey()), blockhash
    )
    assert bytes(sign(instructions, payer, signers, blockhash)) == bytes(reference)


@pytest.mark.parametrize("batch", [True, False], ids=["batched", "one-instruction-each"])
def test_settlement_in_a_token_batch_moves_what_separate_transfers_move(
    world: World, batch: bool
) -> None:
    """p-token's Batch instruction (what the embedded ledger's token program takes, on
    both backends): one instruction carries every transfer, all or nothing."""

    async def scenario() -> None:
        seller, buyer = await _market(world, payment_allowance=10 * CREDIT)
        trades = [
            Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=CREDIT),
            Trade(seller.pubkey(), buyer.pubkey(), energy=KWH // 2, payment=2 * CREDIT),
        ]
        outcomes = await _settle(world, trades, batch=batch)
        assert [o.error for o in outcomes] == [None, None]
        assert outcomes[0].signature == outcomes[1].signature  # one transaction
        assert await _balances(world, seller, buyer) == [
            3 * KWH + KWH // 2,
            103 * CREDIT,
            KWH + KWH // 2,
            97 * CREDIT,
        ]
        assert outcomes[0].signature is not None
        entry = await world.embedded.journal_entry(outcomes[0].signature)
        assert entry is not None
        message = VersionedTransaction.from_bytes(entry.tx).message
        keys = message.account_keys
        token = [
            ix for ix in message.instructions if keys[ix.program_id_index] == spl.TOKEN_PROGRAM_ID
        ]
        assert len(token) == (1 if batch else 4)

        # A batch fails whole: an overdrawn second transfer undoes the first; the trade
        # is then tried alone, one instruction a transfer, so the error names the
        # payment leg (instruction 2, after the memo and the energy leg).
        before = await _balances(world, seller, buyer)
        (failed,) = await _settle(
            world,
            [Trade(seller.pubkey(), buyer.pubkey(), energy=KWH, payment=50 * CREDIT)],
            epoch=2,
            batch=batch,
        )
        assert failed.signature is None
        assert failed.error is not None
        assert "InstructionError((2," in failed.error
        assert await _balances(world, seller, buyer) == before

    run(scenario())

"""The roles' transactions: `sign` makes what solders makes, and every transaction the
roles send, at their largest, fits the 1232-byte limit."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction

from programs import spl
from programs.ledger import EmbeddedLedger, FeePolicy, MemoryLedgerStore
from programs.roles.governance import freeze_user, record_memo
from programs.roles.oracle import mint_energy, post_attestation
from programs.roles.registry import record_registration_memo, register_user
from programs.roles.token import MultisigSpec, bootstrap, mint_payment
from programs.roles.trading import Trade, approve_escrow, settle
from programs.roles.transactions import sign
from programs.txsize import MAX_TRANSACTION_SIZE
from tests.programs.conftest import Backend, connect, run
from tests.programs.roles.market import CREDIT, KWH


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
        await record_memo(
            ledger, b"gtx/v1 control action=pause scopes=minting epoch=1 by=x", payer=payer,
            signers=[rec],
        )  # fmt: skip

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

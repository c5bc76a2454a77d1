"""The memos: each role's text as documented, in the transactions it builds, and
recorded and signed on both ledger backends."""

import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from programs.roles.deployment import Deployment
from programs.roles.governance import record_memo
from programs.roles.oracle import (
    attestation_memo,
    build_attestation,
    build_mint_energy,
    mint_memo,
    post_attestation,
)
from programs.roles.registry import record_registration_memo, registration_memo
from programs.roles.trading import Trade, build_settlement, clearing_memo, settlement_memo
from tests.programs.conftest import World, run


def test_each_memo_reads_as_documented() -> None:
    owner = Pubkey(bytes(32))
    assert registration_memo("GwId", "m1", owner) == (
        b"gtx/v1 register gateway=GwId meter=m1 owner=11111111111111111111111111111111"
    )
    assert mint_memo(7) == b"gtx/v1 mint epoch=7"
    assert attestation_memo(3, bytes(range(32))) == (
        b"gtx/v1 attest epoch=3 root=000102030405060708090a0b0c0d0e0f"
        b"101112131415161718191a1b1c1d1e1f"
    )
    assert settlement_memo(2**63 - 1) == b"gtx/v1 settle epoch=9223372036854775807"
    assert clearing_memo(4, "ab12", "cd34") == b"gtx/v1 clearing epoch=4 inputs=ab12 result=cd34"


def test_the_builders_sign_their_roles_memo() -> None:
    payer, oracle, settler = Keypair(), Keypair(), Keypair()
    deployment = Deployment(
        Pubkey.new_unique(),
        Pubkey.new_unique(),
        oracle.pubkey(),
        Pubkey.new_unique(),
        settler.pubkey(),
    )
    blockhash, root = Hash.new_unique(), bytes(range(32))
    attest = build_attestation(
        payer=payer, oracle=oracle, epoch=5, merkle_root=root, blockhash=blockhash
    )
    (mint,) = build_mint_energy(
        deployment,
        payer=payer,
        oracle=oracle,
        epoch=6,
        grants=[(Pubkey.new_unique(), 1)],
        blockhash=blockhash,
    )
    (settle,) = build_settlement(
        deployment,
        payer=payer,
        settlement_authority=settler,
        epoch=8,
        trades=[Trade(Pubkey.new_unique(), Pubkey.new_unique(), 1, 1)],
        blockhash=blockhash,
    )
    assert attestation_memo(5, root) in bytes(attest)
    assert mint_memo(6) in bytes(mint.tx)
    assert settlement_memo(8) in bytes(settle.tx)


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
            await record_memo(
                world.ledger,
                b"gtx/v1 note by=x at=1 text=hello",
                payer=world.payer,
                signers=[world.rec],
            ),
            await record_memo(world.ledger, b"gtx/v1 note signed inside", payer=world.payer),
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

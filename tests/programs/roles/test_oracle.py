"""Minting each epoch's energy, on both ledger backends: packed under the size limit,
by the oracle only."""

import pytest
from solders.keypair import Keypair

from programs.errors import TransactionFailed
from programs.roles.deployment import user_accounts
from programs.roles.oracle import build_mint_energy, mint_energy
from programs.roles.token import ENERGY_DECIMALS
from programs.txsize import MAX_TRANSACTION_SIZE
from tests.programs.conftest import World, add_users, run

KWH = 10**ENERGY_DECIMALS


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

"""Registering users, on both ledger backends: their associated token accounts."""

from solders.keypair import Keypair

from programs.roles.deployment import user_accounts
from programs.roles.registry import register_user
from tests.programs.conftest import World, run


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

"""The energy and payment mints, on both ledger backends: bootstrap, and a mint
multisig as the energy mint's authority."""

import pytest
from solders.keypair import Keypair

from programs.errors import LedgerUsageError, TransactionFailed
from programs.ledger import Ledger
from programs.roles.oracle import mint_energy
from programs.roles.registry import register_user
from programs.roles.token import ENERGY_DECIMALS, MultisigSpec, bootstrap
from tests.programs.conftest import run

KWH = 10**ENERGY_DECIMALS


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

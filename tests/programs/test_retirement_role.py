"""Retirement's transactions: a full batch of burns fits the network's size limit, and
each memo is the documented text."""

import spl.token.instructions as _token
from solders.hash import Hash
from solders.keypair import Keypair
from spl.token.models import BurnCheckedParams

from programs import spl
from programs.roles.deployment import Deployment
from programs.roles.retirement import build_burns, build_certify, certify_memo, retire_memo
from programs.txsize import MAX_TRANSACTION_SIZE as TX_LIMIT

BURNS_PER_TRANSACTION = 16  # coordinator.onchain.retirement's batch


def _deployment(authority: Keypair) -> Deployment:
    k = [Keypair().pubkey() for _ in range(4)]
    return Deployment(
        energy_mint=k[0], payment_mint=k[1], oracle=k[2], rec_authority=k[3],
        settlement_authority=authority.pubkey(),
    )  # fmt: skip


def test_a_full_batch_of_burns_fits_one_transaction() -> None:
    authority = Keypair()
    burns = [(Keypair().pubkey(), 10**9 + i) for i in range(BURNS_PER_TRANSACTION)]
    tx = build_burns(_deployment(authority), authority=authority, epoch=7, burns=burns,
                     blockhash=Hash.default(), attempt=3)  # fmt: skip
    assert len(bytes(tx)) <= TX_LIMIT
    assert tx.verify_with_results() == [True]


def test_memos() -> None:
    assert retire_memo(7) == b"gtx/v1 retire epoch=7"
    assert retire_memo(7, 2) == b"gtx/v1 retire epoch=7 attempt=2"
    assert certify_memo(7, bytes(32), 2, 5) == (
        b"gtx/v1 certify epoch=7 root=" + b"00" * 32 + b" count=2 units=5"
    )
    tx = build_certify(authority=Keypair(), epoch=7, root=bytes(32), count=2, units=5,
                       blockhash=Hash.default())  # fmt: skip
    assert len(bytes(tx)) <= TX_LIMIT


def test_burn_checked_is_solana_pys_byte_for_byte() -> None:
    account, mint, authority = (Keypair().pubkey() for _ in range(3))
    ours = spl.burn_checked(account=account, mint=mint, authority=authority, amount=123_456,
                            decimals=9)  # fmt: skip
    theirs = _token.burn_checked(
        BurnCheckedParams(program_id=spl.TOKEN_PROGRAM_ID, account=account, mint=mint,
                          owner=authority, amount=123_456, decimals=9)
    )  # fmt: skip
    assert ours == theirs

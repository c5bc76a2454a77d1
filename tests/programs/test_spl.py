"""The hand-encoded TransferChecked and the memoized ATA derivation are byte-identical
to solana-py's and solders' own builders."""

import pytest
import spl.token.instructions as token
from hypothesis import given, settings
from hypothesis import strategies as st
from solders.instruction import Instruction
from solders.pubkey import Pubkey
from solders.token.associated import get_associated_token_address
from spl.token.models import TransferCheckedParams

from programs import spl

_keys = st.binary(min_size=32, max_size=32).map(Pubkey.from_bytes)
_amounts = st.integers(min_value=0, max_value=2**64 - 1)
_decimals = st.integers(min_value=0, max_value=255)


@settings(max_examples=200)
@given(_keys, _keys, _keys, _keys, _amounts, _decimals)
def test_transfer_checked_matches_solana_py(
    source: Pubkey, mint: Pubkey, dest: Pubkey, owner: Pubkey, amount: int, decimals: int
) -> None:
    reference = token.transfer_checked(
        TransferCheckedParams(
            program_id=spl.TOKEN_PROGRAM_ID,
            source=source,
            mint=mint,
            dest=dest,
            owner=owner,
            amount=amount,
            decimals=decimals,
        )
    )
    ours = spl.transfer_checked(
        source=source,
        mint=mint,
        destination=dest,
        authority=owner,
        amount=amount,
        decimals=decimals,
    )
    assert ours == reference
    assert bytes(ours) == bytes(reference)
    assert ours.accounts == reference.accounts


@pytest.mark.parametrize(("amount", "decimals"), [(-1, 9), (2**64, 9), (1, -1), (1, 256)])
def test_transfer_checked_rejects_values_out_of_range(amount: int, decimals: int) -> None:
    key = Pubkey.new_unique()
    with pytest.raises(ValueError, match="out of range"):
        spl.transfer_checked(
            source=key, mint=key, destination=key, authority=key, amount=amount, decimals=decimals
        )


@settings(max_examples=100)
@given(_keys, _keys)
def test_associated_token_address_is_the_derivation_cached_or_not(
    owner: Pubkey, mint: Pubkey
) -> None:
    expected = get_associated_token_address(owner, mint)
    assert spl.associated_token_address(owner, mint) == expected
    assert spl.associated_token_address(owner, mint) == expected  # from the cache
    assert spl.associated_token_address(mint, owner) == get_associated_token_address(mint, owner)


def _transfer(amount: int) -> Instruction:
    keys = [Pubkey.new_unique() for _ in range(4)]
    return spl.transfer_checked(
        source=keys[0], mint=keys[1], destination=keys[2], authority=keys[3],
        amount=amount, decimals=9,
    )  # fmt: skip


def test_batch_lays_out_each_instruction_behind_its_counts() -> None:
    first, second = _transfer(1), _transfer(2**64 - 1)
    batch = spl.batch([first, second])
    assert batch.program_id == spl.TOKEN_PROGRAM_ID
    assert bytes(batch.data) == (
        bytes([255, 4, 10]) + bytes(first.data) + bytes([4, 10]) + bytes(second.data)
    )
    assert list(batch.accounts) == list(first.accounts) + list(second.accounts)


def test_batch_refuses_what_the_token_program_would_refuse() -> None:
    with pytest.raises(ValueError, match="empty"):
        spl.batch([])
    with pytest.raises(ValueError, match="token-program"):
        spl.batch([spl.memo(b"x")])
    with pytest.raises(ValueError, match="cannot hold a batch"):
        spl.batch([spl.batch([_transfer(1)])])
    spl.batch([_transfer(i + 1) for i in range(63)])  # 252 accounts
    with pytest.raises(ValueError, match="256 accounts"):
        spl.batch([_transfer(i + 1) for i in range(64)])

"""Reason codes in words (`coordinator.api.reasons`)."""

from coordinator.api.reasons import describe


def test_a_reason_is_put_in_words_its_detail_kept_where_it_helps() -> None:
    assert describe(None) is None
    assert describe("account_frozen") == (
        "your token accounts are frozen by the REC authority: nothing can be traded or "
        "minted to them until they are thawed"
    )
    frozen_leg = describe("account_frozen (energy leg, seller -> buyer)")
    assert frozen_leg is not None
    assert frozen_leg.endswith("until they are thawed (energy leg, seller -> buyer)")
    parked = describe("mint_failed: TransactionErrorFieldless.AccountNotFound")
    assert parked is not None
    assert parked.startswith("the ledger refused to mint this energy")
    assert "AccountNotFound" not in parked  # the operator's detail, not the owner's
    assert describe("off_tick_price") == "off_tick_price"  # no words: the code itself

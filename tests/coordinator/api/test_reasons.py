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
    assert describe("some_new_code") == "some_new_code"  # no words: the code itself


def test_an_order_is_told_what_it_was_short_of() -> None:
    assert describe("insufficient_escrow", "buy") == (
        "not enough credit was approved to cover this order"
    )
    assert describe("insufficient_escrow", "sell") == (
        "not enough energy tokens were approved to cover this order"
    )
    assert describe("insufficient_escrow") == "your approved balance did not cover this order"
    # Orders excluded under rules the REC authority changed since they were placed.
    assert describe("off_tick_price") == "the price is not a whole number of price steps"
    assert describe("insufficient_funds", "buy") == (
        "the balance or approval was too small when the trade settled"
    )

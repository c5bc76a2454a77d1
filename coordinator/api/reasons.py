"""Reason codes in words, for the person they concern: why an order took no part,
why a trade did not settle, why energy was not minted. The codes stay the
machine's answer (`reason`); these words are the `reason_text` beside them, the
one place they are written (the dashboard shows them as they come)."""

__all__ = ["describe"]

_WORDS = {
    # orders (coordinator.market.rules): left out of the auction
    "account_frozen": "your token accounts are frozen by the REC authority: nothing can be "
    "traded or minted to them until they are thawed",
    "escrow_not_verified": "the escrow approval for this order was never signed, or never "
    "reached the ledger",
    "expired": "the order expired before its epoch was cleared",
    "insufficient_escrow": "your approved balance did not cover this order",
    "escrow_capped": "only part of this order was covered by your approved balance",
    "wrong_epoch": "the order was for another epoch",
    # orders: the placement rules, checked again at clearing (the REC authority may
    # have changed the tick, lot or price band since the order was placed)
    "epoch_closed": "its epoch had already closed",
    "epoch_too_far": "its epoch is too far ahead",
    "dust_quantity": "the quantity is below the smallest lot",
    "off_lot_quantity": "the quantity is not a whole number of lots",
    "off_tick_price": "the price is not a whole number of price steps",
    "price_out_of_band": "the limit price is outside the band the REC authority allows",
    "sell_below_feed_in": "the grid pays more than this for exported energy (the feed-in "
    "price): sell at the feed-in price or above",
    "buy_above_retail": "the grid charges less than this for imported energy (the retail "
    "price): bid at the retail price or below",
    "non_positive_quantity": "the quantity must be more than zero",
    "non_positive_price": "the price must be more than zero",
    "quantity_too_large": "the quantity is too large",
    "notional_too_large": "quantity times price is too large",
    "bad_owner": "the owner is not a valid wallet",
    "bad_order_id": "the order id is not valid",
    "bad_sequence": "the order's sequence is not valid",
    "unknown_user": "sign in once more so your token accounts are created",
    # settlement (coordinator.market.settlement)
    "approval_revoked": "the approval to the settlement authority was revoked before settlement",
    "insufficient_funds": "the balance or approval was too small when the trade settled",
    # minting (coordinator.onchain.grants)
    "mint_failed": "the ledger refused to mint this energy several times; an operator has "
    "been alerted and will mint it once the cause is mended",
    "no_owner": "the meter has no owner on record, so its energy is minted to no one",
}

# Where the side says what was short: credit for a buy order, energy tokens for a sell.
_SIDED = {
    ("insufficient_escrow", "buy"): "not enough credit was approved to cover this order",
    ("insufficient_escrow", "sell"): "not enough energy tokens were approved to cover this order",
    ("escrow_capped", "buy"): "only part of this order was covered by the credit you approved",
    ("escrow_capped", "sell"): "only part of this order was covered by the energy tokens you "
    "approved",
}


def describe(reason: str | None, side: str | None = None) -> str | None:
    """The words for `reason` (its code is what comes before a space or a colon:
    "account_frozen (energy leg, ...)", "mint_failed: ..."), said for an order's
    `side` (buy, sell) where that matters; the reason itself when it has none, None
    for none."""
    if reason is None:
        return None
    code = reason.split(" ", 1)[0].split(":", 1)[0]
    words = (_SIDED.get((code, side)) if side else None) or _WORDS.get(code)
    if words is None:
        return reason
    detail = reason[len(code) :].strip(" :()")
    return f"{words} ({detail})" if detail and code != "mint_failed" else words

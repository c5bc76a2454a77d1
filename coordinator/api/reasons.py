"""Reason codes in words, for the person they concern: why an order took no part,
why a trade did not settle, why energy was not minted. The codes stay the
machine's answer (`reason`); these words are the `reason_text` beside them."""

__all__ = ["describe"]

_WORDS = {
    # orders (coordinator.market.rules)
    "account_frozen": "your token accounts are frozen by the REC authority: nothing can be "
    "traded or minted to them until they are thawed",
    "escrow_not_verified": "the approval backing this order was never seen on the ledger",
    "expired": "the order expired before its epoch was cleared",
    "insufficient_escrow": "your approved balance did not cover this order",
    "escrow_capped": "only part of this order was covered by your approved balance",
    "wrong_epoch": "the order was for another epoch",
    # settlement (coordinator.market.settlement)
    "approval_revoked": "the approval to the settlement authority was revoked before settlement",
    "insufficient_funds": "the balance or approval was too small when the trade settled",
    # minting (coordinator.onchain.grants)
    "mint_failed": "the ledger refused to mint this energy several times; an operator has "
    "been alerted and will mint it once the cause is mended",
    "no_owner": "the meter has no owner on record, so its energy is minted to no one",
}


def describe(reason: str | None) -> str | None:
    """The words for `reason` (its code is what comes before a space or a colon:
    "account_frozen (energy leg, ...)", "mint_failed: ..."); the reason itself when it
    has none, None for none."""
    if reason is None:
        return None
    code = reason.split(" ", 1)[0].split(":", 1)[0]
    words = _WORDS.get(code)
    if words is None:
        return reason
    detail = reason[len(code) :].strip(" :()")
    return f"{words} ({detail})" if detail and code != "mint_failed" else words

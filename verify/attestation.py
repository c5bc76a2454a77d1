"""An attestation memo on chain: the transaction landed without error and carries
exactly one memo of the expected kind, signed by the expected key."""

from collections.abc import Callable

from verify.errors import Refused
from verify.memos import Memo, parse_memo
from verify.solana import SolanaRpc

__all__ = ["attested_memo"]


def attested_memo(
    rpc: SolanaRpc, signature: str, kind: str, signer: str, note: Callable[[str], None]
) -> Memo:
    """The `kind` memo of transaction `signature`, signed by `signer`; `Refused` if the
    transaction failed, carries no such memo or more than one, or `signer` did not sign it."""
    landed = rpc.transaction(signature)
    if landed.error is not None:
        raise Refused("attestation_failed", f"transaction {signature} failed: {landed.error}")
    found = []
    for memo in landed.memos:
        try:
            parsed = parse_memo(memo.text)
        except ValueError:
            continue
        if parsed.kind == kind:
            found.append((parsed, memo.signers))
    if len(found) != 1:
        raise Refused(
            "memo_missing",
            f"transaction {signature} holds {len(found)} '{kind}' memos, not one",
        )
    parsed, signers = found[0]
    if signer not in signers:
        raise Refused(
            "memo_unsigned",
            f"the {kind} memo of {signature} is not signed by {signer}"
            f" (signed by {', '.join(signers) or 'nobody'})",
        )
    note(f"memo of {signature} (slot {landed.slot}) signed by {signer}")
    return parsed

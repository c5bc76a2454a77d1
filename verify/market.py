"""An epoch's clearing checked from its publication and the chain:

1. the publication (`wire.clearing`) is for the epoch asked, and its hashes are the
   SHA-256 of its canonical inputs and result (and the API's summary agrees);
2. the inputs are in canonical form and for that epoch, and the result names their hash;
3. clearing the inputs again (`verify.clearing`, written from the spec) gives the
   published result byte for byte;
4. the attestation transaction landed and carries `gtx/v1 clearing epoch=E inputs=H
   result=H` with those hashes, signed by the settlement authority.
"""

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from verify.attestation import attested_memo
from verify.clearing import InputsError, canonical, clear
from verify.errors import Refused, Unavailable
from verify.solana import SolanaRpc
from wire.clearing import decode_clearing

__all__ = ["check_clearing"]

_RESULT_FIELDS = (
    "epoch", "inputs_hash", "pricing", "clearing_price", "volume", "turnover", "matches", "orders",
)  # fmt: skip


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _first_difference(published: dict[str, Any], recomputed: dict[str, Any]) -> str:
    for name in _RESULT_FIELDS:
        mine, theirs = recomputed.get(name), published.get(name)
        if mine == theirs:
            continue
        if isinstance(mine, list) and isinstance(theirs, list):
            for i, (a, b) in enumerate(zip(mine, theirs, strict=False)):
                if a != b:
                    return f"{name}[{i}] is {b}, recomputed {a}"
            return f"{name} has {len(theirs)} rows, recomputed {len(mine)}"
        return f"{name} is {theirs!r}, recomputed {mine!r}"
    return "the result is not in canonical form"


def _check_hashes(
    stated_inputs: str,
    stated_result: str,
    inputs_hash: str,
    result_hash: str,
    summary: Mapping[str, Any],
) -> None:
    """The publication's hashes are those of its canonical bytes; the API's summary agrees."""
    for name, stated, actual in (
        ("inputs_hash", stated_inputs, inputs_hash),
        ("result_hash", stated_result, result_hash),
    ):
        if stated != actual:
            raise Refused(
                f"{name}_mismatch",
                f"the publication states {name} {stated}, its canonical bytes hash to {actual}",
            )
        if summary.get(name) != actual:
            raise Refused(
                "summary_mismatch",
                f"the API's {name} {summary.get(name)} differs from the publication's {actual}",
            )


def check_clearing(
    epoch: int,
    summary: Mapping[str, Any],
    publication: bytes,
    rpc: SolanaRpc,
    *,
    authority: str,
    note: Callable[[str], None],
) -> str:
    """Check epoch `epoch`'s clearing (module doc); returns the result hash.
    `summary` is the API's `GET /api/v1/clearings/{epoch}`, `publication` the bytes of
    `GET /api/v1/clearings/{epoch}/publication` (or of the retained MQTT message)."""
    try:
        published = decode_clearing(publication)
    except ValueError as exc:
        raise Refused("publication_malformed", str(exc)) from exc
    if published.epoch != epoch:
        raise Refused("epoch_mismatch", f"the publication is for epoch {published.epoch}")
    try:
        inputs_hash = _sha256(canonical(published.inputs))
        result_bytes = canonical(published.result)
    except (TypeError, ValueError) as exc:
        raise Refused("publication_malformed", f"not canonical JSON: {exc}") from exc
    result_hash = _sha256(result_bytes)
    _check_hashes(published.inputs_hash, published.result_hash, inputs_hash, result_hash, summary)
    note(f"publication hashes: inputs {inputs_hash}, result {result_hash}")
    if published.result.get("inputs_hash") != inputs_hash:
        raise Refused("result_mismatch", "the result does not name its inputs' hash")
    if published.inputs.get("epoch") != epoch:
        raise Refused("epoch_mismatch", f"the inputs are for epoch {published.inputs.get('epoch')}")
    try:
        recomputed = clear(published.inputs)
    except InputsError as exc:
        raise Refused("inputs_not_canonical", str(exc)) from exc
    if canonical(recomputed) != result_bytes:
        raise Refused("result_differs", _first_difference(published.result, recomputed))
    note(f"recomputed from {len(published.inputs['orders'])} orders: the same result,"
         f" {len(recomputed['matches'])} matches, price {recomputed['clearing_price']},"
         f" volume {recomputed['volume']}")  # fmt: skip
    signature = summary.get("attestation_signature")
    if signature is None:
        raise Unavailable(f"the clearing of epoch {epoch} is not attested on chain yet")
    if not isinstance(signature, str):
        raise Refused("summary_mismatch", "attestation_signature must be a string")
    memo = attested_memo(rpc, signature, "clearing", authority, note)
    attested = (memo.epoch(), memo.fields["inputs"], memo.fields["result"])
    if attested != (epoch, inputs_hash, result_hash):
        raise Refused(
            "memo_mismatch",
            f"the chain attests epoch {attested[0]} inputs {attested[1]} result {attested[2]}",
        )
    note(f"attested on chain: gtx/v1 clearing epoch={epoch} inputs={inputs_hash}"
         f" result={result_hash}")  # fmt: skip
    return result_hash

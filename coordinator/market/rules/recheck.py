"""Recompute-and-compare: does a stored clearing result follow from its stored inputs?"""

from dataclasses import dataclass

from coordinator.market.rules.book import ClearingInputs
from coordinator.market.rules.canonical import (
    decode_inputs,
    decode_result,
    encode_inputs,
    encode_result,
    sha256_hex,
)
from coordinator.market.rules.clearing import clear_epoch
from coordinator.market.rules.errors import InputError
from coordinator.market.rules.results import ClearingResult

__all__ = ["Verdict", "verify_encoded", "verify_result"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """`agrees` is True when recomputing gives the stored result byte for byte;
    otherwise `reason` says what differs. `expected_hash` is the recomputed
    result hash (empty when the inputs could not even be decoded)."""

    agrees: bool
    reason: str
    expected_hash: str
    stored_hash: str


def verify_result(inputs: ClearingInputs, result: ClearingResult) -> Verdict:
    """Clear `inputs` again and compare with `result`, including its two hashes."""
    stored = encode_result(result)
    stored_hash = sha256_hex(stored)
    if result.result_hash != stored_hash:
        return Verdict(False, "result_hash does not match the result", "", result.result_hash)
    return _compare(clear_epoch(inputs), stored, stored_hash)


def verify_encoded(inputs_bytes: bytes, result_bytes: bytes) -> Verdict:
    """The same for stored bytes: inputs must be canonical, the result must be
    exactly the canonical encoding of the recomputed result."""
    stored_hash = sha256_hex(result_bytes)
    try:
        inputs = decode_inputs(inputs_bytes)
    except InputError as exc:
        return Verdict(False, f"inputs do not decode: {exc}", "", stored_hash)
    if encode_inputs(inputs) != inputs_bytes:
        return Verdict(False, "inputs are not in canonical form", "", stored_hash)
    return _compare(clear_epoch(inputs), result_bytes, stored_hash)


def _compare(recomputed: ClearingResult, stored: bytes, stored_hash: str) -> Verdict:
    if stored_hash == recomputed.result_hash:
        return Verdict(True, "agrees", recomputed.result_hash, stored_hash)
    reason = "result is not in canonical form"
    try:
        result = decode_result(stored)
    except InputError as exc:
        reason = f"result does not decode: {exc}"
    else:
        # Name the first field that differs, for the operator reading the verdict.
        for name in _FIELDS:
            if getattr(result, name) != getattr(recomputed, name):
                reason = f"{name} differs from the recomputation"
                break
    return Verdict(False, reason, recomputed.result_hash, stored_hash)


_FIELDS = (
    "epoch",
    "inputs_hash",
    "pricing",
    "clearing_price",
    "volume",
    "turnover",
    "matches",
    "outcomes",
)

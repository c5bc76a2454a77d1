"""The clearing publication: what the coordinator retains on
`wire.topics.epoch_clearing` once an epoch is cleared.

    {"epoch": 42, "inputs": {...}, "inputs_hash": "<sha256 hex>",
     "result": {...}, "result_hash": "<sha256 hex>", "v": 1}

`inputs` and `result` are the canonical bytes the coordinator stored and
hashed (`coordinator.market.rules.canonical`), embedded verbatim: the envelope
is written by hand so they are not re-serialised, and a reader can re-encode
`inputs`, clear it and compare with `result` and the hashes.
"""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["CLEARING_VERSION", "ClearingPublication", "decode_clearing", "encode_clearing"]

CLEARING_VERSION = 1


@dataclass(frozen=True, slots=True)
class ClearingPublication:
    """A decoded publication; `inputs` and `result` are the parsed canonical documents."""

    epoch: int
    inputs: dict[str, Any]
    inputs_hash: str
    result: dict[str, Any]
    result_hash: str


def encode_clearing(epoch: int, inputs_bytes: bytes, result_bytes: bytes) -> bytes:
    """Canonical JSON (sorted keys, compact) holding the canonical bytes verbatim."""
    return b"".join(
        [
            b'{"epoch":%d,"inputs":' % epoch,
            inputs_bytes,
            b',"inputs_hash":"%s","result":' % _sha256_hex(inputs_bytes),
            result_bytes,
            b',"result_hash":"%s","v":%d}' % (_sha256_hex(result_bytes), CLEARING_VERSION),
        ]
    )


def decode_clearing(payload: bytes) -> ClearingPublication:
    """The publication in a payload; ValueError if it is not one. The hashes are
    returned as published, not checked."""
    try:
        doc: dict[str, Any] = json.loads(payload)
        if doc["v"] != CLEARING_VERSION:
            raise ValueError(f"unsupported clearing version {doc['v']!r}")
        inputs, result = doc["inputs"], doc["result"]
        if not isinstance(inputs, dict) or not isinstance(result, dict):
            raise TypeError("inputs and result must be objects")
        return ClearingPublication(
            int(doc["epoch"]), inputs, str(doc["inputs_hash"]), result, str(doc["result_hash"])
        )
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a clearing payload: {exc}") from exc


def _sha256_hex(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode()

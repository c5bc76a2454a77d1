"""Canonical bytes and SHA-256 hashes of clearing inputs and results.

Both are compact JSON (UTF-8, ASCII only, keys sorted, no whitespace, integers
only, no floats), so anyone can recompute a clearing in any language:

inputs, format v1::

    {"epoch":E,
     "escrow":{"energy":[[owner,amount],...],"payment":[[owner,amount],...]},
     "orders":[[order_id,owner,side,epoch,quantity,limit_price,seq],...],
     "rules":{"k":[numerator,denominator],"lot":L,"pricing":P,"tick":T},
     "v":1}

orders sorted by order_id, escrow by owner, holding exactly the owners with
an order on the side it backs (sellers for energy, buyers for payment).

result, format v1::

    {"clearing_price":P or null,"epoch":E,"inputs_hash":H,
     "matches":[[buy_order_id,sell_order_id,buyer,seller,quantity,price,payment],...],
     "orders":[[order_id,owner,side,status,quantity,eligible,filled,payment,reason or null],...],
     "pricing":P,"turnover":T,"v":1,"volume":V}

matches in the order they were made, orders sorted by order_id. The result
hash covers these bytes, which include the inputs hash.
"""

import hashlib
import json
from collections.abc import Callable
from fractions import Fraction
from operator import attrgetter
from typing import Any, TypeVar

import orjson

from coordinator.market.rules.book import ClearingInputs, Escrow
from coordinator.market.rules.errors import InputError
from coordinator.market.rules.orders import MarketRules, Order, PricingRule, Side
from coordinator.market.rules.results import ClearingResult, FillStatus, Match, OrderOutcome

FORMAT_VERSION = 1

_T = TypeVar("_T")

__all__ = [
    "FORMAT_VERSION",
    "decode_inputs",
    "decode_result",
    "encode_inputs",
    "encode_result",
    "inputs_hash",
    "result_hash",
    "sha256_hex",
]


def _dumps(document: object) -> bytes:
    # orjson writes the bytes of the json module below, at about a quarter of
    # the cost, for these documents (sorted keys, no whitespace) as long as they
    # hold only ASCII text without DEL (which json escapes and orjson does not)
    # and ints that fit 64 bits. Anything else (text from an excluded order's
    # odd id, a huge quantity) takes the reference path. NamedTuple rows reach
    # `default` and go out as plain arrays.
    try:
        data = orjson.dumps(document, default=tuple, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _json_dumps(document)
    if data.isascii() and b"\x7f" not in data:
        return data
    return _json_dumps(document)


def _json_dumps(document: object) -> bytes:
    """The canonical bytes as the standard library writes them: the definition."""
    return json.dumps(
        document, separators=(",", ":"), sort_keys=True, ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_order_row = attrgetter("order_id", "owner", "side", "epoch", "quantity", "limit_price", "seq")


def encode_inputs(inputs: ClearingInputs) -> bytes:
    rules = inputs.rules
    return _dumps(
        {
            "epoch": inputs.epoch,
            "escrow": {
                "energy": [[o, a] for o, a in sorted(inputs.escrow.energy.items())],
                "payment": [[o, a] for o, a in sorted(inputs.escrow.payment.items())],
            },
            "orders": list(map(_order_row, inputs.orders)),
            "rules": {
                "k": [rules.k.numerator, rules.k.denominator],
                "lot": rules.lot,
                "pricing": rules.pricing,
                "tick": rules.tick,
            },
            "v": FORMAT_VERSION,
        }
    )


def inputs_hash(inputs: ClearingInputs) -> str:
    return sha256_hex(encode_inputs(inputs))


def encode_result(result: ClearingResult) -> bytes:
    """The canonical bytes of every field of `result` but `result_hash`."""
    return _dumps(
        {
            "clearing_price": result.clearing_price,
            "epoch": result.epoch,
            "inputs_hash": result.inputs_hash,
            # NamedTuples whose fields are the rows, in order; StrEnums are strs.
            "matches": result.matches,
            "orders": result.outcomes,
            "pricing": result.pricing,
            "turnover": result.turnover,
            "v": FORMAT_VERSION,
            "volume": result.volume,
        }
    )


def result_hash(result: ClearingResult) -> str:
    return sha256_hex(encode_result(result))


def _load(data: bytes, keys: set[str]) -> dict[str, Any]:
    try:
        document = json.loads(data, parse_float=_no_float, parse_constant=_no_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not canonical JSON: {exc}") from exc
    if not isinstance(document, dict) or set(document) != keys:
        raise InputError(f"expected an object with keys {sorted(keys)}")
    if document["v"] != FORMAT_VERSION:
        raise InputError(f"unsupported format version {document['v']!r}")
    return document


def _no_float(text: str) -> object:
    raise InputError(f"floats are not allowed: {text}")


def _checked(build: Callable[[], _T]) -> _T:
    # One place where malformed stored documents become InputError.
    try:
        return build()
    except InputError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
        raise InputError(f"malformed document: {exc}") from exc


def decode_inputs(data: bytes) -> ClearingInputs:
    """Parse inputs bytes; the result re-encodes to `data` only if `data` was canonical."""
    doc = _load(data, {"epoch", "escrow", "orders", "rules", "v"})

    def build() -> ClearingInputs:
        rules_doc = doc["rules"]
        numerator, denominator = rules_doc["k"]
        rules = MarketRules(
            lot=rules_doc["lot"],
            tick=rules_doc["tick"],
            pricing=PricingRule(rules_doc["pricing"]),
            k=Fraction(numerator, denominator),
        )
        orders = [
            Order(oid, owner, Side(side), epoch, quantity, price, seq)
            for oid, owner, side, epoch, quantity, price, seq in doc["orders"]
        ]
        escrow = Escrow(
            energy={o: a for o, a in doc["escrow"]["energy"]},
            payment={o: a for o, a in doc["escrow"]["payment"]},
        )
        return ClearingInputs(doc["epoch"], orders, escrow, rules)

    return _checked(build)


def decode_result(data: bytes) -> ClearingResult:
    """Parse result bytes; `result_hash` is recomputed from `data`."""
    doc = _load(
        data,
        {
            "clearing_price",
            "epoch",
            "inputs_hash",
            "matches",
            "orders",
            "pricing",
            "turnover",
            "v",
            "volume",
        },
    )

    def build() -> ClearingResult:
        return ClearingResult(
            epoch=doc["epoch"],
            pricing=PricingRule(doc["pricing"]),
            clearing_price=doc["clearing_price"],
            volume=doc["volume"],
            turnover=doc["turnover"],
            matches=tuple(Match(*row) for row in doc["matches"]),
            outcomes=tuple(
                OrderOutcome(oid, owner, Side(side), FillStatus(status), *rest)
                for oid, owner, side, status, *rest in doc["orders"]
            ),
            inputs_hash=doc["inputs_hash"],
            result_hash=sha256_hex(data),
        )

    return _checked(build)

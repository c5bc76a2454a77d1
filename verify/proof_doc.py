"""Reading a proof document's JSON fields, the same for every kind of proof: a
field of the wrong type, bad hex or the wrong length is `Refused("proof_malformed")`."""

from collections.abc import Mapping
from typing import Any

from verify.errors import Refused

__all__ = ["attestation", "field", "hex_field", "merkle_path"]


def field(doc: Mapping[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if type(value) is not kind:
        raise Refused("proof_malformed", f"field {name!r} must be a {kind.__name__}")
    return value


def hex_field(doc: Mapping[str, Any], name: str, length: int | None = None) -> bytes:
    try:
        raw = bytes.fromhex(field(doc, name, str))
    except ValueError:
        raise Refused("proof_malformed", f"field {name!r} is not hex") from None
    if length is not None and len(raw) != length:
        raise Refused("proof_malformed", f"field {name!r} must be {length} bytes")
    return raw


def merkle_path(doc: Mapping[str, Any]) -> tuple[tuple[str, bytes], ...]:
    """The `proof` steps: (side, sibling) from leaf to root."""
    path = []
    for step in field(doc, "proof", list):
        if not isinstance(step, dict):
            raise Refused("proof_malformed", "proof steps are {side, sibling} objects")
        path.append((field(step, "side", str), hex_field(step, "sibling", 32)))
    return tuple(path)


def attestation(doc: Mapping[str, Any]) -> str | None:
    """The signature of the transaction that committed the root, if it has landed."""
    signature = doc.get("attestation_signature")
    if signature is not None and type(signature) is not str:
        raise Refused("proof_malformed", "attestation_signature must be a string or null")
    return signature

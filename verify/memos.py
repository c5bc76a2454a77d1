"""The memos GridTokenX writes on chain, parsed from their text (docs/protocol.md,
"Memos"). Every memo is ASCII text:

    gtx/v1 <kind> <key>=<value> <key>=<value> ...

with the keys of its kind in a fixed order, values without spaces, except a
`note`'s `text` (printable ASCII without `=`). A retried mint, attestation or
clearing memo ends with ` attempt=N` (N >= 1), so it is never the same transaction.
"""

import re
from dataclasses import dataclass

__all__ = ["KINDS", "RETRIED", "Memo", "parse_memo"]

PREFIX = "gtx/v1"

_EPOCH = r"0|[1-9][0-9]{0,18}"
_HASH = r"[0-9a-f]{64}"
_ADDRESS = r"[1-9A-HJ-NP-Za-km-z]{32,44}"
_METER = r"[A-Za-z0-9._:-]{1,64}"
_ATTEMPT = r"[1-9][0-9]{0,8}"
_UNIX = r"0|[1-9][0-9]{0,11}"
_SIGNATURE = r"[1-9A-HJ-NP-Za-km-z]{64,90}"
_PARAM = r"[a-z_]{1,32}"
_VALUE = r"[0-9a-z_/]{1,40}"
_SCOPES = r"[a-z]{1,16}(?:,[a-z]{1,16}){0,7}"
_NOTE = r"[\x20-\x3c\x3e-\x7e]{1,200}"

KINDS: dict[str, tuple[tuple[str, str], ...]] = {
    "register": (("gateway", _ADDRESS), ("meter", _METER), ("owner", _ADDRESS)),
    "mint": (("epoch", _EPOCH),),
    "attest": (("epoch", _EPOCH), ("root", _HASH)),
    "clearing": (("epoch", _EPOCH), ("inputs", _HASH), ("result", _HASH)),
    "settle": (("epoch", _EPOCH),),
    "retire": (("epoch", _EPOCH),),
    "certify": (("epoch", _EPOCH), ("root", _HASH), ("count", _EPOCH), ("units", _EPOCH)),
    # The REC authority's governance: a pause or resume, a parameter change and a
    # note carry the signature of the authority's wallet over the text before ` sig=`.
    "param": (
        ("name", _PARAM), ("value", _VALUE), ("from", _EPOCH), ("by", _ADDRESS),
        ("at", _UNIX), ("sig", _SIGNATURE),
    ),
    "control": (
        ("action", r"pause|resume"), ("scopes", _SCOPES), ("epoch", _EPOCH), ("by", _ADDRESS),
        ("at", _UNIX), ("sig", _SIGNATURE),
    ),
    "note": (("by", _ADDRESS), ("at", _UNIX), ("text", _NOTE), ("sig", _SIGNATURE)),
}  # fmt: skip
"""Each kind's keys, in order, with the pattern its value must match."""

RETRIED = frozenset({"mint", "attest", "clearing", "retire"})
"""The kinds whose retries end with ` attempt=N`."""

_PATTERNS = {
    kind: re.compile(
        re.escape(f"{PREFIX} {kind}")
        + "".join(f" {key}=(?P<{key}>{pattern})" for key, pattern in keys)
        + (f"(?: attempt=(?P<attempt>{_ATTEMPT}))?" if kind in RETRIED else "")
    )
    for kind, keys in KINDS.items()
}


@dataclass(frozen=True, slots=True)
class Memo:
    kind: str
    fields: dict[str, str]

    def epoch(self) -> int:
        return int(self.fields["epoch"])


def parse_memo(text: str) -> Memo:
    """The memo in `text`; ValueError if it is not one of the kinds above, exactly."""
    words = text.split(" ", 2)
    if len(words) < 2 or words[0] != PREFIX:
        raise ValueError(f"not a {PREFIX} memo: {text[:80]!r}")
    pattern = _PATTERNS.get(words[1])
    if pattern is None:
        raise ValueError(f"unknown memo kind {words[1][:40]!r}")
    found = pattern.fullmatch(text)
    if found is None:
        keys = " ".join(f"{key}=..." for key, _ in KINDS[words[1]])
        raise ValueError(f"a {words[1]} memo reads '{PREFIX} {words[1]} {keys}': {text[:120]!r}")
    return Memo(words[1], {k: v for k, v in found.groupdict().items() if v is not None})

"""The text every role's memo shares: `gtx/v1 <kind> key=value ...`. Each memo's kind
and fields are defined once, in its role's module."""

from collections.abc import Sequence

__all__ = ["MEMO_PREFIX", "memo_text"]

MEMO_PREFIX = "gtx/v1"


def memo_text(kind: str, fields: Sequence[tuple[str, object]]) -> bytes:
    body = " ".join(f"{key}={value}" for key, value in fields)
    return f"{MEMO_PREFIX} {kind} {body}".encode()

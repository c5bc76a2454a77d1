"""Keyset paging for every list that can grow: `?limit=&cursor=` in, `next_cursor` out.

A cursor is the sort key of the last item served, base64url-encoded JSON:
opaque to clients, stable under inserts (no offsets that skip or repeat).
"""

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import HTTPException, Query, status
from pydantic import BaseModel

__all__ = ["Cursor", "Limit", "Page", "decode_cursor", "encode_cursor"]

Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page")
]

Key = int | str
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(key: Sequence[Key]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _invalid() -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail={"code": "invalid_cursor", "message": "cursor is not one this API issued"},
    )


def decode_cursor(cursor: str | None, types: Sequence[type]) -> tuple[Key, ...] | None:
    """The key a cursor carries, checked against the expected element types."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (ValueError, binascii.Error):
        raise _invalid() from None
    if not isinstance(key, list) or len(key) != len(types):
        raise _invalid()
    for value, kind in zip(key, types, strict=True):
        if type(value) is not kind:
            raise _invalid()
    return tuple(key)

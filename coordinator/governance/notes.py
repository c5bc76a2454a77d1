"""Free-text governance notes: what the REC authority wants on the record, signed by
its own wallet. Pure.

A note is recorded on chain as

    gtx/v1 note by=<wallet> at=<unix seconds> text=<text> sig=<base58>

where the wallet signed everything before ` sig=`. The text is printable ASCII
without `=` and without `gtx/`: no note can carry `key=value` fields or a memo
prefix, so none can pass for a record the system writes (`gtx/v1 clearing
epoch=1 inputs=.. result=..`, a mint, a parameter change).
"""

import re

from coordinator.governance.errors import ChangeRefused
from coordinator.governance.params import MAX_AGE_S, MAX_SKEW_S
from coordinator.governance.signing import wallet_signed

__all__ = ["MAX_NOTE_LEN", "check_note", "note_memo", "note_text"]

MAX_NOTE_LEN = 200
_PRINTABLE = re.compile(r"[\x20-\x7e]+")


def note_text(by: str, issued_at: int, text: str) -> str:
    """What the authority's wallet signs."""
    return f"gtx/v1 note by={by} at={issued_at} text={text}"


def note_memo(by: str, issued_at: int, text: str, signature: str) -> bytes:
    return f"{note_text(by, issued_at, text)} sig={signature}".encode()


def check_note(by: str, issued_at: int, text: str, signature: str, *, now: int) -> str:
    """The note's text if it may be recorded; else ChangeRefused saying why."""
    if not text.strip() or len(text) > MAX_NOTE_LEN or not _PRINTABLE.fullmatch(text):
        raise ChangeRefused(
            "invalid_note", f"a note is 1 to {MAX_NOTE_LEN} printable ASCII characters"
        )
    if "=" in text or "gtx/" in text.lower():
        raise ChangeRefused(
            "look_alike",
            "a note may not contain '=' or 'gtx/': it could pass for a record the system "
            "writes; parameter changes have their own endpoint",
        )
    if not now - MAX_AGE_S <= issued_at <= now + MAX_SKEW_S:
        raise ChangeRefused("stale_request", f"the note was signed at {issued_at}; sign it again")
    if not wallet_signed(by, note_text(by, issued_at, text), signature):
        raise ChangeRefused(
            "bad_signature", "the signature is not the caller's wallet's over this note's text"
        )
    return text

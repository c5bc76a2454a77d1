"""Text from gateways and users made safe to print on an operator's terminal.

A gateway's retained status, a meter id, an error message or a name typed by a
user can carry terminal control sequences: ``ESC [31m`` recolours the screen,
``ESC ] 0; ... BEL`` retitles the window, a lone surrogate makes `print` raise.
Every CLI passes such strings through `printable` before writing them.
"""

import unicodedata

__all__ = ["printable"]

# C0 and C1 controls and DEL (Cc), invisible formatting such as bidi overrides
# (Cf), line and paragraph separators (Zl, Zp), and lone surrogates (Cs).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with every control or invisible formatting character written as a
    visible escape (ESC as ``\\x1b``, BEL as ``\\x07``, U+202E as ``\\u202e``).

    Ordinary text, spaces and non-ASCII letters are unchanged. Newlines and tabs
    are escaped too: a line of output stays one line, whatever the gateway sent.
    """
    if text.isprintable():
        return text
    return "".join(
        _escape(ch) if unicodedata.category(ch) in _ESCAPED_CATEGORIES else ch for ch in text
    )

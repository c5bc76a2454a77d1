"""Strings from gateways and users, made inert for a terminal."""

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from wire.text import printable

# Controls, invisible formatting, line / paragraph separators, lone surrogates.
_INERT = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def test_issue_status_is_escaped_visibly() -> None:
    hostile = "\x1b[31mONLINE\x1b]0;pwned\x07"
    assert printable(hostile) == "\\x1b[31mONLINE\\x1b]0;pwned\\x07"


def test_c0_c1_del_newline_and_formatting_are_escaped() -> None:
    assert printable("a\nb\tc\rd\x00") == "a\\x0ab\\x09c\\x0dd\\x00"
    assert printable("\x7f\x9b31m\x85") == "\\x7f\\x9b31m\\x85"  # DEL, CSI, NEL
    assert printable("gw\u202eevil\u2028x") == "gw\\u202eevil\\u2028x"  # bidi override, LS
    assert printable("\ud800") == "\\ud800"  # a lone surrogate would make print() raise
    assert printable("\U000e0001") == "\\U000e0001"  # language tag (format)


def test_ordinary_text_is_unchanged() -> None:
    for text in ("", "sdm630-0001", "Zürich Süd 3 kWh", "no answer", "a b\u00a0c", "東京"):
        assert printable(text) == text


@given(st.text())
def test_nothing_controlling_is_left_and_output_encodes(text: str) -> None:
    out = printable(text)
    assert not any(unicodedata.category(ch) in _INERT for ch in out)
    out.encode("utf-8")  # no lone surrogate survives
    if not any(unicodedata.category(ch) in _INERT for ch in text):
        assert out == text

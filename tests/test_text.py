"""``printable``: request text made safe for one log line, one answer, one terminal line."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wrenn_webhooks._text import printable
from wrenn_webhooks.events import EventType, Outcome


@pytest.mark.parametrize(
    "text",
    ["capsule.pause", "sb-2b7c4d1e0f9a8b7c6d5e4f3a2", "équipe ☃ 名前", "a b", "", "back\\slash"],
)
def test_printable_text_is_returned_as_is(text: str) -> None:
    assert printable(text) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\nb", "a\\x0ab"),
        ("a\r\nb", "a\\x0d\\x0ab"),
        ("\x00\t\x1b[31m", "\\x00\\x09\\x1b[31m"),  # C0, a terminal colour sequence
        ("del\x7f", "del\\x7f"),
        ("c1\x85\x9b", "c1\\x85\\x9b"),  # NEL and the 8-bit CSI
        ("line\u2028para\u2029", "line\\u2028para\\u2029"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),  # right-to-left override, pop
        ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),  # isolates
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # marks
        ("lone\ud800", "lone\\ud800"),  # a lone surrogate cannot even be encoded
        ("nbsp\u00a0kept", "nbsp\u00a0kept"),  # not printable to Python, but harmless
    ],
)
def test_controls_are_escaped(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_long_text_is_truncated_with_an_ellipsis() -> None:
    assert printable("x" * 200) == "x" * 200
    assert printable("x" * 201) == "x" * 199 + "…"
    assert printable("abcdef", limit=4) == "abc…"
    assert len(printable("y" * 10_000)) == 200


def test_truncation_never_splits_an_escape() -> None:
    assert printable("ab\ncd", limit=5) == "ab…"  # "ab\x0a" would be 6 characters
    assert printable("\n" * 10, limit=9) == "\\x0a\\x0a…"
    assert printable("ab\n", limit=6) == "ab\\x0a"  # fits exactly: no ellipsis


def test_objects_are_shown_as_text() -> None:
    assert printable(EventType.CAPSULE_PAUSE) == "capsule.pause"
    assert printable(Outcome.ERROR) == "error"
    assert printable(None) == "None"
    assert printable(ValueError("bad\nthing")) == "bad\\x0athing"


def test_no_limit_escapes_without_truncating() -> None:
    assert printable("z" * 5000 + "\n", limit=None) == "z" * 5000 + "\\x0a"
    assert printable("plain", limit=None) == "plain"


def test_limit_must_leave_room() -> None:
    with pytest.raises(ValueError, match="limit"):
        printable("x", limit=0)


BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _must_escape(ch: str) -> bool:
    return unicodedata.category(ch) in {"Cc", "Zl", "Zp", "Cs"} or ch in BIDI


@given(st.text(), st.integers(1, 300))
def test_output_is_one_bounded_printable_line(text: str, limit: int) -> None:
    shown = printable(text, limit)
    assert len(shown) <= limit
    assert "\n" not in shown and "\r" not in shown
    assert not any(_must_escape(ch) for ch in shown)
    if text.isprintable() and len(text) <= limit:
        assert shown == text

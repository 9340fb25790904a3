"""Text from a request, made safe for one log line, one answer or one terminal line.

A signed body can still carry anything a JSON string can hold: a newline that
forges a second log line, a terminal escape sequence, a right-to-left override
that shows a name backwards. ``printable`` escapes those and bounds the length.
Call it where request text reaches a log line, an answer or a terminal, on
error paths and in the CLI: never on the hot path of a valid delivery.
"""

from __future__ import annotations

__all__ = ["printable"]

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
# C0 controls, DEL and C1 controls as \xNN; line and paragraph separators, bidi
# controls and lone surrogates (which no UTF-8 log handler can even write) as \uNNNN.
_ESCAPES: dict[int, str] = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES.update(
    {code: f"\\u{code:04x}" for code in (0x2028, 0x2029, *_BIDI, *range(0xD800, 0xE000))}
)
_ELLIPSIS = "…"


def printable(value: object, limit: int | None = 200) -> str:
    """``str(value)`` on one line: controls escaped, at most ``limit`` characters.

    C0 and C1 control characters and DEL become ``\\xNN``; U+2028, U+2029,
    the bidirectional controls (U+061C, U+200E, U+200F, U+202A-U+202E,
    U+2066-U+2069) and lone surrogates become ``\\uNNNN``. Anything else,
    non-ASCII letters included, is kept. Longer results end in ``…`` within
    ``limit``, never cutting an escape in half (``None``: no limit). Text
    that needs none of this is returned as is.
    """
    text = value if type(value) is str else str(value)
    if limit is None:
        return text if text.isprintable() else text.translate(_ESCAPES)
    if limit < 1:
        raise ValueError("limit must leave room for at least one character")
    # Every character escaped here is one str.isprintable() refuses.
    if len(text) <= limit and text.isprintable():
        return text
    escaped = text[: limit + 1].translate(_ESCAPES)
    if len(escaped) <= limit:  # then text itself had at most ``limit`` characters
        return escaped
    kept: list[str] = []
    room = limit - 1  # one for the ellipsis
    for char in text:
        piece = _ESCAPES.get(ord(char), char)
        room -= len(piece)
        if room < 0:
            break
        kept.append(piece)
    return "".join(kept) + _ELLIPSIS

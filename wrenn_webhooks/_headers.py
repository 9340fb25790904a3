"""Header names and case-insensitive reading, in one place only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, Union

from .errors import MalformedHeaderError

# As on the wire: Wrenn's Go sender sets each through ``Header.Set``, which
# canonicalises the name (its source writes "X-WRENN-SIGNATURE").
SIGNATURE = "X-Wrenn-Signature"
TIMESTAMP = "X-Wrenn-Timestamp"
DELIVERY = "X-Wrenn-Delivery"
NAMES = (SIGNATURE, TIMESTAMP, DELIVERY)
_LOWER = tuple(name.lower() for name in NAMES)


CONTENT_LENGTH_DIGITS = 19
"""Most digits a Content-Length may have: 10**19 bytes is past any body (gunicorn's limit too)."""


def is_content_length(value: str) -> bool:
    """Whether ``value`` is a valid Content-Length: 1 to 19 ASCII digits.

    Spaces and tabs around it are allowed (optional whitespace, which servers
    strip anyway). A sign, an underscore, more digits, or digits ``int()``
    reads but HTTP does not (``²`` sent as the latin-1 byte 0xB2, for which
    ``str.isdigit()`` is true, or ``٣``) make it a framing error, not a length.
    """
    value = value.strip(" \t")
    return 0 < len(value) <= CONTENT_LENGTH_DIGITS and value.isascii() and value.isdigit()


class _HasItems(Protocol):
    def items(self) -> Iterable[tuple[Any, Any]]: ...


HeaderSource = Union[Mapping[str, str], _HasItems, Iterable[tuple[Any, Any]]]
"""A ``dict``, werkzeug ``Headers``, any object with ``.items()``, or ASGI-style pairs."""


def read(headers: HeaderSource) -> tuple[str | None, str | None, str | None]:
    """Return the signature, timestamp and delivery values, ``None`` where absent.

    ``.get()`` with the spelling Wrenn sends is tried first (what a ``dict``
    of the wire's headers holds, and as fast as any for a case-insensitive
    mapping such as werkzeug's ``Headers``), then lower case. Anything still
    missing is looked up in a lower-cased copy, so a plain ``dict`` of any
    spelling and a list of ``(bytes, bytes)`` pairs both work.

    Raises:
        MalformedHeaderError: A Wrenn header's value is neither ``str`` nor ``bytes``.
    """
    get = getattr(headers, "get", None)
    if get is not None:
        signature = get(SIGNATURE) or get(_LOWER[0])
        stamp = get(TIMESTAMP) or get(_LOWER[1])
        delivery = get(DELIVERY) or get(_LOWER[2])
        if type(signature) is str and type(stamp) is str and type(delivery) is str:
            return signature, stamp, delivery  # the hot path
        values: list[object] = [signature, stamp, delivery]
    else:
        values = [None, None, None]
    if not all(values):
        items = headers.items() if hasattr(headers, "items") else headers
        folded: dict[str, object] = {}
        for pair in items:
            key = pair[0]
            if isinstance(key, bytes):
                key = key.decode("latin-1")
            if isinstance(key, str):
                folded.setdefault(key.lower(), pair[1])
        values = [v if v else folded.get(low) for v, low in zip(values, _LOWER, strict=True)]
    return _text(values[0], 0), _text(values[1], 1), _text(values[2], 2)


def _text(value: object, index: int) -> str | None:
    if value is None or type(value) is str:
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return str(value)
    raise MalformedHeaderError(f"{NAMES[index]} must be text, not {type(value).__name__}")

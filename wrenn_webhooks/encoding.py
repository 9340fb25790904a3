"""Encode events exactly as Wrenn's Go sender does with ``encoding/json``.

Field order is the Go struct's; empty ``outcome``, ``metadata``, ``error`` and
actor ``id``/``name`` are omitted (``omitempty``); ``metadata`` keys are sorted;
no spaces; ``<``, ``>``, ``&``, U+2028 and U+2029 are escaped as ``\\u003c``
and friends; other non-ASCII text is raw UTF-8. See the protocol notes, "Body".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .events import Event

__all__ = ["encode_event", "format_event_time"]

_GO_ESCAPES = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(text: str) -> str:
    # json.dumps without ensure_ascii escapes exactly what Go escapes besides
    # the HTML-safe set: '"', '\\', \b \f \n \r \t, other C0 controls as \u00xx.
    # Go writes each invalid UTF-8 byte as the escape \ufffd; a lone surrogate
    # (say, from surrogateescape decoding) is Python's form of such a byte.
    dumped = json.dumps(text, ensure_ascii=False).translate(_GO_ESCAPES)
    return _SURROGATE.sub(r"\\ufffd", dumped)


def _value(value: Any) -> str:
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return (
            "{" + ",".join(f"{_string(str(k))}:{_value(v)}" for k, v in sorted(value.items())) + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_value(v) for v in value) + "]"
    if isinstance(value, datetime):
        return _string(format_event_time(value))
    if hasattr(value, "model_dump"):
        return _value(value.model_dump(mode="json"))
    return json.dumps(value, ensure_ascii=False)


def format_event_time(moment: datetime) -> str:
    """Format an event timestamp like Go's ``time.RFC3339`` for a UTC time.

    Whole seconds end in ``Z``; a fraction, when present, is kept without
    trailing zeros (as ``RFC3339Nano`` does) so that no information is lost.
    A moment whose UTC form is out of range keeps its own offset.
    """
    try:
        utc = moment.astimezone(timezone.utc)
    except OverflowError:  # year 1 or 9999 with an offset: UTC is out of range
        return moment.isoformat()
    # Not strftime: glibc's %Y does not pad years before 1000 ("1-01-01"),
    # while Go's layout "2006" always writes four digits ("0001-01-01").
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def encode_event(event: Event) -> bytes:
    """Return the exact bytes Wrenn's Go sender puts on the wire for ``event``.

    Fields Wrenn's struct does not have (kept from a newer server's body) come
    after the known ones, in the order they were parsed. The type is written
    as it was sent (``sent_as``), so an event a 0.1.5 server sent re-encodes
    to that server's bytes.
    """
    actor = event.actor
    parts = [f'{{"event":{_string(event.sent_as)}']
    if event.outcome:
        parts.append(f',"outcome":{_string(str(event.outcome))}')
    parts.append(f',"timestamp":{_string(format_event_time(event.timestamp))}')
    parts.append(f',"team_id":{_string(event.team_id)}')
    parts.append(f',"actor":{{"type":{_string(str(actor.type))}')
    if actor.id:
        parts.append(f',"id":{_string(actor.id)}')
    if actor.name:
        parts.append(f',"name":{_string(actor.name)}')
    parts.extend(f",{_string(k)}:{_value(v)}" for k, v in (actor.model_extra or {}).items())
    resource = event.resource
    parts.append(f'}},"resource":{{"id":{_string(resource.id)},"type":{_string(resource.type)}')
    parts.extend(f",{_string(k)}:{_value(v)}" for k, v in (resource.model_extra or {}).items())
    parts.append("}")
    if event.metadata:
        parts.append(f',"metadata":{_value(event.metadata)}')
    if event.error:
        parts.append(f',"error":{_string(event.error)}')
    parts.extend(f",{_string(k)}:{_value(v)}" for k, v in (event.model_extra or {}).items())
    parts.append("}")
    return "".join(parts).encode("utf-8")

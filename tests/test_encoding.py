from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.vectors import ESCAPED_BODY, LEGACY_BODY, SAMPLE_BODY
from wrenn_webhooks import (
    Actor,
    CapsuleCreate,
    Event,
    EventType,
    Resource,
    encode_event,
    parse_event,
)
from wrenn_webhooks.testing import make_event


def event_with(**fields: object) -> Event:
    data: dict[str, object] = {
        "event": "capsule.create",
        "timestamp": datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc),
        "team_id": "team-1",
        "actor": Actor(type="system"),
        "resource": Resource(id="sb-1", type="sandbox"),
    }
    data.update(fields)
    return CapsuleCreate.model_validate(data)


@pytest.mark.parametrize("body", [SAMPLE_BODY, ESCAPED_BODY, LEGACY_BODY])
def test_wire_bodies_re_encode_byte_for_byte(body: bytes) -> None:
    assert encode_event(parse_event(body)) == body


@pytest.mark.parametrize("member", list(EventType))
def test_the_event_type_member_is_written_as_its_wire_string(member: EventType) -> None:
    typed = make_event(member, now=datetime(2026, 5, 24, tzinfo=timezone.utc), seed=1)
    assert typed.event is member
    body = encode_event(typed)
    assert body.startswith(b'{"event":"' + member.value.encode() + b'",')
    plain = Event.model_validate({**typed.model_dump(), "event": member})
    assert encode_event(plain) == body


# Expected bytes follow Go's encoding/json (encodeState.string, HTML escaping on).
@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("<script>", b"\\u003cscript\\u003e"),
        ("a&b", b"a\\u0026b"),
        ("\u2028\u2029", b"\\u2028\\u2029"),
        ('say "hi"', b'say \\"hi\\"'),
        ("back\\slash", b"back\\\\slash"),
        ("\n\r\t", b"\\n\\r\\t"),
        ("\b\f", b"\\b\\f"),
        ("\x00\x01\x1f", b"\\u0000\\u0001\\u001f"),
        ("\x7f", b"\x7f"),
        ("caf\u00e9 \u65e5\u672c \U0001f600", "café 日本 😀".encode()),
        ("a/b", b"a/b"),
        ("a\udcffb", b"a\\ufffdb"),
    ],
)
def test_go_string_escapes(text: str, wire: bytes) -> None:
    encoded = encode_event(event_with(error=text, outcome="error"))
    assert encoded.endswith(b',"error":"' + wire + b'"}')


def test_omitempty_and_field_order() -> None:
    encoded = encode_event(event_with(outcome="", error="", metadata={}))
    assert encoded == (
        b'{"event":"capsule.create","timestamp":"2026-05-24T21:10:37Z","team_id":"team-1",'
        b'"actor":{"type":"system"},"resource":{"id":"sb-1","type":"sandbox"}}'
    )


def test_metadata_keys_sorted() -> None:
    encoded = encode_event(event_with(metadata={"z": "1", "a": "2", "m": "3"}))
    assert b'"metadata":{"a":"2","m":"3","z":"1"}' in encoded


def test_actor_id_and_name_in_go_order() -> None:
    encoded = encode_event(event_with(actor=Actor(type="user", name="ada", id="usr-1")))
    assert b'"actor":{"type":"user","id":"usr-1","name":"ada"}' in encoded


def test_timestamps_are_utc_with_z() -> None:
    moment = datetime(2026, 5, 24, 23, 10, 37, tzinfo=timezone(timedelta(hours=2)))
    assert b'"timestamp":"2026-05-24T21:10:37Z"' in encode_event(event_with(timestamp=moment))
    fraction = moment.replace(microsecond=250000)
    assert b'"timestamp":"2026-05-24T21:10:37.25Z"' in encode_event(event_with(timestamp=fraction))


def test_unknown_fields_follow_the_known_ones() -> None:
    raw = SAMPLE_BODY[:-1] + b',"priority":3,"tags":["a","\\u003c"]}'
    assert encode_event(parse_event(raw)) == raw


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_time_beyond_the_utc_range_keeps_its_offset(stamp: str) -> None:
    raw = (
        b'{"event":"capsule.pause","timestamp":"' + stamp.encode() + b'","team_id":"t",'
        b'"actor":{"type":"system"},"resource":{"id":"x","type":"y"}}'
    )
    assert encode_event(parse_event(raw)) == raw

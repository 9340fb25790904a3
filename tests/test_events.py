from __future__ import annotations

import contextlib
import json
import pickle
from datetime import datetime, timezone
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.strategies import events as event_strategy
from tests.vectors import ESCAPED_BODY, LEGACY_BODY, SAMPLE_BODY
from wrenn_webhooks import (
    ActorKind,
    CapsuleCreate,
    CapsulePause,
    CapsuleStateChanged,
    Event,
    EventType,
    HostDown,
    HostUp,
    InvalidPayload,
    Outcome,
    SnapshotDelete,
    VolumeCreate,
    VolumeDelete,
    encode_event,
    events,
    parse_event,
)
from wrenn_webhooks.events import EVENT_CLASSES, KNOWN_EVENT_NAMES, LEGACY_EVENT_TYPES


def body_for(event: str, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "event": event,
        "timestamp": "2026-05-24T21:10:37Z",
        "team_id": "team-1",
        "actor": {"type": "system"},
        "resource": {"id": "sb-1", "type": "sandbox"},
    }
    data.update(fields)
    return data


def test_sample_body_parses_to_its_class() -> None:
    event = parse_event(SAMPLE_BODY)
    assert type(event) is CapsulePause
    assert event.outcome is Outcome.ERROR
    assert event.timestamp == datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc)
    assert event.actor.type is ActorKind.SYSTEM
    assert event.actor.id is None and event.actor.name is None
    assert event.resource.id == "sb-2b7c4d1e0f9a8b7c6d5e4f3a2"
    assert event.metadata == {"reason": "ttl_expired"}
    assert event.reason == "ttl_expired"
    assert event.capsule_id == event.resource.id
    assert event.error == "host unreachable"


def test_go_escapes_decode() -> None:
    event = parse_event(ESCAPED_BODY)
    assert isinstance(event, CapsuleCreate)
    assert event.actor.name == "Zoë <admin>"
    assert event.template == "python&node"
    assert event.error == "disk full — réessayez"


# The protocol notes' "Event types": the seed's order, then the types it does not list.
SEED_ORDER = [
    "capsule.create",
    "capsule.pause",
    "capsule.resume",
    "capsule.destroy",
    "template.snapshot.create",
    "template.snapshot.delete",
    "host.up",
    "host.down",
    "capsule.state.changed",
]
# What Wrenn 0.1.5 sends for each type (host.up and host.down kept their names).
OLDER_NAMES = {
    "capsule.create": ("capsule.created",),
    "capsule.pause": ("capsule.paused",),
    "capsule.resume": ("capsule.running",),
    "capsule.destroy": ("capsule.destroyed",),
    "template.snapshot.create": ("template.snapshot.created",),
    "template.snapshot.delete": ("template.snapshot.deleted",),
}


def test_the_table_is_event_type_in_the_seeds_order() -> None:
    assert list(EVENT_CLASSES) == [member.value for member in EventType]
    assert list(EVENT_CLASSES)[: len(SEED_ORDER)] == SEED_ORDER
    assert {"channel.test", "volume.create", "volume.delete"} <= set(EVENT_CLASSES)
    for member in EventType:
        assert member.older_names == OLDER_NAMES.get(member.value, ())
    assert {name for names in OLDER_NAMES.values() for name in names} == LEGACY_EVENT_TYPES
    assert set(EVENT_CLASSES) | LEGACY_EVENT_TYPES == KNOWN_EVENT_NAMES
    assert not hasattr(events, "NEWER_EVENT_TYPES")


@pytest.mark.parametrize("member", list(EventType))
def test_every_type_has_its_class(member: EventType) -> None:
    cls = EVENT_CLASSES[member.value]
    assert cls.event_type is member
    assert cls.__name__ in events.__all__
    assert type(parse_event(body_for(member.value))) is cls
    assert type(parse_event(body_for(member.value)).event) is EventType
    assert cls.resource_type and cls.has_outcome is not None


@pytest.mark.parametrize("kind", sorted(LEGACY_EVENT_TYPES))
def test_older_names_parse_as_event_without_the_bridge(kind: str) -> None:
    event = parse_event(body_for(kind), bridge_older_names=False)
    assert type(event) is Event
    assert event.event == kind and type(event.event) is str


def test_the_event_field_is_the_member_and_reads_as_the_wire_string() -> None:
    event = parse_event(SAMPLE_BODY)
    assert event.event is EventType.CAPSULE_PAUSE
    assert event.event == "capsule.pause"
    assert str(event.event) == f"{event.event}" == format(event.event) == "capsule.pause"
    assert "%s" % event.event == "capsule.pause"  # noqa: UP031 - as logging formats it
    assert json.dumps(event.event) == '"capsule.pause"'
    assert {"capsule.pause": 1}[event.event] == 1
    assert event.model_dump(mode="json")["event"] == "capsule.pause"
    assert json.loads(event.model_dump_json())["event"] == "capsule.pause"
    assert encode_event(event) == SAMPLE_BODY
    assert pickle.loads(pickle.dumps(event)) == event
    assert EventType("capsule.pause") is EventType.CAPSULE_PAUSE


def test_the_table_refuses_a_member_without_exactly_one_class(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Again(Event):
        event: Literal[EventType.HOST_UP]

    monkeypatch.setattr(Again, "__module__", events.__name__)
    with pytest.raises(TypeError, match=r"EventType\.HOST_UP .*found \w+, \w+$"):
        events._classes_by_type()
    monkeypatch.setattr(Again, "__module__", __name__)

    monkeypatch.setattr(HostDown, "__module__", __name__)
    with pytest.raises(TypeError, match=r"EventType\.HOST_DOWN .*found none"):
        events._classes_by_type()
    monkeypatch.undo()

    class Stray(Event):
        event: Literal["stray.type"]

    monkeypatch.setattr(Stray, "__module__", events.__name__)
    with pytest.raises(TypeError, match=r"Stray's tag 'stray\.type' is not an EventType member"):
        events._classes_by_type()
    monkeypatch.undo()
    assert events._classes_by_type() == dict(EVENT_CLASSES)


def test_typed_accessors() -> None:
    created = parse_event(body_for("capsule.create", metadata={"template": "python"}))
    assert isinstance(created, CapsuleCreate)
    assert (created.template, created.reason) == ("python", None)
    changed = parse_event(body_for("capsule.state.changed", metadata={"from": "a", "to": "b"}))
    assert isinstance(changed, CapsuleStateChanged)
    assert (changed.from_status, changed.to_status) == ("a", "b")
    snap = parse_event(
        body_for("template.snapshot.delete", resource={"id": "python", "type": "snapshot"})
    )
    assert isinstance(snap, SnapshotDelete)
    assert (snap.template_name, snap.reason) == ("python", None)
    host = parse_event(body_for("host.down", resource={"id": "host-1", "type": "host"}))
    assert isinstance(host, HostDown)
    assert host.host_id == "host-1"
    assert host.outcome is None
    volume = parse_event(
        body_for(
            "volume.delete", resource={"id": "vol-1", "type": "volume"}, metadata={"name": "d"}
        )
    )
    assert isinstance(volume, VolumeDelete)
    assert (volume.volume_id, volume.volume_name) == ("vol-1", "d")


def test_unknown_type_keeps_every_field() -> None:
    data = body_for(
        "widget.frobnicate",
        outcome="partial",
        actor={"type": "robot", "id": "bot-1", "mood": "cheery"},
        resource={"id": "w-1", "type": "widget", "region": "eu"},
        priority=3,
        tags=["a", "b"],
    )
    event = parse_event(data)
    assert type(event) is Event
    assert event.event == "widget.frobnicate"
    assert event.outcome == "partial"
    assert event.actor.type == "robot"
    assert event.actor.model_extra == {"mood": "cheery"}
    assert event.resource.model_extra == {"region": "eu"}
    assert event.model_extra == {"priority": 3, "tags": ["a", "b"]}


def test_volume_events_from_newer_servers_have_classes() -> None:
    raw = body_for("volume.create", outcome="success", resource={"id": "vol-1", "type": "volume"})
    event = parse_event(raw)
    assert type(event) is VolumeCreate
    assert event.outcome is Outcome.SUCCESS
    assert (event.volume_id, event.volume_name) == ("vol-1", None)
    for cls in (VolumeCreate, VolumeDelete):
        assert (cls.resource_type, cls.metadata_keys) == ("volume", ("name",))
        assert cls.has_outcome and cls.subscribable


def test_legacy_body_parses() -> None:
    event = parse_event(LEGACY_BODY)
    assert isinstance(event, CapsulePause)
    assert (event.event, event.sent_as) == ("capsule.pause", "capsule.paused")
    assert event.outcome is None and event.error is None
    assert event.metadata == {}
    assert event.actor.type is ActorKind.USER


def test_bytes_str_and_mapping_agree() -> None:
    assert parse_event(SAMPLE_BODY) == parse_event(SAMPLE_BODY.decode())
    assert parse_event(SAMPLE_BODY) == parse_event(parse_event(SAMPLE_BODY).model_dump())


def test_key_order_does_not_matter() -> None:
    reordered = b'{"team_id":"team-1","event":"host.up","actor":{"type":"system"},'
    reordered += b'"resource":{"id":"h","type":"host"},"timestamp":"2026-05-24T21:10:37Z"}'
    assert type(parse_event(reordered)) is HostUp


def test_models_are_immutable() -> None:
    event = parse_event(SAMPLE_BODY)
    with pytest.raises(ValidationError):
        event.team_id = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        event.actor.type = "user"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"event":"capsule.pause",', "not valid JSON"),
        (b'{"event":"caf\xe9"}', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"capsule.pause"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (SAMPLE_BODY.replace(b'"team_id":"team-0k3v9x2m1q8w7e6r5t4y3u2i1",', b""), "'team_id'"),
        (SAMPLE_BODY.replace(b'"type":"system"', b'"type":7'), "'actor.type'"),
        (SAMPLE_BODY.replace(b'"ttl_expired"', b"1"), "'metadata.reason'"),
        (SAMPLE_BODY.replace(b"21:10:37Z", b"21:10:37", 1), "'timestamp'"),
        (SAMPLE_BODY.replace(b'"2026-05-24T21:10:37Z"', b'"yesterday"', 1), "'timestamp'"),
        (SAMPLE_BODY.replace(b'"capsule.pause"', b"null"), "'event'"),
    ],
)
def test_invalid_payloads_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(InvalidPayload, match=message) as info:
        parse_event(body)
    assert info.value.status_code == 400
    assert info.value.__cause__ is None or not isinstance(info.value.__cause__, ValidationError)


@pytest.mark.parametrize(
    "stamp",
    [
        b"12",  # a lax parse reads numbers as POSIX seconds: 1970
        b"1780000000.5",
        b'"12"',
        b'"1780000000"',
        b'"2026-05-24 21:10:37Z"',  # not RFC 3339: a space for the "T"
        b'"2026-05-24T21:10Z"',  # no seconds
        b'"2026-05-24T21:10:37+0000"',  # an offset without its colon
        b'"2026-05-24"',
        b'"2026-02-30T21:10:37Z"',  # the form, but not a real day
        b'"\\uff12026-05-24T21:10:37Z"',  # a full-width digit
        b"null",
        b"true",
    ],
)
def test_the_timestamp_must_be_an_rfc3339_string(stamp: bytes) -> None:
    body = SAMPLE_BODY.replace(b'"2026-05-24T21:10:37Z"', stamp, 1)
    with pytest.raises(InvalidPayload, match=r"field 'timestamp': .*RFC 3339"):
        parse_event(body)
    data = json.loads(body)
    with pytest.raises(InvalidPayload, match=r"field 'timestamp'"):
        parse_event(data)


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-05-24T21:10:37Z", datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc)),
        ("2026-05-24t21:10:37z", datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc)),
        ("2026-05-24T23:10:37+02:00", datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc)),
        (
            "2026-05-24T21:10:37.123456789Z",
            datetime(2026, 5, 24, 21, 10, 37, 123456, tzinfo=timezone.utc),
        ),
    ],
)
def test_every_rfc3339_form_parses(stamp: str, expected: datetime) -> None:
    body = SAMPLE_BODY.replace(b"2026-05-24T21:10:37Z", stamp.encode(), 1)
    assert parse_event(body).timestamp == expected
    assert parse_event(json.loads(body)).timestamp == expected


def test_a_mapping_may_hold_an_aware_datetime() -> None:
    moment = datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc)
    assert parse_event(body_for("host.up", timestamp=moment)).timestamp == moment
    with pytest.raises(InvalidPayload, match="'timestamp'"):
        parse_event(body_for("host.up", timestamp=moment.replace(tzinfo=None)))
    assert json.loads(parse_event(SAMPLE_BODY).model_dump_json())["timestamp"] == (
        "2026-05-24T21:10:37Z"
    )


@pytest.mark.parametrize(
    ("metadata", "shown"),
    [
        # JSON escapes in the body; what the message shows
        (rb'{"a\nwrenn delivery forged status=200":1}', r"'metadata.a\x0awrenn delivery forged"),
        (rb'{"\u001b[2J":1}', r"'metadata.\x1b[2J'"),
        (rb'{"\u202egnp.exe":1}', r"'metadata.\u202egnp.exe'"),
    ],
)
def test_field_locations_from_the_body_are_escaped(metadata: bytes, shown: str) -> None:
    body = SAMPLE_BODY.replace(b'{"reason":"ttl_expired"}', metadata, 1)
    with pytest.raises(InvalidPayload) as info:
        parse_event(body)
    message = str(info.value)
    assert shown in message
    assert message.isprintable()


def test_a_long_key_is_truncated_in_the_message() -> None:
    body = SAMPLE_BODY.replace(b'"ttl_expired"', b"1", 1).replace(b"reason", b"k" * 5000, 1)
    with pytest.raises(InvalidPayload) as info:
        parse_event(body)
    assert "'metadata." + "k" * 99 + "…'" in str(info.value)
    assert len(str(info.value)) < 200


@given(event_strategy())
def test_round_trip_through_go_encoding(event: Event) -> None:
    assert parse_event(encode_event(event), bridge_older_names=False) == event


@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_invalid_payload(body: bytes) -> None:
    with contextlib.suppress(InvalidPayload):
        parse_event(body)


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_invalid_payload(body: str) -> None:
    with contextlib.suppress(InvalidPayload):
        parse_event(body)

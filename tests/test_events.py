from __future__ import annotations

import contextlib
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tests.strategies import events
from tests.vectors import ESCAPED_BODY, LEGACY_BODY, SAMPLE_BODY
from wrenn_webhooks import (
    ActorKind,
    CapsuleCreate,
    CapsuleDestroy,
    CapsulePause,
    CapsuleResume,
    CapsuleStateChanged,
    ChannelTest,
    Event,
    EventType,
    HostDown,
    HostUp,
    InvalidPayload,
    Outcome,
    SnapshotCreate,
    SnapshotDelete,
    encode_event,
    parse_event,
)


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


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("capsule.create", CapsuleCreate),
        ("capsule.pause", CapsulePause),
        ("capsule.resume", CapsuleResume),
        ("capsule.destroy", CapsuleDestroy),
        ("template.snapshot.create", SnapshotCreate),
        ("template.snapshot.delete", SnapshotDelete),
        ("host.up", HostUp),
        ("host.down", HostDown),
        ("capsule.state.changed", CapsuleStateChanged),
        ("channel.test", ChannelTest),
    ],
)
def test_every_type_has_its_class(kind: str, cls: type[Event]) -> None:
    assert type(parse_event(body_for(kind))) is cls
    assert cls.event_type == kind == EventType(kind)


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


def test_newer_volume_event_parses_as_event() -> None:
    raw = body_for("volume.create", outcome="success", resource={"id": "vol-1", "type": "volume"})
    event = parse_event(raw)
    assert type(event) is Event
    assert event.resource.type == "volume"


def test_legacy_body_parses() -> None:
    event = parse_event(LEGACY_BODY)
    assert type(event) is Event
    assert event.event == "capsule.paused"
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


@given(events())
def test_round_trip_through_go_encoding(event: Event) -> None:
    assert parse_event(encode_event(event)) == event


@given(st.binary(max_size=600))
def test_arbitrary_bytes_raise_only_invalid_payload(body: bytes) -> None:
    with contextlib.suppress(InvalidPayload):
        parse_event(body)


@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_invalid_payload(body: str) -> None:
    with contextlib.suppress(InvalidPayload):
        parse_event(body)

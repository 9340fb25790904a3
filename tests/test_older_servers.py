"""Wrenn 0.1.5 servers: their older names parse into the classes of the new ones."""

from __future__ import annotations

import json
import logging
import pickle
import warnings
from pathlib import Path

import pytest

from tests.conftest import Clock, signed
from tests.vectors import LEGACY_BODY, SAMPLE_BODY, SECRET
from wrenn_webhooks import (
    CapsulePause,
    Event,
    EventType,
    HostUp,
    InvalidPayload,
    UnknownEventTypeWarning,
    WebhookReceiver,
    parse_event,
)
from wrenn_webhooks.events import EVENT_CLASSES, LEGACY_EVENT_TYPES
from wrenn_webhooks.inbox import SQLiteInbox, Worker

OLDER = [(older, member) for member in EventType for older in member.older_names]


def older_body(name: str, resource: tuple[str, str] = ("sb-1", "sandbox")) -> bytes:
    """A body as Wrenn 0.1.5's Go code marshals it: no outcome, metadata or error."""
    return json.dumps(
        {
            "event": name,
            "timestamp": "2026-05-24T21:10:37Z",
            "team_id": "team-1",
            "actor": {"type": "user", "id": "usr-1", "name": "ada"},
            "resource": {"id": resource[0], "type": resource[1]},
        },
        separators=(",", ":"),
    ).encode()


@pytest.mark.parametrize(("older", "member"), OLDER)
def test_an_older_name_parses_into_the_class_of_its_new_name(older: str, member: EventType) -> None:
    event = parse_event(older_body(older))
    assert isinstance(event, EVENT_CLASSES[member.value])
    assert event.event is member
    assert event.sent_as == older
    assert event.outcome is None and event.error is None and event.metadata == {}


@pytest.mark.parametrize(("older", "member"), OLDER)
def test_bytes_str_and_mapping_are_bridged_alike(older: str, member: EventType) -> None:
    body = older_body(older)
    for data in (body, body.decode(), json.loads(body), bytearray(body)):
        event = parse_event(data)
        assert (event.event, event.sent_as) == (member, older), type(data)


def test_a_body_of_a_current_server_was_sent_as_its_own_name() -> None:
    event = parse_event(SAMPLE_BODY)
    assert event.sent_as == event.event == "capsule.pause"
    unknown = parse_event(older_body("capsule.exploded"))
    assert unknown.sent_as == unknown.event == "capsule.exploded"


def test_a_body_cannot_claim_its_own_sent_as() -> None:
    data = json.loads(SAMPLE_BODY)
    data["sent_as"] = "capsule.paused"
    event = parse_event(json.dumps(data))
    assert event.sent_as == "capsule.pause"


def test_without_the_bridge_older_names_stay_plain_events() -> None:
    for older in sorted(LEGACY_EVENT_TYPES):
        event = parse_event(older_body(older), bridge_older_names=False)
        assert type(event) is Event
        assert event.event == event.sent_as == older


def test_a_bridged_event_dumps_as_the_new_shape_and_survives_pickle() -> None:
    event = parse_event(LEGACY_BODY)
    assert event.model_dump(mode="json")["event"] == "capsule.pause"
    assert "sent_as" not in event.model_dump()
    again = pickle.loads(pickle.dumps(event))
    assert again == event and again.sent_as == "capsule.paused"
    assert repr(event).startswith("CapsulePause(")


def test_a_bad_older_body_names_the_field() -> None:
    data = json.loads(LEGACY_BODY)
    del data["team_id"]
    with pytest.raises(InvalidPayload, match="field 'team_id': Field required"):
        parse_event(json.dumps(data).encode())


def test_host_events_keep_their_names() -> None:
    event = parse_event(older_body("host.up", ("h-1", "host")))
    assert type(event) is HostUp and event.sent_as == "host.up"


class TestReceiver:
    def test_the_same_handlers_serve_both_server_versions(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        typed: list[CapsulePause] = []
        named: list[Event] = []
        receiver.on(CapsulePause)(typed.append)
        receiver.on("capsule.pause")(named.append)
        for body in (LEGACY_BODY, SAMPLE_BODY):
            response = receiver.handle(*signed(body, clock))
            assert response.status_code == 200
            assert response.body["event"] == "capsule.pause"
            assert response.body["handled"] == 2
        assert [e.sent_as for e in typed] == ["capsule.paused", "capsule.pause"]
        assert named == typed

    def test_outcome_handlers_do_not_match_outcome_less_events(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock)
        failed: list[Event] = []
        receiver.on(CapsulePause, outcome="error")(failed.append)
        response = receiver.handle(*signed(LEGACY_BODY, clock))
        assert (response.status_code, response.body["handled"], failed) == (200, 0, [])

    def test_the_log_line_shows_both_names(
        self, clock: Clock, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="wrenn_webhooks")
        receiver = WebhookReceiver(SECRET, clock=clock)
        receiver.handle(*signed(LEGACY_BODY, clock))
        receiver.handle(*signed(SAMPLE_BODY, clock))
        lines = [r.getMessage() for r in caplog.records if r.name == "wrenn_webhooks"]
        assert "event=capsule.pause sent_as=capsule.paused outcome=-" in lines[0]
        assert "sent_as" not in lines[1]

    def test_the_bridge_can_be_turned_off(self, clock: Clock) -> None:
        receiver = WebhookReceiver(SECRET, clock=clock, bridge_older_names=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnknownEventTypeWarning)
            raw: list[Event] = []
            receiver.on("capsule.paused")(raw.append)
        new: list[Event] = []
        receiver.on(CapsulePause)(new.append)
        response = receiver.handle(*signed(LEGACY_BODY, clock))
        assert response.body == {"ok": True, "event": "capsule.paused", "handled": 1}
        assert [type(e) for e in raw] == [Event] and new == []
        assert receiver.bridge_older_names is False

    def test_the_setting_is_checked(self) -> None:
        with pytest.raises(Exception, match="bridge_older_names must be True or False"):
            WebhookReceiver(SECRET, bridge_older_names="no")  # type: ignore[arg-type]

    def test_registering_an_older_name_warns_that_it_arrives_renamed(self) -> None:
        receiver = WebhookReceiver(SECRET)
        with pytest.warns(UnknownEventTypeWarning, match=r"register 'capsule\.pause'"):
            receiver.on("capsule.paused")(print)


@pytest.mark.parametrize("bridge", [True, False])
def test_the_inbox_worker_parses_with_the_receivers_setting(
    tmp_path: Path, clock: Clock, bridge: bool
) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    receiver = WebhookReceiver(SECRET, clock=clock, inbox=inbox, bridge_older_names=bridge)
    seen: list[tuple[bool, str]] = []
    receiver.on("*")(lambda event: seen.append((isinstance(event, CapsulePause), event.event)))
    response = receiver.handle(*signed(LEGACY_BODY, clock))
    assert response.status_code == 202
    assert response.body["event"] == ("capsule.pause" if bridge else "capsule.paused")
    Worker(receiver, clock=clock).run_once()
    assert seen == [(True, "capsule.pause")] if bridge else [(False, "capsule.paused")]
    inbox.close()

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from tests.conftest import T0
from tests.vectors import SECRET
from wrenn_webhooks import (
    Actor,
    CapsuleCreate,
    CapsulePause,
    ConfigurationError,
    Event,
    EventType,
    InvalidPayload,
    Outcome,
    TimestampOutsideToleranceError,
    VolumeCreate,
    VolumeDelete,
    WebhookReceiver,
    encoding,
    parse_event,
    testing,
    verify,
)
from wrenn_webhooks.events import EVENT_CLASSES, KNOWN_EVENT_NAMES, LEGACY_EVENT_TYPES
from wrenn_webhooks.testing import (
    DeliveryResult,
    FrozenClock,
    deliver,
    encode_event,
    make_event,
    signed_request,
)

ROOT = Path(__file__).resolve().parent.parent
ID = re.compile(r"(team|usr|key|sb|host|vol)-[0-9a-z]{25}")
WITH_OUTCOME = [t for t, cls in EVENT_CLASSES.items() if cls.has_outcome]
ALL_TYPES = sorted({*KNOWN_EVENT_NAMES, "widget.frobnicate"})


def test_public_names() -> None:
    assert sorted(testing.__all__) == [
        "DeliveryResult",
        "EventFactory",
        "FrozenClock",
        "adeliver",
        "api_gateway_event",
        "deliver",
        "encode_event",
        "function_url_event",
        "make_event",
        "signed_request",
    ]
    assert testing.encode_event is encoding.encode_event


def test_importing_the_kit_loads_no_framework() -> None:
    code = (
        "import sys, wrenn_webhooks.testing; "
        "print(sorted(m for m in ('flask', 'werkzeug', 'pytest') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class TestMakeEvent:
    @pytest.mark.parametrize("kind", list(EVENT_CLASSES))
    def test_every_known_type(self, kind: str) -> None:
        cls = EVENT_CLASSES[kind]
        event = make_event(kind)
        assert type(event) is cls
        assert event.event == kind
        assert event.resource.type == cls.resource_type
        assert event.metadata == cls.example.metadata
        assert set(event.metadata) <= set(cls.metadata_keys)
        assert event.outcome == (Outcome.SUCCESS if cls.has_outcome else None)
        assert event.error is None
        assert event.timestamp.tzinfo is not None
        assert event.timestamp.microsecond == 0

    @pytest.mark.parametrize("kind", list(EVENT_CLASSES))
    def test_plausible_ids(self, kind: str) -> None:
        event = make_event(kind)
        if kind == "channel.test":
            assert (event.team_id, event.resource.id) == ("test", "test")
        else:
            assert ID.fullmatch(event.team_id)
            assert event.team_id.startswith("team-")
        if event.resource.type == "snapshot":
            assert event.resource.id == "python-ml"  # a snapshot's id is its template's name
        elif kind != "channel.test":
            prefix = {"sandbox": "sb-", "host": "host-", "volume": "vol-"}[event.resource.type]
            assert ID.fullmatch(event.resource.id)
            assert event.resource.id.startswith(prefix)
        if event.actor.type == "system":
            assert (event.actor.id, event.actor.name) == (None, None)
        else:
            assert event.actor.id is not None
            assert ID.fullmatch(event.actor.id)
            assert event.actor.id.startswith({"user": "usr-", "api_key": "key-"}[event.actor.type])

    def test_the_details_of_each_type(self) -> None:
        assert make_event().event == "capsule.pause"
        create = make_event("capsule.create")
        assert create.template == "python-3.12"
        assert create.actor.type == "user"
        pause = make_event(EventType.CAPSULE_PAUSE)
        assert (pause.actor.type, pause.reason) == ("system", "ttl_expired")
        assert make_event("capsule.destroy").reason is not None
        assert make_event("capsule.resume").actor.type == "api_key"
        for kind in ("host.up", "host.down", "channel.test"):
            assert make_event(kind).actor.type == "system"
        changed = make_event("capsule.state.changed")
        assert (changed.from_status, changed.to_status) == ("running", "paused")
        assert make_event("template.snapshot.create").template_name == "python-ml"
        assert make_event("volume.create").volume_name == "data"

    def test_a_class_key_gives_its_class(self) -> None:
        pause = make_event(CapsulePause, outcome="error", now=T0, seed=7)
        assert type(pause) is CapsulePause
        assert (pause.reason, pause.error) == ("ttl_expired", "host unreachable")
        assert pause == make_event("capsule.pause", outcome="error", now=T0, seed=7)
        assert pause == make_event(EventType.CAPSULE_PAUSE, outcome="error", now=T0, seed=7)
        for cls in EVENT_CLASSES.values():
            assert type(make_event(cls)) is cls
        with pytest.raises(ConfigurationError, match="event class"):
            make_event(Event)

    def test_the_data_comes_from_the_class(self) -> None:
        assert make_event(CapsuleCreate, outcome="error").error == CapsuleCreate.example.error
        with pytest.raises(TypeError):
            CapsulePause.example.metadata["reason"] = "changed"  # type: ignore[index]
        assert make_event(CapsulePause).reason == "ttl_expired"

    def test_a_seed_gives_the_same_ids_as_before(self) -> None:
        # Ids are drawn in a fixed order (team, user, key, resource): pinned values.
        event = make_event("capsule.create", now=T0, seed=3)
        assert event.team_id == "team-fy8nu40ugzecuyzup9e9xo04a"
        assert event.actor.id == "usr-2j1huorps8n628vdgrjqwomyq"
        assert event.resource.id == "sb-22olzhwf2j046y2cqig92lkn8"
        assert make_event("host.up", now=T0, seed=3).resource.id == "host-22olzhwf2j046y2cqig92lkn8"

    @pytest.mark.parametrize("kind", WITH_OUTCOME)
    def test_error_only_with_outcome_error(self, kind: str) -> None:
        failed = make_event(kind, outcome="error")
        assert failed.outcome is Outcome.ERROR
        assert failed.error
        assert make_event(kind, outcome=Outcome.SUCCESS).error is None
        assert make_event(kind, outcome=None).outcome is None

    @pytest.mark.parametrize("kind", sorted(LEGACY_EVENT_TYPES))
    def test_legacy_types_carry_only_the_old_fields(self, kind: str) -> None:
        event = make_event(kind)  # as a receiver delivers it: bridged to the new class
        assert event.sent_as == kind and event.event != kind
        assert (event.outcome, event.metadata, event.error) == (None, {}, None)
        assert event.resource.type == ("snapshot" if kind.startswith("template.") else "sandbox")
        assert b'"outcome"' not in encode_event(event)

    @pytest.mark.parametrize("cls", [VolumeCreate, VolumeDelete])
    def test_volume_types(self, cls: type[Event]) -> None:
        event = make_event(cls)
        assert type(event) is cls
        assert event.outcome == "success"
        assert event.resource.type == "volume"
        assert event.resource.id.startswith("vol-")
        assert set(event.metadata) == {"name"}
        assert make_event(cls, outcome="error").error

    def test_unknown_type_is_a_plain_event(self) -> None:
        event = make_event("widget.frobnicate")
        assert type(event) is Event
        assert event.outcome is None
        assert event.resource.type == "widget"
        assert event.resource.id.startswith("widget-")
        assert make_event("widget.frobnicate", outcome="error").error == "internal error"
        # Like the first known type of its family, without its metadata or outcome.
        newer = make_event("capsule.migrate")
        assert (type(newer), newer.outcome, newer.metadata) == (Event, None, {})
        assert (newer.actor.type, newer.resource.type) == ("user", "sandbox")
        assert make_event("host.reboot").actor.type == "system"

    def test_overrides_replace_fields(self) -> None:
        moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        event = make_event(
            "capsule.create",
            team_id="team-mine",
            actor=Actor(type="user", id="usr-1", name="grace"),
            resource={"id": "sb-1", "type": "sandbox"},
            metadata={"template": "node-22"},
            timestamp=moment,
            error="odd but allowed",
            region="eu-west",
        )
        assert event.team_id == "team-mine"
        assert event.actor.name == "grace"
        assert event.resource.id == "sb-1"
        assert event.template == "node-22"
        assert event.timestamp == moment
        assert event.error == "odd but allowed"
        assert event.model_extra == {"region": "eu-west"}
        assert encode_event(event).endswith(b',"error":"odd but allowed","region":"eu-west"}')
        assert make_event(actor={"type": "system"}).actor.type == "system"
        assert make_event(metadata={}).metadata == {}

    def test_bad_override_is_reported(self) -> None:
        with pytest.raises(InvalidPayload, match="team_id"):
            make_event(team_id=7)

    def test_now(self) -> None:
        precise = T0 + timedelta(microseconds=250_000)
        assert make_event(now=precise).timestamp == T0
        assert make_event(now=T0.timestamp()).timestamp == T0
        assert make_event(now=FrozenClock(T0)).timestamp == T0
        local = T0.astimezone(timezone(timedelta(hours=2)))
        assert make_event(now=local).timestamp.utcoffset() == timedelta(0)
        with pytest.raises(ConfigurationError, match="timezone-aware"):
            make_event(now=datetime(2026, 1, 1))

    def test_default_timestamp_is_now(self) -> None:
        before = datetime.now(timezone.utc).replace(microsecond=0)
        stamp = make_event().timestamp
        assert before <= stamp <= datetime.now(timezone.utc)

    def test_ids_are_random_unless_seeded(self) -> None:
        assert make_event().team_id != make_event().team_id
        assert make_event(now=T0, seed=7) == make_event(now=T0, seed=7)
        assert make_event(now=T0, seed=7) != make_event(now=T0, seed=8)

    def test_empty_type_is_refused(self) -> None:
        with pytest.raises(ConfigurationError):
            make_event("")

    @pytest.mark.parametrize("kind", ALL_TYPES)
    @pytest.mark.parametrize("outcome", ["success", "error", None])
    def test_round_trips_through_the_encoder(self, kind: str, outcome: str | None) -> None:
        event = make_event(kind, outcome=outcome)
        body = encode_event(event)
        again = parse_event(body)
        assert again == event
        assert type(again) is type(event)
        assert encode_event(again) == body


class TestSignedRequest:
    def test_verifies(self) -> None:
        clock = FrozenClock(T0)
        event = make_event()
        body, headers = signed_request(event, SECRET, timestamp=clock.datetime)
        assert body == encode_event(event)
        assert headers["Content-Type"] == "application/json"
        delivery = verify(body, headers, SECRET, now=clock())
        assert delivery.timestamp == T0
        assert delivery.delivery_id == headers["X-Wrenn-Delivery"]

    def test_bytes_and_explicit_headers(self) -> None:
        body, headers = signed_request(
            b'{"x":1}', SECRET, timestamp="2026-05-24T21:10:37Z", delivery_id="d-1"
        )
        assert body == b'{"x":1}'
        assert headers["X-Wrenn-Timestamp"] == "2026-05-24T21:10:37Z"
        assert verify(body, headers, SECRET, now=T0).delivery_id == "d-1"

    def test_new_delivery_id_each_time(self) -> None:
        event = make_event()
        first, second = (signed_request(event, SECRET)[1] for _ in range(2))
        assert first["X-Wrenn-Delivery"] != second["X-Wrenn-Delivery"]

    def test_rejects_other_things(self) -> None:
        with pytest.raises(TypeError, match="Event or bytes"):
            signed_request("a string", SECRET)  # type: ignore[arg-type]


class TestDeliver:
    def test_retries_run_the_side_effect_once(self) -> None:
        clock = FrozenClock(T0)
        receiver = WebhookReceiver(SECRET, clock=clock)
        charged: list[str] = []
        failures = iter([ConnectionError("billing database down")])

        @receiver.on("capsule.create", outcome="success")
        def charge(event: Any) -> None:
            for failure in failures:
                raise failure
            charged.append(event.capsule_id)

        event = make_event("capsule.create", now=clock)
        results = deliver(receiver, event, SECRET, attempts=3, clock=clock)
        assert [r.status_code for r in results] == [500, 200, 200]
        assert [r.duplicate for r in results] == [False, False, True]
        assert [r.ok for r in results] == [False, True, True]
        assert charged == [event.capsule_id]
        assert results[1].response.delivery.redelivery is True
        assert len({r.delivery_id for r in results}) == 3
        assert [r.timestamp for r in results] == [
            "2026-05-24T21:10:37Z",
            "2026-05-24T21:10:47Z",
            "2026-05-24T21:11:17Z",
        ]
        assert clock() == T0.timestamp() + 40

    def test_uses_the_receivers_clock_by_default(self) -> None:
        clock = FrozenClock(T0)
        receiver = WebhookReceiver(SECRET, clock=clock)
        results = deliver(receiver, make_event(), SECRET, attempts=4, spacing=(5,))
        assert [r.status_code for r in results] == [200] * 4
        assert clock() == T0.timestamp() + 15

    def test_same_body_every_attempt(self) -> None:
        bodies: list[bytes] = []

        class Recorder:
            def post(self, path: str, *, data: bytes, headers: dict[str, str]) -> Any:
                bodies.append(data)
                return type("Reply", (), {"status_code": 502, "content": b"<html>bad gateway"})()

        results = deliver(Recorder(), make_event(), SECRET, attempts=3)
        assert len(set(bodies)) == 1
        assert [(r.status_code, r.body) for r in results] == [(502, {})] * 3

    def test_plain_json_reply(self) -> None:
        class Client:
            def post(self, path: str, *, data: bytes, headers: dict[str, str]) -> Any:
                return type("Reply", (), {"status_code": 200, "data": b'{"ok":true}'})()

        (result,) = deliver(Client(), make_event(), SECRET)
        assert result == DeliveryResult(
            200, {"ok": True}, result.delivery_id, result.timestamp, result.response
        )

    def test_flask_test_client(self) -> None:
        clock = FrozenClock(T0)
        receiver = WebhookReceiver(SECRET, clock=clock)
        seen: list[Event] = []
        receiver.add(seen.append, "host.down")
        app = Flask(__name__)

        @app.post("/hooks/wrenn")
        def receive() -> tuple[dict[str, Any], int]:
            response = receiver.handle(request.get_data(), request.headers)
            return response.body, response.status_code

        event = make_event("host.down", now=clock)
        results = deliver(
            app.test_client(), event, SECRET, attempts=3, path="/hooks/wrenn", clock=clock
        )
        assert [r.status_code for r in results] == [200, 200, 200]
        assert results[0].body == {"ok": True, "event": "host.down", "handled": 1}
        assert [r.duplicate for r in results] == [False, True, True]
        assert seen == [event]
        wrong = deliver(
            app.test_client(), event, "not-the-secret", path="/hooks/wrenn", clock=clock
        )
        assert wrong[0].status_code == 401

    def test_bad_arguments(self) -> None:
        receiver = WebhookReceiver(SECRET)
        with pytest.raises(ConfigurationError, match="attempts"):
            deliver(receiver, make_event(), SECRET, attempts=0)
        with pytest.raises(ConfigurationError, match="spacing"):
            deliver(receiver, make_event(), SECRET, attempts=2, spacing=())
        with pytest.raises(TypeError, match="test client"):
            deliver(object(), make_event(), SECRET)  # type: ignore[arg-type]


class TestFrozenClock:
    def test_tolerance(self) -> None:
        clock = FrozenClock(T0)
        receiver = WebhookReceiver(SECRET, clock=clock)
        request = signed_request(make_event(now=clock), SECRET, timestamp=clock.datetime)
        clock.advance(301)
        response = receiver.handle(*request)
        assert response.status_code == 401
        assert isinstance(response.error, TimestampOutsideToleranceError)
        clock.advance(-2)
        assert receiver.handle(*request).status_code == 200

    def test_moves_only_when_told(self) -> None:
        clock = FrozenClock(T0.timestamp())
        assert clock() == clock.now == T0.timestamp()
        assert clock.datetime == T0
        clock.advance(timedelta(minutes=1))
        assert clock.datetime == T0 + timedelta(minutes=1)
        clock.set(datetime(2030, 1, 1, tzinfo=timezone.utc))
        assert clock.datetime.year == 2030
        clock.set(0)
        assert clock() == 0.0
        assert repr(clock) == "FrozenClock('1970-01-01T00:00:00+00:00')"
        with pytest.raises(ConfigurationError):
            clock.set(datetime(2030, 1, 1))

    def test_starts_now_in_whole_seconds(self) -> None:
        clock = FrozenClock()
        assert clock() == int(clock())
        assert abs(clock.datetime - datetime.now(timezone.utc)) < timedelta(seconds=5)

    def test_usable_as_now_for_verify(self) -> None:
        clock = FrozenClock(T0)
        body, headers = signed_request(make_event(), SECRET, timestamp=T0)
        clock.advance(299)
        assert verify(body, headers, SECRET, now=clock()).timestamp == T0


def test_documentation_examples_pass() -> None:
    """Every example on docs/testing.md is a file under examples/testing, run here."""
    examples = ROOT / "examples" / "testing"
    page = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    included = set(re.findall(r'--8<-- "(examples/testing/[\w./]+)"', page))
    assert included == {f"examples/testing/{p.name}" for p in examples.glob("*.py")}, (
        "include every example file on the page, and only those"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            # Block the entry point's copy (when installed) so -p can load the module.
            "-p",
            "no:wrenn_webhooks",
            "-p",
            "wrenn_webhooks.pytest_plugin",
            str(examples),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"\b\d+ passed\b", out.stdout)
    assert "skipped" not in out.stdout and "warning" not in out.stdout


def test_the_typed_events_snippet_runs() -> None:
    """The inline example of docs/testing.md's "Typed events" section."""
    page = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    section = page.split("## Typed events: classes or strings", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/testing.md", "exec"), namespace)
    namespace["test_a_failed_pause"](partial(make_event, now=T0))


# --- make_event(..., wrenn_version="0.1.5") ------------------------------------

SENT_BY_0_1_5 = {
    **{member.value: member.older_names[0] for member in EventType if member.older_names},
    "host.up": "host.up",
    "host.down": "host.down",
}


class TestWrennVersion:
    def test_exactly_the_bytes_0_1_5_marshals(self) -> None:
        event = make_event("capsule.pause", wrenn_version="0.1.5", now=T0, seed=3)
        assert isinstance(event, CapsulePause)
        assert (event.event, event.sent_as) == ("capsule.pause", "capsule.paused")
        assert encode_event(event) == (
            b'{"event":"capsule.paused","timestamp":"2026-05-24T21:10:37Z",'
            b'"team_id":"team-fy8nu40ugzecuyzup9e9xo04a","actor":{"type":"system"},'
            b'"resource":{"id":"sb-22olzhwf2j046y2cqig92lkn8","type":"sandbox"}}'
        )

    @pytest.mark.parametrize(("kind", "sent"), sorted(SENT_BY_0_1_5.items()))
    def test_every_type_0_1_5_sends(self, kind: str, sent: str) -> None:
        cls = EVENT_CLASSES[kind]
        givens: list[str | type[Event]] = [kind, sent, cls]
        for given in givens:
            event = make_event(given, wrenn_version="0.1.5", actor={"type": "user", "id": "u"})
            assert isinstance(event, cls)
            assert event.sent_as == sent
            body = encode_event(event)
            assert list(json.loads(body)) == ["event", "timestamp", "team_id", "actor", "resource"]
            assert parse_event(body) == event
        assert make_event(kind, wrenn_version="0.1.5").resource.type == cls.resource_type

    @pytest.mark.parametrize("kind", [k for k in EVENT_CLASSES if k not in SENT_BY_0_1_5])
    def test_types_0_1_5_never_sends(self, kind: str) -> None:
        with pytest.raises(
            ConfigurationError, match=re.escape(f"Wrenn 0.1.5 does not send '{kind}'")
        ):
            make_event(kind, wrenn_version="0.1.5")

    def test_an_unknown_type_gets_a_suggestion(self) -> None:
        with pytest.raises(ConfigurationError, match=r"did you mean 'capsule.paused'\?"):
            make_event("capsule.pausd", wrenn_version="0.1.5")

    @pytest.mark.parametrize(
        "fields",
        [
            {"outcome": "error"},
            {"outcome": "success"},
            {"metadata": {"a": "b"}},
            {"error": "boom"},
        ],
    )
    def test_fields_0_1_5_never_sends(self, fields: dict[str, Any]) -> None:
        with pytest.raises(
            ConfigurationError, match=r"0\.1\.5 sends no outcome, metadata or error"
        ):
            make_event("capsule.pause", wrenn_version="0.1.5", **fields)
        assert make_event("capsule.pause", wrenn_version="0.1.5", outcome=None).outcome is None

    def test_the_default_is_the_current_format(self) -> None:
        assert make_event("capsule.pause", now=T0, seed=3) == make_event(
            "capsule.pause", wrenn_version="0.2", now=T0, seed=3
        )
        with pytest.raises(ConfigurationError, match=r"'0\.1\.5' or '0\.2'"):
            make_event(wrenn_version="0.3")  # type: ignore[arg-type]

    def test_an_older_name_is_shaped_like_its_new_names_example(self) -> None:
        # capsule.paused comes from the system, as capsule.pause does (auto-pause).
        assert make_event("capsule.paused").actor.type == "system"
        assert make_event("capsule.running").actor.type == "api_key"

    def test_the_fixture_takes_it(self, wrenn_event: Any) -> None:
        event = wrenn_event("capsule.pause", wrenn_version="0.1.5")
        assert (event.sent_as, event.model_extra) == ("capsule.paused", {})


def test_the_older_servers_snippet_runs() -> None:
    """The inline example of docs/testing.md's "Events from Wrenn 0.1.5" section."""
    page = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    section = page.split("## Events from Wrenn 0.1.5", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/testing.md", "exec"), namespace)
    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert tests
    for test in tests:
        test()

"""The documentation's examples run, and what the pages claim holds.

Every complete example on the site is a file under ``examples/`` that a page
includes; each is imported and exercised here. The generated tables and the API
reference are checked against the package they describe.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import io
import json
import logging
import re
import runpy
import sqlite3
import sys
import warnings
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from wsgiref.util import setup_testing_defaults

import click
import pytest
from flask import Flask

import wrenn_webhooks
from tests.conftest import Clock, event_body, signed
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import (
    CapsulePause,
    ConfigurationError,
    Delivery,
    Event,
    IdempotencyStore,
    UnknownEventTypeWarning,
    WebhookReceiver,
    encode_event,
    parse_event,
)
from wrenn_webhooks.cli import cli
from wrenn_webhooks.events import EVENT_CLASSES, LEGACY_EVENT_TYPES
from wrenn_webhooks.flask import WrennWebhooks
from wrenn_webhooks.stores import Claim, ClaimState

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OTHER_SECRET = "0" * 64


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)


def load(name: str, clock: Clock) -> ModuleType:
    """Import an example afresh (its receiver is new) and give its receiver the test clock."""
    sys.modules.pop(name, None)
    module = importlib.import_module(name)
    module.receiver.clock = clock
    return module


def pause_error(**fields: Any) -> bytes:
    return event_body("capsule.pause", "error", error="host unreachable", **fields)


def channel_test() -> bytes:
    return event_body(
        "channel.test", None, team_id="test", resource={"id": "test", "type": "channel"}
    )


# --- Quick start -------------------------------------------------------------


def test_quickstart_handles_a_failed_pause_and_a_channel_test(
    clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    client = load("examples.quickstart", clock).app.test_client()

    body, headers = signed(pause_error(), clock)
    answer = client.post("/webhooks/wrenn", data=body, headers=headers)
    assert answer.status_code == 200
    assert answer.json == {"ok": True, "event": "capsule.pause", "handled": 1}
    assert "capsule sb-1 failed to pause: host unreachable" in capsys.readouterr().out

    body, headers = signed(channel_test(), clock)
    assert client.post("/webhooks/wrenn", data=body, headers=headers).status_code == 200
    assert "the channel is wired up" in capsys.readouterr().out


def test_quickstart_refuses_a_forged_delivery(clock: Clock) -> None:
    client = load("examples.quickstart", clock).app.test_client()
    body, headers = signed(pause_error(), clock, secret=OTHER_SECRET)
    answer = client.post("/webhooks/wrenn", data=body, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "application/json"


# --- Handlers page -----------------------------------------------------------


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    found = [r.getMessage() for r in caplog.records if r.name == "examples.handlers"]
    caplog.clear()
    return found


def test_handlers_example_runs_matching_handlers_in_registration_order(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    receiver = load("examples.handlers", clock).receiver

    assert receiver.handle(*signed(pause_error(), clock)).body["handled"] == 4
    assert messages(caplog) == [
        "capsule sb-1 pause: error",
        "capsule sb-1 failed to pause: host unreachable",
        "capsule.pause failed for sb-1",
        "audit: capsule.pause error by system",
    ]

    receiver.handle(*signed(event_body("capsule.destroy", "success"), clock))
    assert messages(caplog) == [
        "audit: capsule.destroy success by system",
        "release the address of sb-1",
        "close billing for sb-1 (runs even if release_address raised)",
    ]


def test_handlers_example_async_router_delivery_and_unknown_types(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    receiver = load("examples.handlers", clock).receiver
    host = {"id": "host-1", "type": "host"}

    receiver.handle(*signed(event_body("host.down", None, resource=host), clock))
    assert messages(caplog) == [
        "host.down: host-1",
        "audit: host.down - by system",
        "paged on-call: host host-1 is down",
    ]

    receiver.handle(*signed(event_body("capsule.resume", "error", error="no host"), clock))
    assert "capsule sb-1 failed to resume: no host" in messages(caplog)

    create = event_body("capsule.create", "error", error="disk full", metadata={"template": "py"})
    body, headers = signed(create, clock)
    headers["X-Wrenn-Delivery"] = "d-1"
    receiver.handle(body, headers)
    assert (
        "capsule sb-1 from template py failed to start: disk full "
        "[delivery d-1, signed 2026-05-24T21:10:37+00:00]"
    ) in messages(caplog)

    volume = event_body("volume.create", "success", resource={"id": "vol-1", "type": "volume"})
    answer = receiver.handle(*signed(volume, clock))
    assert answer.status_code == 200
    assert messages(caplog) == ["audit: volume.create success by system"]


def test_handlers_example_router_is_sealed_once_included(clock: Clock) -> None:
    module = load("examples.handlers", clock)
    with pytest.raises(ConfigurationError):
        module.router.on("capsule.pause")(lambda event: None)


def test_a_failed_handler_answers_500_and_only_it_runs_again(clock: Clock) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    calls: list[str] = []
    failures: list[BaseException] = []
    broken = [True]

    @receiver.on("capsule.destroy")
    def release_address(event: Event) -> None:
        calls.append("release_address")

    @receiver.on("capsule.destroy")
    def close_billing(event: Event, delivery: Delivery) -> None:
        calls.append(f"close_billing redelivery={delivery.redelivery}")
        if broken[0]:
            raise RuntimeError("billing is down")

    @receiver.on_error
    def observe(exc: BaseException, event: Event, delivery: Delivery) -> None:
        failures.append(exc)

    body = event_body("capsule.destroy", "success")
    assert receiver.handle(*signed(body, clock)).status_code == 500
    assert calls == ["release_address", "close_billing redelivery=False"]
    assert [str(exc) for exc in failures] == ["billing is down"]

    broken[0] = False
    clock.advance(10)  # Wrenn's second attempt: same body, new signature and id
    assert receiver.handle(*signed(body, clock)).status_code == 200
    assert calls[2:] == ["close_billing redelivery=True"]

    clock.advance(30)
    answer = receiver.handle(*signed(body, clock))
    assert answer.body == {"ok": True, "event": "capsule.destroy", "handled": 0, "duplicate": True}
    assert len(calls) == 3


def test_the_typed_handlers_example_runs(clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    page = (DOCS / "handlers.md").read_text()
    section = page.split("## Typed handlers: classes or strings", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/handlers.md", "exec"), namespace)
    receiver = namespace["receiver"]
    receiver.clock = clock
    answer = receiver.handle(*signed(pause_error(metadata={"reason": "ttl_expired"}), clock))
    assert answer.body["handled"] == 2
    assert capsys.readouterr().out.splitlines() == [
        "capsule sb-1 failed to pause (ttl_expired): host unreachable",
        "capsule.pause error for sb-1",
    ]


def test_the_one_loop_example_runs() -> None:
    page = (DOCS / "handlers.md").read_text()
    section = page.split("## One loop runs every handler", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/handlers.md", "exec"), namespace)  # it asserts what it shows
    assert namespace["result"].ran == 1


def test_registration_checks_behave_as_the_handlers_page_says() -> None:
    receiver = WebhookReceiver(SECRET)
    with pytest.warns(UnknownEventTypeWarning, match=r"did you mean 'capsule\.pause'"):
        receiver.on("capsule.puase")(lambda event: None)
    with pytest.raises(ConfigurationError, match=r"'host\.up' events carry no outcome"):
        receiver.on("host.up", outcome="error")(lambda event: None)
    with pytest.raises(ConfigurationError):
        receiver.on("host.*", outcome="success")(lambda event: None)
    with pytest.warns(UnknownEventTypeWarning, match=r"register 'capsule\.pause'"):
        receiver.on("capsule.paused")(lambda event: None)
    with pytest.warns(UnknownEventTypeWarning, match=r"did you mean 'capsule\.\*'"):
        receiver.on("capsul.*")(lambda event: None)
    with pytest.raises(TypeError, match="parentheses"):
        receiver.on(lambda event: None)  # type: ignore[call-overload]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        receiver.on(["volume.create", "volume.delete", "capsule.*"])(lambda event: None)
        receiver.on("volume.create", outcome="error")(lambda event: None)


def test_registration_closes_at_the_first_delivery(clock: Clock) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    receiver.handle(*signed(channel_test(), clock))
    with pytest.raises(ConfigurationError, match="first delivery"):
        receiver.on("capsule.pause")(lambda event: None)
    with pytest.raises(ConfigurationError):
        receiver.on_error(lambda exc, event, delivery: None)


# --- Security page -----------------------------------------------------------


def test_rotation_example_accepts_both_secrets_and_reports_the_old_one(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", OTHER_SECRET)
    monkeypatch.setenv("WRENN_WEBHOOK_PREVIOUS_SECRET", SECRET)
    client = load("examples.rotation", clock).app.test_client()

    body, headers = signed(channel_test(), clock, secret=OTHER_SECRET)
    assert client.post("/webhooks/wrenn", data=body, headers=headers).status_code == 200
    assert not [r for r in caplog.records if r.name == "examples.rotation"]

    body, headers = signed(pause_error(), clock, secret=SECRET)
    headers["X-Wrenn-Delivery"] = "d-old"
    assert client.post("/webhooks/wrenn", data=body, headers=headers).status_code == 200
    [record] = [r for r in caplog.records if r.name == "examples.rotation"]
    assert record.getMessage() == "delivery d-old was signed with the previous secret"


def test_an_exact_replay_within_the_tolerance_runs_no_handler(clock: Clock) -> None:
    receiver = WebhookReceiver(SECRET, clock=clock)
    calls: list[Event] = []
    receiver.on("capsule.pause")(calls.append)
    body, headers = signed(pause_error(), clock)
    assert receiver.handle(body, headers).status_code == 200
    clock.advance(299)
    assert receiver.handle(body, headers).body["duplicate"] is True
    clock.advance(2)
    assert receiver.handle(body, headers).status_code == 401
    assert len(calls) == 1


# --- Reliability page --------------------------------------------------------


def test_custom_store_example_follows_the_protocol(clock: Clock) -> None:
    module = load("examples.custom_store", clock)
    assert isinstance(module.receiver.store, IdempotencyStore)
    store = module.DictStore(ttl=900.0)
    t0 = clock()
    assert store.claim("k", now=t0, lease=30) == Claim(ClaimState.NEW)
    assert store.claim("k", now=t0 + 1, lease=30) == Claim(ClaimState.BUSY)
    store.complete_handler("k", "audit", now=t0 + 2)
    assert store.claim("k", now=t0 + 30, lease=30) == Claim(ClaimState.RETRY, frozenset({"audit"}))
    store.release("k", now=t0 + 31)
    assert store.claim("k", now=t0 + 32, lease=30).state is ClaimState.RETRY
    store.finish("k", now=t0 + 33)
    assert store.claim("k", now=t0 + 34, lease=30).state is ClaimState.DONE
    assert store.claim("k", now=t0 + 33 + 900, lease=30).state is ClaimState.NEW


def test_custom_store_example_gives_per_handler_completion(clock: Clock) -> None:
    module = load("examples.custom_store", clock)
    receiver = WebhookReceiver(SECRET, idempotency=module.DictStore(), clock=clock)
    calls: list[str] = []
    broken = [True]

    @receiver.on("capsule.pause")
    def first(event: CapsulePause) -> None:
        calls.append("first")

    @receiver.on("capsule.pause")
    def second(event: CapsulePause) -> None:
        calls.append("second")
        if broken[0]:
            raise RuntimeError("down")

    body = pause_error()
    assert receiver.handle(*signed(body, clock)).status_code == 500
    broken[0] = False
    clock.advance(10)
    assert receiver.handle(*signed(body, clock)).status_code == 200
    clock.advance(30)
    assert receiver.handle(*signed(body, clock)).body.get("duplicate") is True
    assert calls == ["first", "second", "second"]


# --- Flask page --------------------------------------------------------------


def test_flask_blueprint_example_answers_both_spellings_in_the_app_context(
    clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INCIDENTS_DB", str(tmp_path / "incidents.db"))
    module = load("examples.flask.app", clock)
    client = module.create_app().test_client()

    for path, capsule in (("/webhooks/wrenn", "sb-1"), ("/webhooks/wrenn/", "sb-2")):
        body, headers = signed(pause_error(resource={"id": capsule, "type": "sandbox"}), clock)
        headers["X-Wrenn-Delivery"] = f"d-{capsule}"
        answer = client.post(path, data=body, headers=headers)
        assert answer.status_code == 200, path  # answered directly: no redirect
        assert answer.json == {"ok": True, "event": "capsule.pause", "handled": 1}
    with closing(sqlite3.connect(tmp_path / "incidents.db")) as db:
        rows = db.execute("SELECT * FROM incidents ORDER BY capsule").fetchall()
    assert rows == [("sb-1", "host unreachable", "d-sb-1"), ("sb-2", "host unreachable", "d-sb-2")]

    assert client.get("/webhooks/wrenn").status_code == 405
    too_large = b"x" * (module.receiver.max_body_bytes + 1)
    assert client.post("/webhooks/wrenn", data=too_large).status_code == 413


def test_flask_factory_example_builds_a_receiver_per_app(
    clock: Clock, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("WRENN_WEBHOOK_STORE", raising=False)
    sys.modules.pop("examples.flask.factory", None)
    module = importlib.import_module("examples.flask.factory")
    caplog.set_level(logging.INFO)

    one = module.create_app()  # the secret from WRENN_WEBHOOK_SECRET
    two = module.create_app(
        {"WRENN_WEBHOOK_SECRET": [OTHER_SECRET, SECRET], "WRENN_WEBHOOK_URL_PREFIX": "/hooks"}
    )
    receivers = [WrennWebhooks.receiver_for(app) for app in (one, two)]
    assert receivers[0] is not receivers[1]
    assert [receiver.secret_count for receiver in receivers] == [1, 2]
    for receiver in receivers:
        receiver.clock = clock

    host_down = event_body("host.down", None, resource={"id": "host-7", "type": "host"})
    answer = one.test_client().post("/webhooks/wrenn", **_post(host_down, clock))
    assert answer.json == {"ok": True, "event": "host.down", "handled": 1}
    assert two.test_client().post("/hooks/", **_post(host_down, clock)).status_code == 200
    assert two.test_client().post("/webhooks/wrenn", **_post(host_down, clock)).status_code == 404
    assert caplog.messages.count("host host-7 is down") == 2


def _post(body: bytes, clock: Clock, secret: str = SECRET) -> dict[str, Any]:
    body, headers = signed(body, clock, secret)
    return {"data": body, "headers": headers}


def test_flask_metrics_example_counts_each_kind_of_answer(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    module = load("examples.flask.metrics", clock)

    @module.receiver.on("host.down")
    def page_on_call(event: Event) -> None:
        raise RuntimeError("pager unreachable")

    client = module.create_app().test_client()
    host_down = event_body("host.down", None, resource={"id": "host-7", "type": "host"})
    bodies = [channel_test(), host_down, pause_error()]
    assert client.post("/webhooks/wrenn", **_post(bodies[0], clock)).status_code == 200
    assert client.post("/webhooks/wrenn", **_post(bodies[1], clock)).status_code == 500
    forged = _post(bodies[2], clock, OTHER_SECRET)
    assert client.post("/webhooks/wrenn", **forged).status_code == 401

    answer = client.get("/metrics")
    assert answer.mimetype == "text/plain"
    assert answer.get_data(as_text=True).splitlines() == [
        'wrenn_deliveries_total{kind="failed",status="500",event="host.down"} 1',
        'wrenn_deliveries_total{kind="handled",status="200",event="channel.test"} 1',
        'wrenn_deliveries_total{kind="rejected",status="401",event="-"} 1',
        f"wrenn_received_bytes_total {sum(len(body) for body in bodies)}",
    ]
    [failure] = [r.getMessage() for r in caplog.records if r.name == "examples.flask.metrics"]
    assert failure.startswith("delivery failed with 500: ")


def test_flask_csrf_example_exempts_only_the_webhook_route(
    clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("flask_wtf")
    client = load("examples.flask.csrf", clock).create_app().test_client()
    assert client.post("/webhooks/wrenn", **_post(channel_test(), clock)).status_code == 200
    assert "the channel is wired up" in capsys.readouterr().out
    assert client.post("/settings", data={"theme": "dark"}).status_code == 400  # no token


def test_the_extensions_blueprint_can_be_exempted_from_csrf(clock: Clock) -> None:
    csrf_module = pytest.importorskip("flask_wtf.csrf")
    app = Flask(__name__)
    app.config.update(SECRET_KEY="not-a-real-key", WRENN_WEBHOOK_SECRET=SECRET)
    csrf = csrf_module.CSRFProtect(app)
    WrennWebhooks(app, clock=clock)
    client = app.test_client()
    assert client.post("/webhooks/wrenn", **_post(channel_test(), clock)).status_code == 400
    csrf.exempt(app.blueprints["wrenn_webhooks"])
    assert client.post("/webhooks/wrenn", **_post(channel_test(), clock)).status_code == 200


def test_the_flask_page_lists_every_config_key_and_signal() -> None:
    adapter = importlib.import_module("wrenn_webhooks.flask")
    page = (DOCS / "flask.md").read_text()
    keys = set(re.findall(r"WRENN_WEBHOOK_[A-Z_]+", Path(adapter.__file__).read_text()))
    assert set(re.findall(r"^\| `(WRENN_WEBHOOK_[A-Z_]+)` \|", page, re.M)) == keys
    signals = {name for name in adapter.__all__ if name.startswith("delivery_")}
    assert set(re.findall(r"^\| `(delivery_\w+)` \|", page, re.M)) == signals


# --- Other frameworks page ---------------------------------------------------


def call_wsgi(app: Any, method: str, body: bytes, headers: dict[str, str]) -> tuple[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/",
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    setup_testing_defaults(environ)
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks = app(environ, lambda status, headers: started.append((status, headers)))
    payload = b"".join(chunks)
    [(status, response_headers)] = started
    assert ("Content-Length", str(len(payload))) in response_headers
    return status, json.loads(payload) if payload else None


def test_wsgi_example(clock: Clock, capsys: pytest.CaptureFixture[str]) -> None:
    module = load("examples.frameworks.wsgi_app", clock)

    status, answer = call_wsgi(module.app, "POST", *signed(channel_test(), clock))
    assert status == "200 OK"
    assert answer == {"ok": True, "event": "channel.test", "handled": 1}
    assert "test delivery received" in capsys.readouterr().out

    status, _ = call_wsgi(module.app, "POST", *signed(channel_test(), clock, OTHER_SECRET))
    assert status == "401 Unauthorized"

    huge = b"x" * (module.receiver.max_body_bytes + 10)
    status, _ = call_wsgi(module.app, "POST", huge, {})
    assert status.startswith("413 ")  # its phrase changed in Python 3.13

    status, _ = call_wsgi(module.app, "GET", b"", {})
    assert status == "405 Method Not Allowed"


# --- Quick start's test event and the CLI reference ----------------------------


def test_the_quick_start_shows_the_command_make_run_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("WRENN_WEBHOOK_SECRET", "WRENN_WEBHOOK_STORE", "HOST", "PORT"):
        monkeypatch.delenv(name, raising=False)
    # `make run` is `python -m examples.receiver --dev`: only then the development secret
    monkeypatch.setattr(sys, "argv", ["examples/receiver.py", "--dev"])
    monkeypatch.delitem(sys.modules, "examples.receiver", raising=False)
    monkeypatch.setattr(Flask, "run", lambda self, **kwargs: None)
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)
    runpy.run_module("examples.receiver", run_name="__main__")
    [command] = [
        line.removeprefix("Try: ")
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("Try: ")
    ]
    assert f"```sh\n{command}\n```" in (DOCS / "index.md").read_text()


def _commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


def test_hook_renders_the_help_of_every_command(hooks: ModuleType) -> None:
    assert "<!-- wrenn:cli-reference -->" in (DOCS / "cli.md").read_text()
    page = hooks.render("<!-- wrenn:cli-reference -->")
    sections = dict(
        re.findall(r"^#{3,6} `([^`]+)` \{#[\w-]+\}\n\n```text\n(.*?)\n```$", page, re.M | re.S)
    )
    for path in _commands(cli):
        title = " ".join(("wrenn-webhooks", *path))
        assert sections[title].startswith(f"Usage: {title} "), title
        command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        for param in command.params:
            for option in param.opts:
                assert option in sections[title] or not option.startswith("-"), (title, option)
    assert len(sections) == len(list(_commands(cli)))


# --- Events page and the generated tables ------------------------------------


def test_the_sample_body_on_the_events_page_is_real() -> None:
    page = (DOCS / "events.md").read_text()
    [sample] = re.findall(r"```json\n(.*?)\n```", page, re.S)
    body = sample.encode()
    assert body == SAMPLE_BODY
    event = parse_event(body)
    assert isinstance(event, CapsulePause)
    assert (event.capsule_id, event.reason, event.error) == (
        "sb-2b7c4d1e0f9a8b7c6d5e4f3a2",
        "ttl_expired",
        "host unreachable",
    )
    assert encode_event(event) == body


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hook_generates_a_row_for_every_event_class(hooks: ModuleType) -> None:
    table = hooks.render("<!-- wrenn:event-table -->")
    for event_type, cls in EVENT_CLASSES.items():
        [row] = [line for line in table.splitlines() if line.startswith(f"| `{event_type}` |")]
        assert f"`{cls.resource_type}`" in row
        assert ("`success` / `error`" in row) is bool(cls.has_outcome)


def test_hook_copies_the_status_contract_from_the_docstring(hooks: ModuleType) -> None:
    table = hooks.render("<!-- wrenn:status-table -->")
    for status in ("200", "401", "400", "409", "413", "500", "503"):
        assert re.search(rf"\| {status}\b", table)


def test_hook_refuses_an_unknown_marker(hooks: ModuleType) -> None:
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="wrenn:nope"):
        hooks.render("<!-- wrenn:nope -->")


def test_every_page_marker_is_known(hooks: ModuleType) -> None:
    for page in DOCS.glob("*.md"):
        for name in re.findall(r"<!-- wrenn:([a-z-]+) -->", page.read_text()):
            assert name in hooks.GENERATORS, f"{page.name}: unknown marker {name}"


def test_hook_renders_the_older_names_and_the_event_classes(hooks: ModuleType) -> None:
    older = hooks.render("<!-- wrenn:legacy-types -->")
    assert "`capsule.paused` (now `capsule.pause`)" in older
    assert older.count("(now ") == len(LEGACY_EVENT_TYPES)
    reference = hooks.render("<!-- wrenn:event-class-reference -->")
    names = re.findall(r"^::: wrenn_webhooks\.(\w+)$", reference, re.M)
    assert names == [cls.__name__ for cls in EVENT_CLASSES.values()]


def markdown_tables(markdown: str) -> list[list[list[str]]]:
    """Every table of ``markdown``, as rows of cells, the alignment row left out."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in markdown.splitlines():
        if line.startswith("| ") and not re.fullmatch(r"\|( :?-+:? \|)+", line):
            if not previous.startswith("| "):
                tables.append([])
            tables[-1].append([cell.strip() for cell in line.strip("|").split(" | ")])
        if not re.fullmatch(r"\|( :?-+:? \|)+", line):
            previous = line
    return tables


def test_hook_renders_the_load_results_one_row_per_scenario(
    hooks: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = {"sent": 30, "accepted": 28, "handled_once": 10, "events": 10, "errors": 0}
    report = {
        "generated_at": "2026-12-04T17:58:46Z",
        "machine": {"cpus": 2, "python": "3.11.7", "system": "Linux x86_64"},
        "setup": {"concurrency": 32},
        "results": [
            {"scenario": "three deliveries per event", **shared, "duplicates_409": 2},
            {
                "scenario": "clock skew",
                **shared,
                "seconds": 1.5,
                "by_skew": {"past_301": {"401": 5}, "future_299": {"200": 5}},
                "old_secret_after_removal": {"401": 1},
                "reloads_at": {"reloaded with new": 3926},
            },
        ],
    }
    (tmp_path / "load.json").write_text(json.dumps(report))
    monkeypatch.setattr(hooks, "RESULTS", tmp_path)
    summary, first, second = markdown_tables(hooks.render("<!-- wrenn:load-results -->"))

    # One row per scenario, with the measures every scenario has ("seconds" is not one).
    assert summary == [
        ["Scenario", "Sent", "Accepted (2xx)", "Handled once", "Errors"],
        ["Three deliveries per event", "30", "28", "10 of 10", "0"],
        ["Clock skew", "30", "28", "10 of 10", "0"],
    ]
    # Then each scenario's own measures, and only those, two columns each.
    assert first == [
        ["Measure", "Value"],
        ["Duplicates answered 409 (first attempt still running)", "2"],
    ]
    assert second == [
        ["Measure", "Value"],
        ["Seconds", "1.50"],
        ["Signed 301 s in the past", "5 answered 401"],
        ["Signed 299 s in the future", "5 answered 200"],
        ["Old secret after its removal", "1 answered 401"],
        ["Deliveries answered before gunicorn reloaded with new", "3,926"],
    ]

    (tmp_path / "load.json").unlink()
    assert "run `make test-slow`" in hooks.render("<!-- wrenn:load-results -->")


def test_hook_sets_each_production_configuration_against_its_target(
    hooks: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def http_row(workers: str, connection: str, app: str, ratio: float) -> dict[str, object]:
        return {"workers": workers, "connection": connection, "app": app, "ratio_to_bare": ratio}

    http = {
        "results": [
            http_row("2 sync", "server closes", "SDK, sqlite store", 0.86),
            http_row("2 gthread x 8", "keep-alive", "SDK, sqlite store", 0.5),
            http_row("2 gthread x 8", "close", "SDK, redis store (always)", 0.6),
        ]
    }
    inbox = {
        "results": [{"backend": "SQLite NORMAL", "vs_bare": 0.899}],
        "peers": {"results": [{"case": "SDK SQLiteInbox (NORMAL)", "ratio_to_faster_peer": 1.2}]},
        "drain": [
            {"backend": "Redis everysec", "workers": "2 processes", "events_per_s_median": 4999}
        ],
    }
    (tmp_path / "http.json").write_text(json.dumps(http))
    (tmp_path / "inbox.json").write_text(json.dumps(inbox))
    monkeypatch.setattr(hooks, "RESULTS", tmp_path)
    [table] = markdown_tables(hooks.render("<!-- wrenn:production-targets -->"))
    rows = {(row[0], row[1]): row[2:] for row in table[1:]}

    assert table[0] == ["Configuration", "Workers", "Measured", "Target", ""]
    assert rows["Shared SQLite idempotency store", "2 sync"] == ["86.0%", "85%", "met"]
    assert rows["Shared SQLite idempotency store", "2 gthread x 8, keep-alive"] == [
        "50.0%",
        "85%",
        "**not met**",
    ]
    assert rows["Redis idempotency store, always", "2 gthread x 8, close"] == [
        "60.0%",
        "60%",
        "met",
    ]
    # Nothing measured (no redis-server, say): shown, never counted as met.
    assert rows["Redis inbox, everysec", "2 sync"] == ["-", "85%", "not run"]
    assert rows["SQLite inbox, NORMAL", "2 sync"] == ["89.9%", "90%", "**not met**"]
    assert rows["SQLite inbox", "2 sync"] == ["1.20x the faster peer", "1.00x", "met"]
    assert rows["Drain, Redis everysec", "2 processes"] == [
        "4,999 events/s",
        "5,000 events/s",
        "**not met**",
    ]
    assert len(table) == 1 + 3 * 3 + 4 + 2 + 3

    for name in ("http.json", "inbox.json"):
        (tmp_path / name).unlink()
    [empty] = markdown_tables(hooks.render("<!-- wrenn:production-targets -->"))
    assert {row[-1] for row in empty[1:]} == {"not run"}


def test_the_load_results_on_the_reliability_page_stay_narrow(hooks: ModuleType) -> None:
    assert "<!-- wrenn:load-results -->" in (DOCS / "reliability.md").read_text()
    if not (hooks.RESULTS / "load.json").exists():
        pytest.skip("no load results: make test-slow writes them")
    report = json.loads((hooks.RESULTS / "load.json").read_text())
    summary, *own = markdown_tables(hooks.render("<!-- wrenn:load-results -->"))
    assert len(summary) == 1 + len(report["results"])
    assert len(summary[0]) <= 8
    assert all(len(row) == 2 for table in own for row in table)


# --- API reference: where each name is imported from ---------------------------------


@dataclass
class ApiEntry:
    """One ``::: dotted.path`` of docs/api.md, with the imports its group states."""

    path: str
    line: int
    imports: dict[str, Any]
    """What the group's ``python`` fence binds, by name: the objects the page says to import."""

    @property
    def names(self) -> list[str]:
        """The names the entry documents: its own, or a module's ``__all__``."""
        target = resolve(self.path)
        if isinstance(target, ModuleType):
            return list(target.__all__)
        return [self.path.rpartition(".")[2]]


def import_fences(page: str) -> Iterator[tuple[int, str]]:
    """The line and code of each ``python`` fence of a page; each holds imports only."""
    for match in re.finditer(r"^```python\n(.*?)^```$", page, re.M | re.S):
        code = match.group(1)
        assert all(isinstance(node, ast.ImportFrom) for node in ast.parse(code).body), code
        yield page.count("\n", 0, match.start()) + 1, code


def api_entries(page: str) -> list[ApiEntry]:
    """Every ``:::`` entry of the rendered page, each with the imports of its group.

    A group runs from a ``python`` fence of imports to the next fence or ``##`` heading.
    Every fence is executed, so each import the page states must work as written.
    """
    fences = dict(import_fences(page))
    entries: list[ApiEntry] = []
    imports: dict[str, Any] = {}
    for number, line in enumerate(page.splitlines(), start=1):
        if line.startswith("## "):
            imports = {}
        elif number in fences:
            namespace: dict[str, Any] = {}
            try:
                exec(compile(fences[number], "docs/api.md", "exec"), namespace)
            except ImportError as exc:
                pytest.fail(f"docs/api.md, the import at line {number} fails: {exc}")
            imports = {k: v for k, v in namespace.items() if k != "__builtins__"}
        elif line.startswith("::: "):
            entries.append(ApiEntry(line.removeprefix("::: ").strip(), number, imports))
    return entries


def resolve(path: str) -> Any:
    """The object a mkdocstrings identifier names: a module, or a name in one."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)


@pytest.fixture(scope="module")
def api_page(hooks: ModuleType) -> str:
    """docs/api.md as the build sees it, generated parts included."""
    return str(hooks.render((DOCS / "api.md").read_text()))


def test_every_api_entry_is_importable_where_the_page_says(api_page: str) -> None:
    entries = api_entries(api_page)
    assert len(entries) > 30
    for entry in entries:
        target = resolve(entry.path)
        if not isinstance(target, ModuleType):
            target = sys.modules[target.__module__]
        for name in entry.names:
            where = f"docs/api.md, line {entry.line}: {entry.path}"
            assert name in entry.imports, f"{where}: its group's import does not bring in {name}"
            assert entry.imports[name] is getattr(target, name), f"{where}: {name} is another"


def test_every_import_on_the_api_page_is_documented_in_its_group(api_page: str) -> None:
    groups: dict[int, tuple[set[str], set[str]]] = {}
    for entry in api_entries(api_page):
        imported, documented = groups.setdefault(id(entry.imports), (set(entry.imports), set()))
        documented |= set(entry.names)
    for imported, documented in groups.values():  # the other way round is checked above
        assert imported <= documented, f"imported, not documented: {sorted(imported - documented)}"


def test_every_public_name_is_on_the_api_page_imported_from_the_package(api_page: str) -> None:
    """Each name of ``wrenn_webhooks.__all__`` is documented and imported from the package."""
    public = set(wrenn_webhooks.__all__) - {"__version__"}
    documented = {name for entry in api_entries(api_page) for name in entry.names}
    from_package = {
        alias.name
        for _, code in import_fences(api_page)
        for node in ast.parse(code).body
        if isinstance(node, ast.ImportFrom) and node.module == "wrenn_webhooks"
        for alias in node.names
    }
    assert not public - documented, f"document in docs/api.md: {sorted(public - documented)}"
    missing = public - from_package
    assert not missing, f"docs/api.md: import these from wrenn_webhooks: {sorted(missing)}"

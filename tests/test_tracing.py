"""OpenTelemetry tracing (``wrenn_webhooks.tracing``): spans, their links, and the inbox's context.

Every test gives ``Tracing`` a ``TracerProvider`` of its own, exporting to memory: the
global provider is never set.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.conftest import Clock, event_body, signed
from tests.inbox import T0, body_for, put

# The Redis fixtures, which skip when redis-server or redis-py is missing.
from tests.redis_server import redis_client, redis_server, redis_url  # noqa: F401
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import CapsulePause, Delivery, Event, WebhookReceiver, parse_event
from wrenn_webhooks.cli import cli
from wrenn_webhooks.inbox import Inbox, SQLiteInbox, Worker
from wrenn_webhooks.tracing import DELIVERY_SPAN, HANDLER_SPAN, PROCESS_SPAN, Tracing

ROOT = Path(__file__).resolve().parent.parent
V1_FILE = ROOT / "tests" / "data" / "inbox-v1.sqlite"
"""An inbox written by ``SQLiteInbox`` of wrenn-webhooks 0.1.0 (schema version 1, before
``context``; ``retry_delays=(10, 60)``, ``lease=30``): ``put(body_for(f"sb-{n}"), now=T0 + n,
delivery_id=f"d-{n}")`` for n in 0..4, then a claim of four by ``w1`` at T0 + 10, and at
T0 + 11 item 1 finished, 2 failed (due again at T0 + 21), 3 dead-lettered; 4 is left in
flight (its lease ends at T0 + 40) and 5 was never claimed."""


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def traced(receiver: WebhookReceiver, provider: TracerProvider) -> WebhookReceiver:
    receiver.add_observer(Tracing(provider))
    return receiver


def spans(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    """The finished spans by name (each name once)."""
    finished = exporter.get_finished_spans()
    by_name = {span.name: span for span in finished}
    assert len(by_name) == len(finished), [span.name for span in finished]
    return by_name


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def handler_span(name: str) -> str:
    return f"{HANDLER_SPAN} tests.test_tracing.{name}"


def nothing_current() -> bool:
    return not trace.get_current_span().get_span_context().is_valid


# --- a delivery and its handlers ---------------------------------------------------------


def audit(event: Event) -> None:
    pass


def notify(event: Event, delivery: Delivery) -> None:
    pass


def test_a_delivery_is_a_server_span_with_a_child_per_handler(
    traced: WebhookReceiver, exporter: InMemorySpanExporter, clock: Clock
) -> None:
    traced.add(audit, "capsule.pause")
    traced.add(notify, "capsule.*")
    body, headers = signed(SAMPLE_BODY, clock)
    assert traced.handle(body, headers).status_code == 200
    assert nothing_current()  # every span made current is no longer
    found = spans(exporter)
    delivery = found[DELIVERY_SPAN]
    assert delivery.kind is SpanKind.SERVER and delivery.parent is None
    assert delivery.status.status_code is StatusCode.UNSET
    assert dict(delivery.attributes or {}) == {
        "http.request.body.size": len(body),
        "http.response.status_code": 200,
        "wrenn.delivery.id": headers["X-Wrenn-Delivery"],
        "wrenn.delivery.duplicate": False,
        "wrenn.delivery.queued": False,
        "wrenn.event.type": "capsule.pause",
        "wrenn.event.outcome": "error",
        "wrenn.resource.id": parse_event(SAMPLE_BODY).resource.id,
    }
    for name in ("audit", "notify"):
        handler = found[handler_span(name)]
        assert handler.kind is SpanKind.INTERNAL
        assert parent_of(handler) == span_id(delivery)
        assert trace_id(handler) == trace_id(delivery)
        assert handler.attributes is not None
        assert handler.attributes["wrenn.handler.name"] == f"tests.test_tracing.{name}"
        assert handler.attributes["wrenn.delivery.id"] == headers["X-Wrenn-Delivery"]
        assert handler.attributes["wrenn.delivery.redelivery"] is False
        assert handler.status.status_code is StatusCode.UNSET

    exporter.clear()
    assert traced.handle(body, headers).body["duplicate"] is True
    [again] = exporter.get_finished_spans()
    assert again.attributes is not None and again.attributes["wrenn.delivery.duplicate"] is True


def fails(event: Event) -> None:
    raise RuntimeError("billing is down")


def test_a_failing_handler_records_its_exception_and_the_delivery_is_an_error(
    traced: WebhookReceiver, exporter: InMemorySpanExporter, clock: Clock
) -> None:
    traced.add(audit, "capsule.pause")
    traced.add(fails, "capsule.pause")
    assert traced.handle(*signed(SAMPLE_BODY, clock)).status_code == 500
    found = spans(exporter)
    failed = found[handler_span("fails")]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "RuntimeError"
    [exception] = failed.events
    assert exception.name == "exception"
    assert exception.attributes is not None
    assert exception.attributes["exception.type"] == "RuntimeError"
    assert exception.attributes["exception.message"] == "billing is down"
    assert found[handler_span("audit")].status.status_code is StatusCode.UNSET
    delivery = found[DELIVERY_SPAN]
    assert delivery.status.status_code is StatusCode.ERROR
    assert delivery.attributes is not None
    assert delivery.attributes["http.response.status_code"] == 500
    assert delivery.attributes["error.type"] == "HandlerError"


def test_a_refused_delivery_is_a_span_with_its_status_and_no_error(
    traced: WebhookReceiver, exporter: InMemorySpanExporter, clock: Clock
) -> None:
    body, headers = signed(SAMPLE_BODY, clock, secret="0" * 64)
    assert traced.handle(body, headers).status_code == 401
    [span] = exporter.get_finished_spans()
    assert span.name == DELIVERY_SPAN
    assert span.status.status_code is StatusCode.UNSET  # a client's error, not the server's
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 401
    assert span.attributes["wrenn.delivery.id"] == headers["X-Wrenn-Delivery"]  # as sent
    assert "wrenn.event.type" not in span.attributes
    assert nothing_current()


def test_handle_async_nests_async_and_plain_handlers_and_their_own_spans(
    traced: WebhookReceiver,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    clock: Clock,
) -> None:
    tracer = provider.get_tracer("the app")

    @traced.on(CapsulePause)
    async def on_loop(event: CapsulePause) -> None:
        with tracer.start_as_current_span("app async work"):
            await asyncio.sleep(0)

    @traced.on(CapsulePause)
    def in_thread(event: CapsulePause) -> None:  # run by asyncio.to_thread
        with tracer.start_as_current_span("app plain work"):
            pass

    async def main() -> None:
        answer = await traced.handle_async(*signed(SAMPLE_BODY, clock))
        assert answer.status_code == 200
        assert nothing_current()

    contextvars.copy_context().run(asyncio.run, main())
    found = spans(exporter)
    delivery = found[DELIVERY_SPAN]
    prefix = f"{HANDLER_SPAN} {__name__}.test_handle_async_nests_async_and_plain_handlers"
    for handler, own in (("on_loop", "app async work"), ("in_thread", "app plain work")):
        [span] = [s for name, s in found.items() if name.startswith(prefix) and handler in name]
        assert parent_of(span) == span_id(delivery)
        assert parent_of(found[own]) == span_id(span)
        assert trace_id(found[own]) == trace_id(delivery)


def test_a_users_span_in_a_plain_handler_nests_under_the_handler_span(
    traced: WebhookReceiver,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    clock: Clock,
) -> None:
    tracer = provider.get_tracer("the app")

    def charge(event: Event) -> None:
        with tracer.start_as_current_span("charge the card"):
            pass

    traced.add(charge, "capsule.pause")
    traced.handle(*signed(SAMPLE_BODY, clock))
    found = spans(exporter)
    [handler] = [span for name, span in found.items() if name.startswith(HANDLER_SPAN)]
    assert parent_of(found["charge the card"]) == span_id(handler)
    assert parent_of(handler) == span_id(found[DELIVERY_SPAN])


def test_an_async_handler_run_by_handle_nests_its_own_spans(
    traced: WebhookReceiver,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    clock: Clock,
) -> None:
    tracer = provider.get_tracer("the app")

    async def remind(event: Event) -> None:  # run on the thread's own loop by handle()
        with tracer.start_as_current_span("send the reminder"):
            await asyncio.sleep(0)

    traced.add(remind, "capsule.pause")
    traced.handle(*signed(SAMPLE_BODY, clock))
    found = spans(exporter)
    assert parent_of(found["send the reminder"]) == span_id(
        found[handler_span(remind.__qualname__)]
    )
    assert nothing_current()


def test_handle_async_stores_the_requests_context_with_the_event(
    provider: TracerProvider, exporter: InMemorySpanExporter, clock: Clock, tmp_path: Path
) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    receiver.add_observer(Tracing(provider))
    receiver.add(audit, "capsule.pause")
    answer = asyncio.run(receiver.handle_async(*signed(SAMPLE_BODY, clock)))
    assert answer.status_code == 202
    [accepted] = exporter.get_finished_spans()
    item = inbox.get(1)
    assert item is not None and item.context == {"traceparent": traceparent(accepted)}
    inbox.close()


def test_concurrent_deliveries_in_threads_keep_their_own_parents(
    traced: WebhookReceiver, exporter: InMemorySpanExporter, clock: Clock
) -> None:
    both_in = threading.Barrier(2, timeout=10)
    seen: dict[str, int] = {}

    def waits(event: Event) -> None:
        both_in.wait()  # both deliveries are in their handlers at once
        seen[event.resource.id] = trace.get_current_span().get_span_context().span_id

    traced.add(waits, "capsule.pause")
    requests = [
        signed(event_body(resource={"id": capsule, "type": "sandbox"}), clock)
        for capsule in ("sb-1", "sb-2")
    ]
    threads = [threading.Thread(target=traced.handle, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    finished = exporter.get_finished_spans()
    deliveries = {
        str(span.attributes["wrenn.resource.id"]): span
        for span in finished
        if span.name == DELIVERY_SPAN and span.attributes
    }
    handlers = [span for span in finished if span.name.startswith(HANDLER_SPAN)]
    assert sorted(deliveries) == ["sb-1", "sb-2"] and len(handlers) == 2
    assert trace_id(deliveries["sb-1"]) != trace_id(deliveries["sb-2"])
    for handler in handlers:
        [mine] = [d for d in deliveries.values() if span_id(d) == parent_of(handler)]
        assert trace_id(handler) == trace_id(mine)
        assert mine.attributes is not None
        assert seen[str(mine.attributes["wrenn.resource.id"])] == span_id(handler)


def test_under_a_frameworks_span_the_delivery_is_an_internal_child(
    traced: WebhookReceiver,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    clock: Clock,
) -> None:
    with provider.get_tracer("a framework").start_as_current_span("POST /webhooks/wrenn"):
        traced.handle(*signed(SAMPLE_BODY, clock))
    found = spans(exporter)
    delivery = found[DELIVERY_SPAN]
    assert delivery.kind is SpanKind.INTERNAL
    assert parent_of(delivery) == span_id(found["POST /webhooks/wrenn"])


class Stop(BaseException):
    """Escapes the receiver, as a ``KeyboardInterrupt`` would: no ``*_finished`` comes."""


def test_spans_left_open_by_an_escaping_exception_are_ended_and_leak_nothing(
    traced: WebhookReceiver, exporter: InMemorySpanExporter, clock: Clock
) -> None:
    stopping = [True]

    def interrupted(event: Event) -> None:
        if stopping[0]:
            raise Stop

    traced.add(interrupted, "capsule.pause")

    def requests() -> None:  # one thread's context, as a server thread keeps it
        with pytest.raises(Stop):
            traced.handle(*signed(SAMPLE_BODY, clock))
        assert not nothing_current()  # the delivery's and the handler's spans are left
        stopping[0] = False
        clock.advance(1)
        assert traced.handle(*signed(event_body(), clock)).status_code == 200
        assert nothing_current()

    contextvars.copy_context().run(requests)
    finished = exporter.get_finished_spans()
    assert [span.name for span in finished].count(DELIVERY_SPAN) == 2
    first, second = (span for span in finished if span.name == DELIVERY_SPAN)
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "the delivery ended without an answer"
    assert second.parent is None  # not a child of the abandoned one
    assert trace_id(second) != trace_id(first)
    handlers = [span for span in finished if span.name.startswith(HANDLER_SPAN)]
    assert len(handlers) == 2
    assert handlers[0].status.status_code is StatusCode.ERROR
    assert parent_of(handlers[1]) == span_id(second)


# --- what it costs when unused -----------------------------------------------------------


class OldInbox(SQLiteInbox):
    """A custom inbox written before ``put`` took ``context``."""

    def put(  # type: ignore[override]
        self, key: str, body: bytes, event: Event, delivery: Delivery, *, now: float
    ) -> bool:
        return super().put(key, body, event, delivery, now=now)


def test_only_observers_that_carry_make_the_receiver_build_a_carrier(
    receiver: WebhookReceiver, provider: TracerProvider, clock: Clock, tmp_path: Path
) -> None:
    assert receiver.hooks.carry == ()
    assert receiver.hooks.item_started == () and receiver.hooks.item_finished == ()
    receiver.add_observer(Tracing(provider))
    assert len(receiver.hooks.carry) == len(receiver.hooks.item_started) == 1

    unwatched = WebhookReceiver(SECRET, inbox=OldInbox(tmp_path / "inbox.db"), clock=clock)
    unwatched.add(audit, "capsule.pause")
    assert unwatched.handle(*signed(SAMPLE_BODY, clock)).status_code == 202  # no context=


def test_the_package_never_imports_opentelemetry() -> None:
    code = (
        "import sys\n"
        "def otel(): return sorted(m for m in sys.modules if m.split('.')[0] == 'opentelemetry')\n"
        "import wrenn_webhooks, wrenn_webhooks.flask, wrenn_webhooks.inbox, wrenn_webhooks.asgi\n"
        "import wrenn_webhooks.observe, wrenn_webhooks.testing, wrenn_webhooks.cli\n"
        "import wrenn_webhooks.django, wrenn_webhooks.aws_lambda\n"
        "print(otel())\n"
        # redis-py imports opentelemetry itself when it is installed; the SDK adds nothing
        "import redis; by_redis = otel(); import wrenn_webhooks.redis\n"
        "print(otel() == by_redis)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "True"]


def test_without_the_extra_the_import_error_names_it() -> None:
    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None\n"
        "try:\n"
        "    import wrenn_webhooks.tracing\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == (
        'wrenn_webhooks.tracing needs opentelemetry-api: pip install "wrenn-webhooks[otel]"'
    )


# --- through the inbox -------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "redis"])
def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Inbox]:
    """An empty inbox of each backend that retries once, 10 s after a failure."""
    box: Any
    if request.param == "sqlite":
        box = SQLiteInbox(tmp_path / "inbox.db", retry_delays=(10,))
    else:
        from wrenn_webhooks.redis import RedisInbox

        box = RedisInbox(request.getfixturevalue("redis_url"), retry_delays=(10,))
    yield box
    box.close()


def traceparent(span: ReadableSpan) -> str:
    """The W3C ``traceparent`` header naming ``span`` as the parent."""
    assert span.context is not None
    return f"00-{trace_id(span):032x}-{span_id(span):016x}-{span.context.trace_flags:02x}"


def test_the_worker_continues_the_trace_of_the_request_that_stored_the_event(
    inbox: Inbox, provider: TracerProvider, exporter: InMemorySpanExporter, clock: Clock
) -> None:
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    receiver.add_observer(Tracing(provider))
    receiver.add(audit, "capsule.pause")
    body, headers = signed(SAMPLE_BODY, clock)
    assert receiver.handle(body, headers).status_code == 202
    [accepted] = exporter.get_finished_spans()
    assert accepted.attributes is not None and accepted.attributes["wrenn.delivery.queued"]
    item = inbox.get(1)
    assert item is not None and item.context == {"traceparent": traceparent(accepted)}
    exporter.clear()

    assert Worker(receiver, inbox=inbox, worker_id="w-1").run_once() == 1
    assert nothing_current()
    found = spans(exporter)
    process = found[PROCESS_SPAN]
    assert process.kind is SpanKind.CONSUMER
    assert trace_id(process) == trace_id(accepted)  # one trace: accept, then processing
    assert parent_of(process) == span_id(accepted)
    assert process.status.status_code is StatusCode.UNSET
    assert dict(process.attributes or {}) == {
        "wrenn.inbox.item_id": 1,
        "wrenn.inbox.attempt": 1,
        "wrenn.inbox.outcome": "done",
        "wrenn.event.type": "capsule.pause",
        "wrenn.resource.id": parse_event(SAMPLE_BODY).resource.id,
        "wrenn.delivery.id": headers["X-Wrenn-Delivery"],
    }
    assert parent_of(found[handler_span("audit")]) == span_id(process)


def test_each_attempt_of_a_failing_event_is_a_span_of_its_trace_until_it_is_dead(
    inbox: Inbox, provider: TracerProvider, exporter: InMemorySpanExporter, clock: Clock
) -> None:
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    receiver.add_observer(Tracing(provider))
    receiver.add(fails, "capsule.pause")
    receiver.handle(*signed(SAMPLE_BODY, clock))
    [accepted] = exporter.get_finished_spans()
    worker = Worker(receiver, inbox=inbox, worker_id="w-1")
    assert worker.run_once() == 1
    clock.advance(11)  # past the one retry delay
    assert worker.run_once() == 1
    attempts = [span for span in exporter.get_finished_spans() if span.name == PROCESS_SPAN]
    outcomes = [(span.attributes or {}).get("wrenn.inbox.outcome") for span in attempts]
    assert outcomes == ["retry", "dead"]
    assert [(span.attributes or {}).get("wrenn.inbox.attempt") for span in attempts] == [1, 2]
    for span in attempts:
        assert span.status.status_code is StatusCode.ERROR
        assert parent_of(span) == span_id(accepted)
    finished = exporter.get_finished_spans()
    handlers = [span for span in finished if span.name.startswith(HANDLER_SPAN)]
    assert [parent_of(span) for span in handlers] == [span_id(span) for span in attempts]
    assert all(span.events[0].name == "exception" for span in handlers)


def test_an_event_stored_without_a_context_starts_a_trace_of_its_own(
    inbox: Inbox, provider: TracerProvider, exporter: InMemorySpanExporter, clock: Clock
) -> None:
    put(inbox, body_for(), now=clock())  # as a receiver with no tracing, or an older version
    item = inbox.get(1)
    assert item is not None and item.context is None
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    receiver.add_observer(Tracing(provider))
    receiver.add(audit, "capsule.pause")
    assert Worker(receiver, inbox=inbox, worker_id="w-1").run_once() == 1
    process = spans(exporter)[PROCESS_SPAN]
    assert process.parent is None
    assert (process.attributes or {})["wrenn.inbox.outcome"] == "done"


def damage_context(inbox: Inbox, item_id: int, value: str) -> None:
    if isinstance(inbox, SQLiteInbox):
        with closing(sqlite3.connect(inbox.path)) as conn, conn:
            conn.execute("UPDATE inbox SET context = ? WHERE id = ?", (value, item_id))
    else:
        client: Any = getattr(inbox, "client")  # noqa: B009  (RedisInbox, not imported here)
        client.hset(f"{getattr(inbox, 'stream')}:item:{item_id}", "context", value)  # noqa: B009


@pytest.mark.parametrize("stored", ["not json", "[1, 2]", '{"traceparent": 7}'])
def test_a_damaged_context_is_dropped_and_the_event_still_handled(
    inbox: Inbox, clock: Clock, stored: str
) -> None:
    put(inbox, body_for(), now=clock())
    damage_context(inbox, 1, stored)
    [item] = inbox.claim("w-1", now=clock())
    assert item.context is None and item.status == "pending"
    inbox.finish(item.id, now=clock())
    done = inbox.get(1)
    assert done is not None and done.status == "done"


def test_redis_entries_gain_the_field_only_when_there_is_a_context(
    request: pytest.FixtureRequest, clock: Clock
) -> None:
    client = request.getfixturevalue("redis_client")
    from wrenn_webhooks.redis import RedisInbox

    box = RedisInbox(request.getfixturevalue("redis_url"))
    try:
        put(box, body_for("sb-1"), now=clock())  # as an older version stored every entry
        key = hashlib.sha256(body_for("sb-2")).hexdigest()
        event = parse_event(body_for("sb-2"))
        delivery = Delivery("d-2", clock.datetime)
        box.put(key, body_for("sb-2"), event, delivery, now=clock(), context={"a": "b"})
        assert not client.hexists("{wrenn:inbox}:item:1", "context")
        assert json.loads(client.hget("{wrenn:inbox}:item:2", "context")) == {"a": "b"}
        assert [item.context for item in box.claim("w-1", now=clock(), limit=2)] == [
            None,
            {"a": "b"},
        ]
    finally:
        box.close()


# --- the SQLite file's schema: version 1 to 2 --------------------------------------------


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version


@pytest.fixture
def v1_file(tmp_path: Path) -> Path:
    path = tmp_path / "inbox.db"
    shutil.copyfile(V1_FILE, path)
    assert user_version(path) == 1
    return path


def test_a_version_1_file_is_migrated_in_place_when_opened(v1_file: Path, clock: Clock) -> None:
    box = SQLiteInbox(v1_file, retry_delays=(10, 60), lease=30)
    try:
        assert user_version(v1_file) == 2
        items = box.list()
        assert [(i.id, i.status, i.attempts, i.context) for i in items] == [
            (1, "done", 0, None),
            (2, "pending", 1, None),
            (3, "dead", 1, None),
            (4, "pending", 0, None),
            (5, "pending", 0, None),
        ]
        assert items[1].last_errors == {"app.notify": "ConnectionError: pager unreachable"}
        assert items[3].lease_owner == "w1" and items[3].lease_until == T0 + 40
        body = body_for("sb-9")
        delivery = Delivery("d-9", clock.datetime)
        key = hashlib.sha256(body).hexdigest()
        carried = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
        assert box.put(key, body, parse_event(body), delivery, now=T0 + 50, context=carried)
        claimed = box.claim("w2", now=T0 + 60, limit=10)
        assert [(i.id, i.attempts, i.context) for i in claimed] == [
            (2, 1, None),
            (4, 1, None),  # its lease ran out: that attempt counts
            (5, 0, None),
            (6, 0, carried),
        ]
    finally:
        box.close()
    again = SQLiteInbox(v1_file)  # a file migrated already opens as it is
    try:
        assert user_version(v1_file) == 2 and len(again.list()) == 6
    finally:
        again.close()


def test_reading_commands_read_a_version_1_file_and_leave_it_at_version_1(v1_file: Path) -> None:
    before = v1_file.read_bytes()
    runner = CliRunner()
    stats = runner.invoke(cli, ["inbox", "--db", str(v1_file), "stats"], catch_exceptions=False)
    assert stats.exit_code == 0, stats.output
    counts = dict(line.split(None, 1) for line in stats.output.splitlines())
    assert (counts["pending"], counts["done"], counts["dead"], counts["failed"]) == (
        "3",
        "1",
        "1",
        "1",
    )
    listed = runner.invoke(cli, ["inbox", "--db", str(v1_file), "list"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert all(f"sb-{n}" in listed.output for n in range(5))
    shown = runner.invoke(cli, ["inbox", "--db", str(v1_file), "show", "2"])
    assert shown.exit_code == 0, shown.output
    assert "pager unreachable" in shown.output
    assert user_version(v1_file) == 1
    assert v1_file.read_bytes() == before

    reader = SQLiteInbox(v1_file, read_only=True)
    try:
        assert [item.context for item in reader.list()] == [None] * 5
        item = reader.get(4)
        assert item is not None and item.lease_owner == "w1"
        assert reader.stats(now=T0 + 20)["in_flight"] == 1
    finally:
        reader.close()
    assert user_version(v1_file) == 1 and v1_file.read_bytes() == before


# --- the documentation's example ---------------------------------------------------------

EXAMPLE_RUN = """
from tests.conftest import event_body
from tests.vectors import SECRET
from wrenn_webhooks.inbox import Worker
from wrenn_webhooks.testing import signed_request
import examples.tracing as example

body, headers = signed_request(event_body("capsule.pause", "error", error="disk full"), SECRET)
answer = example.app.test_client().post("/webhooks/wrenn", data=body, headers=headers)
assert answer.status_code == 202, answer.json
assert Worker(example.receiver).run_once() == 1
example.provider.force_flush()
"""


def printed_spans(out: str) -> dict[str, dict[str, Any]]:
    """The spans ``ConsoleSpanExporter`` printed (one JSON document each), by name."""
    decoder, found, at = json.JSONDecoder(), {}, 0
    while at < len(out.rstrip()):
        span, end = decoder.raw_decode(out, at)
        found[span["name"]] = span
        at = end + 1
    return found


def test_the_tracing_example_traces_a_request_and_its_processing(tmp_path: Path) -> None:
    # In a process of its own: the example sets the global tracer provider, as an app does.
    env = {**os.environ, "WRENN_WEBHOOK_SECRET": SECRET, "WRENN_INBOX_DB": str(tmp_path / "i.db")}
    out = subprocess.run(
        [sys.executable, "-c", EXAMPLE_RUN],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    ).stdout
    found = printed_spans(out)
    handler = f"{HANDLER_SPAN} examples.tracing.page_on_call"
    assert set(found) == {DELIVERY_SPAN, PROCESS_SPAN, handler, "page on-call"}
    assert len({span["context"]["trace_id"] for span in found.values()}) == 1
    ids = {name: span["context"]["span_id"] for name, span in found.items()}
    assert found[DELIVERY_SPAN]["parent_id"] is None
    assert found[PROCESS_SPAN]["parent_id"] == ids[DELIVERY_SPAN]
    assert found[handler]["parent_id"] == ids[PROCESS_SPAN]
    assert found["page on-call"]["parent_id"] == ids[handler]
    assert found["page on-call"]["attributes"] == {"capsule.id": "sb-1"}
    assert found[DELIVERY_SPAN]["resource"]["attributes"]["service.name"] == "billing-webhooks"


def test_the_request_ids_observer_of_the_tracing_page_runs(
    tmp_path: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    page = (ROOT / "docs" / "tracing.md").read_text()
    section = page.split("\n## The hooks underneath\n", 1)[1].split("\n## ", 1)[0]
    [code] = re.findall(r"```python\n(.*?)```", section, re.S)
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/tracing.md", "exec"), namespace)
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    receiver.add_observer(namespace["RequestIds"]())
    seen: list[str] = []
    receiver.add(lambda event: seen.append(namespace["request_id"].get()), "capsule.pause")
    receiver.handle(*signed(SAMPLE_BODY, clock))
    item = inbox.get(1)
    assert item is not None and item.context is not None
    stored = item.context["request-id"]
    assert re.fullmatch("[0-9a-f]{12}", stored)
    worker = threading.Thread(target=Worker(receiver).run_once)  # a worker's own thread
    worker.start()
    worker.join(10)
    assert seen == [stored]
    assert capsys.readouterr().out.splitlines()[-1:] == [f"request {stored}: done"]
    inbox.close()


def test_a_trace_not_sampled_records_nothing_and_answers_the_same(clock: Clock) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    receiver = WebhookReceiver(SECRET, clock=clock)
    receiver.add_observer(Tracing(tracer_provider=provider))
    seen: list[bool] = []

    @receiver.on(CapsulePause)
    def fails(event: CapsulePause) -> None:
        seen.append(trace.get_current_span().is_recording())
        raise RuntimeError("boom")

    assert receiver.handle(*signed(SAMPLE_BODY, clock)).status_code == 500
    assert seen == [False]
    assert exporter.get_finished_spans() == ()
    # and the next, sampled or not, starts clean: no span of this one is left current
    assert not trace.get_current_span().get_span_context().is_valid

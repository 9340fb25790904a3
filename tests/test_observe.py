"""The observation hook: each delivery and handler run reported once, observers harmless."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock, event_body, signed
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import CapsulePause, Delivery, Event, MemoryIdempotencyStore, WebhookReceiver
from wrenn_webhooks.errors import StoreError
from wrenn_webhooks.inbox import SQLiteInbox, Worker
from wrenn_webhooks.inbox.base import InboxItem
from wrenn_webhooks.observe import (
    DeliveryReport,
    HandlerReport,
    ItemReport,
    LogObserver,
    Observer,
)


class Recorder(Observer):
    def __init__(self) -> None:
        self.deliveries: list[DeliveryReport] = []
        self.handlers: list[HandlerReport] = []
        self.started: list[tuple[str, Any]] = []

    def delivery_started(self, size: int | None) -> None:
        self.started.append(("delivery", size))

    def delivery_finished(self, report: DeliveryReport) -> None:
        self.deliveries.append(report)

    def handler_started(self, name: str, event: Event, delivery: Delivery) -> None:
        self.started.append(("handler", name))

    def handler_finished(self, report: HandlerReport) -> None:
        self.handlers.append(report)


def fails(event: Event) -> None:
    raise RuntimeError("boom")


def test_each_status_is_reported_with_what_the_request_came_to(
    receiver: WebhookReceiver, clock: Clock
) -> None:
    recorder = receiver.add_observer(Recorder())
    receiver.add(lambda event: None, "capsule.pause")
    receiver.add(fails, "host.up")
    body, headers = signed(SAMPLE_BODY, clock)
    receiver.handle(body, headers)
    receiver.handle(body, headers)
    receiver.handle(*signed(event_body("host.up", None), clock))
    receiver.handle(*signed(event_body("widget.frob", "<odd>"), clock))
    receiver.handle(body, {**headers, "X-Wrenn-Timestamp": "2020-01-01T00:00:00Z"})
    got = [
        (r.status, r.event_type, r.known_type, r.outcome, r.duplicate, r.queued)
        for r in recorder.deliveries
    ]
    assert got == [
        (200, "capsule.pause", True, "error", False, False),
        (200, "capsule.pause", True, "error", True, False),
        (500, "host.up", True, None, False, False),
        (200, "widget.frob", False, "<odd>", False, False),
        (401, None, False, None, False, False),
    ]
    assert recorder.started[:3] == [
        ("delivery", len(body)),
        (
            "handler",
            "tests.test_observe.test_each_status_is_reported_with_what_the_request_came_to.<locals>.<lambda>",
        ),
        ("delivery", len(body)),
    ]
    # The refused attempt names the delivery id it claimed; the handled one its verified id.
    assert recorder.deliveries[0].delivery_id == headers["X-Wrenn-Delivery"]
    assert recorder.deliveries[-1].delivery_id == headers["X-Wrenn-Delivery"]
    assert recorder.deliveries[-1].response.delivery is None
    [ok, failed] = recorder.handlers
    assert ok.error is None and isinstance(failed.error, RuntimeError)
    assert failed.name == "tests.test_observe.fails"
    assert isinstance(failed.event, Event) and failed.delivery.delivery_id
    assert all(r.duration >= 0 for r in [*recorder.deliveries, *recorder.handlers])


def test_queued_409_and_503_are_reported(tmp_path: Path, clock: Clock) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    queued = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    recorder = queued.add_observer(Recorder())
    queued.add(lambda event: None, "capsule.pause")
    body, headers = signed(SAMPLE_BODY, clock)
    queued.handle(body, headers)
    queued.handle(body, headers)
    assert [(r.status, r.queued, r.duplicate) for r in recorder.deliveries] == [
        (202, True, False),
        (202, True, True),
    ]
    assert recorder.handlers == []  # the worker runs them, later
    Worker(queued).run_once()
    assert [(r.name, r.error) for r in recorder.handlers] == [
        (queued.routes[0].name, None)  # the worker's runs are reported too
    ]
    inbox.close()

    class Down(MemoryIdempotencyStore):
        def claim(self, *args: Any, **kwargs: Any) -> Any:
            raise StoreError("down")

    down = WebhookReceiver(SECRET, idempotency=Down(), clock=clock)
    recorder = down.add_observer(Recorder())
    down.add(lambda event: None, "capsule.pause")
    down.handle(body, headers)
    assert [r.status for r in recorder.deliveries] == [503]


def test_a_failing_observer_is_logged_and_changes_nothing(
    receiver: WebhookReceiver, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(Observer):
        def delivery_started(self, size: int | None) -> None:
            raise RuntimeError("observer down")

        def delivery_finished(self, report: DeliveryReport) -> None:
            raise RuntimeError("observer down")

        def handler_started(self, name: str, event: Event, delivery: Delivery) -> None:
            raise RuntimeError("observer down")

        def handler_finished(self, report: HandlerReport) -> None:
            raise RuntimeError("observer down")

    receiver.add_observer(Broken())
    after = receiver.add_observer(Recorder())
    seen: list[Event] = []
    receiver.add(seen.append, "capsule.pause")
    with caplog.at_level(logging.ERROR, logger="wrenn_webhooks"):
        response = receiver.handle(*signed(SAMPLE_BODY, clock))
    assert response.status_code == 200 and len(seen) == 1
    assert [r.status for r in after.deliveries] == [200]  # the next observer still heard
    assert len(after.handlers) == 1
    failures = [r for r in caplog.records if r.getMessage().startswith("observer ")]
    assert len(failures) == 4
    assert all(r.exc_info and str(r.exc_info[1]) == "observer down" for r in failures)


def test_the_log_line_is_the_first_observer_and_observers_are_added_once(
    receiver: WebhookReceiver,
) -> None:
    recorder = Recorder()
    assert receiver.add_observer(recorder) is recorder
    receiver.add_observer(recorder)
    [log, added] = receiver.observers
    assert isinstance(log, LogObserver) and added is recorder


def test_an_unwatched_receiver_calls_only_the_log_line(receiver: WebhookReceiver) -> None:
    hooks = receiver.hooks
    assert (hooks.delivery_started, hooks.handler_started, hooks.handler_finished) == ((), (), ())
    assert len(hooks.delivery_finished) == 1


def test_context_set_at_the_start_is_seen_by_handlers_and_at_the_finish(
    receiver: WebhookReceiver, clock: Clock
) -> None:
    """What a tracer needs: a span made current when a delivery starts stays current."""
    current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="")
    seen: list[str] = []

    class Tracer(Observer):
        def delivery_started(self, size: int | None) -> None:
            current.set("delivery")

        def handler_started(self, name: str, event: Event, delivery: Delivery) -> None:
            seen.append(f"handler start in {current.get()}")

        def delivery_finished(self, report: DeliveryReport) -> None:
            seen.append(f"finish in {current.get()}")

    receiver.add_observer(Tracer())

    @receiver.on(CapsulePause)
    async def handler(event: CapsulePause) -> None:
        seen.append(f"async handler in {current.get()}")

    @receiver.on(CapsulePause)
    def plain(event: CapsulePause) -> None:
        seen.append(f"plain handler in {current.get()}")

    async def main() -> None:
        await receiver.handle_async(*signed(SAMPLE_BODY, clock))

    contextvars.copy_context().run(asyncio.run, main())
    assert seen == [
        "handler start in delivery",
        "async handler in delivery",
        "handler start in delivery",
        "plain handler in delivery",  # in a worker thread, with the caller's context
        "finish in delivery",
    ]
    seen.clear()
    contextvars.copy_context().run(receiver.handle, *signed(event_body(), clock))
    assert seen[-1] == "finish in delivery" and "plain handler in delivery" in seen


class ItemRecorder(Observer):
    def __init__(self) -> None:
        self.events: list[tuple[str, int, Any]] = []

    def carry(self, carrier: dict[str, str]) -> None:
        carrier["request"] = f"r{len(self.events)}"

    def item_started(self, item: InboxItem) -> None:
        self.events.append(("started", item.id, item.context))

    def item_finished(self, report: ItemReport) -> None:
        assert report.duration >= 0
        self.events.append((report.outcome, report.item.id, dict(report.errors)))


class FinishFails(SQLiteInbox):
    """An inbox that fails to record events done while ``down`` is set."""

    down = False

    def finish(self, item_id: int, *, now: float) -> None:
        if self.down:
            raise StoreError("inbox unavailable: disk full")
        super().finish(item_id, now=now)


def test_the_worker_reports_what_each_attempt_came_to(tmp_path: Path, clock: Clock) -> None:
    inbox = FinishFails(tmp_path / "inbox.db", retry_delays=(10,))
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    recorder = receiver.add_observer(ItemRecorder())
    worker = Worker(receiver, worker_id="w-1")

    @receiver.on("capsule.pause")
    def first(event: Event) -> None:
        if event.resource.id == "sb-3":
            worker.stop()  # the worker stops between two handlers: the event is given back

    @receiver.on("capsule.pause")
    def second(event: Event) -> None:
        if event.resource.id == "sb-2":
            raise RuntimeError("down")

    for n in (1, 2):
        receiver.handle(*signed(event_body(resource={"id": f"sb-{n}", "type": "sandbox"}), clock))
    assert worker.run_once() == 2
    clock.advance(11)
    assert worker.run_once() == 1
    error = {f"{__name__}.{second.__qualname__}": "RuntimeError: down"}
    assert recorder.events == [
        ("started", 1, {"request": "r0"}),  # what carry() wrote, stored with the event
        ("done", 1, {}),
        ("started", 2, {"request": "r0"}),
        ("retry", 2, error),
        ("started", 2, {"request": "r0"}),
        ("dead", 2, error),
    ]
    recorder.events.clear()
    receiver.handle(*signed(event_body(resource={"id": "sb-3", "type": "sandbox"}), clock))
    assert worker.run_once() == 1
    assert recorder.events[1:] == [("released", 3, {})]

    recorder.events.clear()
    inbox.down = True
    with pytest.raises(StoreError):
        Worker(receiver, worker_id="w-2").run_once()
    assert recorder.events[1:] == [("interrupted", 3, {})]
    inbox.close()

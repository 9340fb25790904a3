"""Inbox mode end to end: 202 at once, workers in threads and processes, crashes, SIGTERM.

What a worker does the same on every backend is in ``tests/inbox/test_contract.py``.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Clock, signed
from tests.inbox import body_for, put, runs, wait_until
from tests.servers import ROOT
from tests.vectors import SECRET
from wrenn_webhooks import Delivery, Event, WebhookReceiver, parse_event, sign
from wrenn_webhooks.errors import ConfigurationError, StoreError
from wrenn_webhooks.inbox import InboxItem, SQLiteInbox, Worker

WRENN_WEBHOOKS = str(Path(sys.executable).parent / "wrenn-webhooks")
APP = "tests.inbox.app_for_worker:receiver"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[SQLiteInbox]:
    box = SQLiteInbox(tmp_path / "inbox.db", retry_delays=(10, 60), lease=30)
    yield box
    box.close()


@pytest.fixture
def receiver(inbox: SQLiteInbox, clock: Clock) -> WebhookReceiver:
    return WebhookReceiver(SECRET, inbox=inbox, clock=clock)


def deliver(receiver: WebhookReceiver, clock: Clock, body: bytes) -> Any:
    return receiver.handle(*signed(body, clock))


class TestInboxMode:
    def test_answers_202_and_runs_no_handler(
        self, receiver: WebhookReceiver, inbox: SQLiteInbox, clock: Clock
    ) -> None:
        seen: list[Event] = []
        receiver.add(seen.append, "capsule.pause")
        body = body_for()
        first = deliver(receiver, clock, body)
        assert (first.status_code, first.body) == (
            202,
            {"ok": True, "event": "capsule.pause", "queued": True},
        )
        clock.advance(10)
        again = deliver(receiver, clock, body)  # Wrenn's retry: new signature, same body
        assert (again.status_code, again.body["duplicate"]) == (202, True)
        assert seen == []
        assert inbox.stats(now=clock.now)["pending"] == 1

    def test_worker_runs_the_handlers_with_the_stored_delivery(
        self, receiver: WebhookReceiver, inbox: SQLiteInbox, clock: Clock
    ) -> None:
        seen: list[tuple[Event, Delivery]] = []
        receiver.add(lambda event, delivery: seen.append((event, delivery)), "capsule.pause")
        body, headers = signed(body_for("sb-9"), clock)
        assert receiver.handle(body, headers).status_code == 202
        worker = Worker(receiver)
        assert worker.run_once() == 1
        assert worker.run_once() == 0
        ((event, delivery),) = seen
        assert event == parse_event(body)
        assert delivery == Delivery(
            headers["X-Wrenn-Delivery"], datetime.fromtimestamp(clock.now, timezone.utc)
        )
        assert inbox.stats(now=clock.now)["done"] == 1

    def test_handlers_run_in_the_given_context(
        self, receiver: WebhookReceiver, inbox: SQLiteInbox, clock: Clock
    ) -> None:
        from flask import Flask, current_app

        app = Flask("billing")
        seen: list[str] = []
        receiver.add(lambda event: seen.append(current_app.name), "capsule.pause")
        receiver.handle(*signed(body_for("sb-9"), clock))
        assert Worker(receiver, context=app.app_context).run_once() == 1
        assert seen == ["billing"]

    def test_a_body_that_no_longer_parses_is_dead_lettered(
        self, receiver: WebhookReceiver, inbox: SQLiteInbox, clock: Clock
    ) -> None:
        event = parse_event(body_for())
        delivery = Delivery("d-1", datetime.fromtimestamp(clock.now, timezone.utc))
        inbox.put("k" * 64, b'{"event":"capsule.pause"}', event, delivery, now=clock.now)
        assert Worker(receiver).run_once() == 1
        (item,) = inbox.list("dead")
        assert item.last_errors["parse_event"].startswith(
            "the stored body no longer parses as an event:"
        )

    def test_each_reschedule_and_the_dead_letter_are_logged(
        self,
        receiver: WebhookReceiver,
        inbox: SQLiteInbox,
        clock: Clock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        @receiver.on("capsule.pause")
        def down(event: Event) -> None:
            raise ConnectionError("pager unreachable")

        receiver.handle(*signed(body_for("sb-7"), clock))
        worker = Worker(receiver, clock=clock)
        start = clock.now
        with caplog.at_level(logging.WARNING, logger="wrenn_webhooks.inbox"):
            for delay in (0, 10, 60):  # the fixture's retry_delays: (10, 60)
                clock.advance(delay)
                assert worker.run_once() == 1
        lines = [r for r in caplog.records if r.name == "wrenn_webhooks.inbox"]
        first = datetime.fromtimestamp(start + 10, timezone.utc).isoformat()
        assert [(r.levelname, r.getMessage()) for r in lines] == [
            ("WARNING", f"inbox item 1 (capsule.pause) failed attempt 1; next attempt at {first}"),
            (
                "WARNING",
                "inbox item 1 (capsule.pause) failed attempt 2; next attempt at "
                + datetime.fromtimestamp(clock.now, timezone.utc).isoformat(),
            ),
            (
                "ERROR",
                "inbox item 1 (capsule.pause) is dead after 3 attempts; last error: "
                "tests.inbox.test_worker.TestInboxMode.test_each_reschedule_and_the_dead_letter"
                "_are_logged.<locals>.down: ConnectionError: pager unreachable",
            ),
        ]

    def test_items_whose_lease_ran_out_in_the_batch_are_left_alone(
        self, receiver: WebhookReceiver, inbox: SQLiteInbox, clock: Clock
    ) -> None:
        ran: list[str] = []

        def slow(event: Event) -> None:
            ran.append(event.resource.id)
            clock.advance(31)  # longer than the 30 s lease

        receiver.add(slow, "capsule.pause")
        deliver(receiver, clock, body_for("sb-1"))
        deliver(receiver, clock, body_for("sb-2"))
        worker = Worker(receiver)
        assert worker.run_once() == 1
        assert worker.run_once() == 1
        assert ran == ["sb-1", "sb-2"]

    def test_wrenns_three_attempts_while_the_downstream_is_down_for_a_minute(
        self, tmp_path: Path, clock: Clock
    ) -> None:
        start = clock.now
        calls: list[float] = []

        def notify(event: Event) -> None:
            calls.append(clock.now - start)
            if clock.now - start < 60:
                raise ConnectionError("downstream unavailable")

        inline = WebhookReceiver(SECRET, clock=clock)
        inline.add(notify, "capsule.pause")
        box = SQLiteInbox(tmp_path / "inbox.db")  # the default retry delays
        queued = WebhookReceiver(SECRET, inbox=box, clock=clock)
        queued.add(notify, "capsule.pause")
        body = body_for()
        try:
            # Wrenn tries at about t = 0, 10 and 40 s, then forgets the event.
            for receiver, expected in ((inline, 500), (queued, 202)):
                for at in (0, 10, 40):
                    clock.set(start + at)
                    assert deliver(receiver, clock, body).status_code == expected
            assert calls == [0, 10, 40]  # inline: three failures, and the event is lost
            worker = Worker(queued)
            for at in range(40, 300):
                clock.set(start + at)
                worker.run_once()
            assert calls == [0, 10, 40, 40, 50, 110]
            assert box.stats(now=clock.now)["done"] == 1
        finally:
            box.close()


class BrokenInbox:
    """An inbox whose every claim fails; it sets ``stop`` at the third."""

    def __init__(self, stop: threading.Event) -> None:
        self.calls = 0
        self.stop = stop

    def claim(self, worker_id: str, *, now: float, limit: int = 1) -> list[InboxItem]:
        self.calls += 1
        if self.calls == 3:
            self.stop.set()
        if self.calls == 1:
            raise RuntimeError("a bug")
        raise StoreError("inbox x.db unavailable: disk I/O error")

    def put(
        self,
        key: str,
        body: bytes,
        event: Event,
        delivery: Delivery,
        *,
        now: float,
        context: Mapping[str, str] | None = None,
    ) -> bool:
        return True

    def complete_handler(self, item_id: int, name: str, *, now: float) -> None: ...
    def finish(self, item_id: int, *, now: float) -> None: ...
    def fail(
        self, item_id: int, errors: Mapping[str, str], *, now: float, final: bool = False
    ) -> None: ...
    def release(self, item_id: int) -> None: ...
    def get(self, item_id: int) -> InboxItem | None:
        return None


class TestWorker:
    def test_errors_are_logged_and_the_loop_goes_on(
        self, receiver: WebhookReceiver, caplog: pytest.LogCaptureFixture
    ) -> None:
        stop = threading.Event()
        broken = BrokenInbox(stop)
        worker = Worker(receiver, inbox=broken, worker_id="w-1", poll_interval=0.001)
        worker.run(stop)
        assert broken.calls == 3
        messages = [record.getMessage() for record in caplog.records]
        assert messages == [
            "worker w-1: unexpected error",
            "worker w-1: inbox x.db unavailable: disk I/O error",
            "worker w-1: inbox x.db unavailable: disk I/O error",
        ]

    def test_in_process_background_worker(self, inbox: SQLiteInbox) -> None:
        receiver = WebhookReceiver(SECRET, inbox=inbox)  # the real clock
        handled = threading.Event()
        receiver.add(lambda event: handled.set(), "capsule.pause")
        worker = Worker.start_in_background(receiver, poll_interval=0.01)
        try:
            body = body_for()
            assert receiver.handle(body, sign(body, SECRET)).status_code == 202
            assert handled.wait(10)
        finally:
            worker.stop()
            worker.join(10)
        assert inbox.stats(now=time.time())["done"] == 1

    def test_refuses_a_receiver_without_inbox_and_bad_settings(
        self, receiver: WebhookReceiver
    ) -> None:
        with pytest.raises(ConfigurationError, match="no inbox"):
            Worker(WebhookReceiver(SECRET))
        with pytest.raises(ConfigurationError, match="cannot be used by a worker"):
            Worker(WebhookReceiver(SECRET, inbox=object()))  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError):
            Worker(receiver, batch=0)
        with pytest.raises(ConfigurationError):
            Worker(receiver, poll_interval=0)

    def test_names_itself(self, receiver: WebhookReceiver, inbox: SQLiteInbox) -> None:
        assert repr(Worker(receiver, worker_id="w-7")) == f"<Worker w-7 on {inbox!r}>"
        assert str(os.getpid()) in Worker(receiver).worker_id


class TestExamples:
    @pytest.fixture
    def example(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
        monkeypatch.setenv("WRENN_INBOX_DB", str(tmp_path / "example.db"))
        monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)
        names = ("examples.inbox.app", "examples.inbox.in_process")
        for name in names:
            sys.modules.pop(name, None)
        module = importlib.import_module("examples.inbox.app")
        yield module
        module.inbox.close()
        for name in names:
            sys.modules.pop(name, None)

    def test_app_answers_202_and_a_worker_handles(
        self, example: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="examples.inbox")
        now = datetime.now(timezone.utc)
        body = body_for(outcome="error", error="host unreachable", timestamp=now)
        client = example.app.test_client()
        response = client.post("/webhooks/wrenn", data=body, headers=sign(body, SECRET))
        assert response.status_code == 202
        assert caplog.messages == []
        assert example.inbox.stats(now=time.time())["pending"] == 1
        assert Worker(example.receiver).run_once() == 1
        assert example.inbox.stats(now=time.time())["done"] == 1

    def test_in_process_app_handles_in_the_background(
        self, example: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.INFO, logger="examples.inbox")
        in_process = importlib.import_module("examples.inbox.in_process")
        app = in_process.create_app()
        worker = app.extensions["wrenn_inbox_worker"]
        try:
            body = body_for(
                "sb-4",
                outcome="error",
                error="host unreachable",
                timestamp=datetime.now(timezone.utc),
            )
            response = app.test_client().post(
                "/webhooks/wrenn", data=body, headers=sign(body, SECRET)
            )
            assert response.status_code == 202
            wait_until(lambda: example.inbox.stats(now=time.time())["done"] == 1)
        finally:
            worker.stop()
            worker.join(10)
        assert "PAGE capsule sb-4 failed to pause: host unreachable" in caplog.messages


# --- worker processes ---------------------------------------------------------------


@contextmanager
def worker_process(directory: Path, *, lease: float = 60.0) -> Iterator[subprocess.Popen[str]]:
    """Run ``wrenn-webhooks worker`` on the test app; kill it if the test leaves it running."""
    env = {
        **os.environ,
        "WRENN_TEST_DIR": str(directory),
        "WRENN_TEST_REDIS": "",  # the inbox is the SQLite file in the directory
        "WRENN_TEST_LEASE": str(lease),
        "PYTHONUNBUFFERED": "1",
    }
    with (directory / f"worker-{time.monotonic_ns()}.out").open("w+") as out:
        process = subprocess.Popen(
            [WRENN_WEBHOOKS, "worker", APP],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)


def output_of(directory: Path) -> str:
    return "".join(path.read_text() for path in sorted(directory.glob("worker-*.out")))


def test_sigterm_finishes_the_running_handler_and_gives_back_the_rest(tmp_path: Path) -> None:
    box = SQLiteInbox(tmp_path / "inbox.db")
    try:
        put(box, body_for("sb-1", metadata={"block": "1"}), now=time.time())
        put(box, body_for("sb-2"), now=time.time())
        with worker_process(tmp_path) as worker:
            wait_until(lambda: list(tmp_path.glob("started-*")))
            worker.send_signal(signal.SIGTERM)
            time.sleep(0.2)  # the signal arrives while the handler still waits
            (tmp_path / "go").touch()
            assert worker.wait(20) == 0
        blocked, waiting = box.list()
        assert (blocked.status, waiting.status) == ("done", "pending")
        assert (waiting.lease_until, waiting.attempts) == (None, 0)
        assert runs(tmp_path) == {
            ("first", "sb-1"): 1,
            ("second-started", "sb-1"): 1,
            ("second", "sb-1"): 1,
        }
        output = output_of(tmp_path)
        assert "wrenn-webhooks worker" in output
        assert "stopped" in output
    finally:
        box.close()


def test_worker_killed_mid_handler_loses_nothing(tmp_path: Path) -> None:
    box = SQLiteInbox(tmp_path / "inbox.db")
    receiver = WebhookReceiver(SECRET, inbox=box)
    receiver.add(lambda event: None, "capsule.pause")  # it stores what some handler wants
    try:
        body = body_for("sb-1", metadata={"block": "1"}, timestamp=datetime.now(timezone.utc))
        assert receiver.handle(body, sign(body, SECRET)).status_code == 202  # accepted
        with worker_process(tmp_path, lease=1) as crashing:
            wait_until(lambda: list(tmp_path.glob("started-*")))
            crashing.kill()  # mid-handler: `first` completed, `second` is running
            crashing.wait(10)
        (tmp_path / "go").touch()
        with worker_process(tmp_path, lease=1) as worker:
            wait_until(lambda: box.stats(now=time.time())["done"] == 1)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(20) == 0
        assert runs(tmp_path) == {
            ("first", "sb-1"): 1,  # completed before the crash: never again
            ("second-started", "sb-1"): 2,
            ("second", "sb-1"): 1,
        }
        (item,) = box.list()
        assert item.attempts == 1  # the attempt the crash abandoned
    finally:
        box.close()


def test_two_worker_processes_handle_1000_events_exactly_once(tmp_path: Path) -> None:
    box = SQLiteInbox(tmp_path / "inbox.db")
    try:
        now = time.time()
        for n in range(1000):
            put(box, body_for(f"sb-{n}"), now=now)
        with worker_process(tmp_path) as one, worker_process(tmp_path) as two:
            wait_until(lambda: box.stats(now=time.time())["done"] == 1000, timeout=60)
            for worker in (one, two):
                worker.send_signal(signal.SIGTERM)
            assert [one.wait(20), two.wait(20)] == [0, 0]
        counts = runs(tmp_path)
        assert len(counts) == 2000
        assert set(counts.values()) == {1}
    finally:
        box.close()

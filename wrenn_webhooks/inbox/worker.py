"""``Worker``: take due events from an inbox and run their handlers."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from .._text import printable
from ..errors import ConfigurationError, StoreError, WrennWebhookError
from ..events import parse_body
from ..observe import ItemOutcome, ItemReport, call
from ..signature import Delivery
from .base import Inbox, InboxItem

if TYPE_CHECKING:
    from ..receiver import WebhookReceiver

__all__ = ["Worker"]

logger = logging.getLogger("wrenn_webhooks.inbox")

_MAX_ERROR = 500
"""Characters of a handler's error kept in the inbox."""


class Worker:
    """Run the handlers of stored events: claim a batch, handle each, finish or fail it.

    Several workers (threads or processes) can share one inbox. A handler that
    raises fails only its event, which is retried later; ``stop()`` lets the
    running handler finish and gives the rest of the batch back.

    Args:
        receiver: The receiver whose ``dispatcher`` runs the handlers.
        inbox: Where events wait; default ``receiver.inbox``.
        worker_id: Names this worker in leases; default host, process id and a random tag.
        poll_interval: Seconds to wait when nothing is due, or after a store error.
        batch: Events claimed at a time.
        clock: Returns POSIX seconds; default ``receiver.clock``.
        context: Entered around each event's handlers, such as a Flask app's
            ``app.app_context`` so that handlers can use ``current_app`` and ``g``.

    Raises:
        ConfigurationError: No inbox, one a worker cannot use, or a bad setting.
    """

    def __init__(
        self,
        receiver: WebhookReceiver,
        *,
        inbox: Inbox | None = None,
        worker_id: str | None = None,
        poll_interval: float = 0.5,
        batch: int = 10,
        clock: Callable[[], float] | None = None,
        context: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> None:
        source = receiver.inbox if inbox is None else inbox
        if source is None:
            raise ConfigurationError(
                "the receiver has no inbox: create it with"
                " WebhookReceiver(..., inbox=SQLiteInbox(path))"
            )
        if not isinstance(source, Inbox):
            raise ConfigurationError(
                f"{source!r} cannot be used by a worker: it lacks methods of the Inbox protocol"
            )
        if not poll_interval > 0 or batch < 1:
            raise ConfigurationError("poll_interval must be positive and batch at least 1")
        self.receiver = receiver
        self.inbox: Inbox = source
        self.worker_id = worker_id or (
            f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        )
        self.poll_interval = poll_interval
        self.batch = batch
        self.clock = receiver.clock if clock is None else clock
        self.context = context
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Worker {self.worker_id} on {self.inbox!r}>"

    @classmethod
    def start_in_background(cls, receiver: WebhookReceiver, **options: Any) -> Worker:
        """Start a worker on a daemon thread of this process, and return it.

        For small deployments: one process both answers Wrenn and handles events.
        Stop it with ``stop()`` and ``join()``. ``options`` are those of ``Worker``.
        """
        worker = cls(receiver, **options)
        worker.start()
        return worker

    def start(self) -> None:
        """Run this worker on a daemon thread of this process; ``stop()`` and ``join()`` end it."""
        self._thread = threading.Thread(
            target=self.run, name=f"wrenn-webhooks-worker-{self.worker_id}", daemon=True
        )
        self._thread.start()

    def run(self, stop: threading.Event | None = None) -> None:
        """Handle events until ``stop`` is set or ``stop()`` is called.

        Handler errors fail their event only; store errors are logged and
        retried after ``poll_interval``.
        """
        if stop is not None:
            self._stop = stop
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except StoreError as exc:
                logger.error("worker %s: %s", self.worker_id, exc)
                handled = 0
            except Exception:
                logger.exception("worker %s: unexpected error", self.worker_id)
                handled = 0
            if not handled:
                self._stop.wait(self.poll_interval)

    def run_once(self) -> int:
        """Claim one batch and handle it; return how many events were started.

        Raises:
            StoreError: The inbox failed; unfinished events of the batch are
                taken up again once their leases expire.
        """
        if self._stop.is_set():
            return 0
        items = self.inbox.claim(self.worker_id, now=self.clock(), limit=self.batch)
        started = 0
        for item in items:
            leased = item.lease_until is not None and self.clock() < item.lease_until
            if self._stop.is_set():
                if leased:
                    self.inbox.release(item.id)
            elif leased:  # else its lease ran out while earlier items ran: others may have it
                started += 1
                with self.context() if self.context is not None else nullcontext():
                    self._handle(item)
        return started

    def stop(self) -> None:
        """Ask the worker to stop after the running handler (safe from a signal handler)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread of ``start_in_background`` to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _handle(self, item: InboxItem) -> None:
        """Attempt ``item``, between the observers' ``item_started`` and ``item_finished``."""
        hooks = self.receiver.hooks
        if hooks.item_started:
            call(hooks.item_started, item)
        started = time.perf_counter()
        outcome: ItemOutcome = "interrupted"  # what it is if an inbox error escapes
        errors: dict[str, str] = {}
        try:
            outcome, errors = self._attempt(item)
        finally:
            if hooks.item_finished:
                duration = time.perf_counter() - started
                call(hooks.item_finished, ItemReport(item, outcome, errors, duration))

    def _attempt(self, item: InboxItem) -> tuple[ItemOutcome, dict[str, str]]:
        """Run the item's handlers and record the result in the inbox; say what it came to."""
        try:
            event = parse_body(item.body, bridge_older_names=self.receiver.bridge_older_names)
        except WrennWebhookError as exc:  # e.g. stored by a newer version, then downgraded
            logger.error("inbox item %d no longer parses; dead-lettered: %s", item.id, exc)
            errors = {"parse_event": _short(f"the stored body no longer parses as an event: {exc}")}
            return self._fail(item.id, errors, final=True), errors
        delivery = Delivery(
            item.delivery_id,
            datetime.fromtimestamp(item.signed_at, timezone.utc),
            redelivery=item.attempts > 0,
        )
        dispatcher = self.receiver.dispatcher
        routes = dispatcher.routes_for(event)
        completed = None  # with one handler, finish() says it all

        if len(routes) > 1:

            def completed(name: str) -> None:
                # Now, not at the claim: recording a completion renews the lease.
                self.inbox.complete_handler(item.id, name, now=self.clock())

        result = dispatcher.dispatch(
            event,
            delivery,
            routes=routes,
            skip=item.completed,
            completed=completed,
            stop=self._stop.is_set,
        )
        if result.failures:
            errors = {name: _short(f"{type(exc).__name__}: {exc}") for name, exc in result.failures}
            return self._fail(item.id, errors), errors
        if result.stopped:  # completed handlers are recorded; the others run later
            self.inbox.release(item.id)
            return "released", {}
        self.inbox.finish(item.id, now=self.clock())
        return "done", {}

    def _fail(
        self, item_id: int, errors: dict[str, str], *, final: bool = False
    ) -> Literal["retry", "dead"]:
        """Fail the attempt, and say what becomes of the event: its next attempt, or dead."""
        self.inbox.fail(item_id, errors, now=self.clock(), final=final)
        item = self.inbox.get(item_id)
        if item is None:  # purged meanwhile by an operator
            return "dead" if final else "retry"
        last = "; ".join(f"{name}: {error}" for name, error in errors.items())
        if item.status == "dead":
            logger.error(
                "inbox item %d (%s) is dead after %d attempts; last error: %s",
                item.id,
                printable(item.event_type),
                item.attempts,
                printable(last),
            )
        elif item.next_attempt_at is not None:
            logger.warning(
                "inbox item %d (%s) failed attempt %d; next attempt at %s",
                item.id,
                printable(item.event_type),
                item.attempts,
                datetime.fromtimestamp(item.next_attempt_at, timezone.utc).isoformat(),
            )
        return "dead" if item.status == "dead" else "retry"


def _short(message: str) -> str:
    return message if len(message) <= _MAX_ERROR else message[: _MAX_ERROR - 1] + "…"

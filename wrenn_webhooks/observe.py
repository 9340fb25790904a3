"""Watching the receiver: ``Observer``, and the reports it is given.

One hook for everything that watches deliveries: the log line, the Flask
signals, metrics and tracing all sit on it. Register an observer with
``receiver.add_observer(observer)``; it is told

- ``delivery_started(size)`` when a request reaches the receiver (``size``:
  the body's length, ``None`` when the adapter refused it unread),
- ``delivery_finished(report)`` once its answer is decided, with a
  ``DeliveryReport`` (status, event type, outcome, duplicate, duration),
- ``handler_started(name, event, delivery)`` and ``handler_finished(report)``
  around each handler run, wherever it runs: in the request, in an inbox
  worker, on a retry; the ``HandlerReport`` has the duration and the error.

With a durable inbox, the request and the handling are apart in time and place:

- ``carry(carrier)`` just before the receiver puts an event in the inbox: what
  an observer writes in ``carrier`` (text keys and values, such as a W3C
  ``traceparent``) is stored with the event, as ``InboxItem.context``,
- ``item_started(item)`` and ``item_finished(report)`` around a worker's
  handling of one stored event (its handlers' runs are in between), the
  ``ItemReport`` saying what became of it.

Every method does nothing unless overridden. An observer's exception is
logged and otherwise ignored: it never changes an answer, and the other
observers still hear of it. Observers are called in the order they were
added, on the thread (or event loop task) that handles the delivery, so
context variables set in a ``*_started`` method are still set in its
``*_finished`` method and in the handler in between. A receiver builds no
carrier, and a worker no report, unless an observer overrides the method.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ._text import printable
from .events import KNOWN_EVENT_NAMES, Event

if TYPE_CHECKING:
    from .inbox.base import InboxItem
    from .receiver import Response
    from .signature import Delivery

__all__ = ["DeliveryReport", "HandlerReport", "ItemOutcome", "ItemReport", "Observer"]

logger = logging.getLogger("wrenn_webhooks")


class DeliveryReport:
    """What one request to the receiver came to.

    Made for every request, so it holds only the answer, the duration and
    the delivery id; the rest is read from the answer when asked for.

    Attributes:
        response: The answer itself: its body, headers, event, delivery and error.
        duration: Seconds from the request reaching the receiver to its answer.
        delivery_id: The ``X-Wrenn-Delivery`` of this attempt. Verified when
            ``response.delivery`` is set; for a request refused before its
            signature was checked, the header as sent if well formed (it names
            the attempt in Wrenn's log, and proves nothing).
    """

    __slots__ = ("delivery_id", "duration", "response")

    def __init__(self, response: Response, duration: float, delivery_id: str | None) -> None:
        self.response = response
        self.duration = duration
        self.delivery_id = delivery_id

    def __repr__(self) -> str:
        return (
            f"<DeliveryReport {self.status} event={self.event_type} "
            f"delivery={self.delivery_id} {self.duration * 1000:.1f}ms>"
        )

    @property
    def status(self) -> int:
        """The HTTP status answered."""
        return self.response.status_code

    @property
    def event_type(self) -> str | None:
        """The event's type (``"capsule.pause"``) once the body parsed; else ``None``.

        A known type's name, or, for a type this SDK does not know, the name
        sent: text from the request, so bound any use of it by ``known_type``.
        """
        event = self.response.event
        return None if event is None else str(event.event)

    @property
    def known_type(self) -> bool:
        """``event_type`` is one of the types this SDK knows."""
        event = self.response.event
        return event is not None and event.event in KNOWN_EVENT_NAMES

    @property
    def outcome(self) -> str | None:
        """``"success"``, ``"error"``, or ``None`` (no outcome, or not parsed)."""
        event = self.response.event
        return None if event is None or event.outcome is None else str(event.outcome)

    @property
    def duplicate(self) -> bool:
        """A redelivery of an event handled or stored already."""
        return "duplicate" in self.response.body

    @property
    def queued(self) -> bool:
        """Stored in the inbox for a worker (202)."""
        return "queued" in self.response.body


@dataclass(slots=True)
class HandlerReport:
    """One run of one handler.

    Attributes:
        name: The handler's name (``module.qualname``), as in ``Route.name``.
        event: The event it was given.
        delivery: The delivery it came with.
        duration: Seconds the handler ran (awaited, for an ``async`` handler).
        error: The exception it raised, or ``None`` when it completed.
    """

    name: str
    event: Event
    delivery: Delivery
    duration: float
    error: BaseException | None


ItemOutcome = Literal["done", "retry", "dead", "released", "interrupted"]
"""What a worker's attempt at a stored event came to: every handler completed
(``done``); one failed and the event waits for its next attempt (``retry``) or
was dead-lettered (``dead``); the worker stopped and gave it back (``released``);
the inbox failed mid-way, and the event is taken up again once its lease runs
out (``interrupted``)."""


@dataclass(frozen=True, slots=True)
class ItemReport:
    """One attempt of an inbox worker at one stored event.

    Attributes:
        item: The event as the worker claimed it (``item.context``: what the
            observers carried from the request that stored it).
        outcome: What the attempt came to (see ``ItemOutcome``).
        errors: The failed handlers' names and errors, as stored in the inbox.
        duration: Seconds from ``item_started`` to this report.
    """

    item: InboxItem
    outcome: ItemOutcome
    errors: Mapping[str, str]
    duration: float


class Observer:
    """Base class of the receiver's observers: override the methods you need.

    See the module's documentation for when each is called.
    """

    def delivery_started(self, size: int | None) -> None:
        """A request reached the receiver; ``size`` is its body's length in bytes."""

    def delivery_finished(self, report: DeliveryReport) -> None:
        """The request's answer is decided (it is about to be sent)."""

    def handler_started(self, name: str, event: Event, delivery: Delivery) -> None:
        """Handler ``name`` is about to run for ``event``."""

    def handler_finished(self, report: HandlerReport) -> None:
        """A handler completed or raised."""

    def carry(self, carrier: dict[str, str]) -> None:
        """An event is about to go in the inbox: add to ``carrier`` what to store with it.

        Called on the request's thread (or task), between ``delivery_started``
        and ``delivery_finished``. The inbox stores the carrier with the event,
        and the worker that handles it passes it on as ``InboxItem.context``.
        Keys and values must be text; a carrier left empty is not stored.
        """

    def item_started(self, item: InboxItem) -> None:
        """A worker is about to handle ``item``; its handlers' runs follow."""

    def item_finished(self, report: ItemReport) -> None:
        """A worker's attempt at an item ended (see ``ItemReport``)."""


class LogObserver(Observer):
    """The receiver's one log line a delivery, on the ``wrenn_webhooks`` logger.

    Added to every receiver first. INFO for answers below 400, WARNING above;
    text from the request (an unknown type, the error) is escaped.
    """

    def delivery_finished(self, report: DeliveryReport) -> None:
        """Write ``wrenn delivery <id> event=... outcome=... status=... handlers=...``."""
        response = report.response
        status = response.status_code
        level = logging.INFO if status < 400 else logging.WARNING
        if not logger.isEnabledFor(level):
            return
        kind: object = "-"
        outcome: object = None
        event = response.event
        if event is not None:
            # Typed classes hold an EventType and outcomes an Outcome: only
            # unknown strings are text from the body, and only those are escaped.
            kind, outcome = event.event, event.outcome
            if kind not in KNOWN_EVENT_NAMES:
                kind = printable(kind)
            elif event.sent_as != kind:  # bridged from a 0.1.5 name: show both
                kind = f"{kind} sent_as={event.sent_as}"
            if type(outcome) is str:
                outcome = printable(outcome)
        error = response.error
        logger.log(
            level,
            "wrenn delivery %s event=%s outcome=%s status=%d handlers=%s duration=%.1fms%s",
            report.delivery_id or "-",
            kind,
            outcome or "-",
            status,
            response.body.get("handled", "-"),
            report.duration * 1000,
            f" error={printable(error, 1000)} see=troubleshooting#{error.troubleshooting}"
            if error
            else "",
        )


class Hooks:
    """The methods a list of observers overrides, hook by hook, in order.

    A hook no observer overrides is an empty tuple, so an unwatched receiver
    pays one ``if`` a delivery, not a call to each no-op method.
    """

    __slots__ = (
        "carry",
        "delivery_finished",
        "delivery_started",
        "handler_finished",
        "handler_started",
        "item_finished",
        "item_started",
    )

    def __init__(self, observers: Sequence[Observer] = ()) -> None:
        self.delivery_started = _overridden(observers, "delivery_started")
        self.delivery_finished = _overridden(observers, "delivery_finished")
        self.handler_started = _overridden(observers, "handler_started")
        self.handler_finished = _overridden(observers, "handler_finished")
        self.carry = _overridden(observers, "carry")
        self.item_started = _overridden(observers, "item_started")
        self.item_finished = _overridden(observers, "item_finished")


def call(hooks: Sequence[Callable[..., object]], *args: object) -> None:
    """Call every hook with ``args``; log, and go past, any that raises."""
    for hook in hooks:
        try:
            hook(*args)
        except Exception:
            logger.exception("observer %r failed", hook)


def _overridden(observers: Sequence[Observer], name: str) -> tuple[Callable[..., object], ...]:
    base = getattr(Observer, name)
    return tuple(
        getattr(observer, name)
        for observer in observers
        if getattr(type(observer), name, base) is not base
    )

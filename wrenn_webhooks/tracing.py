"""OpenTelemetry tracing of deliveries, handler runs and inbox work: ``Tracing``.

Install the extra first: ``pip install "wrenn-webhooks[otel]"`` (``opentelemetry-api``;
the application chooses the SDK and the exporter). Then
``receiver.add_observer(Tracing())``:

- each request is a span, ``wrenn webhook`` (kind SERVER, or INTERNAL under a span
  already current, such as a web framework's), made current while it is handled;
- each handler run is a child span, ``wrenn handler <name>``, current while the
  handler runs, so that the handler's own spans (a database call, an HTTP request)
  nest under it; its exception is recorded on it;
- with an inbox, the request's trace context is stored with the event
  (``Observer.carry``, a W3C ``traceparent`` by the globally configured propagator),
  and the worker's attempt at it is a span, ``wrenn webhook process`` (kind
  CONSUMER), whose parent is the request's span: one trace from accept to handled.

See the tracing page of the documentation for the attributes of each span.
"""

from __future__ import annotations

try:
    from opentelemetry import context, propagate, trace
except ImportError as exc:
    raise ImportError(
        'wrenn_webhooks.tracing needs opentelemetry-api: pip install "wrenn-webhooks[otel]"'
    ) from exc

from typing import TYPE_CHECKING, Literal

from opentelemetry.trace import SpanKind, Status, StatusCode

from . import __version__
from .observe import DeliveryReport, HandlerReport, ItemReport, Observer

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.trace import Span, TracerProvider
    from opentelemetry.util.types import AttributeValue

    from .events import Event
    from .inbox.base import InboxItem
    from .signature import Delivery

__all__ = ["DELIVERY_SPAN", "HANDLER_SPAN", "PROCESS_SPAN", "Tracing"]

DELIVERY_SPAN = "wrenn webhook"
"""The name of a request's span."""
HANDLER_SPAN = "wrenn handler"
"""The start of a handler run's span name, followed by the handler's name."""
PROCESS_SPAN = "wrenn webhook process"
"""The name of the span of an inbox worker's attempt at a stored event."""

_Kind = Literal["delivery", "handler", "item"]
_FAILED_OUTCOMES = frozenset({"retry", "dead", "interrupted"})


class _Frame:
    """One span this observer opened and made current, and the one it opened before."""

    __slots__ = ("ended", "kind", "outer", "span", "token")

    def __init__(self, kind: _Kind, span: Span, outer: _Frame | None) -> None:
        self.kind = kind
        self.span = span
        self.outer = outer
        self.token: Token[Context] | None = None
        self.ended = False


class Tracing(Observer):
    """Trace every delivery, handler run and inbox attempt with OpenTelemetry.

    Add it with ``receiver.add_observer(Tracing())``. Its spans go to the global
    tracer provider (``opentelemetry.trace.set_tracer_provider``), or to
    ``tracer_provider``.

    Each span is made current when it starts and no longer current when it ends,
    on the thread or task that handles the delivery (``wrenn_webhooks.observe``).
    A span whose end never came (an exception escaped the receiver or the worker)
    is ended, as an error, when the next delivery or inbox attempt starts in the
    same context, so that nothing leaks and no later span takes it for a parent:
    deliveries do not nest.

    Args:
        tracer_provider: Where the spans go; default the global provider.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self.tracer = trace.get_tracer("wrenn_webhooks", __version__, tracer_provider)
        self._key = context.create_key("wrenn_webhooks.tracing")

    # --- the request ------------------------------------------------------------------

    def delivery_started(self, size: int | None) -> None:
        """Start the request's span and make it current."""
        self._end_abandoned("delivery", "the delivery ended without an answer")
        kind = SpanKind.SERVER
        if trace.get_current_span().get_span_context().is_valid:
            kind = SpanKind.INTERNAL  # under a web framework's own server span
        span = self.tracer.start_span(DELIVERY_SPAN, kind=kind)
        if size is not None:
            span.set_attribute("http.request.body.size", size)
        self._enter("delivery", span)

    def carry(self, carrier: dict[str, str]) -> None:
        """Write the current trace context (the request's span) in ``carrier``."""
        propagate.inject(carrier)

    def delivery_finished(self, report: DeliveryReport) -> None:
        """Describe the answer on the request's span and end it; a 5xx is an error."""
        span = self._exit("delivery")
        if span is None:
            return
        if not span.is_recording():  # not sampled: nothing to describe
            span.end()
            return
        attributes: dict[str, AttributeValue] = {
            "http.response.status_code": report.status,
            "wrenn.delivery.duplicate": report.duplicate,
            "wrenn.delivery.queued": report.queued,
        }
        if report.delivery_id is not None:
            attributes["wrenn.delivery.id"] = report.delivery_id
        if report.event_type is not None:
            attributes["wrenn.event.type"] = report.event_type
        if report.outcome is not None:
            attributes["wrenn.event.outcome"] = report.outcome
        event = report.response.event
        if event is not None:
            attributes["wrenn.resource.id"] = event.resource.id
        span.set_attributes(attributes)
        if report.status >= 500:
            error = report.response.error
            reason = type(error).__name__ if error is not None else str(report.status)
            span.set_attribute("error.type", reason)
            span.set_status(Status(StatusCode.ERROR, reason))
        span.end()

    # --- each handler -----------------------------------------------------------------

    def handler_started(self, name: str, event: Event, delivery: Delivery) -> None:
        """Start the handler's span, a child of the current one, and make it current."""
        attributes: dict[str, AttributeValue] = {
            "wrenn.handler.name": name,
            "wrenn.event.type": event.event,
            "wrenn.delivery.redelivery": delivery.redelivery,
        }
        if delivery.delivery_id is not None:
            attributes["wrenn.delivery.id"] = delivery.delivery_id
        span = self.tracer.start_span(f"{HANDLER_SPAN} {name}", attributes=attributes)
        self._enter("handler", span)

    def handler_finished(self, report: HandlerReport) -> None:
        """End the handler's span, with its exception recorded if it raised."""
        span = self._exit("handler")
        if span is None:
            return
        error = report.error
        if error is not None and span.is_recording():
            span.record_exception(error)
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()

    # --- the inbox worker -------------------------------------------------------------

    def item_started(self, item: InboxItem) -> None:
        """Start the attempt's span under the request's (from ``item.context``), made current."""
        self._end_abandoned("item", "the worker's attempt ended without a report")
        parent = propagate.extract(item.context or {})
        attributes: dict[str, AttributeValue] = {
            "wrenn.inbox.item_id": item.id,
            "wrenn.inbox.attempt": item.attempts + 1,
            "wrenn.event.type": item.event_type,
            "wrenn.resource.id": item.resource_id,
        }
        if item.delivery_id is not None:
            attributes["wrenn.delivery.id"] = item.delivery_id
        span = self.tracer.start_span(
            PROCESS_SPAN, parent, SpanKind.CONSUMER, attributes=attributes
        )
        self._enter("item", span, parent)

    def item_finished(self, report: ItemReport) -> None:
        """Say what the attempt came to and end its span; a retry or a dead letter is an error."""
        span = self._exit("item")
        if span is None:
            return
        span.set_attribute("wrenn.inbox.outcome", report.outcome)
        if report.outcome in _FAILED_OUTCOMES:
            span.set_status(Status(StatusCode.ERROR, report.outcome))
        span.end()

    # --- the spans made current -------------------------------------------------------

    def _enter(self, kind: _Kind, span: Span, parent: Context | None = None) -> None:
        """Make ``span`` current (in ``parent``, default the current context)."""
        frame = _Frame(kind, span, self._top())
        current = trace.set_span_in_context(span, parent)
        frame.token = context.attach(context.set_value(self._key, frame, current))

    def _exit(self, kind: _Kind) -> Span | None:
        """Restore the context from before the innermost span of ``kind``; return that span.

        Spans of this observer opened inside it and never ended are ended, as errors.
        ``None`` when none is open (the observer was added mid-delivery, say).
        """
        inner: list[_Frame] = []
        frame = self._top()
        while frame is not None and (frame.ended or frame.kind != kind):
            inner.append(frame)
            frame = frame.outer
        if frame is None:
            return None
        for abandoned in inner:
            _end_as_error(abandoned, f"the {abandoned.kind} ended without a report")
        frame.ended = True  # in case the context cannot be restored (another context's token)
        if frame.token is not None:
            context.detach(frame.token)
        return frame.span

    def _end_abandoned(self, kind: _Kind, why: str) -> None:
        """End a span of ``kind`` left current by an exception that escaped before its end."""
        span = self._exit(kind)
        if span is not None:
            span.set_status(Status(StatusCode.ERROR, why))
            span.end()

    def _top(self) -> _Frame | None:
        frame = context.get_value(self._key)
        return frame if isinstance(frame, _Frame) else None


def _end_as_error(frame: _Frame, why: str) -> None:
    if not frame.ended:
        frame.ended = True
        frame.span.set_status(Status(StatusCode.ERROR, why))
        frame.span.end()

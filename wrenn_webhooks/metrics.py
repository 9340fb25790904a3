"""Prometheus metrics: ``Metrics``, an observer of the receiver, and its ``/metrics``.

::

    metrics = receiver.add_observer(Metrics(inbox=receiver.inbox))
    app.register_blueprint(flask_blueprint(metrics))        # Flask: GET /metrics
    Route("/metrics", asgi_app(metrics))                    # Starlette, FastAPI
    start_http_server(metrics, 9100)                        # anything else, a worker

Counters and histograms are updated as deliveries and handler runs are
reported; the inbox's gauges are read from its ``stats()`` at each scrape.
Every label value comes from a fixed set, never from a request as such: an
event type this SDK does not know counts as ``"other"``, a status outside
the receiver's as ``"other"``; handler names are the handlers registered in
code. So whoever holds the secret cannot grow the number of series.

Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` before
the server starts (prometheus_client's multiprocess mode): every worker then
writes its counts to that folder, and ``/metrics``, in any worker, adds them
up. Needs the ``metrics`` extra (``prometheus_client``); nothing else in the
package imports it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
    from prometheus_client import start_http_server as _start_http_server
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.metrics_core import Metric
    from prometheus_client.multiprocess import MultiProcessCollector
    from prometheus_client.registry import Collector
except ImportError as exc:
    raise ImportError(
        'wrenn_webhooks.metrics needs prometheus_client: pip install "wrenn-webhooks[metrics]"'
    ) from exc

from .asgi import _lifespan
from .errors import ConfigurationError
from .observe import DeliveryReport, HandlerReport, Observer

if TYPE_CHECKING:
    from flask import Blueprint

    from .asgi import ASGIApp, Receive, Scope, Send

__all__ = ["InboxStats", "Metrics", "asgi_app", "flask_blueprint", "start_http_server"]

logger = logging.getLogger("wrenn_webhooks")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The variable that puts prometheus_client in multiprocess mode: a folder shared by the workers."""

STATUSES = (200, 202, 400, 401, 405, 409, 411, 413, 500, 503)
"""Every status the receiver and the adapters answer a delivery with; others count as "other"."""

DURATION_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
"""Seconds, from 50 µs (a refusal, a duplicate) to 30 s (a slow handler)."""

_OUTCOMES: dict[str | None, str] = {None: "none", "success": "success", "error": "error"}
_STATUS_LABELS = {status: str(status) for status in STATUSES}
_INBOX_GAUGES = (
    ("pending", "inbox_pending", "Events waiting, retrying or in flight."),
    ("failed", "inbox_failed", "Pending events whose last attempt failed."),
    ("in_flight", "inbox_in_flight", "Events a worker is handling now."),
    ("dead", "inbox_dead", "Dead-lettered events: given up on, waiting for an operator."),
    ("done", "inbox_done", "Handled events still kept."),
    (
        "oldest_pending_age",
        "inbox_oldest_pending_age_seconds",
        "Seconds since the oldest pending event arrived; 0 when none is pending.",
    ),
)


@runtime_checkable
class InboxStats(Protocol):
    """What the gauges read: an inbox's ``stats()`` (``SQLiteInbox``, ``RedisInbox``)."""

    def stats(self, *, now: float | None = None) -> Mapping[str, int | float | None]:
        """Counts by state, and the oldest pending event's age in seconds."""
        ...


class Metrics(Observer):
    """Counters and histograms of deliveries and handler runs, gauges of an inbox.

    Add it to every receiver to watch (``receiver.add_observer(metrics)``);
    one ``Metrics`` may watch several. The names start with ``namespace``:

    - ``_deliveries_total{event_type, outcome, status}``: answered requests;
    - ``_duplicates_total{event_type}``: redeliveries answered as duplicates;
    - ``_delivery_duration_seconds``: from request to answer (histogram);
    - ``_handler_duration_seconds{handler}`` (histogram: its ``_count`` is the
      number of runs) and ``_handler_failures_total{handler}``, wherever the
      handler ran: in the request or in an inbox worker;
    - with ``inbox``, read at each scrape: ``_inbox_pending``, ``_inbox_failed``,
      ``_inbox_in_flight``, ``_inbox_dead``, ``_inbox_done``,
      ``_inbox_oldest_pending_age_seconds``, and ``_inbox_up`` (0 when
      ``stats()`` failed; the error is logged).

    Args:
        registry: Where the metrics are registered; prometheus_client's
            default registry when ``None``.
        inbox: An inbox whose ``stats()`` the gauges report.
        namespace: The start of every metric name.

    Raises:
        ConfigurationError: ``registry`` holds metrics of these names already
            (a second ``Metrics`` there needs another ``namespace``).
    """

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        inbox: InboxStats | None = None,
        namespace: str = "wrenn_webhooks",
    ) -> None:
        self.registry = REGISTRY if registry is None else registry
        self.namespace = namespace
        self.inbox = inbox
        self._deliveries = _counter(
            namespace,
            "deliveries",
            "Requests answered, by event type, outcome and status.",
            ("event_type", "outcome", "status"),
        )
        self._duplicates = _counter(
            namespace,
            "duplicates",
            "Redeliveries of an event handled or stored already.",
            ("event_type",),
        )
        self._duration = _histogram(
            namespace,
            "delivery_duration_seconds",
            "Seconds from a request reaching the receiver to its answer.",
            (),
        )
        self._handler_failures = _counter(
            namespace, "handler_failures", "Handler runs that raised, by handler.", ("handler",)
        )
        self._handler_duration = _histogram(
            namespace,
            "handler_duration_seconds",
            "Seconds a handler ran, in a request or an inbox worker, by handler.",
            ("handler",),
        )
        collectors: list[Collector] = [
            self._deliveries,
            self._duplicates,
            self._duration,
            self._handler_failures,
            self._handler_duration,
        ]
        # Label children by their (bounded) label values: labels() checks its
        # arguments on every call, a dict lookup does not.
        self._delivery_children: dict[tuple[str, str, int], Any] = {}
        self._handler_children: dict[str, tuple[Any, Any]] = {}
        inbox_collector = None if inbox is None else _InboxCollector(inbox, namespace)
        if os.environ.get(MULTIPROCESS_ENV):
            # Each process writes its counts to the folder; a scrape, in any
            # process, reads them all. The inbox is read at the scrape, once.
            self.scrape_registry = CollectorRegistry()
            MultiProcessCollector(self.scrape_registry)  # type: ignore[no-untyped-call]
            _register(self.registry, collectors)
            if inbox_collector is not None:
                _register(self.scrape_registry, [inbox_collector])
        else:
            self.scrape_registry = self.registry
            _register(self.registry, [*collectors, *filter(None, [inbox_collector])])

    def __repr__(self) -> str:
        inbox = "" if self.inbox is None else f", inbox {self.inbox!r}"
        return f"<Metrics {self.namespace}_*{inbox}>"

    def delivery_finished(self, report: DeliveryReport) -> None:
        """Count the answer, and a duplicate; time it."""
        response = report.response
        event = response.event
        # Bounded before anything is kept: a type or outcome this SDK does not
        # know is text from the request.
        if event is None:
            kind, outcome = "none", "none"
        else:
            kind = event.event if report.known_type else "other"
            outcome = _OUTCOMES.get(event.outcome, "other")
        key = (kind, outcome, response.status_code)
        child = self._delivery_children.get(key)
        if child is None:
            labels = (str(kind), outcome, _STATUS_LABELS.get(response.status_code, "other"))
            child = self._delivery_children[key] = self._deliveries.labels(*labels)
        child.inc()
        if report.duplicate:
            self._duplicates.labels(str(kind)).inc()
        self._duration.observe(report.duration)

    def handler_finished(self, report: HandlerReport) -> None:
        """Time the run (the histogram counts it too), and count a failure."""
        children = self._handler_children.get(report.name)
        if children is None:
            name = report.name
            children = self._handler_children[name] = (
                self._handler_duration.labels(name),
                self._handler_failures.labels(name),  # from 0: rate() works from the start
            )
        duration, failures = children
        duration.observe(report.duration)
        if report.error is not None:
            failures.inc()

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition for a scrape, and its content type, chosen by the ``Accept`` header.

        Reads the inbox's ``stats()`` (and in multiprocess mode every worker's
        files): it may block, so call it off an event loop.
        """
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.scrape_registry), content_type


def flask_blueprint(
    metrics: Metrics, *, path: str = "/metrics", name: str = "wrenn_webhooks_metrics"
) -> Blueprint:
    """A Flask blueprint answering ``GET path`` with ``metrics.render()``.

    Register it with ``app.register_blueprint(flask_blueprint(metrics))``.
    """
    from flask import Blueprint, request

    blueprint = Blueprint(name, __name__)

    def scrape() -> tuple[bytes, int, dict[str, str]]:
        body, content_type = metrics.render(request.headers.get("Accept"))
        return body, 200, {"Content-Type": content_type}

    blueprint.add_url_rule(path, "metrics", scrape, methods=["GET"])
    return blueprint


def asgi_app(metrics: Metrics) -> ASGIApp:
    """An ASGI application answering ``GET`` (any path) with ``metrics.render()``.

    In Starlette or FastAPI: ``Route("/metrics", asgi_app(metrics))``. The
    scrape runs in a worker thread (it reads the inbox). Other methods are
    answered 405.
    """
    return _MetricsApp(metrics)


def start_http_server(metrics: Metrics, port: int, *, addr: str = "127.0.0.1") -> None:
    """Serve ``metrics`` on ``http://addr:port/`` from a daemon thread.

    For processes with no web server of their own, such as an inbox worker.
    Only this host by default: give ``addr="0.0.0.0"`` for a scraper elsewhere.
    """
    _start_http_server(port, addr=addr, registry=metrics.scrape_registry)


class _MetricsApp:
    """What ``asgi_app()`` returns: an object, so that Starlette's ``Route`` passes it requests."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ConfigurationError(f"the metrics app serves HTTP, not {scope['type']!r}")
        if scope["method"] not in ("GET", "HEAD"):
            status, headers, body = 405, [(b"allow", b"GET, HEAD")], b"only GET is allowed\n"
        else:
            accept = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"accept"), "")
            body, content_type = await asyncio.to_thread(self.metrics.render, accept)
            status, headers = 200, [(b"content-type", content_type.encode("latin-1"))]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if scope["method"] == "HEAD":
            body = b""
        await send({"type": "http.response.body", "body": body})


class _InboxCollector(Collector):
    """The inbox's gauges, from one ``stats()`` call a scrape."""

    def __init__(self, inbox: InboxStats, namespace: str) -> None:
        self.inbox = inbox
        self.prefix = f"{namespace}_" if namespace else ""

    def describe(self) -> Iterable[Metric]:
        """The gauges' names, without reading the inbox (at registration)."""
        return [*self._families(None), self._up(None)]

    def collect(self) -> Iterable[Metric]:
        """Read ``stats()`` once and report each count."""
        try:
            stats = self.inbox.stats()
        except Exception:  # a scrape still answers: inbox_up says what failed
            logger.exception("metrics: the inbox's stats() failed")
            return [self._up(0)]
        return [*self._families(stats), self._up(1)]

    def _families(self, stats: Mapping[str, int | float | None] | None) -> list[Metric]:
        families: list[Metric] = []
        for key, name, documentation in _INBOX_GAUGES:
            if stats is not None and key not in stats:
                continue  # an inbox that does not count this
            value = None if stats is None else float(stats[key] or 0)
            families.append(GaugeMetricFamily(self.prefix + name, documentation, value))
        return families

    def _up(self, value: int | None) -> Metric:
        return GaugeMetricFamily(
            self.prefix + "inbox_up",
            "1 when the last scrape read the inbox's stats, else 0.",
            value,
        )


def _counter(namespace: str, name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
    """A counter registered nowhere yet (``_register`` does it, all or none)."""
    return Counter(name, documentation, labels, namespace=namespace, registry=None)


def _histogram(namespace: str, name: str, documentation: str, labels: tuple[str, ...]) -> Histogram:
    """A histogram of seconds, in ``DURATION_BUCKETS``, registered nowhere yet."""
    return Histogram(
        name, documentation, labels, namespace=namespace, registry=None, buckets=DURATION_BUCKETS
    )


def _register(registry: CollectorRegistry, collectors: list[Collector]) -> None:
    """Register every collector, or none: a name taken already is a ConfigurationError."""
    done: list[Collector] = []
    try:
        for collector in collectors:
            registry.register(collector)
            done.append(collector)
    except ValueError as exc:
        for collector in done:
            registry.unregister(collector)
        raise ConfigurationError(
            f"this registry has metrics of these names already ({exc}); "
            "use one Metrics for every receiver, or give another registry or namespace"
        ) from exc

"""``WebhookReceiver``: verify, parse, claim and dispatch, with no web framework.

``handle(body, headers)`` is the whole pipeline; an adapter for any framework
passes the raw body and the headers in and turns the ``Response`` into its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from ._headers import HeaderSource
from .errors import (
    ConfigurationError,
    HandlerError,
    PayloadTooLargeError,
    StoreError,
    WrennWebhookError,
)
from .events import Event, parse_body
from .inbox.base import Inbox
from .routing import Route, Router
from .signature import DEFAULT_TOLERANCE, Delivery, Verifier
from .stores.base import DEFAULT_LEASE, Claim, ClaimState, IdempotencyStore
from .stores.memory import MemoryIdempotencyStore

__all__ = ["ErrorObserver", "Response", "WebhookReceiver"]

logger = logging.getLogger("wrenn_webhooks")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

ErrorObserver = Callable[[BaseException, Event, Delivery], Any]
"""Called with the exception, the event and the delivery when a handler fails."""

_JSON = {"Content-Type": "application/json"}
_NEW = ClaimState.NEW
_sha256 = hashlib.sha256
_perf_counter = time.perf_counter
_log_enabled = logger.isEnabledFor
_INFO = logging.INFO


@dataclass(slots=True)
class Response:
    """What to answer Wrenn: a status, a small JSON body, and headers.

    Attributes:
        status_code: The HTTP status (see ``WebhookReceiver.handle``).
        body: A JSON-serialisable ``dict``; never holds secrets or the payload.
        headers: Extra response headers, ``Content-Type`` included.
        event: The parsed event, when the body got that far.
        delivery: The verified delivery, when the signature got that far.
        error: The error behind a 4xx or 5xx answer.
    """

    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=lambda: dict(_JSON))
    event: Event | None = None
    delivery: Delivery | None = None
    error: WrennWebhookError | None = None


class WebhookReceiver(Router):
    """Receive Wrenn deliveries: verify, parse, deduplicate, dispatch.

    Args:
        secret: The channel secret, or ``[new, old]`` during a rotation.
        tolerance: Seconds (or a ``timedelta``) the signed timestamp may be off.
        max_body_bytes: Larger bodies get 413 before any HMAC work.
        idempotency: Where per-body records live; default a bounded
            ``MemoryIdempotencyStore``. Use a shared store with several processes.
        inbox: Durable mode: store each verified event in this inbox, answer
            202 at once, and let workers run the handlers (with retries).
        lease: Seconds a claim holds off concurrent redeliveries (409).
        clock: Returns POSIX seconds; inject one in tests.

    Raises:
        ConfigurationError: No secret, an empty secret, or a bad setting.
    """

    def __init__(
        self,
        secret: str | Sequence[str],
        *,
        tolerance: float | timedelta = DEFAULT_TOLERANCE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        idempotency: IdempotencyStore | None = None,
        inbox: Inbox | None = None,
        lease: float = DEFAULT_LEASE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self._verifier = Verifier(secret, tolerance)
        self._verify = self._verifier.verify
        if max_body_bytes < 1 or not lease > 0:
            raise ConfigurationError("max_body_bytes and lease must be positive")
        self.max_body_bytes = max_body_bytes
        self.store: IdempotencyStore = (
            MemoryIdempotencyStore() if idempotency is None else idempotency
        )
        self.lease = lease
        self.inbox = inbox
        self.clock = clock
        self._error_observers: list[ErrorObserver] = []
        self._matches: dict[tuple[str, object], tuple[Route, ...]] = {}
        self._serving = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<WebhookReceiver {len(self._routes)} handlers, {self.secret_count} secret(s)>"

    @property
    def secret_count(self) -> int:
        """How many secrets are accepted (never the secrets themselves)."""
        return self._verifier.secret_count

    @property
    def tolerance(self) -> float:
        """Seconds the signed timestamp may be off, either way."""
        return self._verifier.tolerance

    def on_error(self, observer: ErrorObserver) -> ErrorObserver:
        """Register ``observer(exc, event, delivery)`` for handler failures.

        Observers see every failure before the 500 answer; their own errors are
        logged and otherwise ignored. Usable as a decorator.
        """
        self._check_open()
        self._error_observers.append(observer)
        return observer

    def handle(self, body: bytes, headers: HeaderSource) -> Response:
        """Run one delivery through the pipeline and say what to answer.

        Steps: size check, ``verify`` (before any byte is trusted),
        ``parse_event``, an idempotency claim on the SHA-256 of the body, then
        every matching handler in registration order.

        | situation                                          | status |
        |----------------------------------------------------|--------|
        | handled, or no handler matches (unknown types too) | 200    |
        | stored in the inbox (inbox mode; duplicates too)   | 202    |
        | exact redelivery of an event already handled       | 200, ``duplicate: true`` |
        | body larger than ``max_body_bytes``                | 413    |
        | signature or timestamp missing, malformed, stale   | 401    |
        | correctly signed but not a valid event             | 400    |
        | redelivery while an earlier attempt still runs     | 409    |
        | a handler raised (Wrenn retries; only failed ones rerun) | 500 |
        | the idempotency store is unavailable               | 503    |

        Never raises for anything the request contains.
        """
        started = _perf_counter()
        if not self._serving:
            self._start_serving()
        if type(body) is not bytes:
            body = bytes(body)  # bytearray, memoryview
        delivery: Delivery | None = None
        try:
            if len(body) > self.max_body_bytes:
                raise PayloadTooLargeError(
                    f"body is larger than the {self.max_body_bytes} bytes this receiver accepts"
                )
            now = self.clock()
            delivery = self._verify(body, headers, now)
            event = parse_body(body)
        except WrennWebhookError as exc:
            response = Response(
                exc.status_code, {"ok": False, "error": str(exc)}, delivery=delivery, error=exc
            )
            return self._finish(started, response)
        routes = self._matches.get((event.event, event.outcome)) or self.routes_for(event)
        if not routes:
            return self._finish(started, _ok(event, delivery, 0))
        try:
            if self.inbox is not None:
                return self._finish(started, self._enqueue(body, event, delivery, now))
            key = _sha256(body).hexdigest()
            store = self.store
            claim = store.claim(key, now=now, lease=self.lease)
            if claim.state is not _NEW or len(routes) > 1:
                response = self._dispatch(key, claim, event, delivery, routes, now)
                return self._finish(started, response)
            # The usual delivery, kept flat: a first attempt with one handler.
            route = routes[0]
            done = False
            try:
                result = (
                    route.handler(event, delivery) if route.wants_delivery else route.handler(event)
                )
                if result is not None:
                    _settle(route, result)
                done = True
            except Exception as exc:
                self._failed(route, exc, event, delivery)
                response = self._handler_error([(route.name, exc)], routes, event, delivery)
            else:
                response = _ok(event, delivery, 1)
            finally:
                # The claim's time, not the end's: one clock read a delivery, and
                # records then expire at most one handler run early.
                store.release(key, done=done, now=now)
            if done and not _log_enabled(_INFO):
                return response
        except StoreError as exc:
            logger.error("store failed: %s", exc)
            response = Response(
                503,
                {"ok": False, "error": "storage unavailable; retry later"},
                {**_JSON, "Retry-After": "10"},
                event,
                delivery,
                exc,
            )
        return self._finish(started, response)

    def _enqueue(self, body: bytes, event: Event, delivery: Delivery, now: float) -> Response:
        assert self.inbox is not None
        key = _sha256(body).hexdigest()
        stored = self.inbox.put(key, body, event, delivery, now=now)
        answer: dict[str, Any] = {"ok": True, "event": event.event, "queued": True}
        if not stored:
            answer["duplicate"] = True
        return Response(202, answer, dict(_JSON), event, delivery)

    def _dispatch(
        self,
        key: str,
        claim: Claim,
        event: Event,
        delivery: Delivery,
        routes: tuple[Route, ...],
        now: float,
    ) -> Response:
        store = self.store
        state = claim.state
        if state is ClaimState.DONE:
            return _ok(event, delivery, 0, duplicate=True)
        if state is ClaimState.BUSY:
            return Response(
                409,
                {"ok": False, "error": "an earlier attempt of this event is still being handled"},
                {**_JSON, "Retry-After": str(int(self.lease))},
                event,
                delivery,
            )
        if state is ClaimState.RETRY:
            delivery = delivery._replace(redelivery=True)
        finished = False
        failures: list[tuple[str, BaseException]] = []
        completed = None  # with one handler, release(done=True) says it all
        if len(routes) > 1:

            def completed(name: str) -> None:
                store.complete(key, name, now=self.clock())

        try:
            failures = self.run_handlers(event, delivery, routes, claim.completed, completed)
            finished = True
        finally:
            store.release(key, done=finished and not failures, now=now)
        if failures:
            return self._handler_error(failures, routes, event, delivery)
        skipped = sum(r.name in claim.completed for r in routes) if claim.completed else 0
        return _ok(event, delivery, len(routes) - skipped)

    def _handler_error(
        self,
        failures: list[tuple[str, BaseException]],
        routes: Sequence[Route],
        event: Event,
        delivery: Delivery,
    ) -> Response:
        error = HandlerError(
            f"{len(failures)} of {len(routes)} handlers failed; a retry runs only those",
            tuple(failures),
        )
        error.__cause__ = failures[0][1]
        return Response(
            500, {"ok": False, "error": str(error)}, dict(_JSON), event, delivery, error
        )

    def run_handlers(
        self,
        event: Event,
        delivery: Delivery,
        routes: Sequence[Route],
        skip: frozenset[str] = frozenset(),
        completed: Callable[[str], object] | None = None,
    ) -> list[tuple[str, BaseException]]:
        """Run ``routes`` in order, skipping names in ``skip``; return the failures.

        Every handler runs even when an earlier one fails; ``completed(name)``
        is called after each success, and error observers see each failure.
        """
        failures: list[tuple[str, BaseException]] = []
        for route in routes:
            if route.name in skip:
                continue
            try:
                result = (
                    route.handler(event, delivery) if route.wants_delivery else route.handler(event)
                )
                if result is not None:
                    _settle(route, result)
            except Exception as exc:
                failures.append((route.name, exc))
                self._failed(route, exc, event, delivery)
            else:
                if completed is not None:
                    completed(route.name)
        return failures

    def _failed(self, route: Route, exc: BaseException, event: Event, delivery: Delivery) -> None:
        logger.exception(
            "handler %s failed for %s (delivery %s)",
            route.name,
            event.event,
            delivery.delivery_id,
            exc_info=exc,
        )
        for observer in self._error_observers:
            try:
                observer(exc, event, delivery)
            except Exception:
                logger.exception("error observer %r failed", observer)

    def routes_for(self, event: Event) -> tuple[Route, ...]:
        """The handlers that ``event`` goes to, in registration order, each once."""
        cache_key = (event.event, event.outcome)
        routes = self._matches.get(cache_key)
        if routes is None:
            outcome = event.outcome if event.outcome is None else str(event.outcome)
            matched: dict[int, Route] = {}  # one call per function, even if two routes match
            for route in self._routes:
                if route.matches(event.event, outcome):
                    matched.setdefault(id(route.handler), route)
            routes = tuple(matched.values())
            if len(self._matches) < 4096:
                self._matches[cache_key] = routes
        return routes

    def _finish(self, started: float, response: Response) -> Response:
        level = logging.INFO if response.status_code < 400 else logging.WARNING
        if logger.isEnabledFor(level):
            event, delivery = response.event, response.delivery
            logger.log(
                level,
                "wrenn delivery %s event=%s outcome=%s status=%d handlers=%s duration=%.1fms%s",
                delivery.delivery_id if delivery else "-",
                event.event if event else "-",
                (event.outcome if event else None) or "-",
                response.status_code,
                response.body.get("handled", 0),
                (time.perf_counter() - started) * 1000,
                f" error={response.error}" if response.error else "",
            )
        return response

    def _start_serving(self) -> None:
        with self._lock:
            self._serving = True
            self._seal("it handled its first delivery")


def _ok(event: Event, delivery: Delivery, handled: int, *, duplicate: bool = False) -> Response:
    body: dict[str, Any] = {"ok": True, "event": event.event, "handled": handled}
    if duplicate:
        body["duplicate"] = True
    return Response(200, body, dict(_JSON), event, delivery)


def _settle(route: Route, result: object) -> None:
    """Run what an ``async`` handler (or one returning a coroutine) gave back."""
    if route.is_async or asyncio.iscoroutine(result):
        _run_coroutine(result)


def _run_coroutine(coroutine: Any) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)  # the usual case: handle() called from a sync server
        return
    # handle() was called from inside a running loop: run the coroutine to
    # completion on a helper thread, with this context (Flask's g, app context).
    import contextvars

    context = contextvars.copy_context()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            context.run(asyncio.run, coroutine)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run, name="wrenn-webhooks-async-handler")
    worker.start()
    worker.join()
    if outcome:
        raise outcome[0]

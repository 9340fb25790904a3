"""``WebhookReceiver``: verify, parse, claim and dispatch, with no web framework.

``handle(body, headers)`` is the whole pipeline; an adapter for any framework
passes the raw body and the headers in and turns the ``Response`` into its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any, ParamSpec, TypeVar

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
from .observe import DeliveryReport, LogObserver, Observer, call
from .routing import Dispatch, ErrorObserver, Route, Router
from .signature import (
    DEFAULT_TOLERANCE,
    Delivery,
    Verifier,
    delivery_id_of,
    seconds_setting,
    secrets_tuple,
    warn_weak_secrets,
)
from .stores.base import DEFAULT_LEASE, Claim, ClaimState, IdempotencyStore
from .stores.memory import MemoryIdempotencyStore

__all__ = ["ErrorObserver", "Response", "WebhookReceiver"]

logger = logging.getLogger("wrenn_webhooks")

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
WRENN_RETRY_WINDOW = 60.0
"""Seconds from an event's first attempt to its last, at most (protocol notes, "Timeline")."""


def _json_headers() -> dict[str, str]:
    return {"Content-Type": "application/json"}


@dataclass(slots=True)
class Response:
    """What to answer Wrenn: a status, a small JSON document, and headers.

    Attributes:
        status_code: The HTTP status (see ``WebhookReceiver.handle``).
        body: The answer as a ``dict``, for the adapter to serialise as JSON
            (not bytes); it never holds secrets or the payload.
        headers: Response headers, ``Content-Type`` included.
        event: The parsed event, when the body got that far.
        delivery: The verified delivery, when the signature got that far.
        error: The error behind a 4xx or 5xx answer.
    """

    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=_json_headers)
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
        bridge_older_names: Parse the names Wrenn 0.1.5 servers send
            (``"capsule.paused"``) into the classes of the new names, so that
            one set of handlers serves both versions (see ``parse_event``);
            ``False`` keeps them plain ``Event`` under the names sent.
        clock: Returns POSIX seconds; inject one in tests.

    Raises:
        ConfigurationError: No secret, an empty or blank secret, a setting of
            the wrong type, not positive or not finite, or a store whose
            ``ttl`` does not exceed ``tolerance`` plus Wrenn's 60 s of retries
            (checked when the store has a ``ttl`` and no inbox is given; a
            custom store without one must keep its records that long itself).

    Warns:
        WeakSecretWarning: A secret shorter than 32 characters.
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
        bridge_older_names: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        secrets = secrets_tuple(secret)
        self._verifier = Verifier(secrets, tolerance)
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise ConfigurationError(
                f"max_body_bytes must be an int, not {type(max_body_bytes).__name__}"
            )
        if max_body_bytes < 1:
            raise ConfigurationError(f"max_body_bytes must be positive, not {max_body_bytes}")
        self.max_body_bytes = max_body_bytes
        self.store: IdempotencyStore = (
            MemoryIdempotencyStore() if idempotency is None else idempotency
        )
        self.lease = seconds_setting("lease", lease)
        if not isinstance(bridge_older_names, bool):
            raise ConfigurationError(
                f"bridge_older_names must be True or False, not {bridge_older_names!r}"
            )
        self.bridge_older_names = bridge_older_names
        self.inbox = inbox
        self.clock = clock
        self._serving = False
        self._changed(observers=[LogObserver()])
        if inbox is None:  # the inbox keeps its own records; the store is not used then
            _check_ttl(self.store, self.tolerance)
        warn_weak_secrets(secrets)

    def __repr__(self) -> str:
        return f"<WebhookReceiver {len(self.routes)} handlers, {self.secret_count} secret(s)>"

    @property
    def observers(self) -> tuple[Observer, ...]:
        """The observers of deliveries and handler runs, the log line's first."""
        return tuple(self._observers)

    def add_observer(self, observer: Observer) -> Observer:
        """Tell ``observer`` of every delivery and handler run from now on.

        See ``wrenn_webhooks.observe``. Returns ``observer``. An observer's
        failure is logged and never changes an answer.
        """
        if observer not in self._observers:
            self._changed(observers=[observer])
        return observer

    @property
    def secret_count(self) -> int:
        """How many secrets are accepted (never the secrets themselves)."""
        return self._verifier.secret_count

    @property
    def tolerance(self) -> float:
        """Seconds the signed timestamp may be off, either way."""
        return self._verifier.tolerance

    def handle(self, body: bytes, headers: HeaderSource) -> Response:
        """Run one delivery through the pipeline and say what to answer.

        Steps: size check, ``verify`` (before any byte is trusted),
        ``parse_event``, then either ``inbox.put`` (durable mode) or an
        idempotency claim on the SHA-256 of the body, every matching handler
        in registration order, and the claim's release.

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
        started = time.perf_counter()
        body = bytes(body)  # bytearray, memoryview; a bytes object is returned as is
        work = self._admit(body, headers, started)
        if isinstance(work, Response):
            return work
        event, delivery, routes, key, now = work
        store = self.store
        try:
            if self.inbox is not None:
                stored = self.inbox.put(key, body, event, delivery, now=now, **self._carried())
                return self._logged(started, _queued(stored, event, delivery))
            claim = store.claim(key, now=now, lease=self.lease)
            if claim.state is not ClaimState.NEW:
                if claim.state is not ClaimState.RETRY:
                    return self._logged(started, self._seen(claim, event, delivery))
                delivery = delivery._replace(redelivery=True)
            # With several handlers each completion is recorded as it happens;
            # with one, finish() says it all.
            completed = partial(store.complete_handler, key, now=now) if len(routes) > 1 else None
            try:
                result = self.dispatcher.dispatch(
                    event, delivery, routes=routes, skip=claim.completed, completed=completed
                )
            except BaseException:  # not a handler's error (those are in result): give it back
                store.release(key, now=now)
                raise
            # At the claim's time, not the end's: one clock read a delivery, and
            # a record then expires at most one handler run early.
            (store.release if result.failures else store.finish)(key, now=now)
        except ConfigurationError:
            raise  # the application's mistake, not the request's
        except WrennWebhookError as exc:
            return self._logged(started, _failed(exc, event, delivery))
        return self._logged(started, _dispatched(result, event, delivery))

    async def handle_async(self, body: bytes, headers: HeaderSource) -> Response:
        """``handle()`` for a caller on an event loop: the same steps and answers.

        ``async def`` handlers are awaited on the caller's loop; plain handlers,
        and the calls of an idempotency store or inbox that may block (SQLite,
        Redis, any store but the in-memory one), run in worker threads, so the
        loop never waits on them. Verification and parsing are the same code
        as ``handle()``'s (CPU only: a few microseconds).
        """
        started = time.perf_counter()
        body = bytes(body)
        work = self._admit(body, headers, started)
        if isinstance(work, Response):
            return work
        event, delivery, routes, key, now = work
        store, call = self.store, self._store_call
        try:
            if self.inbox is not None:
                stored = await asyncio.to_thread(
                    self.inbox.put, key, body, event, delivery, now=now, **self._carried()
                )
                return self._logged(started, _queued(stored, event, delivery))
            claim = await call(store.claim, key, now=now, lease=self.lease)
            if claim.state is not ClaimState.NEW:
                if claim.state is not ClaimState.RETRY:
                    return self._logged(started, self._seen(claim, event, delivery))
                delivery = delivery._replace(redelivery=True)
            completed = None
            if len(routes) > 1:

                async def completed(name: str) -> None:
                    await call(store.complete_handler, key, name, now=now)

            try:
                result = await self.dispatcher.dispatch_async(
                    event, delivery, routes=routes, skip=claim.completed, completed=completed
                )
            except BaseException:  # cancelled, say: give the claim back
                await call(store.release, key, now=now)
                raise
            await call(store.release if result.failures else store.finish, key, now=now)
        except ConfigurationError:
            raise
        except WrennWebhookError as exc:
            return self._logged(started, _failed(exc, event, delivery))
        return self._logged(started, _dispatched(result, event, delivery))

    def _admit(
        self, body: bytes, headers: HeaderSource, started: float
    ) -> Response | tuple[Event, Delivery, tuple[Route, ...], str, float]:
        """The steps without I/O: size, verify, parse, match; or the answer they end with."""
        if not self._serving:
            self._start_serving()
        if self.hooks.delivery_started:
            call(self.hooks.delivery_started, len(body))
        try:
            if len(body) > self.max_body_bytes:
                raise self._too_large_error()
            now = self.clock()
            delivery = self._verifier.verify(body, headers, now)
        except WrennWebhookError as exc:  # refused before the signature held
            return self._rejected(started, exc, headers)
        try:
            event = parse_body(body, bridge_older_names=self.bridge_older_names)
        except WrennWebhookError as exc:
            return self._logged(started, _failed(exc, None, delivery))
        routes = self.dispatcher.routes_for(event)
        if not routes:
            return self._logged(started, _handled(event, delivery, 0))
        return event, delivery, routes, hashlib.sha256(body).hexdigest(), now

    def _carried(self) -> dict[str, dict[str, str]]:
        """``put``'s ``context`` keyword, when an observer carries something to the worker.

        Nothing at all otherwise, so that an inbox written before ``context`` existed
        works on, untouched, as long as no observer carries anything.
        """
        hooks = self.hooks.carry
        if not hooks:
            return {}
        carrier: dict[str, str] = {}
        call(hooks, carrier)
        context = {k: v for k, v in carrier.items() if isinstance(k, str) and isinstance(v, str)}
        return {"context": context} if context else {}

    async def _store_call(self, method: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call a store method from the loop: in a thread, unless the store is in memory."""
        if type(self.store) is MemoryIdempotencyStore:  # a dict under a lock: never waits long
            return method(*args, **kwargs)
        return await asyncio.to_thread(method, *args, **kwargs)

    def too_large(self, headers: HeaderSource) -> Response:
        """Answer 413 for a body an adapter refused before reading it, logged as ``handle()`` does.

        For adapters that check ``Content-Length`` (or a chunked body's size)
        themselves, as the Flask blueprint does: the answer is the one
        ``handle()`` gives a body over ``max_body_bytes``, and the log line
        carries the request's ``X-Wrenn-Delivery`` when it is well formed.
        """
        return self.refused(self._too_large_error(), headers)

    def refused(
        self, error: WrennWebhookError, headers: HeaderSource, **extra_headers: str
    ) -> Response:
        """Answer a request an adapter refused before ``handle()``: logged and observed as it does.

        For what only the adapter can see (a broken ``Content-Length``, a body
        cut short, a method other than POST): the answer is ``error``'s status
        and message, with ``extra_headers`` (``Allow="POST"``), and observers
        hear of it as of any delivery (``delivery_started(None)``, then
        ``delivery_finished``).
        """
        started = time.perf_counter()
        if self.hooks.delivery_started:
            call(self.hooks.delivery_started, None)
        response = self._rejected(started, error, headers)
        response.headers.update(extra_headers)
        return response

    def _too_large_error(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(
            f"body is larger than the {self.max_body_bytes} bytes this receiver accepts"
        )

    def _rejected(self, started: float, exc: WrennWebhookError, headers: HeaderSource) -> Response:
        """The answer to a request refused before verification (413, 401).

        Its log line names the ``X-Wrenn-Delivery`` sent, if well formed, to
        match the attempt in Wrenn's log; it is not verified, so it goes in the
        log only, never in the ``Response``.
        """
        return self._logged(started, _failed(exc, None, None), delivery_id_of(headers))

    def _seen(self, claim: Claim, event: Event, delivery: Delivery) -> Response:
        """The answer to a body seen before: a duplicate (200) or still in flight (409)."""
        if claim.state is ClaimState.DONE:
            return _handled(event, delivery, 0, duplicate=True)
        return Response(
            409,
            {"ok": False, "error": "an earlier attempt of this event is still being handled"},
            {**_json_headers(), "Retry-After": str(int(self.lease))},
            event,
            delivery,
        )

    def _logged(
        self, started: float, response: Response, delivery_id: str | None = None
    ) -> Response:
        """Tell the observers (the log line first) what the delivery came to.

        ``delivery_id``: the header as sent, for a request refused before verification.
        """
        finished = self.hooks.delivery_finished
        if finished:
            delivery = response.delivery
            if delivery is not None:
                delivery_id = delivery.delivery_id
            report = DeliveryReport(response, time.perf_counter() - started, delivery_id)
            for hook in finished:  # observe.call(), inlined: this runs for every request
                try:
                    hook(report)
                except Exception:
                    logger.exception("observer %r failed", hook)
        return response

    def _start_serving(self) -> None:
        self.seal("it handled its first delivery")
        self._serving = True


def _check_ttl(store: IdempotencyStore, tolerance: float) -> None:
    """Refuse a store that forgets a body while Wrenn or a replay can still send it again.

    A body is accepted again until ``tolerance`` after its last attempt was
    signed, and Wrenn's last attempt comes up to 60 s after its first.
    """
    ttl = getattr(store, "ttl", None)
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        return  # a store that does not say: keeping records long enough is its own affair
    needed = tolerance + WRENN_RETRY_WINDOW
    if not ttl > needed:
        raise ConfigurationError(
            f"the idempotency store's ttl ({ttl:g} s) must be more than {needed:g} s: "
            f"the tolerance ({tolerance:g} s) plus Wrenn's {WRENN_RETRY_WINDOW:g} s of "
            "retries, or a redelivery its records no longer cover runs the handlers again; "
            "give the store a longer ttl or the receiver a shorter tolerance"
        )


def _handled(
    event: Event, delivery: Delivery, handled: int, *, duplicate: bool = False
) -> Response:
    body: dict[str, Any] = {"ok": True, "event": event.event, "handled": handled}
    if duplicate:
        body["duplicate"] = True
    return Response(200, body, _json_headers(), event, delivery)


def _failed(exc: WrennWebhookError, event: Event | None, delivery: Delivery | None) -> Response:
    if isinstance(exc, StoreError):
        logger.error("store failed: %s", exc)  # the reason may name a host: logs only
        headers = {**_json_headers(), "Retry-After": "10"}
        return Response(
            503,
            {"ok": False, "error": "storage unavailable; retry later"},
            headers,
            event,
            delivery,
            exc,
        )
    return Response(
        exc.status_code, {"ok": False, "error": str(exc)}, _json_headers(), event, delivery, exc
    )


def _queued(stored: bool, event: Event, delivery: Delivery) -> Response:
    """The answer to an event put in the inbox (202), a duplicate of one there too."""
    answer: dict[str, Any] = {"ok": True, "event": event.event, "queued": True}
    if not stored:
        answer["duplicate"] = True
    return Response(202, answer, _json_headers(), event, delivery)


def _dispatched(result: Dispatch, event: Event, delivery: Delivery) -> Response:
    """The answer once the handlers ran: 200, or 500 when one failed."""
    if not result.failures:
        return _handled(event, delivery, result.ran)
    failures = result.failures
    error = HandlerError(
        f"{len(failures)} of {result.ran} handlers failed; a retry runs only those",
        tuple(failures),
    )
    error.__cause__ = failures[0][1]
    return _failed(error, event, delivery)

# mypy: disable-error-code="overload-overlap"
# (a class key's overload overlaps the pattern fallback on purpose)
"""Handlers and their dispatch: ``Router.on()`` registers, ``Dispatcher`` runs.

A ``Router`` holds the registrations and the error observers. Its
``dispatcher`` runs the handlers that match an event: the one loop behind
``WebhookReceiver.handle()``, the inbox worker and every retry.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import inspect
import logging
import threading
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, Union, overload

from ._text import printable
from .errors import ConfigurationError
from .events import EVENT_CLASSES, KNOWN_EVENT_NAMES, Event, EventType, Outcome
from .observe import HandlerReport, Hooks, Observer, call

if TYPE_CHECKING:
    from .signature import Delivery

__all__ = ["Dispatch", "Dispatcher", "ErrorObserver", "Route", "Router", "UnknownEventTypeWarning"]

logger = logging.getLogger("wrenn_webhooks")

E = TypeVar("E", bound=Event)
F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")

ErrorObserver = Callable[[BaseException, Event, "Delivery"], Any]
"""Called with the exception, the event and the delivery when a handler fails."""


class Decorator(Protocol[E]):
    """What ``on()`` returns for a class key: checks the handler against the class.

    A handler takes the event, or the event and its ``Delivery``; it may be ``async``.
    """

    @overload
    def __call__(self, handler: Callable[[E], R], /) -> Callable[[E], R]: ...
    @overload
    def __call__(self, handler: Callable[[E, Delivery], R], /) -> Callable[[E, Delivery], R]: ...


Key = Union[str, type[Event]]
"""An event type (wire string or ``EventType``), a glob, or an event class."""
Patterns = Union[Key, Sequence[Key]]
OutcomeFilter = Union[Outcome, Literal["success", "error"], None]

_MAX_CACHED = 4096
"""Distinct (type, outcome) pairs whose matches are kept; a newer Wrenn's types are few."""


class UnknownEventTypeWarning(UserWarning):
    """A handler's pattern matches no event type the SDK knows (a typo?).

    Only a warning: a newer Wrenn may send types this SDK has never heard of.
    Silence it with ``warnings.filterwarnings`` when that is what you mean.
    """


@dataclass(frozen=True)
class Route:
    """One registration: which events, which outcome, which function."""

    patterns: tuple[str, ...]
    outcome: str | None
    handler: Callable[..., Any]
    name: str
    wants_delivery: bool
    is_async: bool

    def matches(self, event_type: str, outcome: str | None) -> bool:
        """Whether an event of this type and outcome goes to this route."""
        if self.outcome is not None and outcome != self.outcome:
            return False
        return any(fnmatchcase(event_type, pattern) for pattern in self.patterns)


@dataclass(slots=True)
class Dispatch:
    """What one run of the matching handlers did.

    Attributes:
        ran: Handlers that ran this time (completed or failed).
        failures: ``(handler name, exception)`` for each handler that raised.
        stopped: True when ``stop()`` ended the run before every handler ran.
    """

    ran: int
    failures: list[tuple[str, BaseException]]
    stopped: bool = False


class Dispatcher:
    """Run the handlers that match an event: the one handler loop of the SDK.

    Made by ``Router.dispatcher`` from the router's registrations as they
    stand; a registration made later makes a new one, so its cache of
    matches never outlives a change.
    """

    def __init__(
        self,
        routes: Sequence[Route],
        error_observers: Sequence[ErrorObserver] = (),
        hooks: Hooks | None = None,
    ) -> None:
        self.routes = tuple(routes)
        self.error_observers = tuple(error_observers)
        self.hooks = Hooks() if hooks is None else hooks
        self._matches: dict[tuple[str, object], tuple[Route, ...]] = {}
        self._has_async = any(route.is_async for route in self.routes)

    def routes_for(self, event: Event) -> tuple[Route, ...]:
        """The routes ``event`` goes to, in registration order, one per function."""
        cache_key = (event.event, event.outcome)
        routes = self._matches.get(cache_key)
        if routes is None:
            outcome = None if event.outcome is None else str(event.outcome)
            matched: dict[int, Route] = {}  # one call per function, even if two routes match
            for route in self.routes:
                if route.matches(event.event, outcome):
                    matched.setdefault(id(route.handler), route)
            routes = tuple(matched.values())
            if len(self._matches) < _MAX_CACHED:
                self._matches[cache_key] = routes
        return routes

    def dispatch(
        self,
        event: Event,
        delivery: Delivery,
        *,
        routes: Sequence[Route] | None = None,
        skip: frozenset[str] = frozenset(),
        completed: Callable[[str], object] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Dispatch:
        """Run every matching handler in order, each once; report what happened.

        A failing handler does not stop the others: each failure is logged and
        shown to every error observer. ``async`` handlers run to completion on
        this thread's event loop (one per thread, kept between deliveries).

        Args:
            event: The parsed event.
            delivery: The verified delivery it came with.
            routes: ``routes_for(event)``, when the caller has it already.
            skip: Names of handlers that completed on an earlier attempt.
            completed: Called with a handler's name after it completes.
            stop: Asked between two handlers; ``True`` ends the run there.

        Raises:
            ConfigurationError: An ``async`` handler matches and this thread
                runs an event loop already: use ``dispatch_async`` there.
        """
        routes = self.routes_for(event) if routes is None else routes
        if self._has_async:
            _check_no_running_loop(routes)
        failures: list[tuple[str, BaseException]] = []
        ran = 0
        for route in routes:
            if route.name in skip:
                continue
            if ran and stop is not None and stop():
                return Dispatch(ran, failures, stopped=True)
            ran += 1
            started = self._started(route, event, delivery)
            try:
                result = _call(route, event, delivery)
                if result is not None and (route.is_async or asyncio.iscoroutine(result)):
                    _thread_loop().run_until_complete(result)
            except Exception as exc:
                failures.append((route.name, exc))
                self._failed(route, exc, event, delivery, started)
            else:
                self._finished(route, event, delivery, started)
                if completed is not None:
                    completed(route.name)
        return Dispatch(ran, failures)

    async def dispatch_async(
        self,
        event: Event,
        delivery: Delivery,
        *,
        routes: Sequence[Route] | None = None,
        skip: frozenset[str] = frozenset(),
        completed: Callable[[str], Awaitable[object]] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> Dispatch:
        """``dispatch`` for a caller on an event loop: the same loop, step for step.

        ``async`` handlers are awaited on the caller's loop, so they can use
        what the application created on it (a database pool, an HTTP client);
        plain handlers run in a worker thread (``asyncio.to_thread``, with the
        caller's context variables), so that none blocks the loop.
        ``completed`` is awaited.
        """
        failures: list[tuple[str, BaseException]] = []
        ran = 0
        for route in self.routes_for(event) if routes is None else routes:
            if route.name in skip:
                continue
            if ran and stop is not None and stop():
                return Dispatch(ran, failures, stopped=True)
            ran += 1
            started = self._started(route, event, delivery)
            try:
                if route.is_async:
                    await _call(route, event, delivery)
                else:
                    result = await asyncio.to_thread(_call, route, event, delivery)
                    if asyncio.iscoroutine(result):  # a plain function that returned one
                        await result
            except Exception as exc:
                failures.append((route.name, exc))
                self._failed(route, exc, event, delivery, started)
            else:
                self._finished(route, event, delivery, started)
                if completed is not None:
                    await completed(route.name)
        return Dispatch(ran, failures)

    def _started(self, route: Route, event: Event, delivery: Delivery) -> float:
        """Tell the observers a handler starts; its start time if any observer will want it."""
        hooks = self.hooks
        if hooks.handler_started:
            call(hooks.handler_started, route.name, event, delivery)
        return time.perf_counter() if hooks.handler_finished else 0.0

    def _finished(
        self,
        route: Route,
        event: Event,
        delivery: Delivery,
        started: float,
        error: Exception | None = None,
    ) -> None:
        if self.hooks.handler_finished:
            duration = time.perf_counter() - started
            report = HandlerReport(route.name, event, delivery, duration, error)
            call(self.hooks.handler_finished, report)

    def _failed(
        self, route: Route, exc: Exception, event: Event, delivery: Delivery, started: float
    ) -> None:
        """Log a handler's failure, then tell the observers and the error observers."""
        logger.exception(
            "handler %s failed for %s (delivery %s)",
            route.name,
            printable(event.event),
            delivery.delivery_id,
            exc_info=exc,
        )
        self._finished(route, event, delivery, started, exc)
        for observer in self.error_observers:
            try:
                observer(exc, event, delivery)
            except Exception:
                logger.exception("error observer %r failed", observer)


class Router:
    """A set of handlers, and the observers of their failures.

    Register with ``@router.on(...)`` in any module, then
    ``receiver.include_router(router)`` once, at start-up.
    """

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._error_observers: list[ErrorObserver] = []
        self._observers: list[Observer] = []
        self.hooks = Hooks()
        """The observers' methods, hook by hook (see ``wrenn_webhooks.observe``)."""
        self._dispatcher: Dispatcher | None = None
        self._sealed_by = ""

    @property
    def routes(self) -> tuple[Route, ...]:
        """The registrations, in order."""
        return tuple(self._routes)

    @property
    def dispatcher(self) -> Dispatcher:
        """The ``Dispatcher`` of the registrations as they stand now."""
        dispatcher = self._dispatcher
        if dispatcher is None:
            dispatcher = self._dispatcher = Dispatcher(
                self._routes, self._error_observers, self.hooks
            )
        return dispatcher

    def add(
        self, handler: Callable[..., Any], event: Patterns = "*", *, outcome: OutcomeFilter = None
    ) -> None:
        """Register ``handler`` for events matching ``event`` and ``outcome``.

        Args:
            handler: Called with the typed event, or with the event and its
                ``Delivery`` when it takes two positional parameters.
            event: An event class, an exact type, a glob such as
                ``"capsule.*"``, or a list of them. ``Event`` matches every type.
            outcome: ``None`` for any, ``"success"`` or ``"error"``.

        Raises:
            ConfigurationError: Registration after start-up, a handler that
                cannot take the event, or an ``outcome`` on types that have none.

        Warns:
            UnknownEventTypeWarning: A pattern matches no known event type.
        """
        self._check_open()
        patterns = _patterns(event)
        wanted = _outcome(outcome)
        _check_reachable(patterns, wanted)
        base = getattr(handler, "__qualname__", None) or type(handler).__name__
        name = f"{getattr(handler, '__module__', None) or '?'}.{base}"
        route = Route(
            patterns,
            wanted,
            handler,
            self._unique_name(name),
            _arity(handler) == 2,
            _is_async(handler),
        )
        self._changed(routes=[route])

    @overload
    def on(self, event: type[E], *, outcome: OutcomeFilter = None) -> Decorator[E]: ...
    @overload
    def on(self, event: Patterns = "*", *, outcome: OutcomeFilter = None) -> Callable[[F], F]: ...

    def on(self, event: Patterns = "*", *, outcome: OutcomeFilter = None) -> Callable[[F], F]:
        """Register the decorated function as a handler; it is returned unchanged.

        ``@receiver.on(CapsulePause, outcome="error")`` runs the function for
        failed pauses only, and mypy checks that it takes a ``CapsulePause``.
        String keys and globs (``"capsule.*"``) are matched the same way but
        typed as ``Event``. See ``add()`` for the arguments and errors.
        """

        if callable(event) and not (isinstance(event, type) and issubclass(event, Event)):
            name = getattr(event, "__name__", type(event).__name__)
            raise TypeError(
                f'@on needs parentheses: write @receiver.on("capsule.pause"), '
                f"@receiver.on(CapsulePause), or @receiver.on() for every event "
                f"(it was given {name!r} as the event type)"
            )

        def decorator(handler: F) -> F:
            self.add(handler, event, outcome=outcome)
            return handler

        return decorator

    def on_error(self, observer: ErrorObserver) -> ErrorObserver:
        """Register ``observer(exc, event, delivery)`` for handler failures.

        Observers see every failure, wherever the handler ran (a delivery, the
        inbox worker, a retry); their own errors are logged and otherwise
        ignored. Usable as a decorator.
        """
        self._check_open()
        self._changed(error_observers=[observer])
        return observer

    def include_router(self, router: Router) -> None:
        """Add every handler and observer of ``router``, which then accepts no more."""
        self._check_open()
        routes: list[Route] = []
        for route in router.routes:
            routes.append(dataclasses.replace(route, name=self._unique_name(route.name, routes)))
        self._changed(routes=routes, error_observers=router.dispatcher.error_observers)
        router.seal("include_router()")

    def seal(self, why: str) -> None:
        """Refuse registrations from now on; ``why`` completes the error message."""
        self._sealed_by = why

    def _changed(
        self,
        *,
        routes: Sequence[Route] = (),
        error_observers: Sequence[ErrorObserver] = (),
        observers: Sequence[Observer] = (),
    ) -> None:
        # The only place registrations change, and so the one that drops the
        # dispatcher (and with it the cache of which routes match what).
        self._routes.extend(routes)
        self._error_observers.extend(error_observers)
        if observers:
            self._observers.extend(observers)
            self.hooks = Hooks(self._observers)
        self._dispatcher = None

    def _check_open(self) -> None:
        if self._sealed_by:
            raise ConfigurationError(
                f"cannot register handlers on this {type(self).__name__} after "
                f"{self._sealed_by}; register every handler at start-up"
            )

    def _unique_name(self, name: str, pending: Sequence[Route] = ()) -> str:
        # Completion is recorded by name, so two handlers must never share one.
        taken = {route.name for route in (*self._routes, *pending)}
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}#{n}"
        return unique


def _call(route: Route, event: Event, delivery: Delivery) -> Any:
    """Call a route's handler with what it takes: the event, or the event and the delivery."""
    return route.handler(event, delivery) if route.wants_delivery else route.handler(event)


def _check_no_running_loop(routes: Sequence[Route]) -> None:
    """Refuse to block a running event loop on an ``async`` handler."""
    if not any(route.is_async for route in routes):
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return  # the usual case: a sync server's thread, or the inbox worker
    raise ConfigurationError(
        "an async handler cannot run from handle() while this thread runs an event loop "
        "(it would block the loop): use `await receiver.handle_async(body, headers)` there"
    )


class _ThreadLoop:
    """One thread's event loop for ``async`` handlers, closed when the thread ends."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:  # the thread's locals are dropped when it ends
        self.loop.close()


_loops = threading.local()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's loop: kept between deliveries, so clients made on it stay usable."""
    own: _ThreadLoop | None = getattr(_loops, "own", None)
    if own is None or own.loop.is_closed():
        own = _loops.own = _ThreadLoop()
    return own.loop


def _patterns(event: Patterns) -> tuple[str, ...]:
    items = [event] if isinstance(event, (str, type)) else list(event)
    patterns = [_pattern(item) for item in items]
    if not patterns or not all(patterns):
        raise ConfigurationError(
            "event must be an event class, a non-empty type or glob, or a list of them"
        )
    return tuple(patterns)


def _pattern(item: object) -> str:
    if isinstance(item, type) and issubclass(item, Event):
        return str(item.event_type) or "*"  # Event itself: every type
    return str(item) if isinstance(item, str) else ""


def _outcome(outcome: OutcomeFilter) -> str | None:
    if outcome is None:
        return None
    if outcome not in ("success", "error"):
        raise ConfigurationError(f"outcome must be None, 'success' or 'error', not {outcome!r}")
    return str(outcome)


def _check_reachable(patterns: tuple[str, ...], outcome: str | None) -> None:
    for pattern in patterns:
        matched = [kind for kind in KNOWN_EVENT_NAMES if fnmatchcase(kind, pattern)]
        if not matched:
            close = difflib.get_close_matches(pattern, _suggestions(pattern), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            warnings.warn(
                f"{pattern!r} matches no Wrenn event type this SDK knows{hint} "
                "(a newer Wrenn may still send it)",
                UnknownEventTypeWarning,
                stacklevel=4,
            )
        elif all(kind in _NEW_NAMES for kind in matched):
            new = ", ".join(repr(_NEW_NAMES[kind]) for kind in sorted(matched))
            warnings.warn(
                f"{pattern!r} matches only names Wrenn 0.1.5 servers send, and the receiver "
                f"delivers those events under their new names (unless created with "
                f"bridge_older_names=False): register {new} to serve both versions",
                UnknownEventTypeWarning,
                stacklevel=4,
            )
        if outcome is not None and not any(
            kind in EVENT_CLASSES and EVENT_CLASSES[kind].has_outcome for kind in matched
        ):
            if not matched:
                continue  # unknown: a newer type may well carry an outcome
            raise ConfigurationError(
                f"{pattern!r} events carry no outcome, so outcome={outcome!r} never matches; "
                "drop outcome="
            )


_NEW_NAMES = {older: member.value for member in EventType for older in member.older_names}
"""The name a receiver delivers each 0.1.5 name under."""


def _suggestions(pattern: str) -> list[str]:
    """What a mistyped pattern may have meant: the known types, or globs for a glob."""
    if not any(char in pattern for char in "*?["):
        return sorted(KNOWN_EVENT_NAMES)
    globs: set[str] = set()
    for kind in EVENT_CLASSES:
        parts = kind.split(".")
        globs.update(".".join(parts[:i]) + ".*" for i in range(1, len(parts)))
        globs.add("*." + parts[-1])
    return sorted(globs)


def _is_async(handler: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
    )


def _arity(handler: Callable[..., Any]) -> int:
    if not callable(handler):
        raise ConfigurationError(f"a handler must be callable, not {type(handler).__name__}")
    try:
        parameters = inspect.signature(handler).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature
        return 1
    positional = [
        p
        for p in parameters
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return 2
    if len(positional) not in (1, 2):
        raise ConfigurationError(
            f"handler {getattr(handler, '__qualname__', handler)!r} must take the event, "
            "or the event and the delivery"
        )
    return len(positional)

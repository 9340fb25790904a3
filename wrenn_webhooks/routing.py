# mypy: disable-error-code="overload-overlap"
# (an exact type's overload overlaps the str fallback on purpose)
"""Handler registration: ``Router.on()`` and the matching of events to handlers."""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, Union, overload

from .errors import ConfigurationError
from .events import EVENT_CLASSES, LEGACY_EVENT_TYPES, NEWER_EVENT_TYPES, Event, EventType, Outcome

if TYPE_CHECKING:
    from .events import (
        CapsuleCreate,
        CapsuleDestroy,
        CapsulePause,
        CapsuleResume,
        CapsuleStateChanged,
        ChannelTest,
        HostDown,
        HostUp,
        SnapshotCreate,
        SnapshotDelete,
    )
    from .signature import Delivery

__all__ = ["Router", "UnknownEventTypeWarning"]

E = TypeVar("E", bound=Event)
F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")


class Decorator(Protocol[E]):
    """What ``on()`` returns for an exact type: checks the handler against its class.

    A handler takes the event, or the event and its ``Delivery``; it may be ``async``.
    """

    @overload
    def __call__(self, handler: Callable[[E], R], /) -> Callable[[E], R]: ...
    @overload
    def __call__(self, handler: Callable[[E, Delivery], R], /) -> Callable[[E, Delivery], R]: ...


Patterns = Union[str, EventType, Sequence[Union[str, EventType]]]
OutcomeFilter = Union[Outcome, Literal["success", "error"], None]

_KNOWN = frozenset(EVENT_CLASSES) | LEGACY_EVENT_TYPES | NEWER_EVENT_TYPES


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


class Router:
    """A set of handlers that a ``WebhookReceiver`` can include.

    Register with ``@router.on(...)`` in any module, then
    ``receiver.include_router(router)`` once, at start-up.
    """

    def __init__(self) -> None:
        self._routes: list[Route] = []
        self._sealed_by = ""

    @property
    def routes(self) -> tuple[Route, ...]:
        """The registrations, in order."""
        return tuple(self._routes)

    def add(
        self, handler: Callable[..., Any], event: Patterns = "*", *, outcome: OutcomeFilter = None
    ) -> None:
        """Register ``handler`` for events matching ``event`` and ``outcome``.

        Args:
            handler: Called with the typed event, or with the event and its
                ``Delivery`` when it takes two positional parameters.
            event: An exact type, a glob such as ``"capsule.*"``, or a list.
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
        wants_delivery = _arity(handler) == 2
        base = getattr(handler, "__qualname__", None) or type(handler).__name__
        name = f"{getattr(handler, '__module__', None) or '?'}.{base}"
        is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
        )
        self._routes.append(
            Route(patterns, wanted, handler, self._unique_name(name), wants_delivery, is_async)
        )

    # The overloads let mypy check a handler for an exact type against its class.
    @overload
    def on(
        self,
        event: Literal["capsule.create", EventType.CAPSULE_CREATE],
        *,
        outcome: OutcomeFilter = None,
    ) -> Decorator[CapsuleCreate]: ...
    @overload
    def on(
        self,
        event: Literal["capsule.pause", EventType.CAPSULE_PAUSE],
        *,
        outcome: OutcomeFilter = None,
    ) -> Decorator[CapsulePause]: ...
    @overload
    def on(
        self,
        event: Literal["capsule.resume", EventType.CAPSULE_RESUME],
        *,
        outcome: OutcomeFilter = None,
    ) -> Decorator[CapsuleResume]: ...
    @overload
    def on(
        self,
        event: Literal["capsule.destroy", EventType.CAPSULE_DESTROY],
        *,
        outcome: OutcomeFilter = None,
    ) -> Decorator[CapsuleDestroy]: ...
    @overload
    def on(
        self,
        event: Literal["template.snapshot.create", EventType.SNAPSHOT_CREATE],
        *,
        outcome: OutcomeFilter = None,
    ) -> Decorator[SnapshotCreate]: ...
    @overload
    def on(
        self,
        event: Literal["template.snapshot.delete", EventType.SNAPSHOT_DELETE],
        *,
        outcome: OutcomeFilter = None,
    ) -> Decorator[SnapshotDelete]: ...
    @overload
    def on(
        self, event: Literal["host.up", EventType.HOST_UP], *, outcome: OutcomeFilter = None
    ) -> Decorator[HostUp]: ...
    @overload
    def on(
        self, event: Literal["host.down", EventType.HOST_DOWN], *, outcome: OutcomeFilter = None
    ) -> Decorator[HostDown]: ...
    @overload
    def on(
        self,
        event: Literal["capsule.state.changed", EventType.CAPSULE_STATE_CHANGED],
        *,
        outcome: OutcomeFilter = None,
    ) -> Decorator[CapsuleStateChanged]: ...
    @overload
    def on(
        self,
        event: Literal["channel.test", EventType.CHANNEL_TEST],
        *,
        outcome: OutcomeFilter = None,
    ) -> Decorator[ChannelTest]: ...
    @overload
    def on(self, event: Patterns = "*", *, outcome: OutcomeFilter = None) -> Callable[[F], F]: ...

    def on(self, event: Patterns = "*", *, outcome: OutcomeFilter = None) -> Callable[[F], F]:
        """Register the decorated function as a handler; it is returned unchanged.

        ``@receiver.on("capsule.pause", outcome="error")`` runs the function for
        failed pauses only. See ``add()`` for the arguments and errors.
        """

        def decorator(handler: F) -> F:
            self.add(handler, event, outcome=outcome)
            return handler

        return decorator

    def include_router(self, router: Router) -> None:
        """Add every handler registered on ``router``, which then accepts no more."""
        self._check_open()
        for route in router.routes:
            self._routes.append(dataclasses.replace(route, name=self._unique_name(route.name)))
        router._seal("include_router()")

    def _check_open(self) -> None:
        if self._sealed_by:
            raise ConfigurationError(
                f"cannot register handlers on this {type(self).__name__} after "
                f"{self._sealed_by}; register every handler at start-up"
            )

    def _unique_name(self, name: str) -> str:
        # Completion is recorded by name, so two handlers must never share one.
        taken = {route.name for route in self._routes}
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name}#{n}"
        return unique

    def _seal(self, why: str) -> None:
        self._sealed_by = why


def _patterns(event: Patterns) -> tuple[str, ...]:
    items = [event] if isinstance(event, str) else list(event)
    if not items or not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError("event must be a non-empty type or glob, or a list of them")
    return tuple(str(item) for item in items)


def _outcome(outcome: OutcomeFilter) -> str | None:
    if outcome is None:
        return None
    if outcome not in ("success", "error"):
        raise ConfigurationError(f"outcome must be None, 'success' or 'error', not {outcome!r}")
    return str(outcome)


def _check_reachable(patterns: tuple[str, ...], outcome: str | None) -> None:
    for pattern in patterns:
        matched = [kind for kind in _KNOWN if fnmatchcase(kind, pattern)]
        if not matched:
            close = difflib.get_close_matches(pattern, sorted(_KNOWN), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            warnings.warn(
                f"{pattern!r} matches no Wrenn event type this SDK knows{hint} "
                "(a newer Wrenn may still send it)",
                UnknownEventTypeWarning,
                stacklevel=4,
            )
        elif outcome is not None and not any(
            EVENT_CLASSES[kind].has_outcome if kind in EVENT_CLASSES else kind in NEWER_EVENT_TYPES
            for kind in matched
        ):
            raise ConfigurationError(
                f"{pattern!r} events carry no outcome, so outcome={outcome!r} never matches; "
                "drop outcome="
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

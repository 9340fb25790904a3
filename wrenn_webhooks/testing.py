"""Build, sign and deliver Wrenn events in your own tests.

``make_event`` builds a realistic event of any type, as Wrenn 0.2 or 0.1.5
sends it, ``signed_request`` signs it as Wrenn does, and ``deliver`` sends it
to a ``WebhookReceiver`` or a web framework's test client, retries included.
``FrozenClock`` keeps the signing time and the receiver's clock in step.
Nothing here imports pytest or Flask.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import random
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypeVar, overload

from . import _headers
from .encoding import encode_event
from .errors import ConfigurationError
from .events import EVENT_CLASSES, ActorKind, Event, EventType, Outcome, parse_event
from .receiver import Response, WebhookReceiver
from .signature import sign

__all__ = [
    "DeliveryResult",
    "EventFactory",
    "FrozenClock",
    "adeliver",
    "api_gateway_event",
    "deliver",
    "encode_event",
    "function_url_event",
    "make_event",
    "signed_request",
]

_UTC = dt.timezone.utc
E = TypeVar("E", bound=Event)


class _Default:
    def __repr__(self) -> str:
        return "<default>"


_DEFAULT: Final = _Default()
"""``outcome`` not given: ``"success"`` for types that carry an outcome, else none."""

_OutcomeArg = Outcome | str | None | _Default
_Now = dt.datetime | float | Callable[[], float] | None
_WrennVersion = Literal["0.2", "0.1.5"]

# --- Wrenn 0.1.5 ----------------------------------------------------------

_SAME_NAME_IN_0_1_5: Final = (EventType.HOST_UP, EventType.HOST_DOWN)
"""The types Wrenn 0.1.5 sends under their current names (``AllEventTypes`` in its
``pkg/events``); it sends each other type it has under the member's ``older_names``."""


def _names_0_1_5() -> dict[str, str]:
    """Each name ``make_event`` takes for Wrenn 0.1.5, current or older: the name 0.1.5 sends."""
    names: dict[str, str] = {}
    for member in EventType:  # the seed's order, which is also 0.1.5's
        if member.older_names:
            names[member.value] = member.older_names[0]
            names.update((older, older) for older in member.older_names)
        elif member in _SAME_NAME_IN_0_1_5:
            names[member.value] = member.value
    return names


_NAMES_0_1_5: Final = _names_0_1_5()


def _as_sent_by_0_1_5(kind: str, outcome: _OutcomeArg, overrides: dict[str, Any]) -> str:
    """The name Wrenn 0.1.5 sends ``kind`` under (``capsule.pause``: ``capsule.paused``).

    Raises:
        ConfigurationError: 0.1.5 sends no such type, or an outcome, metadata
            or error was asked for: its ``Event`` struct has none of them.
    """
    sent = _NAMES_0_1_5.get(kind)
    if sent is None:
        close = difflib.get_close_matches(kind, list(_NAMES_0_1_5), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        sends = ", ".join(dict.fromkeys(_NAMES_0_1_5.values()))
        raise ConfigurationError(
            f"Wrenn 0.1.5 does not send {kind!r}{hint}; it sends {sends}"
            " (each also given by its current name)"
        )
    asked = outcome is not None and not isinstance(outcome, _Default)
    if asked or any(overrides.get(name) for name in ("metadata", "error")):
        raise ConfigurationError(
            "Wrenn 0.1.5 sends no outcome, metadata or error: leave them out, or build"
            ' the event for wrenn_version="0.2"'
        )
    return sent


# --- make_event -------------------------------------------------------------

_SUFFIX_ALPHABET = string.digits + string.ascii_lowercase


def _suffix(rng: random.Random) -> str:
    # 25 lowercase base36 characters, like the ids in the protocol's examples.
    return "".join(rng.choice(_SUFFIX_ALPHABET) for _ in range(25))


_NEW_NAMES: Final = {older: member.value for member in EventType for older in member.older_names}
"""The current name of each name Wrenn 0.1.5 servers send."""


def _model(kind: str) -> type[Event] | None:
    """The class whose example an event of ``kind`` follows, if any."""
    cls = EVENT_CLASSES.get(_NEW_NAMES.get(kind, kind))
    if cls is None:  # an unknown name: like the first known type of its family
        family = kind.split(".", 1)[0]
        cls = next((c for t, c in EVENT_CLASSES.items() if t.split(".", 1)[0] == family), None)
    return cls


def _fields(kind: str, rng: random.Random) -> dict[str, Any]:
    """The realistic team, actor, resource and metadata of an event of ``kind``."""
    # Draw every id in a fixed order, so that a seed gives the same event each time.
    team, user, key, resource_suffix = (_suffix(rng) for _ in range(4))
    actors = {
        ActorKind.USER: {"type": "user", "id": f"usr-{user}", "name": "ada"},
        ActorKind.API_KEY: {"type": "api_key", "id": f"key-{key}", "name": "ci-deploy"},
        ActorKind.SYSTEM: {"type": "system"},
    }
    cls = _model(kind)
    if cls is None:  # a resource named after the type's first segment
        family = kind.split(".", 1)[0]
        return {
            "team_id": f"team-{team}",
            "actor": actors[ActorKind.USER],
            "resource": {"id": f"{family}-{resource_suffix}", "type": family},
        }
    example = cls.example
    prefix = example.id_prefix or cls.resource_type
    fields: dict[str, Any] = {
        "team_id": example.team_id or f"team-{team}",
        "actor": actors[example.actor],
        "resource": {
            "id": example.resource_id or f"{prefix}-{resource_suffix}",
            "type": cls.resource_type,
        },
    }
    if kind in EVENT_CLASSES and example.metadata:  # 0.1.x servers sent no metadata
        fields["metadata"] = dict(example.metadata)
    return fields


def _has_outcome(kind: str) -> bool:
    cls = EVENT_CLASSES.get(kind)
    return bool(cls is not None and cls.has_outcome)


def _moment(now: _Now) -> dt.datetime:
    if now is None:
        moment = dt.datetime.now(_UTC)
    elif isinstance(now, dt.datetime):
        if now.tzinfo is None:
            raise ConfigurationError("now must be timezone-aware")
        moment = now.astimezone(_UTC)
    else:
        seconds = now() if callable(now) else now
        moment = dt.datetime.fromtimestamp(seconds, _UTC)
    return moment.replace(microsecond=0)  # Wrenn's timestamps are whole seconds


# A class key gives its class; a string key (wire string or EventType) gives
# ``Event``, whatever the type: one overload per class would be one more list
# of every type to keep in step with the table.
@overload
def make_event(
    event_type: type[E],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    wrenn_version: _WrennVersion = ...,
    **overrides: Any,
) -> E: ...
@overload
def make_event(
    event_type: str | EventType = ...,
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    wrenn_version: _WrennVersion = ...,
    **overrides: Any,
) -> Event: ...


def make_event(
    event_type: str | EventType | type[Event] = EventType.CAPSULE_PAUSE,
    *,
    outcome: _OutcomeArg = _DEFAULT,
    now: _Now = None,
    seed: int | None = None,
    wrenn_version: _WrennVersion = "0.2",
    **overrides: Any,
) -> Event:
    """Build a realistic event of any type, as the typed class ``parse_event`` gives.

    Each type gets the actor, resource and metadata Wrenn sends with it (the
    class's ``example``): a system actor and ``reason="ttl_expired"`` for
    ``capsule.pause`` and ``capsule.destroy``, a ``template`` for
    ``capsule.create``, a snapshot named after its template, a host for
    ``host.*``, the fixed ``"test"`` ids of ``channel.test``, ``from``/``to``
    for ``capsule.state.changed``, a volume ``name`` for ``volume.*``. Types
    from 0.1.x servers carry no outcome, metadata or error. A type nobody
    knows gives a plain ``Event``, with the actor and resource of the first
    known type of its family (``capsule.*``, ``host.*``, ...), or a resource
    named after its first segment.

    Ids look like Wrenn's (``team-``, ``usr-``, ``key-``, ``sb-``, ``host-``,
    ``vol-`` and 25 base36 characters) and are random, so two events never
    share a body and never count as each other's redelivery; pass ``seed`` to
    get the same ids every time.

    Args:
        event_type: An event class such as ``CapsulePause`` (the result is
            typed as that class), or a wire string or ``EventType`` (typed as
            ``Event``). Default ``capsule.pause``.
        outcome: Default ``"success"`` for types that carry an outcome and none
            for the others. ``"error"`` also sets a realistic ``error``.
        now: The event's ``timestamp``: an aware ``datetime``, POSIX seconds or
            a clock such as ``FrozenClock``; default the current time. Cut to
            whole seconds, as Wrenn's are.
        seed: Makes the ids reproducible.
        wrenn_version: ``"0.2"``, the current format, by default. ``"0.1.5"``
            builds the event as a Wrenn 0.1.5 server sends it: under the name
            0.1.5 gives its type (``capsule.pause`` becomes ``capsule.paused``;
            an older name is taken as it is), with no outcome, metadata or
            error. ``encode_event`` then writes that server's exact bytes, and
            the event is what a receiver parses them into: the class of the
            current name, with ``sent_as`` the name sent.
        **overrides: Fields to set as given, replacing the defaults:
            ``team_id``, ``actor`` (a dict or ``Actor``), ``resource``,
            ``metadata``, ``timestamp``, ``error``, or fields Wrenn does not
            send (kept as extra fields, as a newer server's would be).

    Raises:
        InvalidPayload: An override does not fit the event model.
        ConfigurationError: ``now`` is a naive ``datetime``; ``event_type``
            is empty or a class without a type (``Event`` itself); or, for
            ``wrenn_version="0.1.5"``, a type 0.1.5 does not send (such as
            ``channel.test`` or ``volume.create``) or an outcome, metadata or error.
    """
    kind = str(event_type.event_type if isinstance(event_type, type) else event_type)
    if not kind:
        raise ConfigurationError("event_type must be a non-empty event type or an event class")
    if wrenn_version == "0.1.5":
        kind, outcome = _as_sent_by_0_1_5(kind, outcome, overrides), None
    elif wrenn_version != "0.2":
        raise ConfigurationError(f"wrenn_version must be '0.1.5' or '0.2', not {wrenn_version!r}")
    if isinstance(outcome, _Default):
        outcome = Outcome.SUCCESS if _has_outcome(kind) else None
    data: dict[str, Any] = {"event": kind, "outcome": outcome, "timestamp": _moment(now)}
    data.update(_fields(kind, random.Random(seed)))
    if outcome == Outcome.ERROR:
        data["error"] = EVENT_CLASSES.get(kind, Event).example.error
    data.update(overrides)
    return parse_event(data)


class EventFactory(Protocol):
    """The type of ``make_event`` and of the ``wrenn_event`` fixture.

    An event class gives an event typed as that class; a string, ``Event``.
    """

    @overload
    def __call__(
        self,
        event_type: type[E],
        *,
        outcome: _OutcomeArg = ...,
        now: _Now = ...,
        seed: int | None = ...,
        wrenn_version: _WrennVersion = ...,
        **overrides: Any,
    ) -> E: ...
    @overload
    def __call__(
        self,
        event_type: str | EventType = ...,
        *,
        outcome: _OutcomeArg = ...,
        now: _Now = ...,
        seed: int | None = ...,
        wrenn_version: _WrennVersion = ...,
        **overrides: Any,
    ) -> Event: ...


# --- signing and delivering ------------------------------------------------


def signed_request(
    event_or_body: Event | bytes,
    secret: str,
    *,
    timestamp: dt.datetime | str | None = None,
    delivery_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """Return the body and headers of one delivery attempt, signed as Wrenn signs it.

    Args:
        event_or_body: An event, encoded with ``encode_event``, or exact body bytes.
        secret: The channel secret.
        timestamp: The signing time (``X-Wrenn-Timestamp``); a ``str`` is sent
            verbatim. Default: now.
        delivery_id: Default: a new random UUID, as each of Wrenn's attempts has.
    """
    body = _body(event_or_body)
    headers = {"Content-Type": "application/json"}
    headers.update(sign(body, secret, timestamp=timestamp, delivery_id=delivery_id))
    return body, headers


@dataclass(frozen=True)
class DeliveryResult:
    """What the receiver answered to one delivery attempt.

    Attributes:
        status_code: The HTTP status.
        body: The JSON answer as a ``dict`` (empty if it was not a JSON object).
        delivery_id: The attempt's ``X-Wrenn-Delivery``.
        timestamp: The attempt's ``X-Wrenn-Timestamp``.
        response: The receiver's ``Response``, or the test client's response.
    """

    status_code: int
    body: dict[str, Any]
    delivery_id: str
    timestamp: str
    response: Any

    @property
    def ok(self) -> bool:
        """Whether Wrenn would count the attempt as delivered (a 2xx status)."""
        return 200 <= self.status_code < 300

    @property
    def duplicate(self) -> bool:
        """Whether the receiver recognised the attempt as a redelivery it had handled."""
        return self.body.get("duplicate") is True


class _Client(Protocol):
    def post(self, path: str, *args: Any, **kwargs: Any) -> Any: ...


def deliver(
    target: WebhookReceiver | _Client | Callable[..., Any],
    event_or_body: Event | bytes,
    secret: str,
    *,
    attempts: int = 1,
    path: str = "/webhooks/wrenn",
    clock: Callable[[], float] | None = None,
    spacing: Sequence[float] = (10, 30),
) -> list[DeliveryResult]:
    """Deliver one event ``attempts`` times, whatever the answers, as Wrenn's retries do.

    Every attempt sends the same body with a new delivery id and a new
    signing time, as when Wrenn's client timed out and tried again.

    Args:
        target: A ``WebhookReceiver`` (its ``handle()`` is called); a test
            client: Flask's ``app.test_client()``, Starlette's ``TestClient``
            or any ``httpx.Client``, Django's ``Client``; or a Lambda handler
            (``aws_lambda.lambda_handler(receiver)``), called with an HTTP API
            event. For async clients, use ``adeliver``.
        event_or_body: The event, or exact body bytes.
        secret: The channel secret to sign with.
        attempts: How many times to send it; Wrenn makes at most 3.
        path: The URL path a test client posts to.
        clock: Signs each attempt at this clock's time; default the target's
            clock for a ``WebhookReceiver``, else the current time. A
            ``FrozenClock`` is advanced by ``spacing`` between attempts.
        spacing: Seconds between attempts; Wrenn waits 10 s, then 30 s. The
            last value repeats for any further attempt.

    Raises:
        ConfigurationError: ``attempts`` below 1, or no ``spacing`` for a retry.
        TypeError: ``target`` is none of those.
    """
    body, signed = _attempts(target, event_or_body, secret, attempts, clock, spacing)
    if not isinstance(target, WebhookReceiver) and not callable(target) and not _posts(target):
        raise TypeError(
            f"target must be a WebhookReceiver, a test client or a Lambda handler, "
            f"not {type(target).__name__}"
        )
    return [_attempt(target, body, headers, path) for headers in signed]


async def adeliver(
    target: WebhookReceiver | _Client,
    event_or_body: Event | bytes,
    secret: str,
    *,
    attempts: int = 1,
    path: str = "/webhooks/wrenn",
    clock: Callable[[], float] | None = None,
    spacing: Sequence[float] = (10, 30),
) -> list[DeliveryResult]:
    """``deliver`` for async tests: the same attempts, awaited.

    ``target`` is a ``WebhookReceiver`` (``handle_async()`` is awaited), an
    ``httpx.AsyncClient`` (say with ``httpx.ASGITransport(app=asgi_app)``),
    or Django's ``AsyncClient``. The arguments are ``deliver``'s.
    """
    body, signed = _attempts(target, event_or_body, secret, attempts, clock, spacing)
    if not isinstance(target, WebhookReceiver) and not _posts(target):
        raise TypeError(
            f"target must be a WebhookReceiver or an async test client, not {type(target).__name__}"
        )
    results: list[DeliveryResult] = []
    for headers in signed:
        delivery_id, timestamp = headers[_headers.DELIVERY], headers[_headers.TIMESTAMP]
        if isinstance(target, WebhookReceiver):
            answer: Response = await target.handle_async(body, headers)
            results.append(
                DeliveryResult(answer.status_code, answer.body, delivery_id, timestamp, answer)
            )
            continue
        reply = await _post(target, path, body, headers)
        results.append(_result(reply, delivery_id, timestamp))
    return results


def _attempts(
    target: object,
    event_or_body: Event | bytes,
    secret: str,
    attempts: int,
    clock: Callable[[], float] | None,
    spacing: Sequence[float],
) -> tuple[bytes, Iterator[dict[str, str]]]:
    """The body, and the headers of each attempt, signed as the clock moves on."""
    if attempts < 1:
        raise ConfigurationError("attempts must be at least 1")
    if attempts > 1 and not spacing:
        raise ConfigurationError("spacing needs at least one value to space retries")
    if clock is None and isinstance(target, WebhookReceiver):
        clock = target.clock
    body = _body(event_or_body)

    def each() -> Iterator[dict[str, str]]:
        for attempt in range(attempts):
            if attempt and isinstance(clock, FrozenClock):
                clock.advance(spacing[min(attempt, len(spacing)) - 1])
            moment = None if clock is None else dt.datetime.fromtimestamp(clock(), _UTC)
            yield signed_request(body, secret, timestamp=moment)[1]

    return body, each()


def _attempt(target: Any, body: bytes, headers: dict[str, str], path: str) -> DeliveryResult:
    delivery_id, timestamp = headers[_headers.DELIVERY], headers[_headers.TIMESTAMP]
    if isinstance(target, WebhookReceiver):
        answer: Response = target.handle(body, headers)
        return DeliveryResult(answer.status_code, answer.body, delivery_id, timestamp, answer)
    if not _posts(target):  # a Lambda handler
        reply = target(api_gateway_event(body, headers, version="2.0", path=path))
        data = _json_object(reply.get("body"))
        return DeliveryResult(int(reply["statusCode"]), data, delivery_id, timestamp, reply)
    return _result(_post(target, path, body, headers), delivery_id, timestamp)


def _posts(target: object) -> bool:
    return callable(getattr(target, "post", None))


def _post(target: _Client, path: str, body: bytes, headers: dict[str, str]) -> Any:
    """POST the raw body with each kind of test client's own spelling of it."""
    kinds = {cls.__module__.partition(".")[0] for cls in type(target).__mro__}
    if kinds & {"httpx", "httpx2"}:  # Starlette's TestClient too; data= is for forms there
        return target.post(path, content=body, headers=headers)
    if "django" in kinds:  # raw bytes need a content type; headers= since Django 4.2
        return target.post(path, body, content_type="application/json", headers=headers)
    return target.post(path, data=body, headers=headers)


def _result(reply: Any, delivery_id: str, timestamp: str) -> DeliveryResult:
    status: Any = getattr(reply, "status_code", None)
    return DeliveryResult(int(status), _json_body(reply), delivery_id, timestamp, reply)


def _body(event_or_body: Event | bytes) -> bytes:
    if isinstance(event_or_body, Event):
        return encode_event(event_or_body)
    if isinstance(event_or_body, (bytes, bytearray, memoryview)):
        return bytes(event_or_body)
    raise TypeError(f"expected an Event or bytes, not {type(event_or_body).__name__}")


def _json_body(reply: Any) -> dict[str, Any]:
    get_json = getattr(reply, "get_json", None)  # Flask and werkzeug responses
    if callable(get_json):
        data = get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return _json_object(getattr(reply, "content", None) or getattr(reply, "data", b""))


def _json_object(raw: Any) -> dict[str, Any]:
    """``raw`` parsed as a JSON object; empty for anything else."""
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        data = None
    return data if isinstance(data, dict) else {}


# --- FrozenClock -----------------------------------------------------------


class FrozenClock:
    """A clock that moves only when told to: pass it as ``WebhookReceiver(clock=...)``.

    Calling it returns POSIX seconds. Use ``clock()`` as ``now=`` for
    ``verify``, and the same clock for ``deliver`` so the signing time and the
    receiver's time agree.

    Args:
        start: An aware ``datetime`` or POSIX seconds; default the current
            time at whole seconds, so deliveries signed at this clock's time
            also pass a receiver that reads the real clock.
    """

    def __init__(self, start: dt.datetime | float | None = None) -> None:
        self._now = 0.0
        if start is None:
            self.set(dt.datetime.now(_UTC).replace(microsecond=0))
        else:
            self.set(start)

    def __call__(self) -> float:
        return self._now

    def __repr__(self) -> str:
        return f"FrozenClock({self.datetime.isoformat()!r})"

    @property
    def now(self) -> float:
        """The clock's time, in POSIX seconds."""
        return self._now

    @property
    def datetime(self) -> dt.datetime:
        """The clock's time, as an aware UTC ``datetime``."""
        return dt.datetime.fromtimestamp(self._now, _UTC)

    def advance(self, seconds: float | dt.timedelta) -> None:
        """Move the clock forward (or back, with a negative value)."""
        step = seconds.total_seconds() if isinstance(seconds, dt.timedelta) else float(seconds)
        self._now += step

    def set(self, moment: dt.datetime | float) -> None:
        """Set the clock to an aware ``datetime`` or to POSIX seconds.

        Raises:
            ConfigurationError: ``moment`` is a naive ``datetime``.
        """
        if isinstance(moment, dt.datetime):
            if moment.tzinfo is None:
                raise ConfigurationError("the clock's time must be timezone-aware")
            self._now = moment.timestamp()
        else:
            self._now = float(moment)


# --- AWS Lambda events -----------------------------------------------------

_ACCOUNT = "123456789012"
_REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
_SOURCE_IP = "203.0.113.7"
_USER_AGENT = "Go-http-client/1.1"  # Wrenn's sender is Go's net/http client


def api_gateway_event(
    body: bytes,
    headers: dict[str, str] | Sequence[tuple[str, str]] | None = None,
    *,
    version: str = "1.0",
    method: str = "POST",
    path: str = "/webhooks/wrenn",
    base64_encoded: bool = False,
) -> dict[str, Any]:
    """Build the event API Gateway gives a Lambda function for one request.

    Pass the body and headers of ``signed_request`` to get a delivery as the
    function receives it: ``api_gateway_event(*signed_request(event, secret))``.

    Args:
        body: The exact request body.
        headers: A ``dict``, or ``(name, value)`` pairs to send a header more
            than once.
        version: ``"1.0"``, the payload format of REST APIs: ``httpMethod``,
            ``path``, ``headers`` (a repeated header's last value) and
            ``multiValueHeaders`` (all of them), an empty body as ``null``.
            ``"2.0"``, that of HTTP APIs: ``"version": "2.0"``, ``rawPath``,
            ``requestContext.http.method``, header names in lower case with a
            repeated header's values joined by commas, ``Cookie`` headers moved
            to ``cookies``, no ``body`` key for an empty body.
        method: The request's method.
        path: The request's path.
        base64_encoded: Send the body base64-encoded with ``isBase64Encoded``
            set, as API Gateway does for binary media types.

    Raises:
        ConfigurationError: ``version`` is neither ``"1.0"`` nor ``"2.0"``, or the
            body is not UTF-8 and ``base64_encoded`` is false (API Gateway would
            have encoded it).
    """
    if version == "1.0":
        return _rest_event(body, headers, method, path, base64_encoded)
    if version != "2.0":
        raise ConfigurationError(f'version must be "1.0" or "2.0", not {version!r}')
    context = {
        "apiId": "r3pmxmplak",
        "domainName": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "r3pmxmplak",
        "routeKey": f"{method} {path}",
        "stage": "$default",
    }
    return _http_event(body, headers, method, path, base64_encoded, context)


def function_url_event(
    body: bytes,
    headers: dict[str, str] | Sequence[tuple[str, str]] | None = None,
    *,
    method: str = "POST",
    path: str = "/",
    base64_encoded: bool = False,
) -> dict[str, Any]:
    """Build the event a Lambda function URL gives its function for one request.

    The payload format 2.0 of ``api_gateway_event(version="2.0")``, with the
    request context of a function URL (``<url-id>.lambda-url.<region>.on.aws``,
    route and stage ``$default``). The arguments are those of
    ``api_gateway_event``; ``path`` is ``/`` by default, the URL itself.

    Raises:
        ConfigurationError: The body is not UTF-8 and ``base64_encoded`` is false.
    """
    url_id = "a2b3c4d5e6f7g8h9i0j1k2l3m4n5o6p7"
    context = {
        "apiId": url_id,
        "domainName": f"{url_id}.lambda-url.us-east-1.on.aws",
        "domainPrefix": url_id,
        "routeKey": "$default",
        "stage": "$default",
    }
    return _http_event(body, headers, method, path, base64_encoded, context)


def _lambda_body(body: bytes, base64_encoded: bool) -> str:
    """The body as an event carries it: text, or base64 text."""
    import base64

    if base64_encoded:
        return base64.b64encode(body).decode("ascii")
    try:
        return bytes(body).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(
            "the body is not UTF-8 text: pass base64_encoded=True, as API Gateway and"
            " function URLs encode such a body"
        ) from None


def _header_pairs(
    headers: dict[str, str] | Sequence[tuple[str, str]] | None,
) -> list[tuple[str, str]]:
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


def _rest_event(
    body: bytes,
    headers: dict[str, str] | Sequence[tuple[str, str]] | None,
    method: str,
    path: str,
    base64_encoded: bool,
) -> dict[str, Any]:
    """A REST API's event (payload format 1.0)."""
    multi: dict[str, list[str]] = {}
    for name, value in _header_pairs(headers):
        multi.setdefault(name, []).append(value)
    now = dt.datetime.now(_UTC)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {name: values[-1] for name, values in multi.items()} or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": _ACCOUNT,
            "apiId": "1234567890",
            "httpMethod": method,
            "identity": {"sourceIp": _SOURCE_IP, "userAgent": _USER_AGENT},
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": _REQUEST_ID,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "resourcePath": path,
            "stage": "prod",
        },
        "body": _lambda_body(body, base64_encoded) if body else None,
        "isBase64Encoded": base64_encoded,
    }


def _http_event(
    body: bytes,
    headers: dict[str, str] | Sequence[tuple[str, str]] | None,
    method: str,
    path: str,
    base64_encoded: bool,
    context: dict[str, Any],
) -> dict[str, Any]:
    """An HTTP API's or a function URL's event (payload format 2.0)."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in _header_pairs(headers):
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        else:
            joined[key] = f"{joined[key]},{value}" if key in joined else value
    now = dt.datetime.now(_UTC)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": context["routeKey"],
        "rawPath": path,
        "rawQueryString": "",
        "headers": joined,
        "requestContext": {
            **context,
            "accountId": _ACCOUNT,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": _SOURCE_IP,
                "userAgent": _USER_AGENT,
            },
            "requestId": _REQUEST_ID,
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": base64_encoded,
    }
    if cookies:
        event["cookies"] = cookies
    if body:
        event["body"] = _lambda_body(body, base64_encoded)
    return event

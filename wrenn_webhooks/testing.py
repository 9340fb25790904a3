"""Build, sign and deliver Wrenn events in your own tests.

``make_event`` builds a realistic event of any type, ``signed_request`` signs
it as Wrenn does, and ``deliver`` sends it to a ``WebhookReceiver`` or a web
framework's test client, retries included. ``FrozenClock`` keeps the signing
time and the receiver's clock in step. Nothing here imports pytest or Flask.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, overload

from . import _headers
from .encoding import encode_event
from .errors import ConfigurationError
from .events import (
    EVENT_CLASSES,
    NEWER_EVENT_TYPES,
    CapsuleCreate,
    CapsuleDestroy,
    CapsulePause,
    CapsuleResume,
    CapsuleStateChanged,
    ChannelTest,
    Event,
    EventType,
    HostDown,
    HostUp,
    Outcome,
    SnapshotCreate,
    SnapshotDelete,
    parse_event,
)
from .receiver import Response, WebhookReceiver
from .signature import sign

__all__ = [
    "DeliveryResult",
    "FrozenClock",
    "deliver",
    "encode_event",
    "make_event",
    "signed_request",
]

_UTC = dt.timezone.utc


class _Default:
    def __repr__(self) -> str:
        return "<default>"


_DEFAULT: Final = _Default()
"""``outcome`` not given: ``"success"`` for types that carry an outcome, else none."""

_OutcomeArg = Outcome | str | None | _Default
_Now = dt.datetime | float | Callable[[], float] | None

# --- make_event -------------------------------------------------------------

_SUFFIX_ALPHABET = string.digits + string.ascii_lowercase

# The failure reason an event of each type carries with ``outcome="error"``.
_ERRORS = {
    "capsule.create": "no host has enough free memory for the capsule",
    "capsule.pause": "host unreachable",
    "capsule.resume": "restore from snapshot: host unreachable",
    "capsule.destroy": "host unreachable",
    "template.snapshot.create": "write snapshot: no space left on device",
    "template.snapshot.delete": "remove snapshot files: host unreachable",
    "volume.create": "volume quota exceeded for team",
    "volume.delete": "volume is attached to a running capsule",
}
_DEFAULT_ERROR = "internal error"


def _suffix(rng: random.Random) -> str:
    # 25 lowercase base36 characters, like the ids in the protocol's examples.
    return "".join(rng.choice(_SUFFIX_ALPHABET) for _ in range(25))


def _fields(kind: str, rng: random.Random) -> dict[str, Any]:
    """The realistic team, actor, resource and metadata of an event of ``kind``."""
    # Draw every id in a fixed order, so that a seed gives the same event each time.
    team, user, key, sandbox, host, volume = (
        f"{prefix}-{_suffix(rng)}" for prefix in ("team", "usr", "key", "sb", "host", "vol")
    )
    system = {"type": "system"}
    person = {"type": "user", "id": user, "name": "ada"}
    on_sandbox = {"id": sandbox, "type": "sandbox"}
    on_snapshot = {"id": "python-ml", "type": "snapshot"}  # a snapshot's id is its template name
    fields: dict[str, Any] = {"team_id": team, "actor": person, "resource": on_sandbox}
    family = kind.split(".", 1)[0]
    if kind == "capsule.create":
        fields["metadata"] = {"template": "python-3.12"}
    elif kind in ("capsule.pause", "capsule.destroy"):
        # System-initiated, as an auto-pause or a TTL clean-up is.
        fields.update(actor=system, metadata={"reason": "ttl_expired"})
    elif kind == "capsule.resume":
        fields["actor"] = {"type": "api_key", "id": key, "name": "ci-deploy"}
    elif kind == "capsule.state.changed":
        fields.update(actor=system, metadata={"from": "running", "to": "paused"})
    elif kind == "channel.test":
        fields.update(team_id="test", actor=system, resource={"id": "test", "type": "channel"})
    elif family == "template":
        fields["resource"] = on_snapshot
    elif family == "host":
        fields.update(actor=system, resource={"id": host, "type": "host"})
    elif family == "volume":
        fields.update(resource={"id": volume, "type": "volume"})
        if kind in NEWER_EVENT_TYPES:
            fields["metadata"] = {"name": "data"}
    elif family != "capsule":
        # A type nobody knows yet: a resource named after its first segment.
        fields["resource"] = {"id": f"{family}-{_suffix(rng)}", "type": family}
    return fields


def _has_outcome(kind: str) -> bool:
    cls = EVENT_CLASSES.get(kind)
    return bool(cls.has_outcome) if cls is not None else kind in NEWER_EVENT_TYPES


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


@overload
def make_event(
    event_type: Literal["capsule.create", EventType.CAPSULE_CREATE],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> CapsuleCreate: ...
@overload
def make_event(
    event_type: Literal["capsule.pause", EventType.CAPSULE_PAUSE] = ...,
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> CapsulePause: ...
@overload
def make_event(
    event_type: Literal["capsule.resume", EventType.CAPSULE_RESUME],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> CapsuleResume: ...
@overload
def make_event(
    event_type: Literal["capsule.destroy", EventType.CAPSULE_DESTROY],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> CapsuleDestroy: ...
@overload
def make_event(
    event_type: Literal["template.snapshot.create", EventType.SNAPSHOT_CREATE],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> SnapshotCreate: ...
@overload
def make_event(
    event_type: Literal["template.snapshot.delete", EventType.SNAPSHOT_DELETE],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> SnapshotDelete: ...
@overload
def make_event(
    event_type: Literal["host.up", EventType.HOST_UP],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> HostUp: ...
@overload
def make_event(
    event_type: Literal["host.down", EventType.HOST_DOWN],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> HostDown: ...
@overload
def make_event(
    event_type: Literal["capsule.state.changed", EventType.CAPSULE_STATE_CHANGED],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> CapsuleStateChanged: ...
@overload
def make_event(
    event_type: Literal["channel.test", EventType.CHANNEL_TEST],
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> ChannelTest: ...
@overload
def make_event(
    event_type: str | EventType = ...,
    *,
    outcome: _OutcomeArg = ...,
    now: _Now = ...,
    seed: int | None = ...,
    **overrides: Any,
) -> Event: ...


def make_event(
    event_type: str | EventType = EventType.CAPSULE_PAUSE,
    *,
    outcome: _OutcomeArg = _DEFAULT,
    now: _Now = None,
    seed: int | None = None,
    **overrides: Any,
) -> Event:
    """Build a realistic event of any type, as the typed class ``parse_event`` gives.

    Each type gets the actor, resource and metadata Wrenn sends with it: a
    system actor and ``reason="ttl_expired"`` for ``capsule.pause`` and
    ``capsule.destroy``, a ``template`` for ``capsule.create``, a snapshot named
    after its template, a host for ``host.*``, the fixed ``"test"`` ids of
    ``channel.test``, ``from``/``to`` for ``capsule.state.changed``, a volume
    ``name`` for ``volume.*``. Types from 0.1.x servers carry no outcome,
    metadata or error. A type nobody knows gives a plain ``Event``.

    Ids look like Wrenn's (``team-``, ``usr-``, ``key-``, ``sb-``, ``host-``
    and 25 base36 characters) and are random, so two events never share a body
    and never count as each other's redelivery; pass ``seed`` to get the same
    ids every time.

    Args:
        event_type: The wire string or ``EventType``.
        outcome: Default ``"success"`` for types that carry an outcome and none
            for the others. ``"error"`` also sets a realistic ``error``.
        now: The event's ``timestamp``: an aware ``datetime``, POSIX seconds or
            a clock such as ``FrozenClock``; default the current time. Cut to
            whole seconds, as Wrenn's are.
        seed: Makes the ids reproducible.
        **overrides: Fields to set as given, replacing the defaults:
            ``team_id``, ``actor`` (a dict or ``Actor``), ``resource``,
            ``metadata``, ``timestamp``, ``error``, or fields Wrenn does not
            send (kept as extra fields, as a newer server's would be).

    Raises:
        InvalidPayload: An override does not fit the event model.
        ConfigurationError: ``now`` is a naive ``datetime``.
    """
    kind = str(event_type)
    if not kind:
        raise ConfigurationError("event_type must be a non-empty event type")
    if isinstance(outcome, _Default):
        outcome = Outcome.SUCCESS if _has_outcome(kind) else None
    data: dict[str, Any] = {"event": kind, "outcome": outcome, "timestamp": _moment(now)}
    data.update(_fields(kind, random.Random(seed)))
    if outcome == Outcome.ERROR:
        data["error"] = _ERRORS.get(kind, _DEFAULT_ERROR)
    data.update(overrides)
    return parse_event(data)


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
    def post(self, path: str, *, data: bytes, headers: dict[str, str]) -> Any: ...


def deliver(
    target: WebhookReceiver | _Client,
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
        target: A ``WebhookReceiver`` (its ``handle()`` is called) or a test
            client with ``post(path, data=..., headers=...)``, such as
            Flask's ``app.test_client()``.
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
        TypeError: ``target`` is neither a receiver nor a test client.
    """
    if attempts < 1:
        raise ConfigurationError("attempts must be at least 1")
    if attempts > 1 and not spacing:
        raise ConfigurationError("spacing needs at least one value to space retries")
    if not isinstance(target, WebhookReceiver) and not callable(getattr(target, "post", None)):
        raise TypeError(
            f"target must be a WebhookReceiver or a test client, not {type(target).__name__}"
        )
    if clock is None and isinstance(target, WebhookReceiver):
        clock = target.clock
    body = _body(event_or_body)
    results: list[DeliveryResult] = []
    for attempt in range(attempts):
        if attempt and isinstance(clock, FrozenClock):
            clock.advance(spacing[min(attempt, len(spacing)) - 1])
        moment = None if clock is None else dt.datetime.fromtimestamp(clock(), _UTC)
        _, headers = signed_request(body, secret, timestamp=moment)
        delivery_id, timestamp = headers[_headers.DELIVERY], headers[_headers.TIMESTAMP]
        if isinstance(target, WebhookReceiver):
            answer: Response = target.handle(body, headers)
            result = DeliveryResult(answer.status_code, answer.body, delivery_id, timestamp, answer)
        else:
            reply = target.post(path, data=body, headers=headers)
            result = DeliveryResult(
                int(reply.status_code), _json_body(reply), delivery_id, timestamp, reply
            )
        results.append(result)
    return results


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
    else:
        raw: Any = getattr(reply, "data", None) or getattr(reply, "content", b"")
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

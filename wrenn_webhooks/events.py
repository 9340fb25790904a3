"""Typed Wrenn events (pydantic v2), one class per event type.

The models mirror ``Event`` in Wrenn's ``pkg/events`` (see the protocol notes,
"Body"). They are immutable, keep unknown fields, and accept strings they do
not know for ``outcome`` and ``actor.type``, so bodies from newer and older
Wrenn servers parse. Validators are built once, at import.

``EventType`` is the one table of event types: its order, wire strings and
older names. Each class names its member once, as the tag of its ``event``
field; ``EVENT_CLASSES``, the parser, ``LEGACY_EVENT_TYPES``,
``KNOWN_EVENT_NAMES``, the docs tables and ``make_event``'s data derive from
the two. Adding a type takes a member, a class, and its export from the package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal, Union, cast, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    Tag,
    TypeAdapter,
    create_model,
)
from pydantic import ValidationError as _ValidationError
from pydantic_core import CoreSchema, core_schema

from ._text import printable
from .errors import InvalidPayload

__all__ = [
    "EVENT_CLASSES",
    "KNOWN_EVENT_NAMES",
    "LEGACY_EVENT_TYPES",
    "Actor",
    "ActorKind",
    "Event",
    "EventExample",
    "EventType",
    "Outcome",
    "Resource",
    "parse_event",
]  # and every class of the table, added below EVENT_CLASSES


class Outcome(str, Enum):
    """Whether an action succeeded; compares equal to its wire string."""

    SUCCESS = "success"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


class ActorKind(str, Enum):
    """What initiated an event; compares equal to its wire string."""

    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"

    def __str__(self) -> str:
        return self.value


class EventType(str, Enum):
    """Every event type this SDK has a class for: the one table of types.

    A member's value is its wire string, so it compares equal to
    ``"capsule.pause"`` and prints as it; ``older_names`` are the names Wrenn
    0.1.5 servers send for the same type, which parse into this type's class
    (see ``parse_event``). Members follow the order of Wrenn's seed, then the types it
    does not list. Each event class names its member once, as its tag
    (``event: Literal[EventType.CAPSULE_PAUSE]``); everything else derives.
    """

    _value_: str
    older_names: tuple[str, ...]
    """The names Wrenn 0.1.x servers send for this type, if they differ."""

    def __new__(cls, value: str, older_names: tuple[str, ...] = ()) -> EventType:
        member = str.__new__(cls, value)
        member._value_ = value
        member.older_names = older_names
        return member

    CAPSULE_CREATE = "capsule.create", ("capsule.created",)
    CAPSULE_PAUSE = "capsule.pause", ("capsule.paused",)
    CAPSULE_RESUME = "capsule.resume", ("capsule.running",)
    CAPSULE_DESTROY = "capsule.destroy", ("capsule.destroyed",)
    SNAPSHOT_CREATE = "template.snapshot.create", ("template.snapshot.created",)
    SNAPSHOT_DELETE = "template.snapshot.delete", ("template.snapshot.deleted",)
    HOST_UP = "host.up"  # the same name in 0.1.x
    HOST_DOWN = "host.down"
    CAPSULE_STATE_CHANGED = "capsule.state.changed"
    CHANNEL_TEST = "channel.test"  # sent by pkg/channels, not listed in the seed
    VOLUME_CREATE = "volume.create"  # servers newer than the seed (0.2.0)
    VOLUME_DELETE = "volume.delete"

    def __str__(self) -> str:
        return self._value_  # ``value`` is Any to mypy, as with any custom ``__new__``


@dataclass(frozen=True)
class EventExample:
    """What Wrenn typically sends with a type: the data ``make_event`` builds events from.

    Attributes:
        actor: Who usually triggers the type.
        metadata: The metadata Wrenn sends with it.
        error: A realistic failure reason, for ``outcome="error"``.
        id_prefix: The prefix of the resource's ids, such as ``"sb"``; empty
            for the resource type itself.
        resource_id: A fixed resource id (a snapshot's template name,
            ``channel.test``'s ``"test"``); empty for a random one.
        team_id: A fixed team id (``"test"`` for ``channel.test``); empty for a
            random one.
    """

    actor: ActorKind = ActorKind.USER
    metadata: Mapping[str, str] = field(default_factory=dict)
    error: str = "internal error"
    id_prefix: str = ""
    resource_id: str = ""
    team_id: str = ""

    def __post_init__(self) -> None:
        # Shared by every event of the type: read-only, so no test can change it for the next.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))


_CONFIG = ConfigDict(frozen=True, extra="allow")


class _RFC3339:
    """``timestamp``: an RFC 3339 string with a UTC offset, as Go writes it, then a datetime.

    Wrenn's sender writes nothing else, and pydantic's lax parse reads ``12``,
    ``"12"`` or ``"2026-05-24 21:10Z"`` as times (the first two in 1970).
    Checked and parsed in pydantic-core (a regex, then its datetime parser),
    so the hot path stays in Rust. From Python an aware ``datetime`` is
    accepted as well, so ``parse_event(event.model_dump())`` holds.
    """

    PATTERN = (
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
        r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
    )

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        text = core_schema.chain_schema(
            [
                core_schema.str_schema(pattern=self.PATTERN, max_length=40),
                core_schema.datetime_schema(tz_constraint="aware"),
            ]
        )
        aware = core_schema.datetime_schema(strict=True, tz_constraint="aware")
        return core_schema.custom_error_schema(
            core_schema.json_or_python_schema(
                json_schema=text, python_schema=core_schema.union_schema([aware, text])
            ),
            custom_error_type="rfc3339_timestamp",
            custom_error_message=(
                "Input should be an RFC 3339 time with a UTC offset, such as 2026-05-24T21:10:37Z"
            ),
        )


class Actor(BaseModel):
    """Who triggered an event. A system actor has neither ``id`` nor ``name``."""

    model_config = _CONFIG

    type: ActorKind | str = Field(union_mode="left_to_right")
    id: str | None = None
    name: str | None = None


class Resource(BaseModel):
    """The object an event relates to, such as ``{"id": "sb-…", "type": "sandbox"}``."""

    model_config = _CONFIG

    id: str
    type: str


class Event(BaseModel):
    """A Wrenn event. Unknown event types parse as this class, fields intact.

    Attributes:
        event: The event type: an ``EventType`` (which compares equal to its
            wire string, such as ``"capsule.pause"``) on the typed classes, the
            string as sent on ``Event``.
        outcome: ``Outcome.SUCCESS``, ``Outcome.ERROR``, ``None`` for types
            with no outcome, or an unknown string from a newer server.
        timestamp: When the event happened (not when it was signed).
        metadata: Event-specific context; empty when absent.
        error: The failure reason, with ``outcome == "error"`` only.
    """

    model_config = _CONFIG

    event: str
    outcome: Outcome | str | None = Field(default=None, union_mode="left_to_right")
    timestamp: Annotated[datetime, _RFC3339()]
    team_id: str
    actor: Actor
    resource: Resource
    metadata: dict[str, str] = Field(default_factory=dict)
    error: str | None = None

    event_type: ClassVar[str] = ""
    """The class's ``EventType`` member, read from its tag; empty on ``Event`` itself."""
    has_outcome: ClassVar[bool | None] = None
    """Whether events of this type carry an outcome; ``None`` when unknown."""
    resource_type: ClassVar[str] = ""
    metadata_keys: ClassVar[tuple[str, ...]] = ()
    subscribable: ClassVar[bool] = False
    """Whether a webhook channel can subscribe to this type."""
    example: ClassVar[EventExample] = EventExample()
    """What ``make_event`` gives an event of this type."""
    _older_name: ClassVar[str] = ""
    """Set on the classes ``_bridge`` makes: the older name their events were sent as."""

    @property
    def sent_as(self) -> str:
        """The type's name as the sender wrote it.

        ``event`` itself, except for an event a Wrenn 0.1.5 server sent under
        an older name: ``"capsule.paused"`` parses into ``CapsulePause``, whose
        ``event`` is ``"capsule.pause"`` and ``sent_as`` ``"capsule.paused"``.
        """
        return self._older_name or self.event

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        tags = get_args(cls.model_fields["event"].annotation)
        if tags:
            cls.event_type = tags[0]


class _CapsuleEvent(Event):
    resource_type: ClassVar[str] = "sandbox"
    has_outcome: ClassVar[bool | None] = True
    subscribable: ClassVar[bool] = True
    metadata_keys: ClassVar[tuple[str, ...]] = ("reason",)

    @property
    def capsule_id(self) -> str:
        """The capsule's (sandbox's) id, ``resource.id``."""
        return self.resource.id

    @property
    def reason(self) -> str | None:
        """``metadata["reason"]``, set when the system acted or inferred a failure."""
        return self.metadata.get("reason")


class _SnapshotEvent(Event):
    resource_type: ClassVar[str] = "snapshot"
    has_outcome: ClassVar[bool | None] = True
    subscribable: ClassVar[bool] = True

    @property
    def template_name(self) -> str:
        """The template's name, which is the snapshot's ``resource.id``."""
        return self.resource.id


class _HostEvent(Event):
    resource_type: ClassVar[str] = "host"
    has_outcome: ClassVar[bool | None] = False
    subscribable: ClassVar[bool] = True
    example: ClassVar[EventExample] = EventExample(actor=ActorKind.SYSTEM)

    @property
    def host_id(self) -> str:
        """The host's id, ``resource.id``."""
        return self.resource.id


class _VolumeEvent(Event):
    resource_type: ClassVar[str] = "volume"
    has_outcome: ClassVar[bool | None] = True
    # Not in the seed's SubscribableEventTypes (0.2.0): the newer servers that
    # send these types deliver them to webhooks (protocol notes, "Event types").
    subscribable: ClassVar[bool] = True
    metadata_keys: ClassVar[tuple[str, ...]] = ("name",)

    @property
    def volume_id(self) -> str:
        """The volume's id, ``resource.id``."""
        return self.resource.id

    @property
    def volume_name(self) -> str | None:
        """``metadata["name"]``: the volume's name."""
        return self.metadata.get("name")


class CapsuleCreate(_CapsuleEvent):
    """A capsule's first boot succeeded or failed (later boots are ``capsule.resume``)."""

    event: Literal[EventType.CAPSULE_CREATE]
    metadata_keys: ClassVar[tuple[str, ...]] = ("template", "reason")
    example: ClassVar[EventExample] = EventExample(
        metadata={"template": "python-3.12"},
        error="no host has enough free memory for the capsule",
        id_prefix="sb",
    )

    @property
    def template(self) -> str | None:
        """``metadata["template"]``: the template a user created the capsule from."""
        return self.metadata.get("template")


class CapsulePause(_CapsuleEvent):
    """A capsule was paused, by a user or automatically (``reason`` says why)."""

    event: Literal[EventType.CAPSULE_PAUSE]
    example: ClassVar[EventExample] = EventExample(
        # System-initiated, as an auto-pause is.
        actor=ActorKind.SYSTEM,
        metadata={"reason": "ttl_expired"},
        error="host unreachable",
        id_prefix="sb",
    )


class CapsuleResume(_CapsuleEvent):
    """A paused capsule was resumed."""

    event: Literal[EventType.CAPSULE_RESUME]
    example: ClassVar[EventExample] = EventExample(
        actor=ActorKind.API_KEY, error="restore from snapshot: host unreachable", id_prefix="sb"
    )


class CapsuleDestroy(_CapsuleEvent):
    """A capsule was destroyed (``reason`` such as ``ttl_expired`` or ``orphaned``)."""

    event: Literal[EventType.CAPSULE_DESTROY]
    example: ClassVar[EventExample] = EventExample(
        # System-initiated, as a TTL clean-up is.
        actor=ActorKind.SYSTEM,
        metadata={"reason": "ttl_expired"},
        error="host unreachable",
        id_prefix="sb",
    )


class SnapshotCreate(_SnapshotEvent):
    """A template snapshot was created."""

    event: Literal[EventType.SNAPSHOT_CREATE]
    example: ClassVar[EventExample] = EventExample(
        # A snapshot's id is its template's name.
        error="write snapshot: no space left on device",
        resource_id="python-ml",
    )


class SnapshotDelete(_SnapshotEvent):
    """A template snapshot was deleted (``reason`` on system cleanup)."""

    event: Literal[EventType.SNAPSHOT_DELETE]
    metadata_keys: ClassVar[tuple[str, ...]] = ("reason",)
    example: ClassVar[EventExample] = EventExample(
        error="remove snapshot files: host unreachable", resource_id="python-ml"
    )

    @property
    def reason(self) -> str | None:
        """``metadata["reason"]``, set on system cleanup."""
        return self.metadata.get("reason")


class HostUp(_HostEvent):
    """A host came up. No outcome; the actor is the system."""

    event: Literal[EventType.HOST_UP]


class HostDown(_HostEvent):
    """A host went down. No outcome; the actor is the system."""

    event: Literal[EventType.HOST_DOWN]


class CapsuleStateChanged(Event):
    """A transient status transition; current servers never deliver it to webhooks."""

    event: Literal[EventType.CAPSULE_STATE_CHANGED]
    resource_type: ClassVar[str] = "sandbox"
    has_outcome: ClassVar[bool | None] = False
    metadata_keys: ClassVar[tuple[str, ...]] = ("from", "to")
    example: ClassVar[EventExample] = EventExample(
        actor=ActorKind.SYSTEM, metadata={"from": "running", "to": "paused"}, id_prefix="sb"
    )

    @property
    def from_status(self) -> str | None:
        """``metadata["from"]``: the status the capsule left."""
        return self.metadata.get("from")

    @property
    def to_status(self) -> str | None:
        """``metadata["to"]``: the status the capsule entered."""
        return self.metadata.get("to")


class ChannelTest(Event):
    """Sent when a user presses "test" on a channel: team and resource ids are ``"test"``."""

    event: Literal[EventType.CHANNEL_TEST]
    resource_type: ClassVar[str] = "channel"
    has_outcome: ClassVar[bool | None] = False
    example: ClassVar[EventExample] = EventExample(
        actor=ActorKind.SYSTEM, resource_id="test", team_id="test"
    )


class VolumeCreate(_VolumeEvent):
    """A volume was created (servers newer than 0.2.0; ``volume_name`` is its name)."""

    event: Literal[EventType.VOLUME_CREATE]
    example: ClassVar[EventExample] = EventExample(
        metadata={"name": "data"}, error="volume quota exceeded for team", id_prefix="vol"
    )


class VolumeDelete(_VolumeEvent):
    """A volume was deleted (servers newer than 0.2.0)."""

    event: Literal[EventType.VOLUME_DELETE]
    example: ClassVar[EventExample] = EventExample(
        metadata={"name": "data"}, error="volume is attached to a running capsule", id_prefix="vol"
    )


def _classes_by_type() -> dict[str, type[Event]]:
    """Each class of this module by its tag, in ``EventType`` order; one class per member."""
    found: dict[EventType, list[type[Event]]] = {}
    pending: list[type[Event]] = [Event]
    while pending:
        for cls in pending.pop().__subclasses__():
            pending.append(cls)
            if cls.__module__ != __name__ or not cls.event_type or cls._older_name:
                continue
            if not isinstance(cls.event_type, EventType):
                raise TypeError(
                    f"{cls.__name__}'s tag {cls.event_type!r} is not an EventType member: "
                    f"write event: Literal[EventType.…]"
                )
            found.setdefault(cls.event_type, []).append(cls)
    for member in EventType:
        classes = found.get(member, [])
        if len(classes) != 1:
            names = ", ".join(cls.__name__ for cls in classes) or "none"
            raise TypeError(
                f"EventType.{member.name} needs exactly one class with "
                f"event: Literal[EventType.{member.name}], found {names}"
            )
    return {member.value: found[member][0] for member in EventType}


EVENT_CLASSES: Mapping[str, type[Event]] = _classes_by_type()
"""Each typed class by its wire string, in ``EventType`` order."""

__all__ += [cls.__name__ for cls in EVENT_CLASSES.values()]

LEGACY_EVENT_TYPES: frozenset[str] = frozenset(
    name for member in EventType for name in member.older_names
)
"""The names Wrenn 0.1.x servers send; they parse into the classes of the new names."""

KNOWN_EVENT_NAMES: frozenset[str] = frozenset(EVENT_CLASSES) | LEGACY_EVENT_TYPES
"""Every event type name this SDK knows: the current ones and the older ones."""


def _bridge(older: str, member: EventType) -> type[Event]:
    """The class a body sent as ``older`` parses into: its new name's, renaming ``event``.

    A subclass of that class, with the same name, whose ``event`` field takes
    ``older`` as ``member`` and which remembers ``older`` for ``sent_as``.
    """
    base = EVENT_CLASSES[member.value]

    def rename(value: object) -> object:
        return member if value == older else value

    tag: Any = Annotated[Literal[member], BeforeValidator(rename)]
    bridged = cast(
        "type[Event]",
        create_model(base.__name__, __base__=base, __module__=__name__, event=(tag, ...)),
    )
    bridged.__qualname__ = f"_{base.__name__}_sent_as_{older.replace('.', '_')}"
    bridged.event_type = member
    bridged._older_name = older  # noqa: SLF001 - a class of this module
    globals()[bridged.__qualname__] = bridged  # where pickle looks for it
    return bridged


_BRIDGED: Mapping[str, type[Event]] = {
    older: _bridge(older, member) for member in EventType for older in member.older_names
}
"""The class each older name parses into, with the bridge on."""

# The hot path: Go writes "event" first, so the type can be read off the raw
# bytes and the body validated once, in Rust, by that class's own validator.
_PREFIX = b'{"event":"'
_FAST = {t.encode(): cls.__pydantic_validator__ for t, cls in EVENT_CLASSES.items()}
_FAST_BRIDGED = {**_FAST, **{t.encode(): c.__pydantic_validator__ for t, c in _BRIDGED.items()}}
_PLAIN = Event.__pydantic_validator__


def _union(classes: Mapping[str, type[Event]]) -> TypeAdapter[Event]:
    """One validator for any body: the class of its ``event`` value, else ``Event``."""

    def tag(value: Any) -> str:
        kind = value.get("event") if isinstance(value, dict) else getattr(value, "event", None)
        return kind if isinstance(kind, str) and kind in classes else ""

    members = (
        *(Annotated[cls, Tag(t)] for t, cls in classes.items()),
        Annotated[Event, Tag("")],
    )
    return TypeAdapter(Annotated[Union[members], Discriminator(tag)])  # type: ignore[arg-type]


_ANY = _union(EVENT_CLASSES)
_ANY_BRIDGED = _union({**EVENT_CLASSES, **_BRIDGED})


def parse_body(body: bytes, *, bridge_older_names: bool = True) -> Event:
    """``parse_event`` for ``bytes`` only: the receiver's hot path."""
    # Bytes 10 up to the next quote are the type when the body starts with
    # '{"event":"' (as Go writes it). Read without checking: any other slice
    # finds no class, and a class whose type the body does not have rejects it.
    fast = _FAST_BRIDGED if bridge_older_names else _FAST
    validator = fast.get(body[10 : body.find(b'"', 10)])
    if validator is not None:
        try:
            return validator.validate_json(body)  # type: ignore[no-any-return]
        except _ValidationError:
            pass  # let the general path report it, with clean locations
    return parse_event(body, bridge_older_names=bridge_older_names)


def parse_event(data: bytes | str | Mapping[str, Any], *, bridge_older_names: bool = True) -> Event:
    """Parse a body into the class for its ``event`` value (``Event`` if unknown).

    A name Wrenn 0.1.5 servers send (``"capsule.paused"``) parses into the
    class of its new name (``CapsulePause``), with ``event`` the new name and
    ``sent_as`` the name as sent; ``bridge_older_names=False`` leaves those
    events as plain ``Event`` under the names sent.

    Raises:
        InvalidPayload: Not JSON, not valid UTF-8, not an object, or a required
            field missing or of the wrong type; the message names the field.
    """
    fast, union = (_FAST_BRIDGED, _ANY_BRIDGED) if bridge_older_names else (_FAST, _ANY)
    try:
        if type(data) is not bytes and isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if type(data) is bytes:
            if data.startswith(_PREFIX):
                validator = fast.get(data[10 : data.find(b'"', 10)], _PLAIN)
                try:
                    return validator.validate_json(data)  # type: ignore[no-any-return]
                except _ValidationError:
                    pass  # let the general path report it, with clean locations
            return union.validate_json(data)
        if isinstance(data, str):
            return union.validate_json(data)
        if isinstance(data, Mapping):
            return union.validate_python(dict(data))
    except _ValidationError as exc:
        raise InvalidPayload(_describe(exc)) from None
    raise TypeError(f"parse_event takes bytes, str or a mapping, not {type(data).__name__}")


_UNION_LABEL = re.compile(r"[\w-]+\[.*\]|str|none")
_NAME_LIMIT = 100
"""Characters of a field name (a metadata key, say) a message shows before its ellipsis."""


def _describe(exc: _ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    loc = [printable(part, _NAME_LIMIT) for part in first["loc"]]  # keys come from the body
    if loc and (loc[0] in KNOWN_EVENT_NAMES or loc[0] == ""):
        loc = loc[1:]  # the union's tag, not a field
    while loc and _UNION_LABEL.fullmatch(loc[-1]):
        loc.pop()  # a union member's label, such as "str-enum[ActorKind]"
    kind = first["type"]
    if kind == "json_invalid":
        text = f"body is not valid JSON: {printable(first['msg'].removeprefix('Invalid JSON: '))}"
    elif not loc and kind in {"model_type", "model_attributes_type", "dict_type"}:
        text = "body must be a JSON object"
    else:
        text = f"field '{'.'.join(loc) or '(body)'}': {printable(first['msg'])}"
    more = len(errors) - 1
    return f"invalid event: {text}" + (
        f" (and {more} more problem{'s' * (more > 1)})" if more else ""
    )

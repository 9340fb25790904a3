"""Typed Wrenn events (pydantic v2), one class per event type.

The models mirror ``Event`` in Wrenn's ``pkg/events`` (see the protocol notes,
"Body"). They are immutable, keep unknown fields, and accept strings they do
not know for ``outcome`` and ``actor.type``, so bodies from newer and older
Wrenn servers parse. Validators are built once, at import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter
from pydantic import ValidationError as _ValidationError

from .errors import InvalidPayload

__all__ = [
    "Actor",
    "ActorKind",
    "CapsuleCreate",
    "CapsuleDestroy",
    "CapsulePause",
    "CapsuleResume",
    "CapsuleStateChanged",
    "ChannelTest",
    "Event",
    "EventType",
    "HostDown",
    "HostUp",
    "Outcome",
    "Resource",
    "SnapshotCreate",
    "SnapshotDelete",
    "parse_event",
]


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
    """Every event type this SDK has a class for; compares equal to its wire string."""

    CAPSULE_CREATE = "capsule.create"
    CAPSULE_PAUSE = "capsule.pause"
    CAPSULE_RESUME = "capsule.resume"
    CAPSULE_DESTROY = "capsule.destroy"
    SNAPSHOT_CREATE = "template.snapshot.create"
    SNAPSHOT_DELETE = "template.snapshot.delete"
    HOST_UP = "host.up"
    HOST_DOWN = "host.down"
    CAPSULE_STATE_CHANGED = "capsule.state.changed"
    CHANNEL_TEST = "channel.test"

    def __str__(self) -> str:
        return self.value


LEGACY_EVENT_TYPES = frozenset(
    {
        "capsule.created",
        "capsule.running",
        "capsule.paused",
        "capsule.destroyed",
        "template.snapshot.created",
        "template.snapshot.deleted",
    }
)
"""Types sent by Wrenn 0.1.x servers; they parse as plain ``Event``."""

NEWER_EVENT_TYPES = frozenset({"volume.create", "volume.delete"})
"""Types newer Wrenn servers send that have no class here; they parse as ``Event``."""

_CONFIG = ConfigDict(frozen=True, extra="allow")


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
        event: The event type, such as ``"capsule.pause"``.
        outcome: ``Outcome.SUCCESS``, ``Outcome.ERROR``, ``None`` for types
            with no outcome, or an unknown string from a newer server.
        timestamp: When the event happened (not when it was signed).
        metadata: Event-specific context; empty when absent.
        error: The failure reason, with ``outcome == "error"`` only.
    """

    model_config = _CONFIG

    event: str
    outcome: Outcome | str | None = Field(default=None, union_mode="left_to_right")
    timestamp: AwareDatetime
    team_id: str
    actor: Actor
    resource: Resource
    metadata: dict[str, str] = Field(default_factory=dict)
    error: str | None = None

    event_type: ClassVar[str] = ""
    """The wire string of the class's type; empty on ``Event`` itself."""
    has_outcome: ClassVar[bool | None] = None
    """Whether events of this type carry an outcome; ``None`` when unknown."""
    resource_type: ClassVar[str] = ""
    metadata_keys: ClassVar[tuple[str, ...]] = ()
    subscribable: ClassVar[bool] = False
    """Whether a webhook channel can subscribe to this type."""

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

    @property
    def host_id(self) -> str:
        """The host's id, ``resource.id``."""
        return self.resource.id


class CapsuleCreate(_CapsuleEvent):
    """A capsule's first boot succeeded or failed (later boots are ``capsule.resume``)."""

    event: Literal["capsule.create"]
    metadata_keys: ClassVar[tuple[str, ...]] = ("template", "reason")

    @property
    def template(self) -> str | None:
        """``metadata["template"]``: the template a user created the capsule from."""
        return self.metadata.get("template")


class CapsulePause(_CapsuleEvent):
    """A capsule was paused, by a user or automatically (``reason`` says why)."""

    event: Literal["capsule.pause"]


class CapsuleResume(_CapsuleEvent):
    """A paused capsule was resumed."""

    event: Literal["capsule.resume"]


class CapsuleDestroy(_CapsuleEvent):
    """A capsule was destroyed (``reason`` such as ``ttl_expired`` or ``orphaned``)."""

    event: Literal["capsule.destroy"]


class SnapshotCreate(_SnapshotEvent):
    """A template snapshot was created."""

    event: Literal["template.snapshot.create"]


class SnapshotDelete(_SnapshotEvent):
    """A template snapshot was deleted (``reason`` on system cleanup)."""

    event: Literal["template.snapshot.delete"]
    metadata_keys: ClassVar[tuple[str, ...]] = ("reason",)

    @property
    def reason(self) -> str | None:
        """``metadata["reason"]``, set on system cleanup."""
        return self.metadata.get("reason")


class HostUp(_HostEvent):
    """A host came up. No outcome; the actor is the system."""

    event: Literal["host.up"]


class HostDown(_HostEvent):
    """A host went down. No outcome; the actor is the system."""

    event: Literal["host.down"]


class CapsuleStateChanged(Event):
    """A transient status transition; current servers never deliver it to webhooks."""

    event: Literal["capsule.state.changed"]
    resource_type: ClassVar[str] = "sandbox"
    has_outcome: ClassVar[bool | None] = False
    metadata_keys: ClassVar[tuple[str, ...]] = ("from", "to")

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

    event: Literal["channel.test"]
    resource_type: ClassVar[str] = "channel"
    has_outcome: ClassVar[bool | None] = False


EVENT_CLASSES: Mapping[str, type[Event]] = {
    cls.event_type: cls
    for cls in (
        CapsuleCreate,
        CapsulePause,
        CapsuleResume,
        CapsuleDestroy,
        SnapshotCreate,
        SnapshotDelete,
        HostUp,
        HostDown,
        CapsuleStateChanged,
        ChannelTest,
    )
}
"""Each typed class by its wire string, in the order of the seed."""

assert set(EVENT_CLASSES) == {t.value for t in EventType}

# The hot path: Go writes "event" first, so the type can be read off the raw
# bytes and the body validated once, in Rust, by that class's own validator.
_PREFIX = b'{"event":"'
_FAST = {t.encode(): cls.__pydantic_validator__ for t, cls in EVENT_CLASSES.items()}
_PLAIN = Event.__pydantic_validator__


def _tag(value: Any) -> str:
    kind = value.get("event") if isinstance(value, dict) else getattr(value, "event", None)
    return kind if isinstance(kind, str) and kind in EVENT_CLASSES else ""


_TAGGED = tuple(Annotated[cls, Tag(t)] for t, cls in EVENT_CLASSES.items())
_ANY: TypeAdapter[Event] = TypeAdapter(
    Annotated[Union[(*_TAGGED, Annotated[Event, Tag("")])], Discriminator(_tag)]  # type: ignore[arg-type]
)


def parse_body(body: bytes) -> Event:
    """``parse_event`` for ``bytes`` only: the receiver's hot path."""
    # Bytes 10 up to the next quote are the type when the body starts with
    # '{"event":"' (as Go writes it). Read without checking: any other slice
    # finds no class, and a class whose type the body does not have rejects it.
    validator = _FAST.get(body[10 : body.find(b'"', 10)])
    if validator is not None:
        try:
            return validator.validate_json(body)  # type: ignore[no-any-return]
        except _ValidationError:
            pass  # let the general path report it, with clean locations
    return parse_event(body)


def parse_event(data: bytes | str | Mapping[str, Any]) -> Event:
    """Parse a body into the class for its ``event`` value (``Event`` if unknown).

    Raises:
        InvalidPayload: Not JSON, not valid UTF-8, not an object, or a required
            field missing or of the wrong type; the message names the field.
    """
    try:
        if type(data) is not bytes and isinstance(data, (bytearray, memoryview)):
            data = bytes(data)
        if type(data) is bytes:
            if data.startswith(_PREFIX):
                validator = _FAST.get(data[10 : data.find(b'"', 10)], _PLAIN)
                try:
                    return validator.validate_json(data)  # type: ignore[no-any-return]
                except _ValidationError:
                    pass  # let the general path report it, with clean locations
            return _ANY.validate_json(data)
        if isinstance(data, str):
            return _ANY.validate_json(data)
        if isinstance(data, Mapping):
            return _ANY.validate_python(dict(data))
    except _ValidationError as exc:
        raise InvalidPayload(_describe(exc)) from None
    raise TypeError(f"parse_event takes bytes, str or a mapping, not {type(data).__name__}")


_UNION_LABEL = re.compile(r"[\w-]+\[.*\]|str|none")


def _describe(exc: _ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]
    loc = [str(part) for part in first["loc"]]
    if loc and (loc[0] in EVENT_CLASSES or loc[0] == ""):
        loc = loc[1:]  # the union's tag, not a field
    while loc and _UNION_LABEL.fullmatch(loc[-1]):
        loc.pop()  # a union member's label, such as "str-enum[ActorKind]"
    kind = first["type"]
    if kind == "json_invalid":
        text = f"body is not valid JSON: {first['msg'].removeprefix('Invalid JSON: ')}"
    elif not loc and kind in {"model_type", "model_attributes_type", "dict_type"}:
        text = "body must be a JSON object"
    else:
        text = f"field '{'.'.join(loc) or '(body)'}': {first['msg']}"
    more = len(errors) - 1
    return f"invalid event: {text}" + (
        f" (and {more} more problem{'s' * (more > 1)})" if more else ""
    )

"""Receive Wrenn webhooks: verified, typed, deduplicated, dispatched."""

from __future__ import annotations

from .encoding import encode_event
from .errors import (
    ConfigurationError,
    HandlerError,
    InvalidPayload,
    MalformedHeaderError,
    MissingHeaderError,
    PayloadTooLargeError,
    SignatureError,
    SignatureMismatchError,
    StoreError,
    TimestampOutsideToleranceError,
    WrennWebhookError,
)
from .events import (
    Actor,
    ActorKind,
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
    Resource,
    SnapshotCreate,
    SnapshotDelete,
    parse_event,
)
from .inbox import SQLiteInbox
from .receiver import Response, WebhookReceiver
from .routing import Router, UnknownEventTypeWarning
from .signature import Delivery, sign, verify
from .stores import IdempotencyStore, MemoryIdempotencyStore, SQLiteIdempotencyStore

__version__ = "0.1.0"

__all__ = [
    "SQLiteIdempotencyStore",
    "SQLiteInbox",
    "MemoryIdempotencyStore",
    "IdempotencyStore",
    "UnknownEventTypeWarning",
    "Router",
    "WebhookReceiver",
    "Response",
    "Actor",
    "ActorKind",
    "CapsuleCreate",
    "CapsuleDestroy",
    "CapsulePause",
    "CapsuleResume",
    "CapsuleStateChanged",
    "ChannelTest",
    "ConfigurationError",
    "Delivery",
    "Event",
    "EventType",
    "HandlerError",
    "HostDown",
    "HostUp",
    "InvalidPayload",
    "MalformedHeaderError",
    "MissingHeaderError",
    "Outcome",
    "PayloadTooLargeError",
    "Resource",
    "SignatureError",
    "SignatureMismatchError",
    "SnapshotCreate",
    "SnapshotDelete",
    "StoreError",
    "TimestampOutsideToleranceError",
    "WrennWebhookError",
    "__version__",
    "encode_event",
    "parse_event",
    "sign",
    "verify",
]

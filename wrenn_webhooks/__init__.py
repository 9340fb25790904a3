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
    RequestError,
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
    VolumeCreate,
    VolumeDelete,
    parse_event,
)
from .inbox import SQLiteInbox
from .receiver import Response, WebhookReceiver
from .routing import Router, UnknownEventTypeWarning
from .signature import Delivery, WeakSecretWarning, sign, verify
from .stores import IdempotencyStore, MemoryIdempotencyStore, SQLiteIdempotencyStore

__version__ = "0.1.0"

__all__ = [
    # receiving
    "WebhookReceiver",
    "Router",
    "Response",
    "Delivery",
    "UnknownEventTypeWarning",
    "WeakSecretWarning",
    # events
    "Event",
    "EventType",
    "Outcome",
    "Actor",
    "ActorKind",
    "Resource",
    # one class per EventType member, in its order (tests/test_public_api.py checks)
    "CapsuleCreate",
    "CapsulePause",
    "CapsuleResume",
    "CapsuleDestroy",
    "SnapshotCreate",
    "SnapshotDelete",
    "HostUp",
    "HostDown",
    "CapsuleStateChanged",
    "ChannelTest",
    "VolumeCreate",
    "VolumeDelete",
    "parse_event",
    "encode_event",
    # signatures
    "sign",
    "verify",
    # storage
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "SQLiteIdempotencyStore",
    "SQLiteInbox",
    # errors
    "WrennWebhookError",
    "ConfigurationError",
    "SignatureError",
    "MissingHeaderError",
    "MalformedHeaderError",
    "TimestampOutsideToleranceError",
    "SignatureMismatchError",
    "InvalidPayload",
    "PayloadTooLargeError",
    "RequestError",
    "HandlerError",
    "StoreError",
    # version
    "__version__",
]

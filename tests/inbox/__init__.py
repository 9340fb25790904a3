"""Tests of the durable inbox, its workers and its commands."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from tests.conftest import event_body
from wrenn_webhooks import Delivery, parse_event
from wrenn_webhooks.inbox import SQLiteInbox

T0 = 1_780_000_000.0


def body_for(resource: str = "sb-1", n: int = 0, **fields: Any) -> bytes:
    """A distinct capsule.pause body for ``resource`` (``n`` tells same-resource ones apart)."""
    metadata = {"n": str(n), **fields.pop("metadata", {})}
    return event_body(resource={"id": resource, "type": "sandbox"}, metadata=metadata, **fields)


def put(inbox: SQLiteInbox, body: bytes, *, now: float = T0, delivery_id: str = "d-1") -> bool:
    """Store ``body`` as the receiver does, signed a second before ``now``."""
    delivery = Delivery(delivery_id, datetime.fromtimestamp(now - 1, timezone.utc))
    key = hashlib.sha256(body).hexdigest()
    return inbox.put(key, body, parse_event(body), delivery, now=now)

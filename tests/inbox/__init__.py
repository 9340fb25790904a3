"""Tests of the durable inbox, its workers and its commands, with helpers the Redis tests share."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tests.conftest import event_body
from wrenn_webhooks import Delivery, parse_event
from wrenn_webhooks.inbox import Inbox

T0 = 1_780_000_000.0


def body_for(resource: str = "sb-1", n: int = 0, **fields: Any) -> bytes:
    """A distinct capsule.pause body for ``resource`` (``n`` tells same-resource ones apart)."""
    metadata = {"n": str(n), **fields.pop("metadata", {})}
    return event_body(resource={"id": resource, "type": "sandbox"}, metadata=metadata, **fields)


def put(inbox: Inbox, body: bytes, *, now: float = T0, delivery_id: str = "d-1") -> bool:
    """Store ``body`` as the receiver does, signed a second before ``now``."""
    delivery = Delivery(delivery_id, datetime.fromtimestamp(now - 1, timezone.utc))
    key = hashlib.sha256(body).hexdigest()
    return inbox.put(key, body, parse_event(body), delivery, now=now)


def one_in_each_state(inbox: Any) -> None:
    """Fill an empty ``inbox``: 1 done (8 days ago), 2 failed, 3 dead, 4 new, put a minute ago."""
    now = time.time()
    for n in range(4):
        put(inbox, body_for(f"sb-{n}"), now=now - 60)
    done, failed, dead = inbox.claim("w1", now=now, limit=3)
    inbox.finish(done.id, now=now - 8 * 86400)
    inbox.fail(failed.id, {"app.notify": "ConnectionError: pager unreachable"}, now=now)
    inbox.fail(dead.id, {"app.bill": "ValueError: no such account"}, now=now, final=True)


def name_of(handler: Callable[..., Any]) -> str:
    """The name completion is recorded under."""
    return f"{handler.__module__}.{handler.__qualname__}"


def wait_until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"still waiting after {timeout} s")
        time.sleep(0.02)


def runs(directory: Path) -> Counter[tuple[str, str]]:
    """How often each (handler, resource) ran, from the log of ``tests.inbox.app_for_worker``."""
    path = directory / "runs.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter((name, resource) for _, name, resource in (line.split() for line in lines))

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from tests.vectors import SECRET
from wrenn_webhooks import WebhookReceiver, sign
from wrenn_webhooks.encoding import encode_event
from wrenn_webhooks.events import EVENT_CLASSES, Event

T0 = datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = T0.timestamp()) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def event_body(
    kind: str = "capsule.pause", outcome: str | None = "success", **fields: Any
) -> bytes:
    """A Go-exact body for an event of ``kind``."""
    data: dict[str, Any] = {
        "event": kind,
        "outcome": outcome,
        "timestamp": T0,
        "team_id": "team-1",
        "actor": {"type": "system"},
        "resource": {"id": "sb-1", "type": "sandbox"},
    }
    data.update(fields)
    return encode_event(EVENT_CLASSES.get(kind, Event).model_validate(data))


def signed(body: bytes, clock: Clock, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """Sign ``body`` at the clock's time, with a fresh delivery id, as Wrenn does."""
    return body, sign(body, secret, timestamp=datetime.fromtimestamp(clock.now, timezone.utc))


@pytest.fixture
def secret() -> str:
    return SECRET


@pytest.fixture
def now() -> datetime:
    """A frozen clock: the signing time of the sample vector."""
    return T0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def receiver(clock: Clock) -> WebhookReceiver:
    return WebhookReceiver(SECRET, clock=clock)

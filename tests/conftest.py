from __future__ import annotations

import importlib
import signal
import sys
from datetime import datetime, timezone
from types import ModuleType
from typing import Any

import pytest

from tests.redis_server import (  # noqa: F401  (fixtures: one cluster for the whole session)
    redis_cluster,
    redis_cluster_client,
    redis_cluster_url,
)
from tests.vectors import SECRET
from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.testing import FrozenClock, encode_event, make_event, signed_request


def pytest_configure(config: pytest.Config) -> None:
    """Undo an ignored SIGINT (a run started in the background by a shell ignores it).

    An ignored signal stays ignored in every process the tests start, so the tests
    that stop a server with SIGINT, as Ctrl-C does, would see it run on.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


T0 = datetime(2026, 5, 24, 21, 10, 37, tzinfo=timezone.utc)


class Clock(FrozenClock):
    """The shipped ``FrozenClock``, starting at the sample vector's signing time."""

    def __init__(self, start: datetime | float = T0) -> None:
        super().__init__(start)


def event_body(
    kind: str = "capsule.pause", outcome: str | None = "success", **fields: Any
) -> bytes:
    """A Go-exact body for an event of ``kind`` at ``T0``, with fixed team and resource ids."""
    defaults: dict[str, Any] = {
        "team_id": "team-1",
        "actor": {"type": "system"},
        "resource": {"id": "sb-1", "type": "sandbox"},
        "metadata": {},
        "error": None,
    }
    return encode_event(make_event(kind, outcome=outcome, now=T0, **{**defaults, **fields}))


def signed(body: bytes, clock: FrozenClock, secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    """Sign ``body`` at the clock's time, with a fresh delivery id, as Wrenn does."""
    return signed_request(body, secret, timestamp=clock.datetime)


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


@pytest.fixture
def example_receiver(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``examples.receiver`` imported afresh with the tests' secret.

    Without ``WRENN_WEBHOOK_SECRET`` it refuses to load (only ``make run`` may fall
    back to its public development secret), so tests set it explicitly.
    """
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("WRENN_WEBHOOK_STORE", raising=False)
    monkeypatch.delitem(sys.modules, "examples.receiver", raising=False)
    return importlib.import_module("examples.receiver")

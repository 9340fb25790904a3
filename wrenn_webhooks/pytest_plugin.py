"""Pytest fixtures for testing Wrenn webhook handlers, over ``wrenn_webhooks.testing``.

Loaded through the ``wrenn_webhooks`` entry point of the ``pytest11`` group.
It only adds fixtures, each named ``wrenn_*``: no hooks, nothing autouse, so
tests that do not ask for them run exactly as before. The test kit is
imported inside the fixtures, when a test first asks for one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

import pytest

if TYPE_CHECKING:
    from .receiver import WebhookReceiver
    from .testing import DeliveryResult, EventFactory, FrozenClock


@pytest.fixture
def wrenn_secret() -> str:
    """A fresh channel secret of the form Wrenn generates: 64 hex characters."""
    return secrets.token_hex(32)


@pytest.fixture
def wrenn_clock() -> FrozenClock:
    """A ``FrozenClock`` at the current time, in whole seconds."""
    from .testing import FrozenClock

    return FrozenClock()


@pytest.fixture
def wrenn_event(wrenn_clock: FrozenClock) -> EventFactory:
    """``make_event``, with event timestamps read from ``wrenn_clock`` by default.

    Typed as ``make_event`` is: ``wrenn_event(CapsulePause)`` is a ``CapsulePause``,
    ``wrenn_event("capsule.pause")`` an ``Event``.
    """
    from .testing import make_event

    return cast("EventFactory", partial(make_event, now=wrenn_clock))


@pytest.fixture
def wrenn_receiver(wrenn_secret: str, wrenn_clock: FrozenClock) -> WebhookReceiver:
    """A ``WebhookReceiver`` with no handlers, keyed with ``wrenn_secret``, on ``wrenn_clock``."""
    from .receiver import WebhookReceiver

    return WebhookReceiver(wrenn_secret, clock=wrenn_clock)


@pytest.fixture
def wrenn_deliver(
    wrenn_secret: str, wrenn_clock: FrozenClock
) -> Callable[..., list[DeliveryResult]]:
    """``deliver(target, event, *, attempts=1, ...)``, signed with ``wrenn_secret``.

    Attempts are signed at ``wrenn_clock``'s time, which moves on by Wrenn's
    retry spacing between them. ``secret=`` and ``clock=`` still override.
    """
    from .testing import deliver

    return partial(deliver, secret=wrenn_secret, clock=wrenn_clock)

"""The idempotency store protocol that every backend implements."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple, Protocol, runtime_checkable

__all__ = ["DEFAULT_LEASE", "DEFAULT_TTL", "Claim", "ClaimState", "IdempotencyStore"]

DEFAULT_TTL = 900.0
"""Seconds a record lives after its last change: longer than Wrenn's retry
window (about 60 s) plus the signature tolerance (300 s), so exact replays of a
captured request within the tolerance are refused as duplicates too."""

DEFAULT_LEASE = 30.0
"""Seconds a claim holds off redeliveries before it expires. Wrenn's last
retry comes about 40 s after the first attempt; a claim left by a process that
died must clear before it, or the event is never handled."""


class ClaimState(str, Enum):
    """What a store answers to a claim."""

    NEW = "new"
    """First time this body is seen: run every handler."""
    RETRY = "retry"
    """Seen before, not finished, not in flight: run the handlers not completed."""
    BUSY = "busy"
    """Another attempt holds an unexpired lease on it: answer 409."""
    DONE = "done"
    """Every handler completed before: answer 200 as a duplicate."""


class Claim(NamedTuple):
    """A store's answer to ``claim()``.

    Attributes:
        state: See ``ClaimState``.
        completed: Names of the handlers that already completed for this body.
    """

    state: ClaimState
    completed: frozenset[str] = frozenset()


@runtime_checkable
class IdempotencyStore(Protocol):
    """Per-body records of in-flight leases and completed handlers.

    Every method must be atomic with respect to every other caller of the same
    store (threads, and processes where the backend is shared). Backends raise
    ``StoreError`` for any failure of their own. ``complete_handler``,
    ``finish`` and ``release`` of a key without a record do nothing.
    """

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done.

        On ``NEW`` and ``RETRY`` the caller holds the lease until ``now + lease``,
        and ends it with ``finish`` or ``release``.
        """
        ...

    def complete_handler(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``, durably, at once."""
        ...

    def finish(self, key: str, *, now: float) -> None:
        """End the caller's lease and mark every handler complete: claims get ``DONE``."""
        ...

    def release(self, key: str, *, now: float) -> None:
        """End the caller's lease without finishing: the next claim gets ``RETRY``.

        Handlers recorded by ``complete_handler`` stay recorded.
        """
        ...

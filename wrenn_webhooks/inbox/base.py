"""What every inbox shares: its items, their statuses, and the ``Inbox`` protocol.

The backends (``SQLiteInbox``, ``wrenn_webhooks.redis.RedisInbox``) import from
here and never from each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..events import Event
    from ..signature import Delivery

__all__ = ["DEFAULT_RETRY_DELAYS", "INBOX_ERROR", "WORKER_DIED", "Inbox", "InboxItem", "Status"]

DEFAULT_RETRY_DELAYS = (10.0, 60.0, 300.0, 1800.0, 7200.0, 21600.0)
"""Seconds before each retry of a failed event: seven attempts over about 8.6 hours."""

Status = Literal["pending", "done", "dead"]
"""Where an event stands: waiting or in flight, handled, or given up on."""

WORKER_DIED = "the worker handling it stopped before finishing, on every attempt"
"""The error recorded, under the name ``(worker)``, for an event dead-lettered because
every attempt ended with its worker's lease running out."""

INBOX_ERROR = "(inbox)"
"""The name under which ``last_errors`` says why the inbox itself dead-lettered an
event: its stored row is damaged (a field of the wrong type, text that is not UTF-8,
bookkeeping that is not the JSON it should be) and cannot become an ``InboxItem``."""


@dataclass(frozen=True)
class InboxItem:
    """One stored event and where it stands.

    Attributes:
        id: The inbox's number for it, in order of arrival.
        key: SHA-256 hex of the body; Wrenn's redeliveries share it.
        body: The raw body, exactly as signed.
        event_type: The ``event`` field, such as ``"capsule.pause"``.
        resource_id: The ``resource.id`` field (the ordering key).
        delivery_id: The ``X-Wrenn-Delivery`` of the attempt that stored it.
        signed_at: The signed ``X-Wrenn-Timestamp``, POSIX seconds.
        received_at: When the receiver stored it, POSIX seconds.
        status: ``"pending"`` (waiting, retrying or in flight), ``"done"`` or ``"dead"``.
        attempts: Attempts that ended without finishing: failed, or abandoned by a
            worker whose lease expired.
        completed: Names of the handlers that completed; they never run again.
        last_errors: The last error of each handler still failing.
        next_attempt_at: When it is due, for a pending item; else ``None``.
        lease_owner: The worker holding or last holding its lease, if any.
        lease_until: When the current lease expires; ``None`` if not leased.
        finished_at: When it was done or dead-lettered; else ``None``.
        context: What the receiver's observers carried from the request that
            stored it (``Observer.carry``: a W3C ``traceparent``, say); ``None``
            when none did, or the event was stored by an older version.
    """

    id: int
    key: str
    body: bytes
    event_type: str
    resource_id: str
    delivery_id: str | None
    signed_at: float
    received_at: float
    status: Status
    attempts: int
    completed: frozenset[str]
    last_errors: Mapping[str, str]
    next_attempt_at: float | None
    lease_owner: str | None
    lease_until: float | None
    finished_at: float | None
    context: Mapping[str, str] | None = None

    @property
    def failed(self) -> bool:
        """Pending after at least one unsuccessful attempt."""
        return self.status == "pending" and self.attempts > 0


@runtime_checkable
class Inbox(Protocol):
    """Durable storage of verified events: the receiver puts them, workers handle them.

    ``WebhookReceiver.handle()`` calls ``put``; a ``Worker`` calls the others.
    Every method must be atomic with respect to every other caller of the same
    inbox (threads, processes, hosts), and raise ``StoreError`` for any failure
    of the backend. Each event is leased to one worker at a time; an attempt
    ends with ``finish``, ``fail`` or ``release``, or when its lease runs out
    (the worker died), which counts as a failed attempt.
    """

    def put(
        self,
        key: str,
        body: bytes,
        event: Event,
        delivery: Delivery,
        *,
        now: float,
        context: Mapping[str, str] | None = None,
    ) -> bool:
        """Store a verified, parsed event, durably, before returning.

        The receiver answers 202 right after, and Wrenn never sends the event again.

        Args:
            key: SHA-256 hex of ``body``: Wrenn's redeliveries share it.
            body: The raw body, exactly as signed.
            event: The parsed event (for ``event.event`` and ``resource.id``).
            delivery: The verified delivery (id and signing time of this attempt).
            now: The receiver's clock, POSIX seconds.
            context: Text the observers carry to the worker (``Observer.carry``),
                stored with the event and given back as ``InboxItem.context``.
                The receiver passes it only when an observer carries something.

        Returns:
            ``False`` if ``key`` is stored already (nothing is stored again).

        Raises:
            StoreError: The inbox could not store the event.
        """
        ...

    def claim(self, worker_id: str, *, now: float, limit: int = 1) -> list[InboxItem]:
        """Lease up to ``limit`` due events to ``worker_id``, oldest first.

        Due means pending, past its ``next_attempt_at`` and not leased, or leased
        by a worker whose lease expired (that abandoned attempt counts; past the
        last retry the event is dead-lettered instead, with ``WORKER_DIED``). With
        per-resource ordering, nothing earlier of its resource may still be pending.
        The caller must ``finish``, ``fail`` or ``release`` each item before
        ``item.lease_until``.

        Args:
            worker_id: Names the worker in leases (``InboxItem.lease_owner``).
            now: The worker's clock, POSIX seconds.
            limit: At most this many items (at least 1).

        Raises:
            ConfigurationError: ``limit`` is below 1.
        """
        ...

    def complete_handler(self, item_id: int, name: str, *, now: float) -> None:
        """Record at once that handler ``name`` completed, and renew the lease.

        A completed handler never runs again for this item, whatever happens next.
        """
        ...

    def finish(self, item_id: int, *, now: float) -> None:
        """Mark an item done: every handler completed. Its lease ends."""
        ...

    def fail(
        self, item_id: int, errors: Mapping[str, str], *, now: float, final: bool = False
    ) -> None:
        """End an attempt that failed: schedule the next retry, or dead-letter the item.

        Args:
            item_id: The item.
            errors: Handler name to a short description of its error.
            now: The worker's clock, POSIX seconds.
            final: Dead-letter at once, as for a body that no longer parses.
        """
        ...

    def release(self, item_id: int) -> None:
        """Give a claimed item back without finishing it: due at once, no attempt counted.

        For a worker shutting down; handlers recorded by ``complete_handler`` stay completed.
        """
        ...

    def get(self, item_id: int) -> InboxItem | None:
        """One item as it stands, or ``None`` if there is no such item (or it was purged)."""
        ...

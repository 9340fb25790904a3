"""What ``WebhookReceiver.handle()`` needs of an inbox: one durable ``put``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..events import Event
    from ..signature import Delivery

__all__ = ["Inbox"]


@runtime_checkable
class Inbox(Protocol):
    """Durable storage of verified events, handled later by workers.

    ``put`` must have committed the event durably before it returns: the
    receiver answers 202 right after, and Wrenn never sends that event again.
    """

    def put(self, key: str, body: bytes, event: Event, delivery: Delivery, *, now: float) -> bool:
        """Store a verified, parsed event; ``False`` if ``key`` is already stored.

        Args:
            key: SHA-256 hex of ``body``: Wrenn's redeliveries share it.
            body: The raw body, exactly as signed.
            event: The parsed event (for ``event.event`` and ``resource.id``).
            delivery: The verified delivery (id and signing time of this attempt).
            now: The receiver's clock, POSIX seconds.

        Raises:
            StoreError: The inbox could not store the event.
        """
        ...

"""A custom idempotency store: the smallest correct implementation of the protocol.

One process only, like the built-in memory store. A store for a shared database does
the same steps, each as one atomic operation (a transaction, a Lua script, a
conditional write), and raises ``StoreError`` for its own failures.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from wrenn_webhooks import WebhookReceiver
from wrenn_webhooks.stores import Claim, ClaimState


@dataclass
class Record:
    expires: float
    lease_until: float = 0.0
    done: bool = False
    completed: frozenset[str] = field(default_factory=frozenset)


class DictStore:
    """Per-body records in a dict; each kept ``ttl`` seconds after its last change."""

    def __init__(self, ttl: float = 900.0) -> None:
        self.ttl = ttl
        self._records: dict[str, Record] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Answer NEW, RETRY, BUSY or DONE; on NEW and RETRY, take a lease."""
        with self._lock:  # check and take the lease in one atomic step
            record = self._records.get(key)
            if record is None or record.expires <= now:
                self._records[key] = Record(expires=now + self.ttl, lease_until=now + lease)
                return Claim(ClaimState.NEW)
            if record.done:
                return Claim(ClaimState.DONE, record.completed)
            if record.lease_until > now:
                return Claim(ClaimState.BUSY, record.completed)
            record.lease_until, record.expires = now + lease, now + self.ttl
            return Claim(ClaimState.RETRY, record.completed)

    def complete_handler(self, key: str, handler: str, *, now: float) -> None:
        """Record that one handler completed; a retry skips it."""
        with self._lock:
            if record := self._records.get(key):
                record.completed |= {handler}
                record.expires = now + self.ttl

    def finish(self, key: str, *, now: float) -> None:
        """End the lease and mark every handler complete: later claims get DONE."""
        with self._lock:
            if record := self._records.get(key):
                record.lease_until, record.done, record.expires = 0.0, True, now + self.ttl

    def release(self, key: str, *, now: float) -> None:
        """End the lease without finishing: the next claim gets RETRY."""
        with self._lock:
            if record := self._records.get(key):
                record.lease_until, record.expires = 0.0, now + self.ttl


receiver = WebhookReceiver(secret=os.environ["WRENN_WEBHOOK_SECRET"], idempotency=DictStore())

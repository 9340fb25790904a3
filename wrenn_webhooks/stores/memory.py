"""A bounded, thread-safe, in-process idempotency store (the default)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..errors import ConfigurationError
from .base import DEFAULT_TTL, Claim, ClaimState

__all__ = ["MemoryIdempotencyStore"]


class _Record:
    __slots__ = ("completed", "done", "expires", "lease_until")

    def __init__(self) -> None:
        self.completed: frozenset[str] = frozenset()
        self.done = False
        self.lease_until = 0.0
        self.expires = 0.0


class MemoryIdempotencyStore:
    """Keep records in this process, the oldest evicted past ``max_entries``.

    Right for a single process. Several processes (gunicorn workers) need a
    shared store such as ``SQLiteIdempotencyStore``.

    Args:
        ttl: Seconds a record lives after its last change.
        max_entries: Records kept at most; the least recently changed go first.
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, max_entries: int = 100_000) -> None:
        if not ttl > 0 or max_entries < 1:
            raise ConfigurationError("ttl must be positive and max_entries at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        with self._lock:
            record = self._records.get(key)
            if record is None or record.expires <= now:
                record = _Record()
                state = ClaimState.NEW
            elif record.done:
                return Claim(ClaimState.DONE, record.completed)
            elif record.lease_until > now:
                return Claim(ClaimState.BUSY, record.completed)
            else:
                state = ClaimState.RETRY
            record.lease_until = now + lease
            record.expires = now + self.ttl
            self._records[key] = record
            self._records.move_to_end(key)
            while len(self._records) > self.max_entries:
                self._records.popitem(last=False)
            return Claim(state, record.completed)

    def complete(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                record.completed = record.completed | {handler}
                record.expires = now + self.ttl

    def release(self, key: str, *, done: bool, now: float) -> None:
        """End the lease on ``key``; ``done`` marks it finished."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                record.lease_until = 0.0
                record.done = done
                record.expires = now + self.ttl

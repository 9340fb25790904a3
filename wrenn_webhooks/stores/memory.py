"""A bounded, thread-safe, in-process idempotency store (the default)."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

from ..errors import ConfigurationError
from .base import DEFAULT_TTL, Claim, ClaimState

__all__ = ["MemoryIdempotencyStore"]

_NEW = Claim(ClaimState.NEW)
_NONE: frozenset[str] = frozenset()

# A record is a list, the cheapest mutable thing to make on the hot path. It
# holds its key, so that the queue of records needs no (key, record) pairs:
# one object a record for the garbage collector to walk, not two.
_LEASE, _EXPIRES, _DONE, _COMPLETED, _KEY = range(5)


class MemoryIdempotencyStore:
    """Keep records in this process, the oldest dropped past ``max_entries``.

    Right for a single process. Several processes (gunicorn workers) need a
    shared store such as ``SQLiteIdempotencyStore``. Records go oldest first:
    expired ones, and the oldest 1/64th at once when the store is full.

    Args:
        ttl: Seconds a record lives after its last change.
        max_entries: Records kept at most. About 350 bytes each: the default
            bound holds some 35 MB of records.
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, max_entries: int = 100_000) -> None:
        if not ttl > 0 or max_entries < 1:
            raise ConfigurationError("ttl must be positive and max_entries at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self._records: dict[str, list[Any]] = {}
        # Keys in the order their records were made: a dict alone would slow down
        # as its first items are deleted, leaving holes next(iter()) walks over.
        self._order: deque[list[Any]] = deque()
        # When the oldest record expires at the earliest (records only live
        # longer): until then a claim looks at nothing but this number.
        self._oldest_expires = -math.inf
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        records = self._records
        record = [now + lease, now + self.ttl, False, _NONE, key]
        # A key never seen (the usual case) needs no lock: setdefault is atomic.
        if records.setdefault(key, record) is record:
            order = self._order
            order.append(record)
            if len(order) > self.max_entries or self._oldest_expires <= now:
                self._drop_oldest(now)
            return _NEW
        with self._lock:
            found = records.get(key)
            if found is None or found[_EXPIRES] <= now:  # dropped, or expired
                records[key] = record
                self._order.append(record)
                return _NEW
            completed: frozenset[str] = found[_COMPLETED]
            if found[_DONE]:
                return Claim(ClaimState.DONE, completed)
            if found[_LEASE] > now:
                return Claim(ClaimState.BUSY, completed)
            found[_LEASE] = now + lease
            found[_EXPIRES] = now + self.ttl
            return Claim(ClaimState.RETRY, completed)

    def _drop_oldest(self, now: float) -> None:
        # Oldest first: O(1) each. Over the bound, a batch at once (the oldest
        # 1/64th), so that a full store's claims come here once in so many.
        records, order = self._records, self._order
        with self._lock:
            keep = len(order)
            if keep > self.max_entries:
                keep = self.max_entries - max(1, self.max_entries // 64)
            while order and (len(order) > keep or order[0][_EXPIRES] <= now):
                old = order.popleft()
                if records.get(old[_KEY]) is old:
                    del records[old[_KEY]]
            self._oldest_expires = order[0][_EXPIRES] if order else -math.inf

    def complete(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                record[_COMPLETED] = record[_COMPLETED] | {handler}
                record[_EXPIRES] = now + self.ttl

    def release(self, key: str, *, done: bool, now: float) -> None:
        """End the lease on ``key``; ``done`` marks it finished."""
        # No lock: only the lease holder releases, each assignment is atomic,
        # and ``done`` is set before the lease ends, so a concurrent claim sees
        # BUSY or the final state, never a half-released record.
        record = self._records.get(key)
        if record is not None:
            record[_EXPIRES] = now + self.ttl
            record[_DONE] = done
            record[_LEASE] = 0.0

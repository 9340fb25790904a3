"""A bounded, thread-safe, in-process idempotency store (the default)."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Final

from ..errors import ConfigurationError
from .base import DEFAULT_TTL, Claim, ClaimState

__all__ = ["MemoryIdempotencyStore"]

_NEW = Claim(ClaimState.NEW)
_NONE: frozenset[str] = frozenset()

# A record is a tuple of floats, a bool and a tuple of handler names: the
# garbage collector stops tracking such a tuple the first time it sees it, so a
# full store adds nothing to the collections that walk every live object.
# Changes replace the record, which also makes each change atomic.
_LEASE: Final = 0
_EXPIRES: Final = 1
_DONE: Final = 2
_COMPLETED: Final = 3
_Record = tuple[float, float, bool, tuple[str, ...]]


class MemoryIdempotencyStore:
    """Keep records in this process, the oldest dropped past ``max_entries``.

    Right for a single process. Several processes (gunicorn workers) need a
    shared store such as ``SQLiteIdempotencyStore``. Records go oldest first:
    expired ones, and the oldest 1/64th at once when the store is full.

    Args:
        ttl: Seconds a record lives after its last change.
        max_entries: Records kept at most. About 300 bytes each: the default
            bound holds some 30 MB of records.
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, max_entries: int = 100_000) -> None:
        if not ttl > 0 or max_entries < 1:
            raise ConfigurationError("ttl must be positive and max_entries at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self._records: dict[str, _Record] = {}
        # Keys in the order their records were made: a dict alone would slow down
        # as its first items are deleted, leaving holes next(iter()) walks over.
        self._order: deque[str] = deque()
        # Keys made again after they expired, but before their first entry in
        # _order was dropped: how many such early entries to skip.
        self._remade: dict[str, int] = {}
        # When the oldest record expires at the earliest (records only live
        # longer): until then a claim looks at nothing but this number.
        self._oldest_expires = -math.inf
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        records = self._records
        record: _Record = (now + lease, now + self.ttl, False, ())
        # A key never seen (the usual case) needs no lock: setdefault is atomic.
        if records.setdefault(key, record) is record:
            order = self._order
            order.append(key)
            if len(order) > self.max_entries or self._oldest_expires <= now:
                self._drop_oldest(now)
            return _NEW
        with self._lock:
            found = records.get(key)
            if found is None or found[_EXPIRES] <= now:  # dropped, or expired
                records[key] = record
                self._order.append(key)
                if found is not None:  # its first entry in _order is still there
                    self._remade[key] = self._remade.get(key, 0) + 1
                return _NEW
            completed = frozenset(found[_COMPLETED]) if found[_COMPLETED] else _NONE
            if found[_DONE]:
                return Claim(ClaimState.DONE, completed)
            if found[_LEASE] > now:
                return Claim(ClaimState.BUSY, completed)
            records[key] = (now + lease, now + self.ttl, False, found[_COMPLETED])
            return Claim(ClaimState.RETRY, completed)

    def _drop_oldest(self, now: float) -> None:
        # Oldest first: O(1) each. Over the bound, a batch at once (the oldest
        # 1/64th), so that a full store's claims come here once in so many.
        records, order, remade = self._records, self._order, self._remade
        with self._lock:
            keep = len(order)
            if keep > self.max_entries:
                keep = self.max_entries - max(1, self.max_entries // 64)
            while order:
                key = order[0]
                if key in remade:  # the entry of a record since made again
                    order.popleft()
                    remade[key] -= 1
                    if not remade[key]:
                        del remade[key]
                    continue
                record = records.get(key)
                if record is not None and len(order) <= keep and record[_EXPIRES] > now:
                    break
                order.popleft()
                if record is not None:
                    del records[key]
            self._oldest_expires = records[order[0]][_EXPIRES] if order else -math.inf

    def complete(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                lease, _, done, completed = record
                if handler not in completed:
                    completed = (*completed, handler)
                self._records[key] = (lease, now + self.ttl, done, completed)

    def release(self, key: str, *, done: bool, now: float) -> None:
        """End the lease on ``key``; ``done`` marks it finished."""
        # No lock: only the lease holder releases (and completes), and the new
        # record replaces the old one in one step: a concurrent claim sees the
        # lease held or the final state, never a half-released record.
        record = self._records.get(key)
        if record is not None:
            self._records[key] = (0.0, now + self.ttl, done, record[_COMPLETED])

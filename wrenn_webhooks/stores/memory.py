"""A bounded, thread-safe, in-process idempotency store (the default)."""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Final, Union

from ..errors import ConfigurationError
from .base import DEFAULT_TTL, Claim, ClaimState

__all__ = ["MemoryIdempotencyStore"]

_NEW = Claim(ClaimState.NEW)
_NONE: frozenset[str] = frozenset()

# A record is a tuple, replaced whole on every change: (made, lease ends,
# expires, done, completed handlers or None). Floats, booleans and None only,
# so the garbage collector stops tracking it, as it does the queue's
# (key, made) pairs: a full store adds nothing to each collection's work.
# ``made`` is the float object of the first expiry, shared by the record's
# every version and its queue entry: ``is`` tells that record from a later
# one under the same key.
_Record = tuple[float, float, float, bool, Union[frozenset[str], None]]
_MADE: Final = 0
_LEASE: Final = 1
_EXPIRES: Final = 2
_DONE: Final = 3
_COMPLETED: Final = 4


class MemoryIdempotencyStore:
    """Keep records in this process, the oldest dropped past ``max_entries``.

    Right for a single process. Several processes (gunicorn workers) need a
    shared store such as ``SQLiteIdempotencyStore``. Records go oldest first:
    expired ones, and the oldest 1/64th at once when the store is full.

    Args:
        ttl: Seconds a record lives after its last change.
        max_entries: Records kept at most. About 400 bytes each: the default
            bound holds some 40 MB of records.
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, max_entries: int = 100_000) -> None:
        if not ttl > 0 or max_entries < 1:
            raise ConfigurationError("ttl must be positive and max_entries at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        self._records: dict[str, _Record] = {}
        # Keys in the order their records were made: a dict alone would slow down
        # as its first items are deleted, leaving holes next(iter()) walks over.
        self._order: deque[tuple[str, float]] = deque()
        # When the oldest record expires at the earliest (records only live
        # longer): until then a claim looks at nothing but this number.
        self._oldest_expires = -math.inf
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        records = self._records
        made = now + self.ttl
        record = (made, now + lease, made, False, None)
        # A key never seen (the usual case) needs no lock: setdefault is atomic.
        if records.setdefault(key, record) is record:
            order = self._order
            order.append((key, made))
            if len(order) > self.max_entries or self._oldest_expires <= now:
                self._drop_oldest(now)
            return _NEW
        with self._lock:
            found = records.get(key)
            if found is None or found[_EXPIRES] <= now:  # dropped, or expired
                records[key] = record
                self._order.append((key, made))
                return _NEW
            completed = found[_COMPLETED] or _NONE
            if found[_DONE]:
                return Claim(ClaimState.DONE, completed)
            if found[_LEASE] > now:
                return Claim(ClaimState.BUSY, completed)
            records[key] = (found[_MADE], now + lease, made, False, found[_COMPLETED])
            return Claim(ClaimState.RETRY, completed)

    def _drop_oldest(self, now: float) -> None:
        # Oldest first: O(1) each. A queue entry whose key has since got a newer
        # record (``made`` differs) leaves the queue only.
        records, order = self._records, self._order
        with self._lock:
            if len(order) > self.max_entries:
                # A batch at once, the store's oldest 1/64th: claims then call
                # here once in so many, not each time when the store is full.
                keep = self.max_entries - max(1, self.max_entries // 64)
            else:
                keep = len(order)
            while len(order) > keep:
                key, made = order.popleft()
                found = records.get(key)
                if found is not None and found[_MADE] is made:
                    del records[key]
            # An entry's ``made`` is its record's first expiry, so a lower
            # bound of it: only a record due by that needs to be looked at.
            while order and order[0][1] <= now:
                key, made = order[0]
                found = records.get(key)
                if found is not None and found[_MADE] is made:
                    if found[_EXPIRES] > now:  # kept alive by a later change
                        self._oldest_expires = found[_EXPIRES]
                        return
                    del records[key]
                order.popleft()
            self._oldest_expires = order[0][1] if order else -math.inf

    def complete(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        with self._lock:
            found = self._records.get(key)
            if found is not None:
                completed = (found[_COMPLETED] or _NONE) | {handler}
                self._records[key] = (
                    found[_MADE],
                    found[_LEASE],
                    now + self.ttl,
                    found[_DONE],
                    completed,
                )

    def release(self, key: str, *, done: bool, now: float) -> None:
        """End the lease on ``key``; ``done`` marks it finished."""
        # Under the lock: a record dropped meanwhile must stay dropped.
        with self._lock:
            found = self._records.get(key)
            if found is not None:
                self._records[key] = (found[_MADE], 0.0, now + self.ttl, done, found[_COMPLETED])

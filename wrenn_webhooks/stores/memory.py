"""A bounded, thread-safe, in-process idempotency store (the default)."""

from __future__ import annotations

import math
import threading
from itertools import islice

from ..errors import ConfigurationError
from .base import DEFAULT_TTL, Claim, ClaimState

__all__ = ["MemoryIdempotencyStore"]

_NEW = Claim(ClaimState.NEW)
_NONE: frozenset[str] = frozenset()

# A record is a number wherever it can be, because the garbage collector skips
# a dict that holds nothing but strings and numbers: a full store then costs a
# full collection nothing, where 100,000 tuples and a queue of their keys cost
# it a cache miss each, 3-10 ms more a collection, with every thread stopped.
# Changes replace the record, which also makes each change atomic.
#
#   float e                   done; kept until e
#   complex(lease, e)         not done: leased until lease (0.0: released), kept until e
#   (lease, e, done, names)   with completed handlers: only when several handlers
#                             take one event, and then the collector walks the dict
_Record = float | complex | tuple[float, float, bool, tuple[str, ...]]
_CHUNK = 256
"""Oldest keys copied at a time when dropping records."""


def _record(lease: float, expires: float, done: bool, completed: tuple[str, ...]) -> _Record:
    if completed:
        return (lease, expires, done, completed)
    return expires if done else complex(lease, expires)


def _fields(record: _Record) -> tuple[float, float, bool, tuple[str, ...]]:
    """(lease, expires, done, completed handler names) of any record."""
    if isinstance(record, tuple):
        return record
    if isinstance(record, complex):
        return record.real, record.imag, False, ()
    return 0.0, record, True, ()


def _expires(record: _Record) -> float:
    if isinstance(record, tuple):
        return record[1]
    return record.imag if isinstance(record, complex) else record


class MemoryIdempotencyStore:
    """Keep records in this process, the oldest dropped past ``max_entries``.

    Right for a single process. Several processes (gunicorn workers) need a
    shared store such as ``SQLiteIdempotencyStore``. Records go oldest first:
    expired ones, and the oldest 1/64th at once when the store is full.

    Args:
        ttl: Seconds a record lives after its last change.
        max_entries: Records kept at most. About 220 bytes each: the default
            bound holds some 21 MB of records.
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, max_entries: int = 100_000) -> None:
        if not ttl > 0 or max_entries < 1:
            raise ConfigurationError("ttl must be positive and max_entries at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        # Oldest first: a dict keeps the order its keys were added in.
        self._records: dict[str, _Record] = {}
        # No record expires before this: until then a claim looks at nothing
        # but this number (and after a drop, not for another ttl / 64).
        self._oldest_expires = -math.inf
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        records = self._records
        record = complex(now + lease, now + self.ttl)
        # A key never seen (the usual case) needs no lock: setdefault is atomic.
        if records.setdefault(key, record) is record:
            if len(records) > self.max_entries or self._oldest_expires <= now:
                self._drop_oldest(now)
            return _NEW
        with self._lock:
            found = records.get(key)
            if found is None or _expires(found) <= now:  # dropped, or expired
                if found is not None:
                    del records[key]  # made again: among the newest
                if records.setdefault(key, record) is record:
                    return _NEW
                return Claim(ClaimState.BUSY)  # a lock-free claim made it first
            lease_until, _, done, names = _fields(found)
            completed = frozenset(names) if names else _NONE
            if done:
                return Claim(ClaimState.DONE, completed)
            if lease_until > now:
                return Claim(ClaimState.BUSY, completed)
            records[key] = _record(now + lease, now + self.ttl, False, names)
            return Claim(ClaimState.RETRY, completed)

    def _drop_oldest(self, now: float) -> None:
        # Over the bound, a batch at once (the oldest 1/64th), so that a full
        # store's claims come here once in so many; and every expired record.
        records = self._records
        with self._lock:
            excess = len(records) - self.max_entries
            quota = excess + self.max_entries // 64 if excess > 0 else 0
            oldest = math.inf
            while records and oldest == math.inf:
                # A copy of the oldest keys, made in C without a thread switch:
                # iterating over the dict itself would fail if a lock-free
                # claim added a key meanwhile. Only this lock deletes keys.
                for key in list(islice(records, max(quota, _CHUNK))):
                    expires = _expires(records[key])
                    if quota <= 0 and expires > now:
                        oldest = expires
                        break
                    del records[key]
                    quota -= 1
            # Dropping walks over the holes deletions leave at the dict's start:
            # come back at most every ttl / 64 (an expired record that stays a
            # little longer is still treated as gone).
            self._oldest_expires = max(oldest if records else now + self.ttl, now + self.ttl / 64)

    def complete(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                lease, _, done, completed = _fields(record)
                if handler not in completed:
                    completed = (*completed, handler)
                self._records[key] = _record(lease, now + self.ttl, done, completed)

    def release(self, key: str, *, done: bool, now: float) -> None:
        """End the lease on ``key``; ``done`` marks it finished."""
        # No lock: only the lease holder releases (and completes), and the new
        # record replaces the old one in one step: a concurrent claim sees the
        # lease held or the final state, never a half-released record.
        records = self._records
        record = records.get(key)
        if type(record) is complex:  # the usual case: no handler completed on its own
            records[key] = now + self.ttl if done else complex(0.0, now + self.ttl)
        elif record is not None:
            records[key] = _record(0.0, now + self.ttl, done, _fields(record)[3])

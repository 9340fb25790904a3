"""A bounded, thread-safe, in-process idempotency store (the default)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..errors import ConfigurationError
from .base import DEFAULT_TTL, Claim, ClaimState

__all__ = ["MemoryIdempotencyStore"]


_NEW = Claim(ClaimState.NEW)


class _Record:
    __slots__ = ("completed", "done", "expires", "lease_until")

    def __init__(self, lease_until: float, expires: float) -> None:
        self.completed: frozenset[str] = frozenset()
        self.done = False
        self.lease_until = lease_until
        self.expires = expires


class MemoryIdempotencyStore:
    """Keep records in this process, the oldest evicted past ``max_entries``.

    Right for a single process. Several processes (gunicorn workers) need a
    shared store such as ``SQLiteIdempotencyStore``.

    Args:
        ttl: Seconds a record lives after its last change.
        max_entries: Records kept at most; the least recently used go first.
    """

    def __init__(self, *, ttl: float = DEFAULT_TTL, max_entries: int = 100_000) -> None:
        if not ttl > 0 or max_entries < 1:
            raise ConfigurationError("ttl must be positive and max_entries at least 1")
        self.ttl = ttl
        self.max_entries = max_entries
        # Least recently used first. An OrderedDict, not a dict: popping a
        # dict's first items leaves holes that make next(iter()) ever slower.
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()
        self._claims = 0

    def __len__(self) -> int:
        return len(self._records)

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        records = self._records
        with self._lock:
            record = records.get(key)
            if record is None or record.expires <= now:
                if record is not None:
                    del records[key]  # re-inserted below, at the recent end
                records[key] = _Record(now + lease, now + self.ttl)
                if len(records) > self.max_entries:
                    records.popitem(last=False)
                self._claims += 1
                if not self._claims % 256:  # expired records go in batches
                    while next(iter(records.values())).expires <= now:
                        records.popitem(last=False)
                return _NEW
            records.move_to_end(key)
            if record.done:
                return Claim(ClaimState.DONE, record.completed)
            if record.lease_until > now:
                return Claim(ClaimState.BUSY, record.completed)
            record.lease_until = now + lease
            record.expires = now + self.ttl
            return Claim(ClaimState.RETRY, record.completed)

    def complete(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                record.completed = record.completed | {handler}
                record.expires = now + self.ttl

    def release(self, key: str, *, done: bool, now: float) -> None:
        """End the lease on ``key``; ``done`` marks it finished."""
        # No lock: only the lease holder releases, each assignment is atomic,
        # and ``done`` is set before the lease ends, so a concurrent claim sees
        # BUSY or the final state, never a half-released record.
        record = self._records.get(key)
        if record is not None:
            record.expires = now + self.ttl
            record.done = done
            record.lease_until = 0.0

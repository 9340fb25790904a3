"""A bounded, thread-safe, in-process idempotency store (the default)."""

from __future__ import annotations

import math
import threading
from itertools import islice

from ..errors import ConfigurationError
from .base import DEFAULT_TTL, Claim, ClaimState

__all__ = ["MemoryIdempotencyStore"]

# Records
# -------
# One record per key, kept as one of three shapes, the cheapest that can hold it:
#
#   shape                     state      lease until             kept until  handlers completed
#   e (float)                 done       -                       e           none recorded
#   complex(l, e)             not done   l (0.0 once released)   e           none recorded
#   (l, e, done, names)       either     l (0.0 once ended)      e           names, a tuple
#
# Numbers, because the garbage collector does not track a dict that holds only
# strings and numbers: a full collection skips the store whatever its size.
# Each new tuple record would track the dict again: with 100,000 plain tuple
# records, a full collection (every thread stopped) took 1.3-4.4 ms longer, for
# the same cost a delivery (python -m benchmarks.bench_store --compare). The
# tuple shape appears only when a handler completes on its own (an event routed
# to several handlers), and such a record makes the dict tracked again until a
# full collection after it is gone. Its names are a tuple of strings, which the
# collector stops tracking the first time it sees it; a frozenset it would
# track for good (9-10 ms more a collection with 100,000 of them).
#
# A change stores a whole new record under its key in one step, so no reader
# ever sees half a change, and the key keeps its place in the dict.
_Record = float | complex | tuple[float, float, bool, tuple[str, ...]]
_Fields = tuple[float, float, bool, tuple[str, ...]]
"""A record decoded: (lease until, kept until, done, names of completed handlers)."""


def _encode(lease_until: float, expires: float, done: bool, completed: tuple[str, ...]) -> _Record:
    """The cheapest shape for these fields (a done record keeps no lease)."""
    if completed:
        return (lease_until, expires, done, completed)
    return expires if done else complex(lease_until, expires)


def _decode(record: _Record) -> _Fields:
    """The fields of a record of any shape."""
    if isinstance(record, tuple):
        return record
    if isinstance(record, complex):
        return record.real, record.imag, False, ()
    return 0.0, record, True, ()


def _expires(record: _Record) -> float:
    """When a record of any shape stops counting."""
    if isinstance(record, tuple):
        return record[1]
    return record.imag if isinstance(record, complex) else record


_GONE: _Fields = (0.0, -math.inf, False, ())
"""The fields of a record not there: one that expired long ago."""
_NEW = Claim(ClaimState.NEW)
_BUSY = Claim(ClaimState.BUSY)
_DONE = Claim(ClaimState.DONE)
_CHUNK = 256
"""Oldest keys copied at a time when sweeping."""


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
        # Key -> record (see Records above), in the order the keys were first
        # claimed: a dict keeps insertion order, so the oldest come first.
        self._records: dict[str, _Record] = {}
        # When the next claim of a new key sweeps expired records out; until then
        # a claim looks at this number only. At most every ttl / 64 (see _sweep).
        self._next_sweep = -math.inf
        # Held by every change but two, which need none (see claim and finish):
        # claiming a key never seen, and finishing.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._records)

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        records = self._records
        record = complex(now + lease, now + self.ttl)  # leased, not done
        # A key never seen (the usual case) takes no lock: dict.setdefault on a
        # str key runs in C from start to end, so no other thread runs in the
        # middle of it (the GIL is not released there), and of two threads
        # claiming one key at once, exactly one stores its record and sees it
        # back. tests/stores/test_memory.py races threads on this.
        if records.setdefault(key, record) is record:
            if len(records) > self.max_entries or self._next_sweep <= now:
                with self._lock:
                    self._sweep(now)
            return _NEW
        with self._lock:
            return self._claim_known(key, record, now)

    def _claim_known(self, key: str, record: complex, now: float) -> Claim:
        """``claim()`` of a key that has a record; the caller holds the lock."""
        records = self._records
        found = records.get(key)
        lease_until, expires, done, names = _GONE if found is None else _decode(found)
        if expires <= now:  # expired, or swept since the lock-free attempt
            if found is not None:
                del records[key]  # made again: among the newest
            # setdefault again: a lock-free claim may have made it meanwhile.
            if records.setdefault(key, record) is not record:
                return _BUSY
            if len(records) > self.max_entries:  # swept, and made again past the bound
                self._sweep(now)
            return _NEW
        if done:
            return Claim(ClaimState.DONE, frozenset(names)) if names else _DONE
        if lease_until > now:
            return Claim(ClaimState.BUSY, frozenset(names)) if names else _BUSY
        records[key] = _encode(record.real, record.imag, False, names)
        return Claim(ClaimState.RETRY, frozenset(names))

    def _sweep(self, now: float) -> None:
        """Drop every expired record, and past the bound the oldest 1/64th at once.

        A batch at once, so that a full store's claims come here once in so many.
        The caller holds the lock.
        """
        records = self._records
        excess = len(records) - self.max_entries
        quota = excess + self.max_entries // 64 if excess > 0 else 0
        oldest = math.inf
        while records and oldest == math.inf:
            # Only holders of the lock delete keys, but lock-free claims and finishes
            # add some at any time, and iterating over a dict that grows fails. So a
            # copy of the oldest keys: list() runs in C with no Python code inside,
            # so the GIL stays with this thread until the copy is made. Another
            # thread may add a key between islice() taking its iterator and list()
            # using it, though: the copy then fails, and is made again.
            try:
                oldest_keys = list(islice(records, max(quota, _CHUNK)))
            except RuntimeError:  # "dictionary changed size during iteration"
                continue
            for key in oldest_keys:
                expires = _expires(records[key])
                if quota <= 0 and expires > now:
                    oldest = expires  # alive: sweep again once it has expired
                    break
                del records[key]
                quota -= 1
        # Deleting leaves holes at the dict's start that the next sweep walks
        # over again: sweep at most every ttl / 64. An expired record that
        # stays a little longer is treated as gone all the same (_claim_known).
        self._next_sweep = max(oldest if records else now + self.ttl, now + self.ttl / 64)

    def complete_handler(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                lease_until, _, done, names = _decode(record)
                if handler not in names:
                    names = (*names, handler)
                self._records[key] = _encode(lease_until, now + self.ttl, done, names)

    def finish(self, key: str, *, now: float) -> None:
        """End the lease on ``key`` and mark every handler complete."""
        # No lock. Only the lease holder finishes a key, after its last
        # complete_handler; every other change to the key waits for the lease to
        # end or expire. Storing the record is one step (the GIL is held through
        # a dict store), so a claim sees the lease held or the key done, nothing
        # between. A sweep that drops the key between the read and the store only
        # gets it back as the newest record, one past the bound at most per
        # thread. tests/stores/test_memory.py races claims, finishes and sweeps.
        records = self._records
        record = records.get(key)
        if type(record) is complex:  # the usual case: no handler recorded on its own
            records[key] = now + self.ttl  # done
        elif record is not None:
            records[key] = _encode(0.0, now + self.ttl, True, _decode(record)[3])

    def release(self, key: str, *, now: float) -> None:
        """End the lease on ``key`` without finishing: the next claim gets ``RETRY``."""
        with self._lock:
            record = self._records.get(key)
            if record is not None:
                names = _decode(record)[3]
                self._records[key] = _encode(0.0, now + self.ttl, False, names)

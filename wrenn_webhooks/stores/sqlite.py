"""An idempotency store in one SQLite file, shared by every thread and process using it."""

from __future__ import annotations

import json
import math
import os
import sqlite3

from .._sqlite import SQLiteFile
from ..errors import ConfigurationError
from .base import DEFAULT_TTL, Claim, ClaimState

__all__ = ["SQLiteIdempotencyStore"]

_SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, completed TEXT NOT NULL,"
    " done INTEGER NOT NULL, lease_until REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS records_expires ON records (expires)",
    f"PRAGMA user_version = {_SCHEMA_VERSION}",
)


class SQLiteIdempotencyStore(SQLiteFile):
    """Keep records in a SQLite file, safe across threads and processes (gunicorn workers).

    Each thread opens its own connection, and a forked child opens fresh ones rather than
    reuse its parent's. The file uses WAL mode; every claim is one ``BEGIN IMMEDIATE``
    transaction. Expired records are purged at most once per ``ttl / 10`` seconds.

    Args:
        path: The database file. Its directory must exist; the file is created if needed.
        ttl: Seconds a record lives after its last change.
        timeout: Seconds to wait for another writer before giving up with ``StoreError``.

    Raises:
        ConfigurationError: Bad arguments, a missing directory, or a file written by a
            newer version of this package.
        StoreError: The file cannot be opened or is not a database.
    """

    _label = "idempotency store"
    _table = "records"
    _schema = _SCHEMA
    _schema_version = _SCHEMA_VERSION

    def __init__(
        self, path: str | os.PathLike[str], *, ttl: float = DEFAULT_TTL, timeout: float = 5.0
    ) -> None:
        if not ttl > 0 or not timeout >= 0:
            raise ConfigurationError("ttl must be positive and timeout not negative")
        super().__init__(path)
        self.ttl = ttl
        self.timeout = self._timeout = timeout
        self._purged_at = -math.inf
        self._open_now()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def claim(self, key: str, *, now: float, lease: float) -> Claim:
        """Take a lease on ``key`` unless one is held or the key is done."""
        return self._write(lambda conn: self._claim(conn, key, now, lease))

    def _claim(self, conn: sqlite3.Connection, key: str, now: float, lease: float) -> Claim:
        if abs(now - self._purged_at) >= self.ttl / 10:  # abs: survive a clock set back
            conn.execute("DELETE FROM records WHERE expires <= ?", (now,))
            self._purged_at = now
        row = conn.execute(
            "SELECT completed, done, lease_until, expires FROM records WHERE key = ?", (key,)
        ).fetchone()
        if row is None or row[3] <= now:
            completed: frozenset[str] = frozenset()
            state = ClaimState.NEW
        else:
            completed = frozenset(json.loads(row[0]))
            if row[1]:
                return Claim(ClaimState.DONE, completed)
            if row[2] > now:
                return Claim(ClaimState.BUSY, completed)
            state = ClaimState.RETRY
        conn.execute(
            "INSERT OR REPLACE INTO records VALUES (?, ?, 0, ?, ?)",
            (key, json.dumps(sorted(completed)), now + lease, now + self.ttl),
        )
        return Claim(state, completed)

    def complete_handler(self, key: str, handler: str, *, now: float) -> None:
        """Record that ``handler`` completed for ``key``."""
        self._write(lambda conn: self._complete(conn, key, handler, now))

    def _complete(self, conn: sqlite3.Connection, key: str, handler: str, now: float) -> None:
        row = conn.execute("SELECT completed FROM records WHERE key = ?", (key,)).fetchone()
        if row is not None:
            completed = sorted(set(json.loads(row[0])) | {handler})
            conn.execute(
                "UPDATE records SET completed = ?, expires = ? WHERE key = ?",
                (json.dumps(completed), now + self.ttl, key),
            )

    def finish(self, key: str, *, now: float) -> None:
        """End the lease on ``key`` and mark every handler complete."""
        self._end_lease(key, done=True, now=now)

    def release(self, key: str, *, now: float) -> None:
        """End the lease on ``key`` without finishing: the next claim gets ``RETRY``."""
        self._end_lease(key, done=False, now=now)

    def _end_lease(self, key: str, *, done: bool, now: float) -> None:
        self._write(
            lambda conn: conn.execute(
                "UPDATE records SET lease_until = 0, done = ?, expires = ? WHERE key = ?",
                (int(done), now + self.ttl, key),
            )
        )

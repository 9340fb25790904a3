"""A durable inbox in one SQLite file, shared by the web processes and the workers.

Each row is one event: stored by ``put`` before the receiver answers 202, then
claimed, handled and finished (or failed, retried and dead-lettered) by workers.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import sqlite3
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from .._sqlite import SQLiteFile
from ..errors import ConfigurationError
from .base import DEFAULT_RETRY_DELAYS, WORKER_DIED, Inbox, InboxItem, Status

if TYPE_CHECKING:
    from ..events import Event
    from ..signature import Delivery

# InboxItem lives in .base; it is re-exported here only for modules not yet moved to .base.
__all__ = ["InboxItem", "SQLiteInbox"]

_SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,"
    " body BLOB NOT NULL, event_type TEXT NOT NULL, resource_id TEXT NOT NULL,"
    " delivery_id TEXT, signed_at REAL NOT NULL, received_at REAL NOT NULL,"
    " status TEXT NOT NULL, attempts INTEGER NOT NULL, completed TEXT NOT NULL,"
    " last_errors TEXT NOT NULL, next_attempt_at REAL NOT NULL, lease_owner TEXT,"
    " lease_until REAL NOT NULL, finished_at REAL)",
    # Claims walk pending rows oldest first and stop at the batch: O(batch), not O(backlog).
    "CREATE INDEX inbox_pending ON inbox (id) WHERE status = 'pending'",
    # Expired leases (a worker died) are found among the leased rows only.
    "CREATE INDEX inbox_leased ON inbox (lease_until) WHERE status = 'pending' AND lease_until > 0",
    "CREATE INDEX inbox_resource ON inbox (resource_id, id) WHERE status = 'pending'",
    "CREATE INDEX inbox_finished ON inbox (status, finished_at)",
    f"PRAGMA user_version = {_SCHEMA_VERSION}",
)
_COLUMNS = (
    "id, key, body, event_type, resource_id, delivery_id, signed_at, received_at, status,"
    " attempts, completed, last_errors, next_attempt_at, lease_owner, lease_until, finished_at"
)
# Per-resource ordering: nothing earlier of the same resource may still be pending.
_IN_ORDER = (
    " AND NOT EXISTS (SELECT 1 FROM inbox AS e WHERE e.status = 'pending'"
    " AND e.resource_id = inbox.resource_id AND e.id < inbox.id)"
)
_LIST_FILTERS = {
    None: "",
    "pending": "WHERE status = 'pending'",
    "failed": "WHERE status = 'pending' AND attempts > 0",
    "dead": "WHERE status = 'dead'",
    "done": "WHERE status = 'done'",
}
_SYNCHRONOUS = ("NORMAL", "FULL")
_BUSY_TIMEOUT = 5.0
"""Seconds to wait for another writer; well inside Wrenn's 10 s request timeout."""


def _item_from_row(row: Sequence[Any]) -> InboxItem:
    """An ``InboxItem`` from a row of ``_COLUMNS``."""
    status: Status = row[8]
    return InboxItem(
        id=row[0],
        key=row[1],
        body=bytes(row[2]),
        event_type=row[3],
        resource_id=row[4],
        delivery_id=row[5],
        signed_at=row[6],
        received_at=row[7],
        status=status,
        attempts=row[9],
        completed=frozenset(json.loads(row[10])),
        last_errors=json.loads(row[11]),
        next_attempt_at=row[12] if status == "pending" else None,
        lease_owner=row[13],
        lease_until=row[14] or None,
        finished_at=row[15],
    )


class SQLiteInbox(SQLiteFile):
    """Store events in a SQLite file; workers claim, handle and finish them.

    Safe across threads and processes (gunicorn workers, worker processes): each
    thread opens its own connection, a forked child opens fresh ones, the file
    uses WAL mode and every change is one ``BEGIN IMMEDIATE`` transaction.

    An attempt that fails is retried after ``retry_delays[0]``, then
    ``retry_delays[1]`` and so on; when none is left the event is dead-lettered
    and kept until an operator retries or purges it. Done events are purged
    ``retention`` seconds after they finish, by the workers, now and then.

    Args:
        path: The database file. Its directory must exist; the file is created if needed.
        retry_delays: Seconds before each retry, one per retry.
        lease: Seconds a claim lasts; it must outlast a normal run of one event's
            handlers. Each completed handler renews it. A worker that dies holding
            it delays its events by at most this long.
        retention: Seconds done events are kept.
        ordered: Handle the events of each ``resource.id`` one at a time, in the
            order received; a failing event holds back the later ones of its
            resource until it is done or dead.
        synchronous: SQLite's ``synchronous`` setting. ``"NORMAL"`` survives a crash
            of the process; ``"FULL"`` also a power loss, for a slower ``put``.

    Raises:
        ConfigurationError: Bad arguments, a missing directory, or a file written by
            a newer version of this package or for another purpose.
        StoreError: The file cannot be opened or is not a database.
    """

    _label = "inbox"
    _table = "inbox"
    _schema = _SCHEMA
    _schema_version = _SCHEMA_VERSION
    _timeout = _BUSY_TIMEOUT

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        lease: float = 60.0,
        retention: float = 7 * 86400.0,
        ordered: bool = False,
        synchronous: str = "NORMAL",
    ) -> None:
        super().__init__(path)
        self.retry_delays = tuple(float(delay) for delay in retry_delays)
        if not all(0 <= delay < math.inf for delay in self.retry_delays):
            raise ConfigurationError("retry_delays must be finite seconds, none negative")
        if not lease > 0 or not retention > 0:
            raise ConfigurationError("lease and retention must be positive")
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ConfigurationError(f"synchronous must be one of {', '.join(_SYNCHRONOUS)}")
        self.lease = lease
        self.retention = retention
        self.ordered = ordered
        self.synchronous = self._synchronous = synchronous.upper()
        self._purged_at = -math.inf
        self._open_now()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    # --- the receiver's side -----------------------------------------------------

    def put(self, key: str, body: bytes, event: Event, delivery: Delivery, *, now: float) -> bool:
        """Store a verified event, committed before returning; ``False`` if ``key`` is stored."""
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO inbox (key, body, event_type, resource_id, delivery_id,"
                " signed_at, received_at, status, attempts, completed, last_errors,"
                " next_attempt_at, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0,"
                " '[]', '{}', ?, 0)",
                (
                    key,
                    body,
                    event.event,
                    event.resource.id,
                    delivery.delivery_id,
                    delivery.timestamp.timestamp(),
                    now,
                    now,
                ),
            )
            return cursor.rowcount == 1

    # --- the workers' side -------------------------------------------------------

    def claim(self, worker_id: str, *, now: float, limit: int = 1) -> builtins.list[InboxItem]:
        """Lease up to ``limit`` due events to ``worker_id``, oldest first.

        Due means pending, past its ``next_attempt_at``, not leased (or its lease
        expired: the worker holding it died), and with ``ordered`` nothing earlier
        of its resource still pending. The caller must ``finish``, ``fail`` or
        ``release`` each item before ``item.lease_until``.
        """
        if limit < 1:
            raise ConfigurationError("claim limit must be at least 1")
        with self._transaction() as conn:
            if abs(now - self._purged_at) >= self.retention / 10:  # abs: a clock set back
                self._delete_done(conn, now - self.retention)
                self._purged_at = now
            # An expired lease was an attempt whose worker died mid-handler. Past the
            # last retry that counts as failing for good: dead-letter, never loop.
            conn.execute(
                "UPDATE inbox INDEXED BY inbox_leased"
                " SET status = 'dead', attempts = attempts + 1, lease_until = 0,"
                " finished_at = ?, last_errors = json_set(last_errors, '$.\"(worker)\"', ?)"
                " WHERE status = 'pending' AND lease_until > 0 AND lease_until <= ?"
                " AND attempts >= ?",
                (now, WORKER_DIED, now, len(self.retry_delays)),
            )
            ids = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM inbox INDEXED BY inbox_pending"
                    " WHERE status = 'pending' AND next_attempt_at <= ?"
                    f" AND lease_until <= ?{_IN_ORDER if self.ordered else ''}"
                    " ORDER BY id LIMIT ?",
                    (now, now, limit),
                )
            ]
            if not ids:
                return []
            marks = ", ".join("?" * len(ids))
            # A lease that expired unreleased was an attempt that never ended: count it.
            conn.execute(
                "UPDATE inbox SET attempts = attempts + (lease_until > 0), lease_owner = ?,"
                f" lease_until = ? WHERE id IN ({marks})",
                (worker_id, now + self.lease, *ids),
            )
            rows = conn.execute(f"SELECT {_COLUMNS} FROM inbox WHERE id IN ({marks})", ids)
            return sorted((_item_from_row(row) for row in rows), key=lambda item: item.id)

    def complete_handler(self, item_id: int, name: str, *, now: float) -> None:
        """Record at once that handler ``name`` completed, and renew the lease."""
        with self._transaction() as conn:
            row = conn.execute("SELECT completed FROM inbox WHERE id = ?", (item_id,)).fetchone()
            if row is not None:
                completed = sorted(set(json.loads(row[0])) | {name})
                conn.execute(
                    "UPDATE inbox SET completed = ?, lease_until = max(lease_until, ?)"
                    " WHERE id = ? AND lease_until > 0",
                    (json.dumps(completed), now + self.lease, item_id),
                )

    def finish(self, item_id: int, *, now: float) -> None:
        """Mark an item done: every handler completed."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE inbox SET status = 'done', last_errors = '{}', lease_until = 0,"
                " finished_at = ? WHERE id = ?",
                (now, item_id),
            )

    def fail(
        self, item_id: int, errors: Mapping[str, str], *, now: float, final: bool = False
    ) -> None:
        """End an attempt that failed: schedule the next retry, or dead-letter the item.

        Args:
            item_id: The item.
            errors: Handler name to a short description of its error.
            now: The worker's clock, POSIX seconds.
            final: Dead-letter at once, as for a body that no longer parses.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT attempts, completed, last_errors FROM inbox WHERE id = ?", (item_id,)
            ).fetchone()
            if row is None:
                return
            attempts, completed = row[0] + 1, set(json.loads(row[1]))
            merged = {**json.loads(row[2]), **errors}
            last_errors = json.dumps({k: v for k, v in merged.items() if k not in completed})
            if final or attempts > len(self.retry_delays):
                conn.execute(
                    "UPDATE inbox SET status = 'dead', attempts = ?, last_errors = ?,"
                    " lease_until = 0, finished_at = ? WHERE id = ?",
                    (attempts, last_errors, now, item_id),
                )
            else:
                conn.execute(
                    "UPDATE inbox SET attempts = ?, last_errors = ?, lease_until = 0,"
                    " next_attempt_at = ? WHERE id = ?",
                    (attempts, last_errors, now + self.retry_delays[attempts - 1], item_id),
                )

    def release(self, item_id: int) -> None:
        """Give a claimed item back untouched, due at once (a worker shutting down)."""
        with self._transaction() as conn:
            conn.execute(
                "UPDATE inbox SET lease_until = 0 WHERE id = ? AND status = 'pending'", (item_id,)
            )

    # --- operations --------------------------------------------------------------

    def stats(self, *, now: float) -> dict[str, int | float | None]:
        """Counts for metrics and dashboards.

        Returns:
            ``pending`` (waiting, retrying or in flight), ``failed`` (pending after
            a failed attempt), ``in_flight``, ``done``, ``dead``, and
            ``oldest_pending_age``: seconds since the oldest pending event arrived,
            ``None`` when nothing is pending.
        """
        with self._transaction() as conn:
            counts = dict.fromkeys(("pending", "done", "dead"), 0)
            failed = in_flight = 0
            oldest: float | None = None
            for status, count, failing, leased, received in conn.execute(
                "SELECT status, count(*), sum(attempts > 0), sum(lease_until > ?),"
                " min(received_at) FROM inbox GROUP BY status",
                (now,),
            ):
                counts[status] = count
                if status == "pending":
                    failed, in_flight, oldest = failing, leased, received
        return {
            **counts,
            "failed": failed,
            "in_flight": in_flight,
            "oldest_pending_age": None if oldest is None else max(0.0, now - oldest),
        }

    def list(
        self,
        status: Literal["pending", "failed", "dead", "done"] | None = None,
        *,
        limit: int = 100,
    ) -> builtins.list[InboxItem]:
        """The first ``limit`` items, oldest first; ``"failed"`` means pending after a failure."""
        if status not in _LIST_FILTERS:
            raise ConfigurationError(f"no such status {status!r}")
        with self._transaction() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM inbox {_LIST_FILTERS[status]} ORDER BY id LIMIT ?",
                (limit,),
            )
            return [_item_from_row(row) for row in rows]

    def get(self, item_id: int) -> InboxItem | None:
        """One item, or ``None`` if there is no such item (or it was purged)."""
        with self._transaction() as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM inbox WHERE id = ?", (item_id,)).fetchone()
            return None if row is None else _item_from_row(row)

    def retry(self, item_id: int) -> bool:
        """Make a pending or dead item due at once.

        Its retry schedule goes on where it stopped: an event dead after its last
        retry gets one more attempt. Handlers that completed stay completed.
        Returns ``False`` if there is no such item or it is done.
        """
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE inbox SET status = 'pending', next_attempt_at = 0, finished_at = NULL"
                " WHERE id = ? AND status != 'done'",
                (item_id,),
            )
            return cursor.rowcount == 1

    def retry_dead(self, *, limit: int | None = None) -> int:
        """Make dead items due now (the oldest ``limit`` of them, or all), as ``retry`` does.

        Returns how many were dead; call again with ``limit`` to work in batches.
        """
        with self._transaction() as conn:
            cursor = conn.execute(
                "UPDATE inbox SET status = 'pending', next_attempt_at = 0, finished_at = NULL"
                " WHERE id IN (SELECT id FROM inbox WHERE status = 'dead' ORDER BY id LIMIT ?)",
                (-1 if limit is None else limit,),
            )
            return cursor.rowcount

    def purge(self, older_than: float, *, now: float) -> int:
        """Delete done items finished more than ``older_than`` seconds ago; return how many.

        Dead items are never purged: retry them, or look at them first.
        """
        with self._transaction() as conn:
            return self._delete_done(conn, now - older_than)

    # --- connections -------------------------------------------------------------

    @staticmethod
    def _delete_done(conn: sqlite3.Connection, before: float) -> int:
        cursor = conn.execute(
            "DELETE FROM inbox WHERE status = 'done' AND finished_at <= ?", (before,)
        )
        return cursor.rowcount


if TYPE_CHECKING:  # mypy checks that SQLiteInbox has every method of the protocol
    _IS_AN_INBOX: type[Inbox] = SQLiteInbox

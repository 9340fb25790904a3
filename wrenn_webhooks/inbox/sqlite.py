"""A durable inbox in one SQLite file, shared by the web processes and the workers.

Each row is one event: stored by ``put`` before the receiver answers 202, then
claimed, handled and finished (or failed, retried and dead-lettered) by workers.

Rows are read so that nothing in one of them can fail the transaction reading it
(text comes out as bytes, decoded and checked in Python): a damaged row becomes an
item with a reason, which ``claim`` dead-letters on its own and ``list``/``get`` show.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from .._sqlite import SQLiteFile
from ..errors import ConfigurationError
from .base import DEFAULT_RETRY_DELAYS, INBOX_ERROR, WORKER_DIED, Inbox, InboxItem, Status

if TYPE_CHECKING:
    from ..events import Event
    from ..signature import Delivery

# InboxItem lives in .base; it is re-exported here only for modules not yet moved to .base.
__all__ = ["InboxItem", "SQLiteInbox"]

logger = logging.getLogger("wrenn_webhooks.inbox")

_SCHEMA_VERSION = 2
"""1: the first; 2: ``context`` (what the observers carry from the request to the worker)."""
_SCHEMA = (
    "CREATE TABLE inbox (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE,"
    " body BLOB NOT NULL, event_type TEXT NOT NULL, resource_id TEXT NOT NULL,"
    " delivery_id TEXT, signed_at REAL NOT NULL, received_at REAL NOT NULL,"
    " status TEXT NOT NULL, attempts INTEGER NOT NULL, completed TEXT NOT NULL,"
    " last_errors TEXT NOT NULL, next_attempt_at REAL NOT NULL, lease_owner TEXT,"
    " lease_until REAL NOT NULL, finished_at REAL, context TEXT)",
    # Claims walk pending rows oldest first and stop at the batch: O(batch), not O(backlog).
    "CREATE INDEX inbox_pending ON inbox (id) WHERE status = 'pending'",
    # Expired leases (a worker died) are found among the leased rows only.
    "CREATE INDEX inbox_leased ON inbox (lease_until) WHERE status = 'pending' AND lease_until > 0",
    "CREATE INDEX inbox_resource ON inbox (resource_id, id) WHERE status = 'pending'",
    "CREATE INDEX inbox_finished ON inbox (status, finished_at)",
    f"PRAGMA user_version = {_SCHEMA_VERSION}",
)
_NAMES = (
    "id",
    "key",
    "body",
    "event_type",
    "resource_id",
    "delivery_id",
    "signed_at",
    "received_at",
    "status",
    "attempts",
    "completed",
    "last_errors",
    "next_attempt_at",
    "lease_owner",
    "lease_until",
    "finished_at",
    "context",
)
_MIGRATIONS = {
    # A column added with no default: a file's rows stay as written, their context NULL.
    1: ("ALTER TABLE inbox ADD COLUMN context TEXT", "PRAGMA user_version = 2"),
}
_V1 = ", ".join(_NAMES[:-1])
_READ_AS_CURRENT = {
    # A version 1 file opened read-only, shown as version 2: in the connection's memory
    # (a temporary view, searched before the file's table), never in the file.
    1: (f"CREATE TEMP VIEW inbox AS SELECT {_V1}, NULL AS context FROM main.inbox",),
}


def _raw(column: str) -> str:
    """``column`` read so that sqlite3 cannot fail on it, whatever it holds.

    Text comes out as bytes (sqlite3 would raise on text that is not UTF-8, inside
    the transaction); a blob as the text ``'blob'`` (a body as its bytes); numbers
    and NULL as they are. ``_Reader`` decodes and checks.
    """
    if column == "body":
        return "CASE WHEN typeof(body) IN ('text', 'blob') THEN CAST(body AS BLOB) ELSE body END"
    if column == "id":  # INTEGER PRIMARY KEY: always an integer
        return column
    return (
        f"CASE typeof({column}) WHEN 'text' THEN CAST({column} AS BLOB)"
        f" WHEN 'blob' THEN 'blob' ELSE {column} END"
    )


_COLUMNS = ", ".join(_raw(name) for name in _NAMES)
_STATUSES = ("pending", "done", "dead")
# Any other status, found by index ranges (an OR of them, not a scan of the table).
_OTHER_STATUS = (
    "status < 'dead' OR (status > 'dead' AND status < 'done')"
    " OR (status > 'done' AND status < 'pending') OR status > 'pending'"
)
# Due: a time that is no number (damaged) counts as due, to be dead-lettered.
_DUE = (
    " AND (typeof(next_attempt_at) NOT IN ('integer', 'real') OR next_attempt_at <= ?)"
    " AND (typeof(lease_until) NOT IN ('integer', 'real') OR lease_until <= ?)"
)
# ``last_errors`` with one more error, even if what it holds is not a JSON object.
_WITH_ERROR = (
    "CASE WHEN typeof(last_errors) != 'text' THEN json_object(:name, :error)"
    " WHEN NOT json_valid(last_errors) THEN json_object(:name, :error)"
    " WHEN json_type(last_errors) != 'object' THEN json_object(:name, :error)"
    " ELSE json_set(last_errors, '$.\"' || :name || '\"', :error) END"
)
# Per-resource ordering: nothing earlier of the same resource may still be pending.
_IN_ORDER = (
    " AND NOT EXISTS (SELECT 1 FROM inbox AS e WHERE e.status = 'pending'"
    " AND e.resource_id = inbox.resource_id AND e.id < inbox.id)"
)
_LIST_FILTERS = {
    None: "1",
    "pending": "status = 'pending'",
    "failed": "status = 'pending' AND attempts > 0",
    "dead": "status = 'dead'",
    "done": "status = 'done'",
}
ACTIVITY_SKEW = 300.0
"""Seconds the receivers' clocks may disagree by, for ``activity``: it walks back from
the newest event to the first received this long before the minutes it counts."""
_SYNCHRONOUS = ("NORMAL", "FULL")
_BUSY_TIMEOUT = 5.0
"""Seconds to wait for another writer; well inside Wrenn's 10 s request timeout."""
_TIMES = (-62135596800.0, 253402300799.0)
"""The POSIX seconds ``datetime`` can show: years 1 to 9999."""


def _kind(value: object) -> str:
    """What a value of ``_raw`` was in SQLite."""
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return "text"
    if isinstance(value, str):  # _raw's 'blob'
        return "a blob"
    return "an integer" if isinstance(value, int) else "a real"


def _show(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:59] + "…"


class _Reader:
    """The fields of one row of ``_raw`` columns: each one checked, each problem noted.

    A field that cannot be read is replaced (by ``None``, and its caller's
    default), never raised, so that a damaged row is shown and dead-lettered.
    """

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values
        self.problems: builtins.list[str] = []

    def text(self, name: str, *, nullable: bool = False) -> str | None:
        value = self.values[name]
        if value is None and nullable:
            return None
        if not isinstance(value, bytes):
            self.problems.append(f"{name} is {_kind(value)}, not text")
            return None
        try:
            return value.decode()
        except UnicodeDecodeError:
            self.problems.append(f"{name} is not UTF-8: {_show(value)}")
            return None

    def time(self, name: str, *, nullable: bool = False) -> float | None:
        value = self.values[name]
        if value is None and nullable:
            return None
        if not isinstance(value, (int, float)):
            self.problems.append(f"{name} is {_kind(value)}, not a time")
            return None
        if not _TIMES[0] <= value <= _TIMES[1]:
            self.problems.append(f"{name} is out of range: {value!r}")
            return None
        return float(value)

    def count(self, name: str) -> int:
        value = self.values[name]
        if isinstance(value, int) and value >= 0:
            return value
        wrong = f"negative: {value}" if isinstance(value, int) else f"{_kind(value)}, not a count"
        self.problems.append(f"{name} is {wrong}")
        return 0

    def completed(self) -> frozenset[str]:
        names = self._json("completed", list, "a JSON list of handler names")
        return frozenset(names or ())

    def last_errors(self) -> dict[str, str]:
        errors = self._json("last_errors", dict, "a JSON object of errors")
        return dict(errors or {})

    def context(self) -> dict[str, str] | None:
        """What the observers carried; unreadable, it is dropped (telemetry, not the event)."""
        value = self.values["context"]
        try:
            carried = json.loads(value) if isinstance(value, bytes) else None
        except (ValueError, RecursionError):
            return None
        if not isinstance(carried, dict):
            return None
        return {k: v for k, v in carried.items() if isinstance(v, str)} or None

    def _json(self, name: str, kind: type[Any], expected: str) -> Any:
        text = self.text(name)
        if text is None:
            return None
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            self.problems.append(f"{name} is not JSON: {_show(text)}")
            return None
        items = value.values() if isinstance(value, dict) else value
        if not isinstance(value, kind) or not all(isinstance(item, str) for item in items):
            self.problems.append(f"{name} is not {expected}: {_show(text)}")
            return None
        return value


def _read(row: Sequence[Any]) -> tuple[InboxItem, str | None]:
    """An ``InboxItem`` from a row of ``_COLUMNS``, and what is wrong with the row, if anything.

    Never raises. The item of a damaged row has what could be read and defaults
    for the rest (an unknown status reads as ``"dead"``); its ``last_errors`` are
    those stored, without the reason.
    """
    field = _Reader(dict(zip(_NAMES, row, strict=True)))
    body = field.values["body"]
    if not isinstance(body, bytes):
        field.problems.append(f"body is {_kind(body)}, not bytes")
        body = b""
    status: Status = "dead"
    stored = field.text("status")
    if stored in _STATUSES:
        status = stored  # type: ignore[assignment]  # one of Status's values
    elif stored is not None:
        field.problems.append(f"status is {_show(stored)}, not pending, done or dead")
    next_attempt_at = field.time("next_attempt_at")
    lease_until = field.time("lease_until")
    item = InboxItem(
        id=field.values["id"],
        key=field.text("key") or "",
        body=body,
        event_type=field.text("event_type") or "",
        resource_id=field.text("resource_id") or "",
        delivery_id=field.text("delivery_id", nullable=True),
        signed_at=field.time("signed_at") or 0.0,
        received_at=field.time("received_at") or 0.0,
        status=status,
        attempts=field.count("attempts"),
        completed=field.completed(),
        last_errors=field.last_errors(),
        next_attempt_at=next_attempt_at if status == "pending" else None,
        lease_owner=field.text("lease_owner", nullable=True),
        lease_until=lease_until if lease_until is not None and lease_until > 0 else None,
        finished_at=field.time("finished_at", nullable=True),
        context=field.context(),
    )
    if not field.problems:
        return item, None
    return item, "the stored event is damaged: " + "; ".join(field.problems)


def _shown(item: InboxItem, damage: str | None) -> InboxItem:
    """``item`` as ``list`` and ``get`` return it: with its damage, if any, as an error."""
    if damage is None:
        return item
    return replace(item, last_errors={**item.last_errors, INBOX_ERROR: damage})


class SQLiteInbox(SQLiteFile):
    """Store events in a SQLite file; workers claim, handle and finish them.

    Safe across threads and processes (gunicorn workers, worker processes): each
    thread opens its own connection, a forked child opens fresh ones, the file
    uses WAL mode and every change is one ``BEGIN IMMEDIATE`` transaction.

    An attempt that fails is retried after ``retry_delays[0]``, then
    ``retry_delays[1]`` and so on; when none is left the event is dead-lettered
    and kept until an operator retries or purges it. Done events are purged
    ``retention`` seconds after they finish, by the workers, now and then.

    A file written by an older version of this package is migrated in place when
    it is opened (not ``read_only``); older versions cannot open it after that.

    A stored event that cannot be read back (a damaged row: a field of the wrong
    type, text that is not UTF-8) is dead-lettered by the ``claim`` that meets it,
    with the reason under ``"(inbox)"`` in its ``last_errors``; the other events go
    on. ``list`` and ``get`` show such a row with that reason, and never fail on it;
    they never write it either (only a worker's ``claim`` dead-letters it).

    ``stats``, ``list``, ``get`` and ``activity`` only read: each is one deferred
    transaction that takes no write lock, so dashboards, consoles and metric scrapes
    never wait for, or hold up, the receivers and workers writing the file.

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
        read_only: Only look (``stats``, ``list``, ``get``), as the ``inbox stats``,
            ``list`` and ``show`` commands do. The file is opened with SQLite's
            ``mode=ro``: it must exist and hold an inbox, and is never created,
            switched to WAL, migrated or written (a file of an older version is
            read as it is). The other methods raise ``StoreError``.

    Raises:
        ConfigurationError: Bad arguments, a missing directory, or a file written by
            a newer version of this package or for another purpose (with
            ``read_only``: any file that holds no inbox).
        StoreError: The file cannot be opened or is not a database.
    """

    _label = "inbox"
    _table = "inbox"
    _schema = _SCHEMA
    _schema_version = _SCHEMA_VERSION
    _migrations = _MIGRATIONS
    _read_as_current = _READ_AS_CURRENT
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
        read_only: bool = False,
    ) -> None:
        super().__init__(path, read_only=read_only)
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

    def put(
        self,
        key: str,
        body: bytes,
        event: Event,
        delivery: Delivery,
        *,
        now: float,
        context: Mapping[str, str] | None = None,
    ) -> bool:
        """Store a verified event, committed before returning; ``False`` if ``key`` is stored."""
        row = (
            key,
            body,
            event.event,
            event.resource.id,
            delivery.delivery_id,
            delivery.timestamp.timestamp(),
            now,
            now,
            json.dumps(dict(context)) if context else None,
        )
        return self._write(
            lambda conn: (
                conn.execute(
                    "INSERT OR IGNORE INTO inbox (key, body, event_type, resource_id, delivery_id,"
                    " signed_at, received_at, status, attempts, completed, last_errors,"
                    " next_attempt_at, lease_until, context) VALUES (?, ?, ?, ?, ?, ?, ?,"
                    " 'pending', 0, '[]', '{}', ?, 0, ?)",
                    row,
                ).rowcount
                == 1
            )
        )

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
                # A status that is none of ours: never claimed, so dead-lettered here.
                others = conn.execute(f"SELECT {_COLUMNS} FROM inbox WHERE {_OTHER_STATUS}")
                for row in others.fetchall():
                    self._dead_letter(conn, *_read(row), worker_id=worker_id, now=now)
                self._purged_at = now
            # An expired lease was an attempt whose worker died mid-handler. Past the
            # last retry that counts as failing for good: dead-letter, never loop.
            conn.execute(
                "UPDATE inbox INDEXED BY inbox_leased"
                " SET status = 'dead', attempts = attempts + 1, lease_until = 0,"
                f" finished_at = :now, last_errors = {_WITH_ERROR}"
                " WHERE status = 'pending' AND lease_until > 0 AND lease_until <= :now"
                " AND attempts >= :retries",
                {
                    "now": now,
                    "name": "(worker)",
                    "error": WORKER_DIED,
                    "retries": len(self.retry_delays),
                },
            )
            items: builtins.list[InboxItem] = []
            while len(items) < limit:  # again only after dead-lettering: others are due
                leased, damaged = self._lease_due(
                    conn, worker_id, now=now, limit=limit - len(items)
                )
                items += leased
                if not damaged:
                    break
            return items

    def complete_handler(self, item_id: int, name: str, *, now: float) -> None:
        """Record at once that handler ``name`` completed, and renew the lease."""
        with self._transaction() as conn:
            row = conn.execute(
                f"SELECT {_raw('completed')} FROM inbox WHERE id = ?", (item_id,)
            ).fetchone()
            if row is not None:  # if damaged meanwhile, what it held is lost, not the event
                completed = sorted(_Reader({"completed": row[0]}).completed() | {name})
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
        """End an attempt that failed: schedule the next retry, or dead-letter (``Inbox.fail``)."""
        with self._transaction() as conn:
            columns = ("attempts", "completed", "last_errors")
            row = conn.execute(
                f"SELECT {', '.join(map(_raw, columns))} FROM inbox WHERE id = ?", (item_id,)
            ).fetchone()
            if row is None:
                return
            # Damaged meanwhile: read as 0 attempts, none completed, no errors.
            stored = _Reader(dict(zip(columns, row, strict=True)))
            attempts, completed = stored.count("attempts") + 1, stored.completed()
            merged = {**stored.last_errors(), **errors}
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

    def stats(self, *, now: float | None = None) -> dict[str, int | float | None]:
        """Counts for metrics and dashboards.

        Returns:
            ``pending`` (waiting, retrying or in flight), ``failed`` (pending after
            a failed attempt), ``in_flight``, ``done``, ``dead``, and
            ``oldest_pending_age``: seconds since the oldest pending event arrived,
            ``None`` when nothing is pending. ``now`` defaults to the current time.
        """
        now = time.time() if now is None else now
        with self._transaction(write=False) as conn:
            counts = dict.fromkeys(("pending", "done", "dead"), 0)
            failed = in_flight = 0
            oldest: float | None = None
            for status, count, failing, leased, received in conn.execute(
                "SELECT CAST(status AS BLOB), count(*), sum(attempts > 0), sum(lease_until > ?),"
                " min(CASE WHEN typeof(received_at) IN ('integer', 'real') THEN received_at END)"
                " FROM inbox GROUP BY status",
                (now,),
            ):
                if status == b"pending":
                    failed, in_flight, oldest = failing, leased, received
                # Any other status is a damaged row, read (and soon dead-lettered) as dead.
                name = status.decode() if status in (b"pending", b"done") else "dead"
                counts[name] += count
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
        offset: int = 0,
        event_type: str | None = None,
        resource_id: str | None = None,
    ) -> builtins.list[InboxItem]:
        """The first ``limit`` items, oldest first; ``"failed"`` means pending after a failure.

        Args:
            status: Only the items in this state; ``None`` for all.
            limit: At most this many.
            offset: Skip this many first (the next page starts at ``offset + limit``).
            event_type: Only the items of this ``event``, such as ``"capsule.pause"``.
            resource_id: Only the items of this ``resource.id``.
        """
        if status not in _LIST_FILTERS:
            raise ConfigurationError(f"no such status {status!r}")
        where, values = [_LIST_FILTERS[status]], []
        for column, value in (("event_type", event_type), ("resource_id", resource_id)):
            if value is not None:
                where.append(f"{column} = ?")
                values.append(value)
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM inbox WHERE {' AND '.join(where)}"
                " ORDER BY id LIMIT ? OFFSET ?",
                (*values, limit, max(0, offset)),
            )
            return [_shown(*_read(row)) for row in rows]

    def get(self, item_id: int) -> InboxItem | None:
        """One item, or ``None`` if there is no such item (or it was purged).

        A damaged row comes with its damage under ``"(inbox)"`` in ``last_errors``,
        and stays as it is: only a worker's ``claim`` dead-letters it.
        """
        with self._transaction(write=False) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM inbox WHERE id = ?", (item_id,)).fetchone()
            return None if row is None else _shown(*_read(row))

    def activity(
        self, *, now: float | None = None, minutes: int = 60
    ) -> dict[str, builtins.list[int]]:
        """Events received and events done in each of the last ``minutes`` minutes.

        Minutes run on the clock, oldest first; the last is the current one, so far.
        Arrivals are counted walking back from the newest event to the first received
        ``ACTIVITY_SKEW`` before the first minute, so the receivers' clocks must agree
        within that. ``now`` defaults to the current time.

        Returns:
            ``{"received": [...], "done": [...]}``, ``minutes`` counts each.
        """
        if minutes < 1:
            raise ConfigurationError("minutes must be at least 1")
        now = time.time() if now is None else now
        start = (math.floor(now / 60) - minutes + 1) * 60.0
        end = start + minutes * 60
        received, done = [0] * minutes, [0] * minutes
        with self._transaction(write=False) as conn:
            for (at,) in conn.execute(
                "SELECT CASE WHEN typeof(received_at) IN ('integer', 'real') THEN received_at END"
                " FROM inbox ORDER BY id DESC"
            ):
                if at is not None and at < start - ACTIVITY_SKEW:
                    break
                if at is not None and start <= at < end:
                    received[int((at - start) // 60)] += 1
            for minute, count in conn.execute(
                "SELECT CAST((finished_at - ?) / 60 AS INTEGER), count(*) FROM inbox"
                " WHERE status = 'done' AND finished_at >= ? AND finished_at < ? GROUP BY 1",
                (start, start, end),
            ):
                done[minute] += count
        return {"received": received, "done": done}

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

    def purge(self, older_than: float, *, now: float | None = None) -> int:
        """Delete done items finished more than ``older_than`` seconds ago; return how many.

        Dead items are never purged: retry them, or look at them first. ``now``
        defaults to the current time.
        """
        now = time.time() if now is None else now
        with self._transaction() as conn:
            return self._delete_done(conn, now - older_than)

    # --- connections -------------------------------------------------------------

    def _lease_due(
        self, conn: sqlite3.Connection, worker_id: str, *, now: float, limit: int
    ) -> tuple[builtins.list[InboxItem], bool]:
        """Lease up to ``limit`` due items, dead-lettering damaged ones; True if there were any."""
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM inbox INDEXED BY inbox_pending WHERE status = 'pending'"
            f"{_DUE}{_IN_ORDER if self.ordered else ''} ORDER BY id LIMIT ?",
            (now, now, limit),
        ).fetchall()
        items, damaged, lease_until = [], False, now + self.lease
        for row in rows:
            item, damage = _read(row)
            if damage is not None:  # dead-lettered on its own; the others go on
                self._dead_letter(conn, item, damage, worker_id=worker_id, now=now)
                damaged = True
                continue
            # A lease that expired unreleased was an attempt that never ended: count it.
            attempts = item.attempts + (item.lease_until is not None)
            items.append(
                replace(item, attempts=attempts, lease_owner=worker_id, lease_until=lease_until)
            )
        if items:
            conn.execute(
                "UPDATE inbox SET attempts = attempts + (lease_until > 0), lease_owner = ?,"
                f" lease_until = ? WHERE id IN ({', '.join('?' * len(items))})",
                (worker_id, lease_until, *(item.id for item in items)),
            )
        return items, damaged

    @staticmethod
    def _dead_letter(
        conn: sqlite3.Connection, item: InboxItem, damage: str | None, *, worker_id: str, now: float
    ) -> None:
        """Dead-letter a damaged row, ``damage`` under ``INBOX_ERROR`` in its errors.

        Only what a dead letter needs is written: the damage stays for an operator
        to see (``get`` shows it again), and a ``retry`` of it dead-letters it again.
        """
        logger.error("inbox item %d dead-lettered: %s", item.id, damage)
        conn.execute(
            "UPDATE inbox SET status = 'dead', attempts = ?, last_errors = ?, lease_owner = ?,"
            " lease_until = 0, finished_at = ? WHERE id = ?",
            (
                item.attempts + 1,
                json.dumps({**item.last_errors, INBOX_ERROR: damage}),
                worker_id,
                now,
                item.id,
            ),
        )

    @staticmethod
    def _delete_done(conn: sqlite3.Connection, before: float) -> int:
        cursor = conn.execute(
            "DELETE FROM inbox WHERE status = 'done' AND finished_at <= ?", (before,)
        )
        return cursor.rowcount


if TYPE_CHECKING:  # mypy checks that SQLiteInbox has every method of the protocol
    _IS_AN_INBOX: type[Inbox] = SQLiteInbox

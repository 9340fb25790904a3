"""SQLite files shared by threads and processes: the idempotency store's and the inbox's.

One connection per thread, never one inherited across ``fork`` (gunicorn
``--preload``), and transactions that take the write lock at once
(``BEGIN IMMEDIATE``) so that every read-check-write is atomic across processes.
Transactions that only read (``_transaction(write=False)``) take no write lock: in
WAL mode they read a snapshot while a writer holds the lock.

Writers queue before they ask SQLite for its write lock (``_Writers``). The small
writes a request makes (``_write``: a claim, a finish, an inbox ``put``) queue on a
lock of their process, then on a ``flock`` of a file beside the database that every
process takes the same way. SQLite's own wait for a lock another connection holds
sleeps a millisecond or more between tries, where such a write lasts tens of
microseconds; the queue wakes the next writer as soon as the one ahead is done.
Threads of one process that write at the same moment share one transaction (group
commit), each write in a savepoint of its own, and each returns only once that
transaction is committed. Other write transactions (``_transaction``: an inbox
worker's claims, the commands) queue on the process's lock only: two workers draining
one inbox took strict turns on the ``flock`` and drained a third slower. SQLite's lock
and busy timeout still decide: the queue only orders the writers that use it.

A file of an older schema version is migrated in place by the first connection that
may write (``_migrations``, under the write lock). A file opened ``read_only`` (for
commands that only look) is opened with SQLite's ``mode=ro``: nothing is created,
converted to WAL or migrated, and the database file is never written; a file of an
older version is shown in the current schema by temporary views (``_read_as_current``),
which live in the connection's memory only. Reading a file in WAL mode still uses its
``-wal`` and ``-shm`` files, as every reader does, and creates them if no other
connection has: an empty ``-wal`` and the ``-shm`` index, which hold no data and which
the next writer removes.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Generic, TypeVar

from .errors import ConfigurationError, StoreError

if sys.platform != "win32":
    import fcntl

T = TypeVar("T")

_TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"
_INHERITED: list[sqlite3.Connection] = []
"""Connections a forked child inherited. Kept and never closed: closing one would run
SQLite's unlock and checkpoint code against locks that belong to the parent."""


def _close_connection(conn: sqlite3.Connection, pid: int) -> None:
    if pid == os.getpid():
        conn.close()
    else:
        _INHERITED.append(conn)


class _Handle:
    """One thread's connection, closed by ``close()``, when the handle is freed, or at exit.

    The handle is freed when its thread ends (its locals are dropped) or with the
    file's object. The closing is a ``weakref.finalize``: the garbage collector
    runs it before it finalises anything in a cycle, and the interpreter runs it
    at exit for the handles still held, so the connection is always closed before
    it is freed, never left to warn that it was not. A forked child keeps its
    parent's connections and never closes them (``_INHERITED``).
    """

    __slots__ = ("__weakref__", "closing", "conn", "pid")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn: sqlite3.Connection | None = conn
        self.pid = os.getpid()
        self.closing = weakref.finalize(self, _close_connection, conn, self.pid)

    def close(self) -> None:
        self.conn = None
        self.closing()  # once, whichever thread calls it first


class _Write(Generic[T]):
    """One thread's write, waiting for a transaction to run in."""

    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class _Writers:
    """This process's writers to one file: who writes next, and what waits to be written.

    ``lock`` is held by the thread writing for the process; for a request's
    writes, ``flocked()`` then queues it behind the other processes, on an exclusive ``flock`` of
    ``<database>-lock`` (an empty file, created if missing; the kernel lets the
    lock go if a process dies holding it). Where that file cannot be opened, or
    on Windows, processes wait for each other in SQLite's busy handler instead.

    One per process: a child made by ``fork`` makes its own, since the parent's
    lock may be held by a thread the child does not have and an inherited
    ``flock`` is the parent's own.
    """

    __slots__ = ("_fd", "lock", "pending", "pid")

    def __init__(self, path: Path) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.pending: list[_Write[Any]] = []
        """Writes waiting for a transaction; only changed with ``lock`` held or by
        ``list.append`` (one bytecode: atomic under the GIL and free-threaded builds)."""
        self._fd = -1
        if sys.platform != "win32":
            with suppress(OSError):  # a directory we cannot create files in: no flock
                self._fd = os.open(f"{path}-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)

    @contextmanager
    def flocked(self) -> Iterator[None]:
        """Hold the file's lock between processes for the block (call with ``lock`` held)."""
        if self._fd < 0 or sys.platform == "win32":
            yield
            return
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (this process's copy only)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class SQLiteFile:
    """Connections and transactions for one SQLite file; subclasses define ``_open``.

    Attributes:
        path: The database file.
    """

    _label = "database"
    """What the file is, in error messages."""
    _table = ""
    """The table a file of this kind must hold."""
    _schema: tuple[str, ...] = ()
    """Statements that create the schema, the last one setting ``user_version``."""
    _schema_version = 1
    _migrations: Mapping[int, tuple[str, ...]] = {}
    """For each older version, the statements that take a file to the next version,
    the last one setting ``user_version``."""
    _read_as_current: Mapping[int, tuple[str, ...]] = {}
    """For each older version a read-only connection can read, the statements that show
    its tables in the current schema (temporary views: nothing is written)."""
    _timeout = 5.0
    """Seconds to wait for another writer."""
    _synchronous = "NORMAL"

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        if str(path) in ("", ":memory:"):
            raise ConfigurationError(f"the {self._label} needs a file every process can open")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise ConfigurationError(f"directory of {self._label} {self.path} does not exist")
        self.read_only = read_only
        self._local = threading.local()
        self._lock = threading.Lock()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._writers_of_pid: _Writers | None = None

    def _open_now(self) -> None:
        """Open this thread's connection, so a bad path or file fails at start-up."""
        with self._transaction():
            pass

    def close(self) -> None:
        """Close this process's connections; a later call opens new ones.

        Call it when no other thread is using the file.
        """
        with self._lock:
            handles = list(self._handles)
            writers, self._writers_of_pid = self._writers_of_pid, None
        for handle in handles:
            handle.close()
        if writers is not None and writers.pid == os.getpid():
            writers.close()

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction, with the write lock taken at once (``BEGIN IMMEDIATE``).

        A writer waits for this process's other writers first, and for other
        processes in SQLite's busy handler (see the module's notes). ``write=False``
        only reads: a plain (deferred) ``BEGIN`` takes no write lock and, in WAL
        mode, reads a snapshot without waiting for a writer.
        """
        if not write or self.read_only:
            with self._begun("BEGIN") as conn:
                yield conn
            return
        with self._writers().lock, self._begun("BEGIN IMMEDIATE") as conn:
            yield conn

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(conn)`` in a write transaction, committed before this returns.

        Threads of this process writing at the same moment share one transaction:
        the one that gets the writers' lock runs every write queued by then, each
        in a savepoint of its own, and commits once for all (the others find theirs
        done when they get the lock). A write that raises is rolled back alone, and
        its error is raised to its own caller; a failed commit fails them all.
        """
        writers = self._writers()
        mine = _Write(work)
        writers.pending.append(mine)
        with writers.lock:
            if not mine.done:
                batch, writers.pending = writers.pending, []
                with writers.flocked():
                    self._run(batch)
        if mine.error is not None:
            raise mine.error
        return mine.result  # type: ignore[return-value]  # set: the write did not raise

    def _run(self, batch: list[_Write[Any]]) -> None:
        """Run ``batch`` in one transaction; each write ends done, with a result or an error."""
        try:
            with self._begun("BEGIN IMMEDIATE") as conn:
                if len(batch) == 1:  # alone: an error rolls back the whole transaction
                    batch[0].result = batch[0].work(conn)
                    return
                for write in batch:
                    conn.execute("SAVEPOINT write")
                    try:
                        write.result = write.work(conn)
                    except Exception as exc:
                        conn.execute("ROLLBACK TO write")
                        write.error = self._failure(exc)
                    conn.execute("RELEASE write")
        except Exception as exc:  # nothing was committed: every write failed
            failure = self._failure(exc)
            for write in batch:  # each its own copy: the callers raise them on their threads
                write.error = copy.copy(failure)
                write.error.__cause__ = failure.__cause__
        except BaseException as exc:  # interrupted: raised to this thread, the others fail
            for write in batch:
                write.error = StoreError(f"{self._label} write abandoned ({type(exc).__name__})")
            raise
        finally:
            for write in batch:
                write.done = True

    @contextmanager
    def _begun(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn: sqlite3.Connection | None = None
        try:
            conn = self._connection()
            conn.execute(begin)
            yield conn
            conn.execute("COMMIT")
        except (sqlite3.Error, json.JSONDecodeError) as exc:
            raise self._failure(exc) from exc
        finally:
            with suppress(sqlite3.Error):
                if conn is not None and conn.in_transaction:
                    conn.execute("ROLLBACK")

    def _failure(self, exc: Exception) -> Exception:
        """``StoreError`` for what the file did (a bad row included); anything else as is."""
        if not isinstance(exc, (sqlite3.Error, json.JSONDecodeError)):
            return exc
        reason = str(exc) or type(exc).__name__
        error = StoreError(f"{self._label} {self.path} unavailable: {reason}")
        error.__cause__ = exc
        return error

    def _writers(self) -> _Writers:
        writers = self._writers_of_pid
        if writers is None or writers.pid != os.getpid():
            with self._lock:
                writers = self._writers_of_pid
                if writers is None or writers.pid != os.getpid():
                    writers = self._writers_of_pid = _Writers(self.path)
        return writers

    def _connection(self) -> sqlite3.Connection:
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None and handle.conn is not None and handle.pid == os.getpid():
            return handle.conn
        conn = self._open()
        handle = self._local.handle = _Handle(conn)  # drops any older handle of this thread
        with self._lock:
            self._handles.add(handle)
        return conn

    def _open(self) -> sqlite3.Connection:
        """Open a new connection in WAL mode, its schema checked or created."""
        if self.read_only:
            return self._open_read_only()
        conn = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            tables = {name for (name,) in conn.execute(_TABLES)}
            if version and tables and self._table not in tables:  # another kind's: keep off
                raise self._holds_no_table()
            if version > self._schema_version:
                raise ConfigurationError(
                    f"{self._label} {self.path} has schema version {version}, newer than"
                    f" {self._schema_version}: it was written by a newer wrenn-webhooks"
                )
            self._use_wal(conn)
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            if version < self._schema_version:
                conn.execute("BEGIN IMMEDIATE")
                for statement in self._upgrade(conn):
                    conn.execute(statement)
                conn.execute("COMMIT")
            if (self._table,) not in conn.execute(_TABLES):
                raise self._holds_no_table()
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Put the file in WAL mode (it stays so), waiting for another process doing it.

        Connections switching a new file at the same moment would deadlock on its lock,
        so SQLite fails all but one at once, without its busy timeout: try again until
        the switch is done or the timeout has passed.
        """
        deadline = time.monotonic() + self._timeout
        pause = 0.001
        while True:
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "database is locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def _upgrade(self, conn: sqlite3.Connection) -> list[str]:
        """The statements that create the schema, or migrate it to the current version."""
        # Read again under the lock: another process may have just created or migrated it.
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if version == 0:
            return list(self._schema)
        if (self._table,) not in conn.execute(_TABLES):
            return []  # nothing to migrate: refused once the lock is let go
        return [s for old in range(version, self._schema_version) for s in self._migrations[old]]

    def _holds_no_table(self) -> ConfigurationError:
        return ConfigurationError(
            f"{self.path} holds no {self._label}: the store and the inbox"
            " each need a file of their own"
        )

    def _open_read_only(self) -> sqlite3.Connection:
        """Open a new read-only connection to a file that must hold this schema already."""
        conn = sqlite3.connect(
            f"{self.path.absolute().as_uri()}?mode=ro",
            uri=True,
            timeout=self._timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (self._table,)
            ).fetchone():
                raise ConfigurationError(f"{self.path} holds no {self._label}")
            if version > self._schema_version:
                raise ConfigurationError(
                    f"{self._label} {self.path} has schema version {version}, newer than"
                    f" {self._schema_version}: it was written by a newer wrenn-webhooks"
                )
            if version < self._schema_version:  # migrating is for those that write
                if version not in self._read_as_current:
                    raise ConfigurationError(
                        f"{self._label} {self.path} has schema version {version}, older than"
                        f" {self._schema_version}: open it once to write (a worker does)"
                        " to migrate it"
                    )
                for statement in self._read_as_current[version]:
                    conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return conn

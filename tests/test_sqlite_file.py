"""What the SQLite idempotency store and the SQLite inbox share: opening one file from
many processes at once, and the writers' queue (between processes, a ``flock`` of
``<name>-lock``; within one, a shared transaction for writes made at the same moment)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from wrenn_webhooks.errors import StoreError
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.signature import Delivery
from wrenn_webhooks.stores import ClaimState, SQLiteIdempotencyStore
from wrenn_webhooks.testing import make_event

NOW = 1_800_000_000.0
warns_unclosed = pytest.mark.skipif(
    sys.version_info < (3, 13), reason="sqlite3 warns about unclosed connections from Python 3.13"
)
"""For the tests of unclosed connections: before 3.13, sqlite3 never says."""
DELIVERY = Delivery("d-1", datetime.fromtimestamp(NOW, timezone.utc))
ROUNDS = 40
PROCESSES = 3


def _open_each_file_together(
    kind: type[Any], paths: list[str], barrier: Any, failures: Any
) -> None:
    for path in paths:
        barrier.wait(timeout=30)
        try:
            kind(path).close()
        except StoreError as exc:
            failures.put(str(exc))
    failures.put(None)


@pytest.mark.parametrize("kind", [SQLiteIdempotencyStore, SQLiteInbox])
def test_processes_opening_a_new_file_at_once_all_start(tmp_path: Path, kind: type[Any]) -> None:
    """gunicorn's workers open the shared file at import, at the same moment: the first
    start of a deployment must not fail one of them ("database is locked" on the switch
    to WAL mode used to stop a worker from booting, which stops gunicorn)."""
    paths = [str(tmp_path / f"{i}.db") for i in range(ROUNDS)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    failures = context.Queue()
    processes = [
        context.Process(target=_open_each_file_together, args=(kind, paths, barrier, failures))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    errors: list[str] = []
    finished = 0
    while finished < PROCESSES:
        message = failures.get(timeout=60)
        if message is None:
            finished += 1
        else:
            errors.append(message)
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert errors == []


HOLD_THE_GATE = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + "-lock", os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


@contextmanager
def holding_the_gate(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding ``path``'s write gate until it is killed."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_THE_GATE, str(path)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            yield holder
        finally:
            holder.kill()


@pytest.mark.skipif(sys.platform == "win32", reason="the gate between processes is a flock")
@pytest.mark.parametrize("kind", [SQLiteIdempotencyStore, SQLiteInbox])
def test_writers_queue_behind_another_process_and_go_on_when_it_dies(
    tmp_path: Path, kind: type[Any]
) -> None:
    """Writers wait at the file's gate (``<name>-lock``) for the process ahead of them,
    and a process killed while holding it lets them through (the kernel drops its lock)."""
    path = tmp_path / "shared.db"
    opened = kind(path)
    with holding_the_gate(path) as holder:
        done = threading.Event()

        def write() -> None:
            if isinstance(opened, SQLiteInbox):
                opened.put("k", b"{}", make_event("capsule.pause"), DELIVERY, now=NOW)
            else:
                opened.claim("k", now=NOW, lease=30)
            done.set()

        writer = threading.Thread(target=write)
        writer.start()
        assert not done.wait(0.5)  # queued behind the other process
        holder.kill()
        assert done.wait(10)
        writer.join()
    opened.close()
    assert (tmp_path / "shared.db-lock").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="the gate between processes is a flock")
def test_readers_do_not_wait_at_the_gate(tmp_path: Path) -> None:
    """Only writers queue: the inbox's reads go on while another process holds the gate."""
    path = tmp_path / "inbox.db"
    inbox = SQLiteInbox(path)
    inbox.put("k", b"{}", make_event("capsule.pause"), DELIVERY, now=NOW)
    with holding_the_gate(path):
        assert inbox.stats()["pending"] == 1
    inbox.close()


def start_queued(threads: list[threading.Thread], writers: Any) -> None:
    """Start ``threads`` and wait (up to 10 s) until each has queued its write."""
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while len(writers.pending) < len(threads) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_writes_made_at_once_share_one_transaction_and_fail_alone(tmp_path: Path) -> None:
    """Threads that write while another thread writes are committed together, and a
    write that fails is rolled back alone: the others' claims hold."""
    store = SQLiteIdempotencyStore(tmp_path / "store.db")
    batches: list[int] = []
    run = store._run

    def counted(batch: list[Any]) -> None:
        batches.append(len(batch))
        run(batch)

    store._run = counted  # type: ignore[method-assign]
    results: dict[str, object] = {}

    def claim(key: str) -> None:
        results[key] = store.claim(key, now=NOW, lease=30).state

    def broken() -> None:
        try:
            store._write(lambda conn: conn.execute("INSERT INTO no_such_table VALUES (1)"))
        except StoreError as exc:
            results["broken"] = exc

    writers = store._writers()
    threads = [
        threading.Thread(target=claim, args=("a",)),
        threading.Thread(target=broken),
        threading.Thread(target=claim, args=("b",)),
    ]
    with writers.lock:  # as if another thread of this process were writing
        start_queued(threads, writers)
    for thread in threads:
        thread.join(10)
    assert batches == [3]
    assert results["a"] is ClaimState.NEW and results["b"] is ClaimState.NEW
    assert "no such table" in str(results["broken"])
    store.close()
    again = SQLiteIdempotencyStore(tmp_path / "store.db")
    assert again.claim("a", now=NOW, lease=30).state is ClaimState.BUSY  # committed
    assert again.claim("b", now=NOW, lease=30).state is ClaimState.BUSY
    again.close()


def test_a_failed_commit_fails_every_write_it_held(tmp_path: Path) -> None:
    """Nothing of a shared transaction that did not commit is reported as written."""
    store = SQLiteIdempotencyStore(tmp_path / "store.db", timeout=0)
    writers = store._writers()
    errors: list[BaseException] = []

    def claim(key: str) -> None:
        try:
            store.claim(key, now=NOW, lease=30)
        except StoreError as exc:
            errors.append(exc)

    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    threads = [threading.Thread(target=claim, args=(key,)) for key in "ab"]
    with writers.lock:
        start_queued(threads, writers)
        other.execute("BEGIN IMMEDIATE")  # a writer outside the queue holds SQLite's lock
    for thread in threads:
        thread.join(10)
    other.execute("ROLLBACK")
    other.close()
    assert len(errors) == 2 and errors[0] is not errors[1]
    assert all("database is locked" in str(error) for error in errors)
    assert store.claim("a", now=NOW, lease=30).state is ClaimState.NEW  # nothing was kept
    store.close()


@pytest.mark.skipif(sys.platform == "win32", reason="the gate between processes is a flock")
def test_a_workers_claims_do_not_queue_behind_another_process(tmp_path: Path) -> None:
    """Only a request's writes queue on ``<name>-lock``: two workers draining one inbox
    that took strict turns there drained it a third slower than with SQLite's lock alone."""
    path = tmp_path / "inbox.db"
    inbox = SQLiteInbox(path)
    inbox.put("k", b"{}", make_event("capsule.pause"), DELIVERY, now=NOW)
    claimed: list[str] = []
    with holding_the_gate(path):
        worker = threading.Thread(
            target=lambda: claimed.extend(i.key for i in inbox.claim("worker-1", now=NOW + 1))
        )
        worker.start()
        worker.join(10)
        assert claimed == ["k"]  # within 10 s, while the other process holds the gate
    worker.join()
    inbox.close()


@warns_unclosed
def test_a_file_dropped_unclosed_in_a_reference_cycle_closes_its_connections_quietly(
    tmp_path: Path,
) -> None:
    """A store or inbox nobody closed, freed by the garbage collector with the cycle that
    held it: its threads' connections are closed first, whatever order the collector
    finalises the objects in, so sqlite3 has no unclosed connection to warn about."""
    import gc
    import warnings

    warned: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: warned.append(str(unraisable.exc_value))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)  # raised in a finalizer: unraisable
            for number in range(120):
                store = SQLiteIdempotencyStore(tmp_path / f"store-{number % 4}.db")
                store.claim(f"k{number}", now=NOW, lease=30)
                cycle: list[Any] = [store]
                cycle.append(cycle)
                del store, cycle
                if number % 3 == 0:
                    gc.collect()  # ages the next cycles differently
                ballast = [[] for _ in range(number * 40)]  # noqa: F841  # moves generations
            gc.collect()
    finally:
        sys.unraisablehook = previous
    assert warned == []


@warns_unclosed
@pytest.mark.parametrize("kind", ["SQLiteIdempotencyStore", "SQLiteInbox"])
def test_a_process_exiting_with_a_file_open_closes_its_connections_quietly(
    tmp_path: Path, kind: str
) -> None:
    """A command or worker that ends without ``close()``: its threads' connections are
    closed at exit, so Python's development mode has nothing to warn about."""
    use = "stats(now=0.0)" if kind == "SQLiteInbox" else "claim('{}', now=1.0, lease=1)"
    script = f"""
import sys, threading
from wrenn_webhooks.inbox import SQLiteInbox
from wrenn_webhooks.stores import SQLiteIdempotencyStore
opened = {kind}(sys.argv[1])
opened.{use.format("main")}
thread = threading.Thread(target=lambda: opened.{use.format("thread")})
thread.start()
thread.join()
"""
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script, str(tmp_path / "file.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")

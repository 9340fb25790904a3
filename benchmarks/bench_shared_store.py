"""Shared stores alone: what each request's writes cost, and how writers share them.

    python -m benchmarks.bench_shared_store [--deliveries 4000] [--repeats 3] [--json PATH]

Each row is what one request writes to a store shared by every worker, done
``--deliveries`` times with a new 64-hex key each time:

- an idempotency store's claim and its finish, as ``handle()`` makes them with one
  handler: ``SQLiteIdempotencyStore`` (WAL, ``synchronous=NORMAL``) and
  ``RedisIdempotencyStore``;
- an inbox's ``put`` of a parsed 381-byte event (``bench_core``'s), as inbox mode makes it
  before the 202: ``SQLiteInbox`` (``NORMAL``) and ``RedisInbox``;
- the floor of a durable SQLite write: one ``INSERT`` of the same body into a table
  with nothing but its row id, in a transaction of its own on a WAL file with
  ``synchronous=NORMAL`` (the standard library's ``sqlite3``).

SQLite files live in a temporary directory; Redis is a ``redis-server`` of its own
on 127.0.0.1 (``appendonly yes``, ``appendfsync everysec``; its rows are skipped,
saying why, without ``redis-server`` or redis-py). Three ways to share them:

- one process, one thread: the cost of a request's writes with no other writer,
  wall time and the process's CPU time (``time.process_time``);
- two processes at once, as two gunicorn workers: requests per second in all;
- one process, eight threads at once, as a gthread worker.

Figures are the best of ``--repeats`` runs. They bound what a server sharing the
store can answer: every request's writes pass through the store one at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import multiprocessing
import platform
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Protocol

from benchmarks.bench_core import SAMPLE, _cores
from benchmarks.bench_inbox import find_redis, redis_server, redis_version
from wrenn_webhooks import Delivery, parse_event
from wrenn_webhooks.stores import IdempotencyStore, SQLiteIdempotencyStore

RESULTS = Path(__file__).with_name("results") / "shared_store.json"
LEASE = 30.0
THREADS = 8
PROCESSES = 2
ROWS = (
    ("SQLite store: claim + finish", "sqlite store"),
    ("SQLite inbox: put", "sqlite inbox"),
    ("sqlite3 INSERT (floor)", "insert"),
    ("Redis store: claim + finish", "redis store"),
    ("Redis inbox: put", "redis inbox"),
)
"""Each row's name, and what ``Opens`` opens for it."""


class Writes(Protocol):
    """One request's writes to a shared store, for a key of its own."""

    def write(self, key: str) -> None: ...

    def close(self) -> None: ...


Opener = Callable[[], Writes]


class ClaimAndFinish:
    """An idempotency store's claim of a new key, then its finish."""

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store

    def write(self, key: str) -> None:
        now = time.time()
        self.store.claim(key, now=now, lease=LEASE)
        self.store.finish(key, now=now)

    def close(self) -> None:
        self.store.close()  # type: ignore[attr-defined]  # every shared store has close()


class Put:
    """An inbox's ``put`` of one verified event, as inbox mode stores it before the 202."""

    def __init__(self, inbox: Any) -> None:
        self.inbox = inbox
        self.body = SAMPLE.format(0).encode()
        self.event = parse_event(self.body)
        self.delivery = Delivery("bench", dt.datetime.now(dt.timezone.utc))

    def write(self, key: str) -> None:
        self.inbox.put(key, self.body, self.event, self.delivery, now=time.time())

    def close(self) -> None:
        self.inbox.close()


class Insert:
    """One ``INSERT`` of the body into a table with nothing but a row id, committed."""

    def __init__(self, path: Path) -> None:
        self.body = SAMPLE.format(0).encode()
        self.lock = threading.Lock()  # the threads share one connection, one write at a time
        self.connection = sqlite3.connect(
            path, timeout=5.0, isolation_level=None, check_same_thread=False
        )
        for _ in range(500):  # processes opening a new file at once: one sets WAL
            try:
                self.connection.execute("PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError:
                time.sleep(0.01)
        self.connection.execute("PRAGMA synchronous = NORMAL")
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body BLOB)"
        )

    def write(self, key: str) -> None:
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            self.connection.execute("INSERT INTO events (body) VALUES (?)", (self.body,))
            self.connection.execute("COMMIT")

    def close(self) -> None:
        self.connection.close()


def deliver(writes: Writes, tag: str, count: int) -> None:
    """``count`` requests' writes, each for a new key."""
    for number in range(count):
        writes.write(hashlib.sha256(f"{tag}-{number}".encode()).hexdigest())


def alone(opener: Opener, count: int, tag: str) -> tuple[float, float]:
    """Wall and CPU µs per request, one process and one thread."""
    writes = opener()
    wall, cpu = time.perf_counter(), time.process_time()
    deliver(writes, tag, count)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    writes.close()
    return wall / count * 1e6, cpu / count * 1e6


def _child(opener: Opener, count: int, tag: str, barrier: Any) -> None:
    writes = opener()
    barrier.wait(timeout=60)
    deliver(writes, tag, count)
    writes.close()


def processes(opener: Opener, count: int, tag: str) -> float:
    """Requests per second in all, ``PROCESSES`` processes writing ``count`` each at once."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES + 1)
    children = [
        context.Process(target=_child, args=(opener, count, f"{tag}-{n}", barrier))
        for n in range(PROCESSES)
    ]
    for child in children:
        child.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for child in children:
        child.join(timeout=300)
        if child.exitcode != 0:
            raise RuntimeError(f"a delivering process ended with {child.exitcode}")
    return PROCESSES * count / (time.perf_counter() - started)


def threads(opener: Opener, count: int, tag: str) -> float:
    """Requests per second in all, ``THREADS`` threads of one process writing at once."""
    writes = opener()
    per_thread = max(count // THREADS, 1)
    failures: list[BaseException] = []

    def write_some(number: int) -> None:
        try:
            deliver(writes, f"{tag}-{number}", per_thread)
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=write_some, args=(n,)) for n in range(THREADS)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    elapsed = time.perf_counter() - started
    writes.close()
    if failures:
        raise RuntimeError(f"a writing thread failed: {failures[0]!r}") from failures[0]
    return THREADS * per_thread / elapsed


class Opens:
    """Opens one row's writes on one file or server (picklable, for the processes).

    ``what``: ``"sqlite store"``, ``"redis store"``, ``"sqlite inbox"``,
    ``"redis inbox"`` or ``"insert"``; ``where``: the file or the server's URL.
    """

    def __init__(self, what: str, where: str) -> None:
        self.what, self.where = what, where

    def __call__(self) -> Writes:
        if self.what == "sqlite store":
            return ClaimAndFinish(SQLiteIdempotencyStore(self.where))
        if self.what == "redis store":
            from wrenn_webhooks.redis import RedisIdempotencyStore

            return ClaimAndFinish(RedisIdempotencyStore(self.where))
        if self.what == "sqlite inbox":
            from wrenn_webhooks.inbox import SQLiteInbox

            return Put(SQLiteInbox(self.where))
        if self.what == "redis inbox":
            from wrenn_webhooks.redis import RedisInbox

            return Put(RedisInbox(self.where))
        return Insert(Path(self.where))


def measure(name: str, opener: Opener, deliveries: int, repeats: int) -> dict[str, Any]:
    """One row: the best of ``repeats`` for each way of sharing the store."""
    walls, cpus, twos, eights = [], [], [], []
    for repeat in range(repeats):
        wall, cpu = alone(opener, deliveries, f"{name}-alone-{repeat}")
        walls.append(wall)
        cpus.append(cpu)
        twos.append(processes(opener, deliveries, f"{name}-procs-{repeat}"))
        eights.append(threads(opener, deliveries, f"{name}-threads-{repeat}"))
    row = {
        "store": name,
        "us_alone": round(min(walls), 1),
        "cpu_us_alone": round(min(cpus), 1),
        "per_s_alone": round(1e6 / min(walls)),
        f"per_s_{PROCESSES}_processes": round(max(twos)),
        f"per_s_{THREADS}_threads": round(max(eights)),
    }
    print(row, flush=True)
    return row


def run(deliveries: int, repeats: int) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="wrenn-bench-store-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        for name, what in ROWS:
            if what.startswith("redis"):
                continue
            where = str(workdir / f"{what.replace(' ', '-')}.db")
            rows.append(measure(name, Opens(what, where), deliveries, repeats))
        binary, skipped = find_redis()
        if binary is not None:
            url = stack.enter_context(redis_server(binary, "everysec", workdir))
            for name, what in ROWS:
                if what.startswith("redis"):
                    rows.append(measure(name, Opens(what, url), deliveries, repeats))
    return {
        "benchmark": "shared_store",
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": _cores(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "redis": redis_version(binary) if binary else None,
        },
        "deliveries_per_run": deliveries,
        "repeats": repeats,
        "redis_skipped": skipped,
        "results": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=4000, help="per process or run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = run(args.deliveries, args.repeats)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()

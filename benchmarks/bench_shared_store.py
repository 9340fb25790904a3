"""Shared stores alone: what one delivery's claim and finish cost, and how writers share them.

    python -m benchmarks.bench_shared_store [--deliveries 4000] [--repeats 3] [--json PATH]

Each delivery is a claim of a new 64-hex key and its finish, as ``handle()`` makes
them with one handler, on a shared store: ``SQLiteIdempotencyStore`` (WAL,
``synchronous=NORMAL``) on a fresh file in a temporary directory, and
``RedisIdempotencyStore`` on a ``redis-server`` of its own on 127.0.0.1
(``appendonly yes``, ``appendfsync everysec``; skipped, saying why, without
``redis-server`` or redis-py). Three ways to share them:

- one process, one thread: the cost of a delivery with no other writer, wall time
  and the process's CPU time (``time.process_time``);
- two processes at once, as two gunicorn workers: deliveries per second in all;
- one process, eight threads at once, as a gthread worker.

Figures are the best of ``--repeats`` runs. They bound what a server sharing the
store can answer: every delivery's two writes pass through the store one at a time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import platform
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.bench_core import _cores
from benchmarks.bench_inbox import redis_missing, redis_server, redis_version
from wrenn_webhooks.stores import IdempotencyStore, SQLiteIdempotencyStore

RESULTS = Path(__file__).with_name("results") / "shared_store.json"
LEASE = 30.0
THREADS = 8
PROCESSES = 2

Opener = Callable[[], IdempotencyStore]


def deliver(store: IdempotencyStore, tag: str, count: int) -> None:
    """``count`` deliveries of new keys: a claim, then its finish."""
    for number in range(count):
        key = hashlib.sha256(f"{tag}-{number}".encode()).hexdigest()
        now = time.time()
        store.claim(key, now=now, lease=LEASE)
        store.finish(key, now=now)


def alone(opener: Opener, count: int, tag: str) -> tuple[float, float]:
    """Wall and CPU µs per delivery, one process and one thread."""
    store = opener()
    wall, cpu = time.perf_counter(), time.process_time()
    deliver(store, tag, count)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    store.close()  # type: ignore[attr-defined]  # both shared stores have close()
    return wall / count * 1e6, cpu / count * 1e6


def _child(opener: Opener, count: int, tag: str, barrier: Any) -> None:
    store = opener()
    barrier.wait(timeout=60)
    deliver(store, tag, count)
    store.close()  # type: ignore[attr-defined]


def processes(opener: Opener, count: int, tag: str) -> float:
    """Deliveries per second in all, ``PROCESSES`` processes delivering ``count`` each at once."""
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
    """Deliveries per second in all, ``THREADS`` threads of one process delivering at once."""
    store = opener()
    per_thread = max(count // THREADS, 1)
    workers = [
        threading.Thread(target=deliver, args=(store, f"{tag}-{n}", per_thread))
        for n in range(THREADS)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    elapsed = time.perf_counter() - started
    store.close()  # type: ignore[attr-defined]
    return THREADS * per_thread / elapsed


class SQLiteOpener:
    """Opens the SQLite store on one file (picklable, for the processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> IdempotencyStore:
        return SQLiteIdempotencyStore(self.path)


class RedisOpener:
    """Opens the Redis store on one server (picklable, for the processes)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self) -> IdempotencyStore:
        from wrenn_webhooks.redis import RedisIdempotencyStore

        return RedisIdempotencyStore(self.url)


def measure(name: str, opener: Opener, deliveries: int, repeats: int) -> dict[str, Any]:
    """One store's row: the best of ``repeats`` for each way of sharing it."""
    walls, cpus, twos, eights = [], [], [], []
    for repeat in range(repeats):
        wall, cpu = alone(opener, deliveries, f"{name}-alone-{repeat}")
        walls.append(wall)
        cpus.append(cpu)
        twos.append(processes(opener, deliveries, f"{name}-procs-{repeat}"))
        eights.append(threads(opener, deliveries, f"{name}-threads-{repeat}"))
    row = {
        "store": name,
        "us_per_delivery_alone": round(min(walls), 1),
        "cpu_us_per_delivery_alone": round(min(cpus), 1),
        "deliveries_per_s_alone": round(1e6 / min(walls)),
        f"deliveries_per_s_{PROCESSES}_processes": round(max(twos)),
        f"deliveries_per_s_{THREADS}_threads": round(max(eights)),
    }
    print(row, flush=True)
    return row


def run(deliveries: int, repeats: int) -> dict[str, Any]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="wrenn-bench-store-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        rows.append(
            measure("SQLite NORMAL", SQLiteOpener(workdir / "store.db"), deliveries, repeats)
        )
        skipped = redis_missing()
        binary = None if skipped else shutil.which("redis-server")
        if binary is None:
            print(f"Redis row skipped: {skipped}", flush=True)
        else:
            url = stack.enter_context(redis_server(binary, "everysec", workdir))
            rows.append(measure("Redis everysec", RedisOpener(url), deliveries, repeats))
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

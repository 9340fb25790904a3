"""Inbox benchmark: durable accepts per second under gunicorn, and the workers' drain rate.

Accepts. ``benchmarks.inbox_app`` (a receiver in inbox mode with one no-op
handler, behind the Flask blueprint) runs under gunicorn with 2 sync workers on
127.0.0.1, once for each ``synchronous`` setting ``SQLiteInbox`` offers, each
with its own inbox file; both servers start once and are measured interleaved,
round by round. The load is ``bench_http``'s: wrk with ``wrk_post.lua`` and a
file of distinct deliveries signed just before each run. Every answer must be
a 202; after each run the inbox's rows are counted once the server is idle, to
show that every accepted event was stored (rows can exceed the 202s by the
requests in flight when wrk stopped: stored and answered, but not waited for).

Drain. An inbox is filled in process with ``SQLiteInbox.put`` (real deliveries,
verified and parsed, as the receiver stores them), then drained by one
``Worker`` in this process and, on a fresh inbox, by two worker processes
started together; each ``Worker`` claims its default batch and runs a no-op
handler. Every event must end ``done``.

The inbox files live in a temporary folder (``--dir`` to choose the disk):
``synchronous`` only means something on a file system that honours fsync.

    python -m benchmarks.bench_inbox [--rounds 3] [--duration 5] [--events 20000]
        [--drain-rounds 1] [--dir DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import multiprocessing
import os
import platform
import queue
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from benchmarks import bench_http
from benchmarks.bench_core import _cores
from benchmarks.bench_http import SECRET, _spread, run_wrk, worker_share, write_requests

APP = "benchmarks.inbox_app:app"
TARGET_RPS = 1000
WORKERS = bench_http.WORKERS


def settings_offered() -> tuple[str, ...]:
    """The ``synchronous`` settings ``SQLiteInbox`` accepts, as it lists them."""
    from wrenn_webhooks.inbox import sqlite

    return tuple(sqlite._SYNCHRONOUS)


def count_rows(db: Path) -> int:
    """Rows in an inbox file, read with a connection of its own."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        (rows,) = conn.execute("SELECT count(*) FROM inbox").fetchone()
        return int(rows)
    finally:
        conn.close()


def settled_rows(db: Path, quiet: float = 0.3, limit: float = 10.0) -> int:
    """``count_rows`` once it has not changed for ``quiet`` seconds (requests in flight end)."""
    rows, deadline = count_rows(db), time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(quiet)
        again = count_rows(db)
        if again == rows:
            break
        rows = again
    return rows


def file_system(path: Path) -> str:
    """The type and device of the file system holding ``path`` (Linux), or ``"?"``."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "?"
    target, best = str(path.resolve()), ("", "?", "?")
    for line in mounts:
        device, point, kind, *_ = line.split()
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):
            best = (point, kind, device)
    return f"{best[1]} on {best[2]}"


# --- accepts under gunicorn ---------------------------------------------------


@contextmanager
def serve_inbox(setting: str, db: Path, workdir: Path) -> Iterator[str]:
    """``bench_http.serve`` for the inbox app with ``setting``; yield its webhook URL."""
    from wrenn_webhooks.inbox import SQLiteInbox

    SQLiteInbox(db, synchronous=setting).close()  # the schema, before two workers race for it
    env = {"WRENN_INBOX_DB": str(db), "BENCH_INBOX_SYNCHRONOUS": setting}
    server = bench_http.Server("inbox", "sync", setting)
    with (
        mock.patch.dict(bench_http.APPS, inbox=APP),
        mock.patch.dict(os.environ, env),
        bench_http.serve(server, workdir) as url,
    ):
        yield url


def accept_run(
    url: str,
    db: Path,
    seconds: int,
    requests_file: Path,
    *,
    expected_rps: float,
    connections: int,
    wrk_threads: int,
) -> dict[str, Any]:
    """One wrk run on fresh deliveries, with the inbox rows it added (``stored``)."""
    margin = 1.5
    for _attempt in range(4):
        write_requests(requests_file, math.ceil(expected_rps * seconds * margin) + 500)
        before = count_rows(db)
        report = run_wrk(
            url,
            requests_file,
            seconds=seconds,
            connections=connections,
            threads=wrk_threads,
            close=False,
        )
        report["stored"] = settled_rows(db) - before
        if not report["exhausted"]:
            return report
        margin *= 2  # the file ran out before the time did: again, with more
    raise RuntimeError(f"inbox {db.name}: wrk used up every request file")


def summarize_accepts(samples: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per setting: medians with spread, answers other than 202, and stored against accepted."""
    rows = []
    for setting, runs in samples.items():
        rps, p25, p75 = _spread([run["rps"] for run in runs])
        accepted = sum(int(run["statuses"].get("202", 0)) for run in runs)
        requests = sum(int(run["requests"]) for run in runs)
        duplicates = sum(int(run["duplicates"]) for run in runs)
        lost = sum(
            max(0, int(run["statuses"].get("202", 0)) - int(run["duplicates"]) - run["stored"])
            for run in runs
        )
        rows.append(
            {
                "setting": setting,
                "rps_median": round(rps),
                "rps_p25": round(p25),
                "rps_p75": round(p75),
                "p50_ms": round(statistics.median(run["p50_us"] for run in runs) / 1000, 2),
                "p99_ms": round(statistics.median(run["p99_us"] for run in runs) / 1000, 2),
                "worker_share": worker_share(runs),
                "requests": requests,
                "accepted": accepted,
                "non_202": requests - accepted,
                "errors": sum(int(run["errors"]) for run in runs),
                "duplicates": duplicates,
                "stored": sum(int(run["stored"]) for run in runs),
                "lost": lost,
                "meets_target": rps >= TARGET_RPS,
            }
        )
    return rows


def measure_accepts(
    settings: list[str],
    workdir: Path,
    *,
    rounds: int,
    duration: int,
    warmup: int,
    connections: int,
    wrk_threads: int,
    first_rate: float,
) -> tuple[list[dict[str, Any]], int]:
    """Serve every setting, then measure them interleaved; return the rows and body size."""
    samples: dict[str, list[dict[str, Any]]] = {setting: [] for setting in settings}
    best: dict[str, float] = {}
    dbs = {setting: workdir / f"accepts-{setting.lower()}.db" for setting in settings}
    with ExitStack() as stack:
        urls = {s: stack.enter_context(serve_inbox(s, dbs[s], workdir)) for s in settings}
        for number in range(rounds):
            shift = number % len(settings)
            for setting in settings[shift:] + settings[:shift]:
                for seconds in (warmup, duration) if warmup else (duration,):
                    report = accept_run(
                        urls[setting],
                        dbs[setting],
                        seconds,
                        workdir / "requests.tsv",
                        expected_rps=best.get(setting, first_rate),
                        connections=connections,
                        wrk_threads=wrk_threads,
                    )
                    best[setting] = max(best.get(setting, 0.0), report["rps"])
                samples[setting].append(report)
                print(
                    f"  round {number + 1}/{rounds} accepts, synchronous={setting}: "
                    f"{report['rps']:.0f} req/s, {report['stored']} stored",
                    file=sys.stderr,
                    flush=True,
                )
    return summarize_accepts(samples), len(bench_http.template_body())


# --- drain ----------------------------------------------------------------------


def fill(db: Path, events: int, setting: str = "NORMAL") -> None:
    """Store ``events`` distinct deliveries in a new inbox, one ``put`` each, as ``handle`` does."""
    from wrenn_webhooks import parse_event, verify
    from wrenn_webhooks.inbox import SQLiteInbox

    source = db.with_suffix(".tsv")
    write_requests(source, events)
    names, *lines = source.read_text().splitlines()
    header_names = names.split("\t")[:-1]
    inbox = SQLiteInbox(db, synchronous=setting)
    try:
        for line in lines:
            *values, text = line.split("\t")
            body = text.encode()
            delivery = verify(body, dict(zip(header_names, values, strict=True)), SECRET)
            key = hashlib.sha256(body).hexdigest()
            inbox.put(key, body, parse_event(body), delivery, now=time.time())
    finally:
        inbox.close()
        source.unlink()


def _drain_here(db: Path, setting: str, barrier: Any = None) -> tuple[int, float, float, int]:
    """Drain with one ``Worker`` until nothing is due.

    Returns (events, start, end, store errors), times on ``time.monotonic``. A
    ``StoreError`` (the write lock not had within the busy timeout) is counted and
    the batch claimed again, as ``Worker.run`` does, without its pause.
    """
    from wrenn_webhooks import WebhookReceiver
    from wrenn_webhooks.errors import StoreError
    from wrenn_webhooks.inbox import SQLiteInbox, Worker

    inbox = SQLiteInbox(db, synchronous=setting)
    receiver = WebhookReceiver(SECRET, inbox=inbox)
    receiver.add(lambda event: None, "capsule.pause")
    worker = Worker(receiver)
    handled = errors = 0
    try:
        if barrier is not None:
            barrier.wait()
        start = time.monotonic()
        while True:
            try:
                started = worker.run_once()
            except StoreError:
                errors += 1
                continue
            if not started:
                return handled, start, time.monotonic(), errors
            handled += started
    finally:
        inbox.close()


def _drain_child(db: Path, setting: str, barrier: Any, results: Any) -> None:
    results.put(_drain_here(db, setting, barrier))


def _result(results: Any, children: list[Any]) -> tuple[int, float, float, int]:
    """The next child's outcome; fail if every child has ended without one."""
    while True:
        try:
            outcome: tuple[int, float, float, int] = results.get(timeout=1)
            return outcome
        except queue.Empty:
            if all(child.exitcode is not None for child in children):
                codes = [child.exitcode for child in children]
                raise RuntimeError(f"a worker process failed (exit codes {codes})") from None


def drain(db: Path, setting: str = "NORMAL", processes: int = 1) -> dict[str, Any]:
    """Drain a filled inbox with one in-process ``Worker`` or ``processes`` worker processes.

    The processes open the inbox, then start together; the time runs from their
    start to the last one finding nothing due. Returns events/s and the end state.
    """
    from wrenn_webhooks.inbox import SQLiteInbox

    if processes == 1:
        handled, start, end, store_errors = _drain_here(db, setting)
        per_worker = [handled]
    else:
        context = multiprocessing.get_context("spawn")  # no SQLite connection crosses a fork
        barrier, results = context.Barrier(processes + 1), context.Queue()
        children = [
            context.Process(target=_drain_child, args=(db, setting, barrier, results))
            for _ in range(processes)
        ]
        for child in children:
            child.start()
        try:
            try:
                barrier.wait(timeout=60)
            except threading.BrokenBarrierError:
                codes = [child.exitcode for child in children]
                raise RuntimeError(f"worker processes did not start (exit codes {codes})") from None
            outcomes = [_result(results, children) for _ in children]
        finally:
            for child in children:
                child.join(timeout=30)
                if child.is_alive():
                    child.terminate()
        per_worker = [outcome[0] for outcome in outcomes]
        start = min(outcome[1] for outcome in outcomes)
        end = max(outcome[2] for outcome in outcomes)
        store_errors = sum(outcome[3] for outcome in outcomes)
    inbox = SQLiteInbox(db, synchronous=setting)
    try:
        stats = inbox.stats(now=time.time())
    finally:
        inbox.close()
    seconds = end - start
    return {
        "events": sum(per_worker),
        "seconds": seconds,
        "events_per_s": sum(per_worker) / seconds if seconds else 0.0,
        "per_worker": sorted(per_worker, reverse=True),
        "store_errors": store_errors,
        "done": stats["done"],
        "pending": stats["pending"],
        "dead": stats["dead"],
    }


def measure_drain(
    settings: list[str], workdir: Path, *, events: int, rounds: int, processes: int
) -> list[dict[str, Any]]:
    """Fill and drain a fresh inbox per setting and worker count, interleaved over rounds."""
    cases = [(setting, count) for setting in settings for count in (1, processes)]
    samples: dict[tuple[str, int], list[dict[str, Any]]] = {case: [] for case in cases}
    for number in range(rounds):
        shift = number % len(cases)
        for setting, count in cases[shift:] + cases[:shift]:
            db = workdir / f"drain-{setting.lower()}-{count}.db"
            for stale in workdir.glob(f"{db.name}*"):  # the file, -wal and -shm
                stale.unlink()
            fill(db, events, setting)
            run = drain(db, setting, count)
            samples[setting, count].append(run)
            print(
                f"  round {number + 1}/{rounds} drain, synchronous={setting}, {count} "
                f"worker(s): {run['events_per_s']:.0f} events/s",
                file=sys.stderr,
                flush=True,
            )
    rows = []
    for (setting, count), runs in samples.items():
        rate, p25, p75 = _spread([run["events_per_s"] for run in runs])
        rows.append(
            {
                "setting": setting,
                "workers": "1 in-process" if count == 1 else f"{count} processes",
                "events": events,
                "events_per_s_median": round(rate),
                "events_per_s_p25": round(p25),
                "events_per_s_p75": round(p75),
                "seconds_median": round(statistics.median(run["seconds"] for run in runs), 2),
                "per_worker": [run["per_worker"] for run in runs],
                "store_errors": sum(run["store_errors"] for run in runs),
                "all_done": all(
                    run["done"] == run["events"] == events
                    and not run["pending"]
                    and not run["dead"]
                    for run in runs
                ),
            }
        )
    return rows


# --- the run --------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure accepts, then the drain, in one temporary folder; return the report."""
    from wrenn_webhooks.inbox.worker import Worker

    settings = list(settings_offered())
    with tempfile.TemporaryDirectory(prefix="wrenn-bench-inbox-", dir=args.dir) as tmp:
        workdir = Path(tmp)
        accepts, body_bytes = measure_accepts(
            settings,
            workdir,
            rounds=args.rounds,
            duration=args.duration,
            warmup=args.warmup,
            connections=args.connections,
            wrk_threads=args.wrk_threads,
            first_rate=args.first_rate,
        )
        drains = measure_drain(
            settings, workdir, events=args.events, rounds=args.drain_rounds, processes=2
        )
        disk = file_system(workdir)
    default_batch = inspect.signature(Worker).parameters["batch"].default
    return {
        "benchmark": "inbox",
        "machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
        "inbox_disk": disk,
        "sqlite": sqlite3.sqlite_version,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "wrk_threads": args.wrk_threads,
        "gunicorn": f"{WORKERS} sync workers",
        "body_bytes": body_bytes,
        "target_rps": TARGET_RPS,
        "results": accepts,
        "drain_events": args.events,
        "drain_rounds": args.drain_rounds,
        "worker_batch": default_batch,
        "drain": drains,
    }


def table(report: dict[str, Any]) -> str:
    """Render a report as a plain-text table."""
    lines = [
        f"Inbox benchmark: {report['machine']}; inbox on {report['inbox_disk']}, "
        f"SQLite {report['sqlite']}",
        f"Durable accepts: {report['gunicorn']}, {report['rounds']} rounds x "
        f"{report['duration_s']} s, {report['connections']} connections, "
        f"{report['body_bytes']}-byte bodies",
        f"{'synchronous':<12} {'req/s':>7} {'p25-p75':>11} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'shares %':>9} {'202s':>7} {'stored':>7} {'lost':>5} {'non-202':>8}",
    ]
    for row in report["results"]:
        shares = "/".join(f"{share * 100:.0f}" for share in row["worker_share"])
        lines.append(
            f"{row['setting']:<12} {row['rps_median']:>7} "
            f"{str(row['rps_p25']) + '-' + str(row['rps_p75']):>11} {row['p50_ms']:>7.2f} "
            f"{row['p99_ms']:>7.2f} {shares:>9} {row['accepted']:>7} {row['stored']:>7} "
            f"{row['lost']:>5} {row['non_202'] + row['errors']:>8}"
        )
    lines += [
        f"target >= {report['target_rps']} req/s; stored: rows added (202s plus requests in "
        "flight when wrk stopped); lost: 202s without a row; non-202 includes socket errors",
        "",
        f"Drain: {report['drain_events']:,} stored events, Worker batch "
        f"{report['worker_batch']}, no-op handler, {report['drain_rounds']} round(s)",
        f"{'synchronous':<12} {'workers':<13} {'events/s':>9} {'p25-p75':>13} "
        f"{'seconds':>8} {'all done':>8} {'store errors':>12}",
    ]
    for row in report["drain"]:
        spread = f"{row['events_per_s_p25']}-{row['events_per_s_p75']}"
        lines.append(
            f"{row['setting']:<12} {row['workers']:<13} {row['events_per_s_median']:>9} "
            f"{spread:>13} {row['seconds_median']:>8.2f} {'yes' if row['all_done'] else 'NO':>8} "
            f"{row['store_errors']:>12}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_http.add_load_arguments(parser, first_rate=3000)
    parser.add_argument("--events", type=int, default=20_000, help="events per drain")
    parser.add_argument("--drain-rounds", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="folder for the inbox files")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/inbox.json"))
    args = parser.parse_args()
    bench_http.require_wrk()
    if not 1 <= args.duration + args.warmup <= 200 or min(args.rounds, args.drain_rounds) < 1:
        parser.error("1 <= duration + warmup <= 200 s; at least one round of each")
    if not 1 <= args.events <= 1_000_000:
        parser.error("--events: 1 to 1,000,000")
    report = run(args)
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Inbox benchmark: durable accepts per second under gunicorn, and the workers' drain rate.

Backends, side by side in one run: ``SQLiteInbox`` with each ``synchronous``
setting it offers (``NORMAL``, ``FULL``), and ``RedisInbox`` on a
``redis-server`` of its own per ``appendfsync`` setting (``everysec``,
``always``; ``appendonly yes``, no snapshots), Redis' counterparts of the two.
Without ``redis-server`` or redis-py the Redis rows are skipped, saying why.

Peers. On the ``everysec`` server, in the same run and interleaved with the
SDK's rows, ``benchmarks.peer_apps``: a Flask view verifying with the standard
library that enqueues the raw body with Celery (``task.delay``) or RQ
(``Queue.enqueue``) and answers 202, under the same gunicorn settings and wrk
request files. Their accepts are set against the SDK's Redis inbox
(``everysec``) and SQLite inbox (``NORMAL``): the ratio to the faster peer, per
round. Without celery or rq (``pip install -e ".[bench]"``) their rows are
skipped, saying why.

The SQLite floor. Always measured, as a row of its own (``sqlite3 NORMAL``): the
hand-written sqlite3 ``INSERT``, ``benchmarks.peer_apps``' ``'sqlite'`` view, which
verifies as the peers do, then inserts the raw body into a table of its own
SQLite file (a row id and the body; WAL, ``synchronous=NORMAL``), committed,
before the 202: the least a durable SQLite queue does per request, under the
same server and load. Each SDK SQLite row's "vs sqlite3" (``vs_sqlite_floor``)
is the median over rounds of its requests/s over this row's in the same round.
It is not a peer: the comparison with Celery and RQ leaves it out.

Accepts. ``benchmarks.inbox_app`` (a receiver in inbox mode with one no-op
handler, behind the Flask blueprint) runs under gunicorn with 2 sync workers on
127.0.0.1, once per backend; every server starts once and they are measured
interleaved, round by round. So does ``benchmarks.bare_app``, ``bench_http``'s
bare Flask view (HMAC, ``compare_digest``, ``json.loads``; it answers 200 and
stores nothing): each row's "vs bare" is the median over rounds of its
requests/s over the bare view's in the same round. For the rows on Redis, the
commands per accept: ``INFO commandstats`` read before and after each measured
run, ``INFO`` left out, over the run's 202s (a script counts as its
``EVALSHA`` and each command it runs). The load is ``bench_http``'s: wrk with
``wrk_post.lua`` and a file of distinct deliveries signed just before each run.
Every answer must be a 202; after each run the inbox's events (a peer's queue
length, the SQLite floor's rows) are counted (``stats``: pending, done and dead)
once the server is idle, to show that every accepted event was stored (they can
exceed the 202s by the requests in flight when wrk stopped: stored and answered,
but not waited for).

Drain. An emptied inbox is filled in process with ``put`` (real deliveries,
verified and parsed, as the receiver stores them), then drained by one
``Worker`` in this process and, emptied and filled again, by two worker
processes started together; each ``Worker`` claims its default batch and runs a
no-op handler. Every event must end ``done``.

The SQLite files and Redis' append-only files live in a temporary folder
(``--dir`` to choose the disk): ``synchronous`` and ``appendfsync`` only mean
something on a file system that honours fsync.

    python -m benchmarks.bench_inbox [--rounds 3] [--duration 5] [--events 20000]
        [--drain-rounds 3] [--dir DIR] [--json PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import inspect
import json
import math
import multiprocessing
import os
import platform
import queue
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

from benchmarks import bench_http
from benchmarks.bench_core import _cores
from benchmarks.bench_http import (
    SECRET,
    _spread,
    calls_per_answer,
    redis_calls,
    redis_client,
    run_wrk,
    worker_share,
    write_requests,
)

if TYPE_CHECKING:
    import redis

    from wrenn_webhooks.inbox import SQLiteInbox
    from wrenn_webhooks.redis import RedisInbox

APP = "benchmarks.inbox_app:app"
TARGET_RPS = 1000
WORKERS = bench_http.WORKERS
REDIS_FSYNC = bench_http.REDIS_FSYNC
"""The ``appendfsync`` settings measured: Redis' counterparts of ``NORMAL`` and ``FULL``."""
REDIS_INSTALL = "apt-get install -y redis-server  (as root; Debian or Ubuntu)"
PEERS = {"Celery": "celery", "RQ": "rq"}
"""The peers measured against the SDK's inbox, and the module each needs."""
PEER_APPS = {kind: f"benchmarks.peer_apps:create_app({module!r})" for kind, module in PEERS.items()}
PEER_QUEUES = {"Celery": "celery", "RQ": "rq:queue:default"}
"""The Redis list of each peer's default queue: its length counts the events stored."""
PEER_FSYNC = "everysec"
"""The Redis server the peers enqueue on: the SDK's ``Redis everysec`` row's."""
PEER_INSTALL = 'pip install -e ".[bench]"'
SQLITE_FLOOR_KIND = "sqlite3"
SQLITE_FLOOR_LABEL = f"{SQLITE_FLOOR_KIND} NORMAL"
SQLITE_FLOOR_CASE = "hand-written sqlite3 INSERT"
"""The SQLite floor's row: ``peer_apps``' ``'sqlite'`` view, one ``INSERT`` per request."""
SQLITE_FLOOR_APP = "benchmarks.peer_apps:create_app('sqlite')"
DURABILITY = {
    "SQLite NORMAL": "one WAL commit before the 202; survives a crash of the process, a power "
    "loss may lose the last transactions",
    "SQLite FULL": "one WAL commit, fsynced, before the 202",
    "Redis everysec": "one script in Redis' append-only file before the 202, fsynced once a "
    "second; a power loss may lose about the last second",
    "Redis always": "one script in Redis' append-only file, fsynced before the 202",
    "Celery everysec": "one LPUSH of the message on the same server (appendfsync "
    "everysec): as durable as the SDK's Redis everysec row",
    "RQ everysec": "one transaction (job hash, queue push) on the same server (appendfsync "
    "everysec): as durable as the SDK's Redis everysec row",
    SQLITE_FLOOR_LABEL: "one WAL commit of the raw body before the 202, as the SDK's SQLite "
    "NORMAL row",
}
"""What a 202 means for each row, by its label."""


def settings_offered() -> tuple[str, ...]:
    """The ``synchronous`` settings ``SQLiteInbox`` accepts, as it lists them."""
    from wrenn_webhooks.inbox import sqlite

    return tuple(sqlite._SYNCHRONOUS)


# --- the backends ---------------------------------------------------------------


class PeerQueue:
    """A peer's queue on Redis, counted as an inbox is: its length is the events ``pending``."""

    def __init__(self, kind: str, url: str) -> None:
        import redis

        self.key = PEER_QUEUES[kind]
        self.client = redis.Redis.from_url(url)

    def stats(self, now: float) -> dict[str, int]:
        return {"pending": int(self.client.llen(self.key)), "done": 0, "dead": 0}

    def close(self) -> None:
        self.client.close()


class InsertTable:
    """The SQLite floor's table, counted as an inbox is: its rows are the events ``pending``.

    Opened as the floor's view opens it (``peer_apps.open_events``): WAL, its table
    created if missing.
    """

    def __init__(self, path: str) -> None:
        from benchmarks.peer_apps import open_events

        self.connection = open_events(path)

    def stats(self, now: float) -> dict[str, int]:
        (count,) = self.connection.execute("SELECT count(*) FROM events").fetchone()
        return {"pending": int(count), "done": 0, "dead": 0}

    def close(self) -> None:
        self.connection.close()


def open_inbox(environ: Mapping[str, str]) -> SQLiteInbox | RedisInbox:
    """The inbox ``environ`` names, as ``inbox_app`` opens it.

    ``WRENN_INBOX_REDIS`` (a URL) for a ``RedisInbox``; otherwise a ``SQLiteInbox``
    on ``WRENN_INBOX_DB`` with ``BENCH_INBOX_SYNCHRONOUS`` (``NORMAL`` by default).
    """
    url = environ.get("WRENN_INBOX_REDIS")
    if url:
        from wrenn_webhooks.redis import RedisInbox

        return RedisInbox(url)
    from wrenn_webhooks.inbox import SQLiteInbox

    return SQLiteInbox(
        environ.get("WRENN_INBOX_DB", "wrenn-inbox-bench.db"),
        synchronous=environ.get("BENCH_INBOX_SYNCHRONOUS", "NORMAL"),
    )


@dataclass(frozen=True)
class Backend:
    """One inbox measured: a SQLite file or a Redis server, and its durability setting.

    Or a peer's queue on a Redis server; or the SQLite floor's table
    (``SQLITE_FLOOR_KIND``); or (``BARE``) the bare view, with no inbox.
    """

    kind: str  # "SQLite" or "Redis"; or a peer: "Celery" or "RQ"; or "sqlite3"; or "bare"
    setting: str  # SQLite's synchronous, or the server's appendfsync
    target: str  # the inbox (or floor's) file, or the server's URL

    @property
    def label(self) -> str:
        return BARE_LABEL if self.bare else f"{self.kind} {self.setting}"

    @property
    def peer(self) -> bool:
        """Whether this is a peer's queue rather than the SDK's inbox."""
        return self.kind in PEERS

    @property
    def bare(self) -> bool:
        """Whether this is the bare Flask view, which stores nothing."""
        return self.kind == "bare"

    @property
    def sqlite_floor(self) -> bool:
        """Whether this is the SQLite floor: the hand-written ``INSERT``, neither SDK nor peer."""
        return self.kind == SQLITE_FLOOR_KIND

    @property
    def sdk(self) -> bool:
        """Whether this is one of the SDK's inboxes."""
        return self.kind in ("SQLite", "Redis")

    @property
    def on_redis(self) -> bool:
        """Whether it stores on a Redis server (``target``): the SDK's Redis inbox or a peer."""
        return self.kind == "Redis" or self.peer

    @property
    def app(self) -> str:
        """The app gunicorn serves for it: ``inbox_app``, a ``peer_apps`` view or the bare view."""
        if self.bare:
            return bench_http.APPS["bare"]
        if self.sqlite_floor:
            return SQLITE_FLOOR_APP
        return PEER_APPS.get(self.kind, APP)

    def env(self) -> dict[str, str]:
        """The environment naming this inbox to ``open_inbox`` (the queue to ``peer_apps``)."""
        if self.bare:
            return {}
        if self.peer or self.sqlite_floor:
            return {"BENCH_PEER_TARGET": self.target}
        if self.kind == "Redis":
            return {"WRENN_INBOX_REDIS": self.target}
        db = {"WRENN_INBOX_DB": self.target, "BENCH_INBOX_SYNCHRONOUS": self.setting}
        return {"WRENN_INBOX_REDIS": "", **db}  # "": not a URL the caller's environment set

    def open(self) -> SQLiteInbox | RedisInbox | PeerQueue | InsertTable:
        """The inbox, opened as ``inbox_app`` opens it; a peer's queue; the floor's table."""
        if self.peer:
            return PeerQueue(self.kind, self.target)
        if self.sqlite_floor:
            return InsertTable(self.target)
        return open_inbox(self.env())

    def empty(self) -> None:
        """Delete every event: the SQLite file with its ``-wal`` and ``-shm``, or all of Redis.

        The bare view stores nothing: nothing to delete.
        """
        if self.kind in ("SQLite", SQLITE_FLOOR_KIND):
            for suffix in ("", "-wal", "-shm"):
                Path(self.target + suffix).unlink(missing_ok=True)
        elif self.on_redis:
            import redis

            with closing(redis.Redis.from_url(self.target)) as client:
                client.flushall()


BARE_LABEL = "bare Flask view (floor)"
BARE = Backend("bare", "-", "-")
"""The bare view: ``bench_http``'s floor, served and loaded as the inboxes are."""


def redis_missing() -> str | None:
    """Why Redis cannot be measured (``redis-server`` or redis-py missing); ``None`` if it can."""
    if shutil.which("redis-server") is None:
        return f"redis-server is not installed; install it with: {REDIS_INSTALL}"
    if importlib.util.find_spec("redis") is None:
        return 'redis-py is not installed; install it with: pip install -e ".[redis]"'
    return None


def find_redis(rows: str = "Redis rows") -> tuple[str | None, str | None]:
    """The ``redis-server`` binary, or why Redis cannot be measured.

    Returns (binary, None), or (None, the reason), which is also said on stderr as
    ``"<rows> skipped: <reason>"``. Every benchmark with Redis rows asks here.
    """
    reason = redis_missing()
    if reason is not None:
        print(f"{rows} skipped: {reason}", file=sys.stderr, flush=True)
        return None, reason
    return shutil.which("redis-server"), None


def find_peers() -> list[str]:
    """The peers that can be measured (``PEERS``); for each other one, why not, on stderr."""
    found = []
    for kind, module in PEERS.items():
        if importlib.util.find_spec(module) is None:
            print(
                f"{kind} rows skipped: {module} is not installed; install it with: {PEER_INSTALL}",
                file=sys.stderr,
                flush=True,
            )
        else:
            found.append(kind)
    return found


def peer_versions(kinds: list[str]) -> dict[str, str]:
    """The installed version of each peer's package."""
    from importlib.metadata import version

    return {kind: version(PEERS[kind]) for kind in kinds}


@contextmanager
def redis_server(binary: str, setting: str, workdir: Path) -> Iterator[str]:
    """Run ``redis-server`` with an append-only file and ``appendfsync setting``; yield its URL.

    It listens on a free port of 127.0.0.1 and keeps its files in a folder of
    ``workdir``; no snapshots. Stopped (SIGTERM, then SIGKILL) when the block ends.
    """
    directory = workdir / f"redis-{setting}"
    directory.mkdir()
    port = bench_http.free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(directory)]
    command += ["--save", "", "--appendonly", "yes", "--appendfsync", setting]
    command += ["--loglevel", "warning"]
    log_path = directory / "redis.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=directory, stdout=log, stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for_redis(url, process, log_path)
        yield url
    finally:
        bench_http.stop(process)


def wait_for_redis(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Return once the server at ``url`` answers; fail if it exits or takes over 30 s."""
    import redis

    deadline = time.monotonic() + 30
    with closing(redis.Redis.from_url(url)) as client:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"redis-server did not start:\n{log_path.read_text()}"
                    ) from None
                time.sleep(0.05)


def redis_version(binary: str) -> str:
    """The version ``redis-server --version`` names, such as ``7.0.15``."""
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    words = done.stdout.split()
    return next((word[2:] for word in words if word.startswith("v=")), done.stdout.strip())


def stored(inbox: SQLiteInbox | RedisInbox | PeerQueue | InsertTable) -> int:
    """Events in ``inbox``, whatever their state (pending, done or dead)."""
    counts = inbox.stats(now=time.time())
    return sum(int(counts[state] or 0) for state in ("pending", "done", "dead"))


def settled(
    inbox: SQLiteInbox | RedisInbox | PeerQueue | InsertTable,
    quiet: float = 0.3,
    limit: float = 10.0,
) -> int:
    """``stored`` once it has not changed for ``quiet`` seconds (requests in flight end)."""
    count, deadline = stored(inbox), time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(quiet)
        again = stored(inbox)
        if again == count:
            break
        count = again
    return count


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
def serve_inbox(backend: Backend, workdir: Path) -> Iterator[str]:
    """``bench_http.serve`` for the inbox app on ``backend``; yield its webhook URL."""
    if not backend.bare:
        backend.open().close()  # SQLite's schema, before two workers race for it
    server = bench_http.Server("inbox", "sync", backend.label.replace(" ", "-"))
    with (
        mock.patch.dict(bench_http.APPS, inbox=backend.app),
        mock.patch.dict(os.environ, backend.env()),
        bench_http.serve(server, workdir) as url,
    ):
        yield url


def accept_run(
    url: str,
    inbox: SQLiteInbox | RedisInbox | PeerQueue | InsertTable | None,
    seconds: int,
    requests_file: Path,
    *,
    expected_rps: float,
    connections: int,
    wrk_threads: int,
    counted: redis.Redis | None = None,
) -> dict[str, Any]:
    """One wrk run on fresh deliveries, with the events it added to ``inbox`` (``stored``).

    Without an inbox (the bare view), ``stored`` is 0. With ``counted`` (a client
    of the backend's Redis server), ``redis_calls`` holds the commands the server
    ran during the run, by name: read after ``stored``'s commands, before ``settled``'s.
    """
    margin = 1.5
    for _attempt in range(4):
        write_requests(requests_file, math.ceil(expected_rps * seconds * margin) + 500)
        before = stored(inbox) if inbox is not None else 0
        calls = redis_calls(counted) if counted is not None else Counter()
        report = run_wrk(
            url,
            requests_file,
            seconds=seconds,
            connections=connections,
            threads=wrk_threads,
            close=False,
        )
        if counted is not None:
            report["redis_calls"] = dict(redis_calls(counted) - calls)
        report["stored"] = settled(inbox) - before if inbox is not None else 0
        if not report["exhausted"]:
            return report
        margin *= 2  # the file ran out before the time did: again, with more
    raise RuntimeError(f"{url}: wrk used up every request file")


def rate_fields(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A row's requests/s (median, p25, p75, per round), latencies and worker shares."""
    rps, p25, p75 = _spread([run["rps"] for run in runs])
    return {
        "rps_median": round(rps),
        "rps_p25": round(p25),
        "rps_p75": round(p75),
        "round_rps": [round(run["rps"]) for run in runs],
        "p50_ms": round(statistics.median(run["p50_us"] for run in runs) / 1000, 2),
        "p99_ms": round(statistics.median(run["p99_us"] for run in runs) / 1000, 2),
        "worker_share": worker_share(runs),
    }


def ratio_to(
    runs: list[dict[str, Any]], floor: list[dict[str, Any]], name: str
) -> dict[str, float | None]:
    """``name``: the median over rounds of ``runs``' requests/s over ``floor``'s.

    ``runs`` and ``floor`` hold one run per round, in the same order; each ratio
    sets a run against the floor's run of the same round (a round where the floor
    answered nothing has none). With the ratios' p25 and p75 (``name + "_p25"``,
    ``name + "_p75"``); ``None`` without floor runs.
    """
    pairs = zip(runs, floor, strict=True) if floor else ()
    ratios = [run["rps"] / base["rps"] for run, base in pairs if base["rps"]]
    if not ratios:
        return {name: None, f"{name}_p25": None, f"{name}_p75": None}
    ratio, p25, p75 = _spread(ratios)
    return {name: round(ratio, 3), f"{name}_p25": round(p25, 3), f"{name}_p75": round(p75, 3)}


def ratio_to_bare(runs: list[dict[str, Any]], bare: list[dict[str, Any]]) -> dict[str, Any]:
    """``vs_bare``: the median over rounds of ``runs``' requests/s over the bare view's.

    ``runs`` and ``bare`` hold one run per round, in the same order; each ratio
    sets a run against the bare view's run of the same round. With the ratios'
    p25 and p75 (``vs_bare_p25``, ``vs_bare_p75``); ``None`` without bare runs.
    """
    return ratio_to(runs, bare, "vs_bare")


def summarize_accepts(
    samples: dict[Backend, list[dict[str, Any]]], bare: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Per backend: medians with spread, answers other than 202, and stored against accepted.

    With the bare view's runs (``bare``, one per round), each row's ``vs_bare``
    (``ratio_to_bare``); for the SDK's SQLite rows, ``vs_sqlite_floor``, the same
    against the SQLite floor's runs (its row in ``samples``; ``None`` without it);
    for the rows on Redis, its commands per accept (``redis_calls_per_accept``, and
    ``redis_calls_by_command``).
    """
    floor = next((runs for backend, runs in samples.items() if backend.sqlite_floor), [])
    rows = []
    for backend, runs in samples.items():
        accepted = sum(int(run["statuses"].get("202", 0)) for run in runs)
        requests = sum(int(run["requests"]) for run in runs)
        duplicates = sum(int(run["duplicates"]) for run in runs)
        lost = sum(
            max(0, int(run["statuses"].get("202", 0)) - int(run["duplicates"]) - run["stored"])
            for run in runs
        )
        row = {
            "backend": backend.label,
            **rate_fields(runs),
            "requests": requests,
            "accepted": accepted,
            "non_202": requests - accepted,
            "errors": sum(int(run["errors"]) for run in runs),
            "duplicates": duplicates,
            "stored": sum(int(run["stored"]) for run in runs),
            "lost": lost,
            "meets_target": statistics.median(run["rps"] for run in runs) >= TARGET_RPS,
            **ratio_to_bare(runs, bare or []),
        }
        if backend.kind == "SQLite":
            row.update(ratio_to(runs, floor, "vs_sqlite_floor"))
        if backend.on_redis:
            per_accept, by_command = calls_per_answer(runs, accepted)
            row.update(redis_calls_per_accept=per_accept, redis_calls_by_command=by_command)
        rows.append(row)
    return rows


def summarize_bare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The bare view's row: requests/s, latencies, worker shares, and answers other than 200."""
    requests = sum(int(run["requests"]) for run in runs)
    answered = sum(int(run["statuses"].get("200", 0)) for run in runs)
    return {
        "backend": BARE_LABEL,
        **rate_fields(runs),
        "requests": requests,
        "non_200": requests - answered,
        "errors": sum(int(run["errors"]) for run in runs),
    }


def measure_accepts(
    backends: list[Backend],
    workdir: Path,
    *,
    rounds: int,
    duration: int,
    warmup: int,
    connections: int,
    wrk_threads: int,
    first_rate: float,
) -> tuple[dict[Backend, list[dict[str, Any]]], int]:
    """Serve every backend, then measure them interleaved; return the runs and body size.

    The runs: each backend's measured ones, one per round.
    """
    samples: dict[Backend, list[dict[str, Any]]] = {backend: [] for backend in backends}
    best: dict[Backend, float] = {}
    with ExitStack() as stack:
        urls = {b: stack.enter_context(serve_inbox(b, workdir)) for b in backends}
        inboxes = {b: stack.enter_context(closing(b.open())) for b in backends if not b.bare}
        counted = {
            b: stack.enter_context(closing(redis_client(b.target))) for b in backends if b.on_redis
        }
        for number in range(rounds):
            shift = number % len(backends)
            for backend in backends[shift:] + backends[:shift]:
                for seconds in (warmup, duration) if warmup else (duration,):
                    report = accept_run(
                        urls[backend],
                        inboxes.get(backend),
                        seconds,
                        workdir / "requests.tsv",
                        expected_rps=best.get(backend, first_rate),
                        connections=connections,
                        wrk_threads=wrk_threads,
                        counted=counted.get(backend),
                    )
                    best[backend] = max(best.get(backend, 0.0), report["rps"])
                samples[backend].append(report)
                stored_text = "" if backend.bare else f", {report['stored']} stored"
                print(
                    f"  round {number + 1}/{rounds} accepts, {backend.label}: "
                    f"{report['rps']:.0f} req/s{stored_text}",
                    file=sys.stderr,
                    flush=True,
                )
    return samples, len(bench_http.template_body())


def compare_peers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The SDK's Redis (``everysec``) and SQLite (``NORMAL``) inboxes against the peers.

    For each of them and each peer: accepts/s, what a 202 means, and the ratio to
    the faster peer: the median over rounds of its requests/s over the faster
    peer's in the same round (``round_rps``). ``meets_target``: the SDK's rows
    accept at least as many as the faster peer. Empty without a peer or without
    both SDK rows.
    """
    by_label = {row["backend"]: row for row in rows}
    peers = [(f"{kind} enqueue", by_label.get(f"{kind} {PEER_FSYNC}")) for kind in PEERS]
    sdk = [
        (f"SDK RedisInbox ({PEER_FSYNC})", by_label.get(f"Redis {PEER_FSYNC}")),
        ("SDK SQLiteInbox (NORMAL)", by_label.get("SQLite NORMAL")),
    ]
    peer_rows = [row for _, row in peers if row is not None]
    if not peer_rows or any(row is None for _, row in sdk):
        return []
    faster = [max(rates) for rates in zip(*(row["round_rps"] for row in peer_rows), strict=True)]
    compared = []
    for case, row in [sdk[0], *peers, sdk[1]]:
        if row is None:
            continue
        ratios = [rps / best for rps, best in zip(row["round_rps"], faster, strict=True) if best]
        ratio, r25, r75 = _spread(ratios) if ratios else (0.0, 0.0, 0.0)
        compared.append(
            {
                "case": case,
                "backend": row["backend"],
                "rps_median": row["rps_median"],
                "rps_p25": row["rps_p25"],
                "rps_p75": row["rps_p75"],
                "ratio_to_faster_peer": round(ratio, 3),
                "ratio_p25": round(r25, 3),
                "ratio_p75": round(r75, 3),
                "durability": DURABILITY.get(row["backend"], "?"),
                "meets_target": ratio >= 1 if case.startswith("SDK") else None,
            }
        )
    return compared


# --- drain ----------------------------------------------------------------------


def fill(backend: Backend, events: int, requests_file: Path) -> None:
    """Empty the backend's inbox, then ``put`` ``events`` distinct deliveries, as ``handle`` does.

    The deliveries are written to ``requests_file`` first, and it is removed after.
    """
    from wrenn_webhooks import parse_event, verify

    write_requests(requests_file, events)
    names, *lines = requests_file.read_text().splitlines()
    header_names = names.split("\t")[:-1]
    backend.empty()
    inbox = open_inbox(backend.env())  # an SDK inbox: not a peer's queue
    try:
        for line in lines:
            *values, text = line.split("\t")
            body = text.encode()
            delivery = verify(body, dict(zip(header_names, values, strict=True)), SECRET)
            key = hashlib.sha256(body).hexdigest()
            inbox.put(key, body, parse_event(body), delivery, now=time.time())
    finally:
        inbox.close()
        requests_file.unlink()


def _drain_here(backend: Backend, barrier: Any = None) -> tuple[int, float, float, int]:
    """Drain with one ``Worker`` until nothing is due.

    Returns (events, start, end, store errors), times on ``time.monotonic``. A
    ``StoreError`` (such as SQLite's write lock not had within the busy timeout)
    is counted and the batch claimed again, as ``Worker.run`` does, without its pause.
    """
    from wrenn_webhooks import WebhookReceiver
    from wrenn_webhooks.errors import StoreError
    from wrenn_webhooks.inbox import Worker

    inbox = open_inbox(backend.env())  # an SDK inbox: not a peer's queue
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


def _drain_child(backend: Backend, barrier: Any, results: Any) -> None:
    results.put(_drain_here(backend, barrier))


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


def drain(backend: Backend, processes: int = 1) -> dict[str, Any]:
    """Drain a filled inbox with one in-process ``Worker`` or ``processes`` worker processes.

    The processes open the inbox, then start together; the time runs from their
    start to the last one finding nothing due. Returns events/s and the end state.
    """
    if processes == 1:
        handled, start, end, store_errors = _drain_here(backend)
        per_worker = [handled]
    else:
        context = multiprocessing.get_context("spawn")  # no connection crosses a fork
        barrier, results = context.Barrier(processes + 1), context.Queue()
        children = [
            context.Process(target=_drain_child, args=(backend, barrier, results))
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
    with closing(backend.open()) as inbox:
        stats = inbox.stats(now=time.time())
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
    backends: list[Backend], workdir: Path, *, events: int, rounds: int, processes: int
) -> list[dict[str, Any]]:
    """Fill and drain an emptied inbox per backend and worker count, interleaved over rounds."""
    cases = [(backend, count) for backend in backends for count in (1, processes)]
    samples: dict[tuple[Backend, int], list[dict[str, Any]]] = {case: [] for case in cases}
    for number in range(rounds):
        shift = number % len(cases)
        for backend, count in cases[shift:] + cases[:shift]:
            fill(backend, events, workdir / "drain.tsv")
            run = drain(backend, count)
            samples[backend, count].append(run)
            print(
                f"  round {number + 1}/{rounds} drain, {backend.label}, {count} "
                f"worker(s): {run['events_per_s']:.0f} events/s",
                file=sys.stderr,
                flush=True,
            )
    rows = []
    for (backend, count), runs in samples.items():
        rate, p25, p75 = _spread([run["events_per_s"] for run in runs])
        rows.append(
            {
                "backend": backend.label,
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

    binary, _ = find_redis()
    redis = redis_version(binary) if binary is not None else None
    if binary is None:
        peers: list[str] = []
        peers_skipped: str | None = "Redis is not measured, and the peers enqueue on it"
        print(f"Peer rows skipped: {peers_skipped}", file=sys.stderr, flush=True)
    else:
        peers = find_peers()
        missing = [kind for kind in PEERS if kind not in peers]
        peers_skipped = (
            f"{' and '.join(PEERS[kind] for kind in missing)} not installed ({PEER_INSTALL})"
            if missing
            else None
        )
    with (
        tempfile.TemporaryDirectory(prefix="wrenn-bench-inbox-", dir=args.dir) as tmp,
        ExitStack() as stack,
    ):
        workdir = Path(tmp)
        backends = [BARE, Backend(SQLITE_FLOOR_KIND, "NORMAL", str(workdir / "sqlite3-insert.db"))]
        backends += [
            Backend("SQLite", setting, str(workdir / f"inbox-{setting.lower()}.db"))
            for setting in settings_offered()
        ]
        if binary is not None:
            for setting in REDIS_FSYNC:
                url = stack.enter_context(redis_server(binary, setting, workdir))
                backends.append(Backend("Redis", setting, url))
                if setting == PEER_FSYNC:  # interleaved right after the SDK's row
                    backends += [Backend(kind, setting, url) for kind in peers]
        samples, body_bytes = measure_accepts(
            backends,
            workdir,
            rounds=args.rounds,
            duration=args.duration,
            warmup=args.warmup,
            connections=args.connections,
            wrk_threads=args.wrk_threads,
            first_rate=args.first_rate,
        )
        drains = measure_drain(
            [backend for backend in backends if backend.sdk],
            workdir,
            events=args.events,
            rounds=args.drain_rounds,
            processes=2,
        )
        disk = file_system(workdir)
    default_batch = inspect.signature(Worker).parameters["batch"].default
    bare = samples.pop(BARE)
    accepts = summarize_accepts(samples, bare)
    return {
        "benchmark": "inbox",
        "machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
        "inbox_disk": disk,
        "sqlite": sqlite3.sqlite_version,
        "redis": redis,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "wrk_threads": args.wrk_threads,
        "gunicorn": f"{WORKERS} sync workers",
        "body_bytes": body_bytes,
        "target_rps": TARGET_RPS,
        "bare": summarize_bare(bare),
        "results": accepts,
        "sqlite_floor": {
            "backend": SQLITE_FLOOR_LABEL,
            "case": SQLITE_FLOOR_CASE,
            "durability": DURABILITY[SQLITE_FLOOR_LABEL],
        },
        "peers": {
            "redis_appendfsync": PEER_FSYNC if peers else None,
            "versions": peer_versions(peers),
            "skipped": peers_skipped,
            "results": compare_peers(accepts),
        },
        "drain_events": args.events,
        "drain_rounds": args.drain_rounds,
        "worker_batch": default_batch,
        "drain": drains,
    }


def table(report: dict[str, Any]) -> str:
    """Render a report as a plain-text table."""
    redis = f"Redis {report['redis']}" if report["redis"] else "Redis not measured"
    lines = [
        f"Inbox benchmark: {report['machine']}; inbox files on {report['inbox_disk']}, "
        f"SQLite {report['sqlite']}, {redis}",
        f"Durable accepts: {report['gunicorn']}, {report['rounds']} rounds x "
        f"{report['duration_s']} s, {report['connections']} connections, "
        f"{report['body_bytes']}-byte bodies",
        *accept_lines(report),
        *peer_lines(report.get("peers")),
        "",
        f"Drain: {report['drain_events']:,} stored events, Worker batch "
        f"{report['worker_batch']}, no-op handler, {report['drain_rounds']} round(s)",
        f"{'backend':<15} {'workers':<13} {'events/s':>9} {'p25-p75':>13} "
        f"{'seconds':>8} {'all done':>8} {'store errors':>12}",
    ]
    for row in report["drain"]:
        spread = f"{row['events_per_s_p25']}-{row['events_per_s_p75']}"
        lines.append(
            f"{row['backend']:<15} {row['workers']:<13} {row['events_per_s_median']:>9} "
            f"{spread:>13} {row['seconds_median']:>8.2f} {'yes' if row['all_done'] else 'NO':>8} "
            f"{row['store_errors']:>12}"
        )
    return "\n".join(lines)


def accept_lines(report: dict[str, Any]) -> list[str]:
    """The text table's lines for the accepts: the bare view's row first (if any), then notes."""
    lines = [
        f"{'backend':<24} {'req/s':>7} {'p25-p75':>11} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'shares %':>9} {'202s':>7} {'stored':>7} {'lost':>5} {'non-202':>8} {'x bare':>6} "
        f"{'x sqlite3':>9} {'cmd/acc':>7}"
    ]
    for row in ([report["bare"]] if report.get("bare") else []) + report["results"]:
        shares = "/".join(f"{share * 100:.0f}" for share in row["worker_share"])
        accepted, stored, lost, other, ratio, floor, calls = accept_cells(row)
        lines.append(
            f"{row['backend']:<24} {row['rps_median']:>7} "
            f"{str(row['rps_p25']) + '-' + str(row['rps_p75']):>11} {row['p50_ms']:>7.2f} "
            f"{row['p99_ms']:>7.2f} {shares:>9} {accepted:>7} {stored:>7} {lost:>5} {other:>8} "
            f"{ratio:>6} {floor:>9} {calls:>7}"
        )
    lines += [
        f"target >= {report['target_rps']} req/s; stored: events added (202s plus requests in "
        "flight when wrk stopped); lost: 202s without an event; non-202 includes socket errors "
        "(the bare view's: answers other than 200)",
        "x bare: median over rounds of req/s over the bare view's in the same round",
    ]
    if any(row["backend"] == SQLITE_FLOOR_LABEL for row in report["results"]):
        lines.append(
            f"x sqlite3: the same, for the SDK's SQLite rows, over the {SQLITE_FLOOR_CASE}'s "
            f"({SQLITE_FLOOR_LABEL}: verify, one INSERT of the raw body, committed, 202)"
        )
    if report["redis"]:
        lines.append(
            "cmd/acc: Redis commands per 202 (INFO commandstats, INFO left out; a script counts "
            "as its EVALSHA and each command it runs), by command:"
        )
        lines += bench_http.by_command_lines(report["results"], "backend")
    return lines


def accept_cells(row: dict[str, Any]) -> tuple[str, ...]:
    """An accept row's 202s, stored, lost, other answers, x bare, x sqlite3, commands/accept."""
    if "accepted" not in row:  # the bare view's row: it stores nothing
        return "-", "-", "-", str(row["non_200"] + row["errors"]), "1", "-", "-"
    ratio, calls = row.get("vs_bare"), row.get("redis_calls_per_accept")
    floor = "1" if row["backend"] == SQLITE_FLOOR_LABEL else number(row.get("vs_sqlite_floor"))
    return (
        str(row["accepted"]),
        str(row["stored"]),
        str(row["lost"]),
        str(row["non_202"] + row["errors"]),
        number(ratio),
        floor,
        number(calls, ".2f"),
    )


def number(value: float | None, spec: str = ".3f") -> str:
    """``value`` formatted with ``spec`` for the text table; ``"-"`` for ``None``."""
    return "-" if value is None else format(value, spec)


def peer_lines(peers: dict[str, Any] | None) -> list[str]:
    """The text table's lines for the peer comparison (none for an older report)."""
    if not peers:
        return []
    lines = [""]
    if peers["skipped"]:
        lines.append(f"Peers: {peers['skipped']}")
    if peers["results"]:
        versions = ", ".join(f"{kind} {version}" for kind, version in peers["versions"].items())
        lines += [
            f"Against the peers ({versions}; Redis appendfsync {peers['redis_appendfsync']}):",
            f"{'case':<26} {'req/s':>7} {'x faster peer':>13}",
        ]
        lines += [
            f"{row['case']:<26} {row['rps_median']:>7} {row['ratio_to_faster_peer']:>13.3f}"
            for row in peers["results"]
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bench_http.add_load_arguments(parser, first_rate=3000)
    parser.add_argument("--events", type=int, default=20_000, help="events per drain")
    parser.add_argument("--drain-rounds", type=int, default=3, help="the median is reported")
    parser.add_argument(
        "--dir", type=Path, default=None, help="folder for the inbox and Redis files"
    )
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

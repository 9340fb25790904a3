"""HTTP benchmark: the example receiver under gunicorn against a bare Flask view.

Both apps run under gunicorn on free ports of 127.0.0.1 with the same settings,
started once and measured in the same run, interleaved round by round:

- ``bare``: ``benchmarks.bare_app``, a Flask view doing only the floor's work
  (HMAC-SHA256 hexdigest, ``hmac.compare_digest``, ``json.loads``);
- ``sdk``: ``examples.receiver:app`` as it is. Every delivery is a successful
  ``capsule.pause``, so one handler runs (an ``info`` log line, which goes
  nowhere: gunicorn sets up no logging for the app). Once per idempotency store:
  the default in-memory store in each worker; one SQLite store shared by the
  workers (``WRENN_WEBHOOK_STORE=sqlite:///<tmp>/idem-....db``); and the Redis
  store (``WRENN_WEBHOOK_STORE=redis://127.0.0.1:<port>/0``) on a
  ``redis-server`` of its own per ``appendfsync`` setting (``everysec``,
  ``always``; ``appendonly yes``, no snapshots), started once for the run by
  ``bench_inbox``'s helpers and emptied (FLUSHALL) before each of its cases.
  Without ``redis-server`` or redis-py the Redis cases are skipped, saying why.
  For each Redis case, the commands per request: ``INFO commandstats`` read
  before and after each measured run, ``INFO`` itself left out, over the
  requests answered. Redis counts a script's ``EVALSHA`` and each command the
  script runs.

Workers: 2 ``sync``, and 2 ``gthread`` x 8 threads. Throughput is compared as
the median over rounds of SDK/bare requests/s within a round.

The load comes from Debian's ``wrk`` running ``benchmarks/wrk_post.lua``, which
sends pre-signed deliveries from a file written just before each run with
``wrenn_webhooks.testing``: every body is distinct (so no request is a
duplicate) and signed at the file's creation, well inside the 300 s tolerance.
A run that uses up its file stops early and is measured again with a bigger one.

Connections. A sync worker closes the connection after every answer, so each
request's new connection goes to whichever worker accepts it first. A gthread
worker keeps connections alive, and a kept-alive connection stays with the
worker that accepted it: the split of wrk's opening burst of connections fixes
the workers' shares for the whole run. So both are measured. Keep-alive, with
many more connections than threads (``--connections``, 64 by default), each
gthread worker accepting at most its even share of them
(``--worker-connections``), so that the other worker accepts the rest; and
every case reports the share of requests each worker answered: wrk counts them
from an ``X-Bench-Worker`` header that only this benchmark adds (a WSGI wrapper
installed by the benchmark's own gunicorn config, the same for both apps; the
example is not changed). And ``Connection: close`` (``-H``) as a second
gthread variant, where every request is a new connection and the accepts even
out, at the cost of a TCP handshake per request. The counting costs wrk a Lua
call per answer, the same in every case.

    python -m benchmarks.bench_http [--rounds 7] [--duration 5] [--warmup 1] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).with_name("wrk_post.lua")
SECRET = "b3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nchb3nc"
PATH = "/webhooks/wrenn"
WORKER_HEADER = "X-Bench-Worker"
TARGET_RATIO = 0.95
WORKERS, THREADS = 2, 8
WRK_INSTALL = "apt-get install -y wrk  (as root; Debian or Ubuntu)"
APPS = {"bare": "benchmarks.bare_app:app", "sdk": "examples.receiver:app"}
REDIS_FSYNC = ("everysec", "always")
"""The ``appendfsync`` settings of the Redis servers measured, one server each."""
SDK_STORES = (("memory", ""), ("sqlite", ""), *(("redis", fsync) for fsync in REDIS_FSYNC))
"""The SDK's idempotency stores measured, with their Redis server's ``appendfsync``."""

# Loaded by gunicorn from a temporary file: tags each worker's answers with its
# pid and tells the benchmark the worker is up. Both apps get the same.
GUNICORN_CONF = """\
import os
from pathlib import Path


def post_worker_init(worker):
    from benchmarks.bench_http import tag_worker

    worker.wsgi = tag_worker(worker.wsgi)
    Path(os.environ["BENCH_READY_DIR"], str(os.getpid())).touch()
"""

# wrenn_webhooks is imported only where needed: the bare app's gunicorn workers
# import this module too, for tag_worker, and should not load the SDK.
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def tag_worker(app: WSGIApp, value: str | None = None) -> WSGIApp:
    """Wrap a WSGI app so that every answer names the worker (``X-Bench-Worker``)."""
    header = (WORKER_HEADER, value or str(os.getpid()))

    def tagged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(header)
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return tagged


@dataclass(frozen=True)
class Server:
    """One gunicorn server: an app, its worker class and (for the SDK) its store."""

    app: str  # a key of APPS
    worker_class: str  # "sync" or "gthread"
    store: str = "-"  # "memory", "sqlite" or "redis" for the SDK
    fsync: str = ""  # the Redis server's appendfsync, for the "redis" store

    @property
    def label(self) -> str:
        if self.app == "bare":
            return "bare Flask view (floor)"
        return f"SDK, {self.store} store" + (f" ({self.fsync})" if self.fsync else "")

    @property
    def name(self) -> str:
        """A name for its files: app, worker class, store and ``appendfsync``."""
        return "-".join(
            part for part in (self.app, self.worker_class, self.store, self.fsync) if part
        )


@dataclass(frozen=True)
class Case:
    """One measured configuration: a server, and how wrk holds its connections."""

    server: Server
    connection: str  # "keep-alive" or "close"

    @property
    def group(self) -> str:
        """The workers and connection setting, shared by the apps compared."""
        kind = self.server.worker_class
        workers = f"{WORKERS} sync" if kind == "sync" else f"{WORKERS} gthread x {THREADS}"
        return f"{workers}, {self.connection}"

    @property
    def name(self) -> str:
        return f"{self.group}: {self.server.label}"


def cases(variants: Iterable[str], with_redis: bool = True) -> list[Case]:
    """The cases to run: ``sync``, ``gthread`` (keep-alive) and ``gthread-close``.

    Each variant has the bare view, then the SDK on every store of ``SDK_STORES``;
    without ``with_redis``, on the memory and SQLite stores only.
    """
    out = []
    for variant in variants:
        kind, _, close = variant.partition("-")
        connection = "close" if close else "server closes" if kind == "sync" else "keep-alive"
        out.append(Case(Server("bare", kind), connection))
        for store, fsync in SDK_STORES:
            if with_redis or store != "redis":
                out.append(Case(Server("sdk", kind, store, fsync), connection))
    return out


def round_order(chosen: list[Case], number: int) -> list[Case]:
    """Round ``number``'s order: each group's apps one after the other, rotated.

    The apps compared run back to back (a ratio compares measurements taken
    seconds apart, not a round apart), and the rotation of the groups and of
    the apps within each group keeps any of them from always going first.
    """
    groups = list(dict.fromkeys(case.group for case in chosen))
    order = []
    for group in _rotated(groups, number):
        order += _rotated([case for case in chosen if case.group == group], number)
    return order


def _rotated(items: list[Any], number: int) -> list[Any]:
    shift = number % len(items)
    return items[shift:] + items[:shift]


# --- the deliveries ---------------------------------------------------------

_BASE36 = string.digits + string.ascii_lowercase


def template_body() -> bytes:
    """A realistic ``capsule.pause`` success body (about 330 bytes) from ``make_event``."""
    from wrenn_webhooks.encoding import encode_event
    from wrenn_webhooks.testing import make_event

    event = make_event(
        "capsule.pause",
        seed=1,
        actor={"type": "user", "id": "usr-5h2k8d0f3j6l9a1s4d7g0h3j6", "name": "Ada Lovelace"},
        metadata={"reason": "ttl_expired", "template": "python-3.12"},
    )
    return encode_event(event)


def write_requests(path: Path, count: int, secret: str = SECRET) -> int:
    """Write ``count`` distinct deliveries, signed now, in ``wrk_post.lua``'s format.

    The first line names the headers; each further line holds one delivery's
    header values and then its body, tab-separated. Each body carries its own
    25-character sandbox id: a random prefix for the file and a counter.
    Returns the body size in bytes.
    """
    from wrenn_webhooks.testing import signed_request

    template = template_body()
    marker = template.split(b'"resource":{"id":"', 1)[1][:28]  # sb- and 25 characters
    prefix = "".join(random.choices(_BASE36, k=7))
    stamp = datetime.now(timezone.utc)
    with path.open("w", encoding="utf-8") as out:
        names: list[str] | None = None
        for number in range(count):
            body = template.replace(marker, f"sb-{prefix}{number:018d}".encode())
            _, headers = signed_request(body, secret, timestamp=stamp)
            if names is None:
                names = list(headers)
                out.write("\t".join([*names, "body"]) + "\n")
            out.write("\t".join([*(headers[n] for n in names), body.decode()]) + "\n")
    return len(template)


# --- wrk --------------------------------------------------------------------


def parse_wrk(output: str) -> dict[str, Any]:
    """The ``WRK_JSON`` line of ``wrk_post.lua``'s report, with requests/s added."""
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            report: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
            seconds = report["duration_us"] / 1e6
            report["rps"] = report["requests"] / seconds if seconds else 0.0
            return report
    raise RuntimeError(f"no WRK_JSON line in wrk's output:\n{output}")


def run_wrk(
    url: str,
    requests_file: Path,
    *,
    seconds: int,
    connections: int,
    threads: int,
    close: bool,
) -> dict[str, Any]:
    """Run wrk once, bounded by ``seconds``, and return its parsed report."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(LUA)]
    if close:
        command += ["-H", "Connection: close"]
    command += [url, "--", str(requests_file), str(threads)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


# --- servers ----------------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def worker_options(worker_class: str, connections: int | None = None) -> list[str]:
    """gunicorn's worker options for ``worker_class``, wrk holding ``connections`` open.

    A gthread worker accepts at most its even share of the connections
    (``--worker-connections``): the other worker accepts the rest, instead of
    whichever answers wrk's opening burst first keeping most or all of them.
    """
    options = ["--workers", str(WORKERS), "--worker-class", worker_class]
    if worker_class == "gthread":  # threads > 1 would turn sync into gthread
        options += ["--threads", str(THREADS)]
        if connections:
            options += ["--worker-connections", str(math.ceil(connections / WORKERS))]
    return options


def store_url(server: Server, workdir: Path, redis_urls: dict[str, str]) -> str | None:
    """The ``WRENN_WEBHOOK_STORE`` of ``server``; ``None`` for the in-memory store (the default).

    A SQLite file of its own in ``workdir``, or the URL of the Redis server with
    its ``appendfsync`` setting (``redis_urls``).
    """
    if server.store == "sqlite":
        return f"sqlite:///{workdir / f'idem-{server.name}.db'}"
    if server.store == "redis":
        return redis_urls[server.fsync]
    return None


@contextmanager
def serve(
    server: Server, workdir: Path, connections: int | None = None, store: str | None = None
) -> Iterator[str]:
    """Run ``server`` under gunicorn until the block ends; yield its webhook URL.

    ``connections``: how many wrk holds open (see ``worker_options``); ``store``:
    the workers' ``WRENN_WEBHOOK_STORE`` (see ``store_url``), none by default.
    """
    name = server.name
    ready = workdir / f"ready-{name}"
    ready.mkdir()
    conf = workdir / "gunicorn_bench.conf.py"
    if not conf.exists():
        conf.write_text(GUNICORN_CONF)
    env = {k: v for k, v in os.environ.items() if k != "WRENN_WEBHOOK_STORE"}
    env.update(WRENN_WEBHOOK_SECRET=SECRET, BENCH_READY_DIR=str(ready))
    if store is not None:
        env["WRENN_WEBHOOK_STORE"] = store
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", str(conf), "--bind", f"127.0.0.1:{port}"]
    command += worker_options(server.worker_class, connections)
    command += ["--log-level", "warning", APPS[server.app]]
    log_path = workdir / f"gunicorn-{name}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while len(list(ready.iterdir())) < WORKERS:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start {name}:\n{log_path.read_text()}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        stop(process)


def stop(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    """SIGTERM ``process``, and SIGKILL it if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- Redis ------------------------------------------------------------------


def start_redis(stack: ExitStack, binary: str, workdir: Path) -> dict[str, str]:
    """Start a ``redis-server`` per ``REDIS_FSYNC`` setting until ``stack`` closes.

    Each listens on 127.0.0.1 only (``bench_inbox.redis_server``). Returns their
    URLs by ``appendfsync`` setting.
    """
    from benchmarks.bench_inbox import redis_server

    return {
        fsync: stack.enter_context(redis_server(binary, fsync, workdir)) for fsync in REDIS_FSYNC
    }


def redis_client(url: str) -> redis.Redis:
    """A redis-py client for ``url``: for its ``INFO commandstats`` and FLUSHALL."""
    import redis

    return redis.Redis.from_url(url)


def redis_calls(client: redis.Redis) -> Counter[str]:
    """The commands the server has run so far, by name (``INFO commandstats``), INFO left out."""
    stats = client.info("commandstats")
    return Counter(
        {
            name.removeprefix("cmdstat_"): int(entry["calls"])
            for name, entry in stats.items()
            if name != "cmdstat_info"
        }
    )


def calls_per_answer(
    runs: list[dict[str, Any]], answers: int
) -> tuple[float | None, dict[str, float]]:
    """Redis commands per answer over ``runs`` (their ``redis_calls``): in all, and by command.

    ``(None, {})`` when nothing was answered.
    """
    calls: Counter[str] = Counter()
    for run in runs:
        calls.update(run["redis_calls"])
    if not answers:
        return None, {}
    by_command = {name: round(count / answers, 2) for name, count in calls.most_common()}
    return round(sum(calls.values()) / answers, 2), by_command


# --- the run ----------------------------------------------------------------


def _spread(values: list[float]) -> tuple[float, float, float]:
    median = statistics.median(values)
    if len(values) < 2:
        return median, median, median
    q = statistics.quantiles(values, n=4, method="inclusive")
    return median, q[0], q[2]


def worker_share(runs: list[dict[str, Any]]) -> list[float]:
    """Each worker's share of the requests answered over ``runs``, largest first."""
    counts: Counter[str] = Counter()
    for run in runs:
        counts.update({pid: int(count) for pid, count in run["workers"].items()})
    total = sum(counts.values()) or 1
    return sorted((round(c / total, 3) for c in counts.values()), reverse=True)


def summarize(
    samples: dict[Case, list[dict[str, Any]]], settings: dict[str, Any]
) -> dict[str, Any]:
    """Medians with spread per case, worker shares, and the SDK/bare ratios per round."""
    bare = {case.group: runs for case, runs in samples.items() if case.server.app == "bare"}
    results = []
    for case, runs in samples.items():
        rps, p25, p75 = _spread([run["rps"] for run in runs])
        row: dict[str, Any] = {
            "case": case.name,
            "workers": case.group.split(",")[0],
            "connection": case.connection,
            "app": case.server.label,
            "rps_median": round(rps),
            "rps_p25": round(p25),
            "rps_p75": round(p75),
            "p50_ms": round(statistics.median(run["p50_us"] for run in runs) / 1000, 2),
            "p99_ms": round(statistics.median(run["p99_us"] for run in runs) / 1000, 2),
            "worker_share": worker_share(runs),
            "round_rps": [round(run["rps"]) for run in runs],
            "round_shares": [worker_share([run]) for run in runs],
            "requests": sum(int(run["requests"]) for run in runs),
            "errors": sum(int(run["errors"]) for run in runs),
            "non_2xx": sum(int(run["non_2xx_3xx"]) for run in runs),
            "duplicates": sum(int(run["duplicates"]) for run in runs),
        }
        floor = bare.get(case.group)
        if floor and case.server.app != "bare":
            ratios = [a["rps"] / b["rps"] for a, b in zip(runs, floor, strict=False) if b["rps"]]
            ratio, r25, r75 = _spread(ratios)
            row.update(ratio_to_bare=round(ratio, 3), ratio_p25=round(r25, 3))
            row.update(ratio_p75=round(r75, 3), round_ratios=[round(r, 3) for r in ratios])
        if case.server.store == "redis":
            per_request, by_command = calls_per_answer(runs, row["requests"])
            row.update(redis_calls_per_request=per_request, redis_calls_by_command=by_command)
        results.append(row)
    return {"benchmark": "http", **settings, "target_ratio": TARGET_RATIO, "results": results}


def measure(
    url: str,
    case: Case,
    seconds: int,
    requests_file: Path,
    *,
    expected_rps: float,
    connections: int,
    wrk_threads: int,
    counted: redis.Redis | None = None,
) -> tuple[dict[str, Any], int]:
    """One wrk run on a fresh request file, sized (and grown if used up) for the rate.

    Returns wrk's report and the body size in bytes. With ``counted`` (a client
    of the case's Redis server), the report's ``redis_calls`` holds the commands
    the server ran during the run, by name.
    """
    margin = 1.5
    for _attempt in range(4):
        body_bytes = write_requests(requests_file, math.ceil(expected_rps * seconds * margin) + 500)
        before = redis_calls(counted) if counted is not None else Counter()
        report = run_wrk(
            url,
            requests_file,
            seconds=seconds,
            connections=connections,
            threads=wrk_threads,
            close=case.connection == "close",
        )
        if counted is not None:
            report["redis_calls"] = dict(redis_calls(counted) - before)
        if not report["exhausted"]:
            return report, body_bytes
        margin *= 2  # the file ran out before the time did: again, with more
    raise RuntimeError(f"{case.name}: wrk used up every request file")


def start_servers(
    stack: ExitStack, chosen: list[Case], workdir: Path, connections: int, binary: str | None
) -> tuple[dict[Server, str], dict[str, redis.Redis]]:
    """Start every server of ``chosen``, until ``stack`` closes.

    With ``binary``, the Redis servers first (``start_redis``). Returns each
    gunicorn server's webhook URL, and a client of each Redis server by its
    ``appendfsync`` setting.
    """
    redis_urls = start_redis(stack, binary, workdir) if binary is not None else {}
    clients = {
        fsync: stack.enter_context(closing(redis_client(url))) for fsync, url in redis_urls.items()
    }
    urls: dict[Server, str] = {}
    for server in dict.fromkeys(case.server for case in chosen):
        store = store_url(server, workdir, redis_urls)
        urls[server] = stack.enter_context(serve(server, workdir, connections, store))
    return urls, clients


def run(
    rounds: int,
    duration: int,
    warmup: int,
    connections: int,
    wrk_threads: int,
    variants: list[str],
    first_rate: float,
) -> dict[str, Any]:
    """Start every server, then measure every case round by round; return the report."""
    from benchmarks.bench_core import _cores
    from benchmarks.bench_inbox import find_redis, redis_version

    binary, redis_skipped = find_redis("Redis store cases")
    chosen = cases(variants, with_redis=binary is not None)
    samples: dict[Case, list[dict[str, Any]]] = {case: [] for case in chosen}
    best: dict[Case, float] = {}  # the best requests/s so far: sizes the files
    body_bytes = 0
    with tempfile.TemporaryDirectory(prefix="wrenn-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        urls, redis_clients = start_servers(stack, chosen, workdir, connections, binary)
        for number in range(rounds):
            for case in round_order(chosen, number):
                counted = redis_clients.get(case.server.fsync)
                if counted is not None:
                    counted.flushall()  # the keys of earlier runs: Redis' memory stays bounded
                for seconds in (warmup, duration) if warmup else (duration,):
                    report, body_bytes = measure(
                        urls[case.server],
                        case,
                        seconds,
                        workdir / "requests.tsv",
                        expected_rps=best.get(case, first_rate),
                        connections=connections,
                        wrk_threads=wrk_threads,
                        counted=counted,
                    )
                    best[case] = max(best.get(case, 0.0), report["rps"])
                samples[case].append(report)  # the last run: the measured one
                print(
                    f"  round {number + 1}/{rounds} {case.name}: {report['rps']:.0f} req/s",
                    file=sys.stderr,
                    flush=True,
                )
    settings = {
        "machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
        "rounds": rounds,
        "duration_s": duration,
        "warmup_s": warmup,
        "connections": connections,
        "wrk_threads": wrk_threads,
        "gunicorn": f"{WORKERS} workers; gthread with {THREADS} threads",
        "body_bytes": body_bytes,
        "redis": redis_version(binary) if binary is not None else None,
        "redis_skipped": redis_skipped,
    }
    return summarize(samples, settings)


def table(report: dict[str, Any]) -> str:
    """Render a report as a plain-text table."""
    lines = [
        f"HTTP benchmark: {report['machine']}; {report['rounds']} rounds x "
        f"{report['duration_s']} s per case, {report['connections']} connections, "
        f"{report['body_bytes']}-byte bodies",
        f"{'workers, connection':<28} {'app':<28} {'req/s':>7} {'p25-p75':>13} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'x bare':>6} {'shares %':>9} {'err':>4} {'cmd/req':>7}",
    ]
    for row in report["results"]:
        spread = f"{row['rps_p25']}-{row['rps_p75']}"
        ratio = f"{row['ratio_to_bare']:.3f}" if "ratio_to_bare" in row else "1"
        shares = "/".join(f"{share * 100:.0f}" for share in row["worker_share"])
        errors = row["errors"] + row["non_2xx"] + row["duplicates"]
        calls = row.get("redis_calls_per_request")
        per_request = "-" if calls is None else f"{calls:.2f}"
        lines.append(
            f"{row['workers'] + ', ' + row['connection']:<28} {row['app']:<28} "
            f"{row['rps_median']:>7} {spread:>13} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} "
            f"{ratio:>6} {shares:>9} {errors:>4} {per_request:>7}"
        )
    lines.append(
        f"x bare: median of per-round SDK/bare throughput (target >= {report['target_ratio']}); "
        "shares: requests answered by each worker; err: socket errors + non-2xx + duplicates"
    )
    return "\n".join(lines + redis_lines(report))


def redis_lines(report: dict[str, Any]) -> list[str]:
    """The text table's notes on Redis: its version or why it was skipped, and commands by name."""
    if report.get("redis_skipped"):
        return [f"Redis store cases skipped: {report['redis_skipped']}"]
    if not report.get("redis"):
        return []
    return [
        f"cmd/req: Redis {report['redis']} commands per request answered (INFO commandstats, "
        "INFO left out; a script counts as its EVALSHA and each command it runs), by command:",
        *by_command_lines(report["results"], "case"),
    ]


def by_command_lines(rows: list[dict[str, Any]], name: str) -> list[str]:
    """For each row with ``redis_calls_by_command``: its ``name`` field, then calls per command."""
    lines = []
    for row in rows:
        if row.get("redis_calls_by_command"):
            calls = ", ".join(f"{n} {c:.2f}" for n, c in row["redis_calls_by_command"].items())
            lines.append(f"  {row[name]}: {calls}")
    return lines


def add_load_arguments(parser: argparse.ArgumentParser, first_rate: float, rounds: int = 3) -> None:
    """The options of a wrk-driven benchmark: rounds, durations, connections."""
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--duration", type=int, default=5, help="measured seconds per case")
    parser.add_argument("--warmup", type=int, default=1, help="seconds before each measurement")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument(
        "--first-rate",
        type=float,
        default=first_rate,
        help="req/s expected before any measurement",
    )


def require_wrk() -> None:
    """Exit with the install command when wrk is missing."""
    if shutil.which("wrk") is None:
        print(f"wrk is not installed; install it with: {WRK_INSTALL}", file=sys.stderr)
        sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Seven rounds: with gthread workers one round's ratio still moves by about
    # five points on a shared machine; the median of seven moves by about two.
    add_load_arguments(parser, first_rate=8000, rounds=7)
    parser.add_argument(
        "--variants",
        default="sync,gthread,gthread-close",
        help="comma-separated: sync, gthread (keep-alive), gthread-close",
    )
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/http.json"))
    args = parser.parse_args()
    require_wrk()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - {"sync", "gthread", "gthread-close"}
    if unknown or not 1 <= args.duration + args.warmup <= 200 or args.rounds < 1:
        parser.error("variants: sync, gthread, gthread-close; 1 <= duration + warmup <= 200 s")
    report = run(
        args.rounds,
        args.duration,
        args.warmup,
        args.connections,
        args.wrk_threads,
        variants,
        args.first_rate,
    )
    print(table(report))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""ASGI benchmark: the adapter under uvicorn against a bare Starlette endpoint, and
``handle_async()`` against ``handle()`` in process.

**Over HTTP.** Every app runs under one uvicorn process (``--http httptools``
when installed, else h11; asyncio's loop; no access log) on a free port of
127.0.0.1, all started once and measured in the same run, interleaved round by
round, each SDK app right after or before its floor, in a rotating order:

- ``bare``: a Starlette endpoint doing only the floor's work, as
  ``benchmarks.bare_app`` does in Flask: ``await request.body()``, HMAC-SHA256
  hexdigest, ``hmac.compare_digest``, ``json.loads``, a ``JSONResponse``;
- ``sdk``: a Starlette app with ``wrenn_webhooks.asgi.routes()`` and one
  ``async def`` handler (a no-op), the default in-memory store. Target: at
  least 95% of ``bare``'s requests/s, as the median over rounds of the
  per-round ratio;
- ``sdk-plain``: as ``sdk`` with a plain ``def`` handler, which runs in a
  worker thread (against ``bare``);
- ``bare-top``: the floor's work as a plain ASGI application, no framework;
- ``sdk-top``: the receiver of ``sdk`` as the top-level application,
  ``asgi_app(receiver, path=...)`` (against ``bare-top``, and ``bare`` too).

The load comes from Debian's ``wrk`` with ``benchmarks/wrk_post.lua`` and the
request files of ``benchmarks.bench_http`` (every body distinct, signed just
before each run). With two CPUs or more, each server keeps to the first and wrk
to the last (``--no-pin`` lets them move), so that neither steals the other's
core mid-run.

**In process.** The same distinct deliveries as ``benchmarks.bench_core``
through ``handle()`` with one plain handler, ``await handle_async()`` with one
``async def`` handler (target: at most 1.3 times ``handle()``), and ``await
handle_async()`` with one plain handler (a worker thread per delivery), each
with the in-memory store and a fresh receiver per round, on one pinned CPU.

    python -m benchmarks.bench_asgi [--rounds 5] [--duration 5] [--warmup 1]
        [--core-rounds 15] [--per-round 5000] [--skip-http] [--skip-core] [--json [PATH]]

Figures are printed; ``--json`` also writes them, by default to
``benchmarks/results/asgi.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from benchmarks.bench_http import (
    PATH,
    ROOT,
    SECRET,
    add_load_arguments,
    free_port,
    require_wrk,
    run_wrk,
    stop,
    write_requests,
)

HTTP_TARGET = 0.95
CORE_TARGET = 1.3
RESULTS = Path("benchmarks/results/asgi.json")
APPS = {
    "bare": "bare Starlette endpoint (floor)",
    "sdk": "SDK: routes() in Starlette, async handler",
    "sdk-plain": "SDK: routes() in Starlette, plain handler (thread)",
    "bare-top": "bare ASGI app, no framework (floor)",
    "sdk-top": "SDK: asgi_app() at the top level, async handler",
}
FLOORS = {"sdk": "bare", "sdk-plain": "bare", "sdk-top": "bare-top"}
"""Each SDK app's floor: the app it is compared with, round by round."""

# --- the apps (uvicorn --factory benchmarks.bench_asgi:<name>_app) -------------------


def bare_app() -> Any:
    """A Starlette app whose one ``POST`` endpoint does the floor's work."""
    import hashlib
    import hmac

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    key = os.environ.get("WRENN_WEBHOOK_SECRET", SECRET).encode()

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        stamp = request.headers.get("X-Wrenn-Timestamp", "")
        digest = hmac.new(key, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        signature = request.headers.get("X-Wrenn-Signature", "")
        if not hmac.compare_digest("sha256=" + digest, signature):
            return JSONResponse({"ok": False}, 401)
        event = json.loads(body)
        return JSONResponse({"ok": True, "event": event["event"], "handled": 1})

    return Starlette(routes=[Route(PATH, receive, methods=["POST"])])


def _receiver(plain: bool = False, secret: str | None = None) -> Any:
    """A receiver with one no-op handler for ``capsule.pause``: ``async def`` or plain."""
    from wrenn_webhooks import WebhookReceiver

    receiver = WebhookReceiver(secret or os.environ.get("WRENN_WEBHOOK_SECRET", SECRET))
    if plain:
        receiver.add(lambda event: None, "capsule.pause")
    else:

        async def noop(event: object) -> None:
            return None

        receiver.add(noop, "capsule.pause")
    return receiver


def sdk_app() -> Any:
    """The adapter as most apps mount it: ``routes()`` in a Starlette app."""
    from starlette.applications import Starlette

    from wrenn_webhooks.asgi import routes

    return Starlette(routes=routes(_receiver(), PATH))


def sdk_top_app() -> Any:
    """The adapter as uvicorn's top-level application."""
    from wrenn_webhooks.asgi import asgi_app

    return asgi_app(_receiver(), path=PATH)


def bare_top_app() -> Any:
    """The floor's work as a plain ASGI application: no framework, no checks but the HMAC."""
    import hashlib
    import hmac

    key = os.environ.get("WRENN_WEBHOOK_SECRET", SECRET).encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        stamp = headers.get(b"x-wrenn-timestamp", b"")
        digest = hmac.new(key, stamp + b"." + body, hashlib.sha256).hexdigest()
        status = 401
        answer: dict[str, Any] = {"ok": False}
        if hmac.compare_digest(
            b"sha256=" + digest.encode(), headers.get(b"x-wrenn-signature", b"")
        ):
            status, answer = 200, {"ok": True, "event": json.loads(body)["event"], "handled": 1}
        payload = json.dumps(answer).encode()
        length = str(len(payload)).encode()
        fields = [(b"content-type", b"application/json"), (b"content-length", length)]
        await send({"type": "http.response.start", "status": status, "headers": fields})
        await send({"type": "http.response.body", "body": payload})

    return app


def sdk_plain_app() -> Any:
    """As ``sdk_app`` with a plain handler, which ``handle_async()`` runs in a thread."""
    from starlette.applications import Starlette

    from wrenn_webhooks.asgi import routes

    return Starlette(routes=routes(_receiver(plain=True), PATH))


# --- over HTTP ----------------------------------------------------------------------


def http_parser() -> str:
    """uvicorn's faster parser when it is installed, else its pure-Python one."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


def cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


@contextmanager
def serve(app: str, workdir: Path, http: str, cpu: int | None) -> Iterator[str]:
    """Run one app under uvicorn until the block ends; yield its webhook URL."""
    port = free_port()
    factory = f"benchmarks.bench_asgi:{app.replace('-', '_')}_app"
    command = [sys.executable, "-m", "uvicorn", "--factory", factory]
    command += ["--host", "127.0.0.1", "--port", str(port), "--http", http, "--loop", "asyncio"]
    command += ["--no-access-log", "--log-level", "warning"]
    env = {**os.environ, "WRENN_WEBHOOK_SECRET": SECRET}
    log_path = workdir / f"uvicorn-{app}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        if cpu is not None:
            os.sched_setaffinity(process.pid, {cpu})
        _wait_for(port, process, log_path)
        yield f"http://127.0.0.1:{port}{PATH}"
    finally:
        stop(process)


def _wait_for(port: int, process: subprocess.Popen[Any], log_path: Path) -> None:
    import socket

    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start:\n{log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)


def measure(
    url: str, seconds: int, requests_file: Path, expected_rps: float, args: argparse.Namespace
) -> tuple[dict[str, Any], int]:
    """One wrk run on a fresh request file, sized (and grown if used up) for the rate."""
    margin = 1.5
    for _attempt in range(4):
        body_bytes = write_requests(requests_file, math.ceil(expected_rps * seconds * margin) + 500)
        report = run_wrk(
            url,
            requests_file,
            seconds=seconds,
            connections=args.connections,
            threads=args.wrk_threads,
            close=False,
        )
        if not report["exhausted"]:
            return report, body_bytes
        margin *= 2
    raise RuntimeError(f"{url}: wrk used up every request file")


def run_http(args: argparse.Namespace, apps: list[str]) -> dict[str, Any]:
    """Start every app, then measure each round by round; return rows and settings."""
    http = http_parser()
    available = cpus()
    pinned = not args.no_pin and len(available) >= 2
    server_cpu = available[0] if pinned else None
    samples: dict[str, list[dict[str, Any]]] = {app: [] for app in apps}
    best: dict[str, float] = {}
    body_bytes = 0
    with tempfile.TemporaryDirectory(prefix="wrenn-bench-asgi-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        urls = {app: stack.enter_context(serve(app, workdir, http, server_cpu)) for app in apps}
        if pinned:  # wrk, started from here, inherits the last CPU
            os.sched_setaffinity(0, {available[-1]})
        for number in range(args.rounds):
            for app in round_order(apps, number):
                for seconds in (args.warmup, args.duration) if args.warmup else (args.duration,):
                    report, body_bytes = measure(
                        urls[app],
                        seconds,
                        workdir / "requests.tsv",
                        best.get(app, args.first_rate),
                        args,
                    )
                    best[app] = max(best.get(app, 0.0), report["rps"])
                samples[app].append(report)
                print(
                    f"  round {number + 1}/{args.rounds} {app}: {report['rps']:.0f} req/s",
                    file=sys.stderr,
                    flush=True,
                )
        if pinned:
            os.sched_setaffinity(0, set(available))
    settings = {
        "uvicorn": f"1 process, --http {http}, --loop asyncio, no access log",
        "pinned": f"server on CPU {available[0]}, wrk on CPU {available[-1]}" if pinned else "no",
        "rounds": args.rounds,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "wrk_threads": args.wrk_threads,
        "body_bytes": body_bytes,
    }
    return {"settings": settings, "results": http_rows(samples)}


def round_order(apps: list[str], number: int) -> list[str]:
    """Round ``number``'s order: each floor with its SDK apps back to back, rotated.

    The apps compared run one after the other (a ratio compares measurements
    seconds apart), and the rotation keeps any of them from always going first.
    """
    groups = list(dict.fromkeys(FLOORS.get(app, app) for app in apps))
    order = []
    for group in _rotated(groups, number):
        order += _rotated([app for app in apps if FLOORS.get(app, app) == group], number)
    return order


def _rotated(items: list[str], number: int) -> list[str]:
    shift = number % len(items)
    return items[shift:] + items[:shift]


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    median = statistics.median(values)
    if len(values) < 2:
        return median, median, median
    q = statistics.quantiles(values, n=4, method="inclusive")
    return median, q[0], q[2]


def _ratios(key: str, runs: list[dict[str, Any]], floor: list[dict[str, Any]]) -> dict[str, float]:
    """The median and quartiles of the per-round ratios of requests/s, as ``key``..."""
    ratios = [a["rps"] / b["rps"] for a, b in zip(runs, floor, strict=False) if b["rps"]]
    median, p25, p75 = _quartiles(ratios)
    return {key: round(median, 3), f"{key}_p25": round(p25, 3), f"{key}_p75": round(p75, 3)}


def http_rows(samples: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per app: requests/s with spread, latency, errors, the ratios to its floor."""
    rows = []
    for app, runs in samples.items():
        rps, p25, p75 = _quartiles([run["rps"] for run in runs])
        row: dict[str, Any] = {
            "part": "http",
            "case": APPS[app],
            "rps_median": round(rps),
            "rps_p25": round(p25),
            "rps_p75": round(p75),
            "p50_ms": round(statistics.median(run["p50_us"] for run in runs) / 1000, 2),
            "p99_ms": round(statistics.median(run["p99_us"] for run in runs) / 1000, 2),
            "errors": sum(int(r["errors"]) + int(r["non_2xx_3xx"]) for r in runs),
            "duplicates": sum(int(run["duplicates"]) for run in runs),
        }
        floor = FLOORS.get(app)
        if floor in samples:
            row.update(_ratios("ratio", runs, samples[floor]), floor=floor)
            row["target"] = f">= {HTTP_TARGET}" if app == "sdk" else "-"
        if floor not in (None, "bare") and "bare" in samples:
            row.update(_ratios("ratio_to_bare", runs, samples["bare"]))
        rows.append(row)
    return rows


# --- in process ---------------------------------------------------------------------

Batch = list[tuple[bytes, dict[str, str]]]
CORE_SECRET = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a"
"""``benchmarks.bench_core``'s secret, which its ``bodies()`` are signed with."""


def _time_handle(batch: Batch) -> float:
    receiver = _receiver(plain=True, secret=CORE_SECRET)
    started = time.perf_counter()
    for body, headers in batch:
        if receiver.handle(body, headers).status_code != 200:
            raise AssertionError("handle() refused a valid delivery")
    return time.perf_counter() - started


def _time_handle_async(plain: bool) -> Callable[[Batch], float]:
    def timed(batch: Batch) -> float:
        receiver = _receiver(plain=plain, secret=CORE_SECRET)

        async def run() -> float:
            started = time.perf_counter()
            for body, headers in batch:
                if (await receiver.handle_async(body, headers)).status_code != 200:
                    raise AssertionError("handle_async() refused a valid delivery")
            return time.perf_counter() - started

        return asyncio.run(run())

    return timed


CORE_CASES: dict[str, Callable[[Batch], float]] = {
    "handle(), plain handler": _time_handle,
    "handle_async(), async handler": _time_handle_async(plain=False),
    "handle_async(), plain handler (thread)": _time_handle_async(plain=True),
}


def run_core(rounds: int, per_round: int, *, pin: bool) -> dict[str, Any]:
    """Time every in-process case, interleaved round by round; rows with ratios to handle()."""
    from benchmarks.bench_core import _pin, bodies

    available = cpus()
    pinned = _pin() if pin else None
    samples: dict[str, list[float]] = {name: [] for name in CORE_CASES}
    try:
        for number in range(rounds):
            batch = bodies(per_round, number * per_round)
            names = list(CORE_CASES)
            shift = number % len(names)
            for name in names[shift:] + names[:shift]:
                elapsed = CORE_CASES[name](batch)
                samples[name].append(elapsed / per_round * 1e6)
    finally:
        if pinned is not None:
            os.sched_setaffinity(0, set(available))
    base = samples["handle(), plain handler"]
    rows = []
    for name, values in samples.items():
        median, p25, p75 = _quartiles(values)
        ratio, _, _ = _quartiles([v / b for v, b in zip(values, base, strict=True)])
        rows.append(
            {
                "part": "in process",
                "case": name,
                "median_us": round(median, 2),
                "p25_us": round(p25, 2),
                "p75_us": round(p75, 2),
                "ratio": round(ratio, 3),
                "target": f"<= {CORE_TARGET}" if name == "handle_async(), async handler" else "-",
            }
        )
    settings = {"rounds": rounds, "per_round": per_round, "pinned_cpu": pinned}
    return {"settings": settings, "results": rows}


# --- the report ---------------------------------------------------------------------


def table(report: dict[str, Any]) -> str:
    """Render a report as plain-text tables, one per part."""
    lines = [f"ASGI benchmark: {report['machine']}"]
    http = [row for row in report["results"] if row["part"] == "http"]
    if http:
        s = report["http"]
        lines += [
            f"over HTTP: uvicorn {s['uvicorn']}; pinned: {s['pinned']}; {s['rounds']} rounds x "
            f"{s['duration_s']} s, {s['connections']} connections, {s['body_bytes']}-byte bodies",
            f"  {'app':<50} {'req/s':>7} {'p25-p75':>13} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'x floor':>8} {'x bare':>7} {'err':>4}",
        ]
        for row in http:
            spread = f"{row['rps_p25']}-{row['rps_p75']}"
            ratio = f"{row['ratio']:.3f}" if "ratio" in row else "-"
            to_bare = row.get("ratio_to_bare", row.get("ratio") if row.get("floor") else None)
            bare = "-" if to_bare is None else f"{to_bare:.3f}"
            lines.append(
                f"  {row['case']:<50} {row['rps_median']:>7} {spread:>13} {row['p50_ms']:>7.2f} "
                f"{row['p99_ms']:>7.2f} {ratio:>8} {bare:>7} {row['errors'] + row['duplicates']:>4}"
            )
        lines.append(
            "  x floor: median of per-round ratios to the app's floor (target for routes() in"
            f" Starlette: >= {HTTP_TARGET}); x bare: the same, to the bare Starlette endpoint"
        )
    core = [row for row in report["results"] if row["part"] == "in process"]
    if core:
        s = report["core"]
        lines += [
            f"in process: {s['rounds']} rounds x {s['per_round']} distinct deliveries, "
            f"memory store, pinned CPU: {s['pinned_cpu']}",
            f"  {'case':<50} {'median µs':>10} {'p25-p75 µs':>14} {'x handle()':>11}",
        ]
        for row in core:
            spread = f"{row['p25_us']:.2f}-{row['p75_us']:.2f}"
            lines.append(
                f"  {row['case']:<50} {row['median_us']:>10.2f} {spread:>14} {row['ratio']:>11.3f}"
            )
        lines.append(f"  x handle(): median of per-round ratios (target: <= {CORE_TARGET})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_load_arguments(parser, first_rate=4000, rounds=5)
    parser.add_argument(
        "--apps", default=",".join(APPS), help=f"comma-separated: {', '.join(APPS)}"
    )
    parser.add_argument("--core-rounds", type=int, default=15, help="in-process rounds")
    parser.add_argument("--per-round", type=int, default=5000, help="in-process deliveries")
    parser.add_argument("--skip-http", action="store_true", help="only the in-process part")
    parser.add_argument("--skip-core", action="store_true", help="only the HTTP part")
    parser.add_argument("--no-pin", action="store_true", help="let processes move between CPUs")
    parser.add_argument(
        "--json", type=Path, nargs="?", const=RESULTS, default=None, help=f"write {RESULTS}"
    )
    args = parser.parse_args()
    apps = [app.strip() for app in args.apps.split(",") if app.strip()]
    if set(apps) - set(APPS) or not apps or args.rounds < 1:
        parser.error(f"--apps: some of {', '.join(APPS)}; --rounds >= 1")
    from benchmarks.bench_core import _cores

    report: dict[str, Any] = {
        "benchmark": "asgi",
        "machine": f"{platform.machine()}, {_cores()} cores, Python {platform.python_version()}",
        "results": [],
    }
    if not args.skip_core:
        core = run_core(args.core_rounds, args.per_round, pin=not args.no_pin)
        report["core"] = core["settings"]
        report["results"] += core["results"]
    if not args.skip_http:
        require_wrk()
        http = run_http(args, apps)
        report["http"] = http["settings"]
        report["results"] = http["results"] + report["results"]
    print(table(report))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

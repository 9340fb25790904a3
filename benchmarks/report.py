"""Render the JSON reports in ``benchmarks/results/`` as Markdown tables for the docs.

    python -m benchmarks.report [--results DIR] [--level 2] [--out FILE]

``render()`` returns the Markdown for every ``*.json`` report in a folder:
the core, HTTP, inbox and memory benchmarks first, any other report as a generic table.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")
ORDER = ("core", "http", "shared_store", "inbox", "memory")
TO = "\N{EN DASH}"  # between the ends of a range, which may be negative
NONE = "-"  # a cell with nothing measured, or a key an older report lacks
COUNTED = (
    "Redis commands: `INFO commandstats` read before and after each measured run, `INFO` "
    "itself left out, over the {answers}; Redis counts a script's `EVALSHA` and each "
    "command the script runs."
)


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A Markdown table; ``align`` holds ``l`` or ``r`` per column (default: left)."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    marks = [":--" if a == "l" else "--:" for a in align.ljust(len(headers), "l")]
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def number(value: float | None, spec: str) -> str:
    """``value`` formatted with ``spec``; ``NONE`` for ``None``."""
    return NONE if value is None else format(value, spec)


def _core(report: dict[str, Any]) -> str:
    rows = [
        (
            row["case"],
            f"{row['median_us']:.2f}",
            f"{row['p25_us']:.2f}{TO}{row['p75_us']:.2f}",
            f"{row['ratio_to_floor']:.2f}x",
        )
        for row in report["results"]
    ]
    intro = (
        f"In process, {report['rounds']} rounds x {report['per_round']:,} distinct "
        f"{report['body_bytes']}-byte deliveries per case, interleaved; "
        f"machine: {report['machine']}."
    )
    body = table(["Case", "Median µs", f"p25{TO}p75 µs", "x floor"], rows, "lrrr")
    return f"{intro}\n\n{body}"


def _http(report: dict[str, Any]) -> str:
    rows = []
    for row in report["results"]:
        if "ratio_to_bare" in row:
            ratio = f"{row['ratio_to_bare']:.1%} ({row['ratio_p25']:.1%}{TO}{row['ratio_p75']:.1%})"
        else:
            ratio = "100% (floor)"
        rows.append(
            (
                row["workers"],
                row["connection"],
                row["app"],
                f"{row['rps_median']:,}",
                f"{row['rps_p25']:,}{TO}{row['rps_p75']:,}",
                f"{row['p50_ms']:.2f}",
                f"{row['p99_ms']:.2f}",
                ratio,
                " / ".join(f"{share:.0%}" for share in row["worker_share"]),
                row["errors"] + row["non_2xx"] + row["duplicates"],
                number(row.get("redis_calls_per_request"), ".2f"),
            )
        )
    intro = (
        f"gunicorn on 127.0.0.1 ({report['gunicorn']}), driven by wrk with "
        f"{report['connections']} connections; {report['rounds']} rounds x "
        f"{report['duration_s']} s per case after a {report['warmup_s']} s warm-up, "
        f"interleaved; {report['body_bytes']}-byte bodies, each distinct; "
        f"machine: {report['machine']}. Throughput against the bare view is the median "
        f"of per-round ratios (target: at least {report['target_ratio']:.0%}).{http_redis(report)}"
    )
    headers = [
        "Workers",
        "Connections",
        "App",
        "req/s",
        f"p25{TO}p75",
        "p50 ms",
        "p99 ms",
        "vs bare",
        "Worker shares",
        "Errors",
        "Redis cmds/request",
    ]
    return f"{intro}\n\n{table(headers, rows, 'lllrrrrrrrr')}"


def http_redis(report: dict[str, Any]) -> str:
    """The HTTP intro's sentences on the Redis store cases; ``""`` for an older report."""
    if report.get("redis_skipped"):
        return f" The Redis store was not measured: {report['redis_skipped']}."
    if not report.get("redis"):
        return ""
    return (
        f" The Redis store runs on Redis {report['redis']} with an append-only file, on a "
        "`redis-server` of its own per `appendfsync` setting (no snapshots), emptied before "
        "each of its cases. " + COUNTED.format(answers="requests answered")
    )


def _shared_store(report: dict[str, Any]) -> str:
    rows = report["results"]
    if rows and "us_alone" not in rows[0]:  # an older report: its own keys
        return _generic(report)
    machine = report.get("machine", {})
    intro = (
        f"What one request writes to a store every worker shares, with a new key each "
        f"time: an idempotency store's claim and finish (one handler), an inbox's `put` "
        f"of one parsed event, and the floor, one `INSERT` of the same body into a table "
        f"with nothing but a row id (WAL, `synchronous=NORMAL`). SQLite "
        f"{machine.get('sqlite', '?')} on a temporary file (`NORMAL`); Redis "
        f"{machine.get('redis') or NONE} on 127.0.0.1 with `appendfsync everysec`. "
        f"{report['deliveries_per_run']:,} requests a run, best of {report['repeats']}: "
        f"alone (one process, one thread: wall and CPU time a request), then two processes "
        f"and eight threads of one process writing at once. Machine: "
        f"{machine.get('cpus', '?')} cores, Python {machine.get('python', '?')}."
    )
    if report.get("redis_skipped"):
        intro += f" Redis rows skipped: {report['redis_skipped']}."
    body = table(
        ["Writes", "µs alone", "CPU µs alone", "/s alone", "/s, 2 processes", "/s, 8 threads"],
        (
            (
                row["store"],
                f"{row['us_alone']:.1f}",
                f"{row['cpu_us_alone']:.1f}",
                f"{row['per_s_alone']:,}",
                f"{row['per_s_2_processes']:,}",
                f"{row['per_s_8_threads']:,}",
            )
            for row in rows
        ),
        "lrrrrr",
    )
    return f"{intro}\n\n{body}"


def _memory(report: dict[str, Any]) -> str:
    runs = report["results"]
    rows = []
    for index, point in enumerate(runs[0]["points"]):
        cells = [f"{point['deliveries']:,}"]
        for run in runs:
            p = run["points"][index]
            cells.append(f"{p['rss_mib']:.1f} ({p['records']:,})")
        rows.append(cells)
    headers = ["Deliveries", *(f"{run['store']}: RSS MiB (records)" for run in runs)]
    notes = []
    for run in runs:
        if run["flat_after_bound"] is None:
            verdict = (
                f"bound not passed far enough to judge; a full store holds about "
                f"{run['store_at_bound_mib']:.0f} MiB"
            )
        else:
            verdict = (
                f"bound reached at {run['bound_reached_at']:,} deliveries, then "
                f"{run['growth_after_bound_mib']:+.2f} MiB in all, "
                f"{run['tail_bytes_per_delivery']:+.1f} bytes per delivery at the end: "
                + ("**flat**" if run["flat_after_bound"] else "**not flat**")
            )
        notes.append(
            f"- {run['store']} (ttl {run['ttl_s']:.0f} s): about "
            f"{run['bytes_per_record']} bytes per record while filling; {verdict}."
        )
    intro = (
        f"RSS of one process after each block of {report['block']:,} distinct deliveries "
        f"through `handle()` (one no-op handler, in-memory store), "
        f"{report['deliveries']:,} in all; machine: {report['machine']}."
    )
    return f"{intro}\n\n{table(headers, rows, 'r' * len(headers))}\n\n" + "\n".join(notes)


def accept_row(row: dict[str, Any], sqlite_floor: str | None = None) -> tuple[object, ...]:
    """A row of the inbox's accepts table: a backend's, or the bare view's.

    ``sqlite_floor``: the SQLite floor's row label, its "vs sqlite3" the floor itself.
    """
    rates = (
        row["backend"],
        f"{row['rps_median']:,}",
        f"{row['rps_p25']:,}{TO}{row['rps_p75']:,}",
        f"{row['p50_ms']:.2f}",
        f"{row['p99_ms']:.2f}",
        " / ".join(f"{share:.0%}" for share in row["worker_share"]),
    )
    if "accepted" not in row:  # the bare view's row: it answers 200 and stores nothing
        other = row["non_200"] + row["errors"]
        return (*rates, NONE, NONE, NONE, other, "100% (floor)", NONE, NONE)
    return (
        *rates,
        f"{row['accepted']:,}",
        f"{row['stored']:,}",
        row["lost"],
        row["non_202"] + row["errors"],
        vs_bare(row),
        "100% (floor)" if row["backend"] == sqlite_floor else vs_bare(row, "vs_sqlite_floor"),
        number(row.get("redis_calls_per_accept"), ".2f"),
    )


def vs_bare(row: dict[str, Any], name: str = "vs_bare") -> str:
    """An inbox row's ratio ``name`` (to the bare view by default), with its spread.

    ``NONE`` if not measured, or not in the report (an older one).
    """
    if row.get(name) is None:
        return NONE
    return f"{row[name]:.1%} ({row[name + '_p25']:.1%}{TO}{row[name + '_p75']:.1%})"


def inbox_notes(report: dict[str, Any]) -> str:
    """The inbox intro's sentences on the bare view and Redis' commands (``""`` if neither)."""
    text = ""
    if report.get("bare"):
        text += (
            " The bare Flask view (`benchmarks.bare_app`: HMAC-SHA256, `hmac.compare_digest`, "
            "`json.loads`; it answers 200 and stores nothing) runs under the same gunicorn "
            "settings and wrk request files, interleaved with the backends. vs bare: the median "
            "over rounds of accepts/s over the bare view's requests/s in the same round."
        )
    floor = report.get("sqlite_floor")
    if floor:
        text += (
            f" {floor['backend']}: the SQLite floor, a {floor['case']} (`benchmarks.peer_apps`' "
            "`sqlite` view: it verifies as the Celery and RQ views do, then inserts the "
            "raw body into a table of its own SQLite file, WAL, `synchronous=NORMAL`, committed, "
            f"before the 202; a 202 means {floor['durability']}). vs sqlite3: for the SDK's "
            "SQLite rows, the median over rounds of accepts/s over the floor's in the same round."
        )
    if any(row.get("redis_calls_per_accept") is not None for row in report["results"]):
        text += " " + COUNTED.format(answers="202s")
    return text


def _inbox(report: dict[str, Any]) -> str:
    bare = [report["bare"]] if report.get("bare") else []
    floor = (report.get("sqlite_floor") or {}).get("backend")
    accepts = [accept_row(row, floor) for row in bare + report["results"]]
    drains = [
        (
            row["backend"],
            row["workers"],
            f"{row['events_per_s_median']:,}",
            f"{row['events_per_s_p25']:,}{TO}{row['events_per_s_p75']:,}",
            f"{row['seconds_median']:.2f}",
            "yes" if row["all_done"] else "**no**",
            row.get("store_errors", 0),
        )
        for row in report["drain"]
    ]
    redis = (
        f"and Redis {report['redis']} with an append-only file, on a `redis-server` of its own "
        "per `appendfsync` setting (no snapshots)"
        if report["redis"]
        else "(Redis not measured)"
    )
    intro = (
        f"Durable accepts: `benchmarks.inbox_app` (inbox mode, one no-op handler) under "
        f"gunicorn on 127.0.0.1 ({report['gunicorn']}), one inbox per backend: SQLite "
        f"{report['sqlite']} with each `synchronous` setting {redis}; driven by wrk with "
        f"{report['connections']} connections; {report['rounds']} rounds x "
        f"{report['duration_s']} s per backend after a {report['warmup_s']} s warm-up, "
        f"interleaved; {report['body_bytes']}-byte bodies, each distinct; inbox files on "
        f"{report['inbox_disk']}; machine: {report['machine']}. Target: at least "
        f"{report['target_rps']:,} accepts/s. Stored: events the runs added (pending, done "
        "and dead in the inbox's `stats`), counted once the server was idle (it can exceed "
        "the 202s by requests in flight when wrk stopped); lost: 202s without a stored event."
        + inbox_notes(report)
    )
    accept_headers = [
        "Backend",
        "Accepts/s",
        f"p25{TO}p75",
        "p50 ms",
        "p99 ms",
        "Worker shares",
        "202s",
        "Stored",
        "Lost",
        "Other answers",
        "vs bare",
        "vs sqlite3",
        "Redis cmds/accept",
    ]
    drain_intro = (
        f"Drain: {report['drain_events']:,} stored events (verified, parsed and `put` one by "
        f"one), handled by `Worker` (batch {report['worker_batch']}, a no-op handler) in this "
        f"process, or by that many worker processes started together, on an emptied inbox "
        "each time; store errors: claims that failed (for SQLite, the write lock not had "
        "within the busy timeout) and were retried; "
        f"{report['drain_rounds']} round(s), interleaved."
    )
    drain_headers = [
        "Backend",
        "Workers",
        "Events/s",
        f"p25{TO}p75",
        "Seconds",
        "All done",
        "Store errors",
    ]
    peers = peer_comparison(report)
    return (
        f"{intro}\n\n{table(accept_headers, accepts, 'lrrrrrrrrrrrr')}\n\n"
        + (f"{peers}\n\n" if peers else "")
        + f"{drain_intro}\n\n{table(drain_headers, drains, 'llrrrlr')}"
    )


def peer_comparison(report: dict[str, Any]) -> str:
    """The inbox report's comparison with Celery and RQ; ``""`` for a report without one."""
    peers = report.get("peers")
    if not peers:
        return ""
    if not peers["results"]:
        return (
            f"Against Celery and RQ: not measured ({peers['skipped'] or 'no SDK row to compare'})."
        )
    rows = []
    for row in peers["results"]:
        ratio = (
            f"{row['ratio_to_faster_peer']:.0%} ({row['ratio_p25']:.0%}{TO}{row['ratio_p75']:.0%})"
        )
        met = row["meets_target"]
        target = "peer" if met is None else "**met**" if met else "**missed**"
        rows.append(
            (
                row["case"],
                f"{row['rps_median']:,}",
                f"{row['rps_p25']:,}{TO}{row['rps_p75']:,}",
                ratio,
                target,
                row["durability"],
            )
        )
    versions = ", ".join(f"{kind} {version}" for kind, version in peers["versions"].items())
    skipped = f" Not measured: {peers['skipped']}." if peers["skipped"] else ""
    intro = (
        f"Against Celery and RQ ({versions}): a Flask view verifying with the standard library "
        "(HMAC-SHA256, timestamp tolerance) that enqueues the raw body on the Redis server of "
        f"the SDK's `Redis {peers['redis_appendfsync']}` row and answers 202, under the same "
        "gunicorn settings and wrk request files, interleaved with the SDK's rows above. "
        "Ratio: the median over rounds of accepts/s over the faster peer's in the same round. "
        "Target: the SDK's Redis inbox accepts at least as many events per second as either "
        f"peer, and its SQLite inbox at least as many as the faster of them.{skipped}"
    )
    headers = ["Case", "Accepts/s", f"p25{TO}p75", "vs faster peer", "Target", "A 202 means"]
    return f"{intro}\n\n{table(headers, rows, 'lrrrll')}"


def _observe(report: dict[str, Any]) -> str:
    rows = [
        (
            row["case"],
            f"{row['best_us']:.2f}",
            f"{row['median_us']:.2f}",
            f"{row['p25_us']:.2f}{TO}{row['p75_us']:.2f}",
            f"{row['overhead_us']:+.2f}",
        )
        for row in report["results"]
    ]
    shares = [
        (row["case"], row["reference"], f"{row['request_us']:.1f}", f"{row['share']:.1%}")
        for row in report["overheads"]
    ]
    intro = (
        f"In process, `handle()` with one plain handler and the in-memory store, "
        f"{report['rounds']} rounds x {report['per_round']:,} distinct "
        f"{report['body_bytes']}-byte deliveries per case, interleaved; machine: "
        f"{report['machine']}. Overhead: the best round's µs above the receiver without "
        "observers. One request's time: a server's processes over its requests per second "
        "in the HTTP results (SDK, in-memory store). Target for `Metrics`: at most "
        f"{report['target_share']:.0%} of a request."
    )
    cases = table(["Case", "Best µs", "Median µs", f"p25{TO}p75 µs", "Overhead µs"], rows, "lrrrr")
    against = table(["Case", "HTTP request of", "Request µs", "Overhead share"], shares, "llrr")
    return f"{intro}\n\n{cases}\n\n{against}"


def _generic(report: dict[str, Any]) -> str:
    results = report.get("results")
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        return f"```json\n{json.dumps(report, indent=2)}\n```"
    keys = list(dict.fromkeys(k for r in results for k in r))
    scalar = [k for k in keys if all(not isinstance(r.get(k), (dict, list)) for r in results)]
    numeric = "".join(
        "r" if all(isinstance(r.get(k), (int, float, type(None))) for r in results) else "l"
        for k in scalar
    )
    return table(scalar, ([r.get(k, "") for k in scalar] for r in results), numeric)


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "core": _core,
    "http": _http,
    "inbox": _inbox,
    "memory": _memory,
    "observe": _observe,
    "shared_store": _shared_store,
}
TITLES = {
    "core": "Core: `handle()` against the floor and peers",
    "http": "HTTP: the example receiver under gunicorn against a bare Flask view",
    "inbox": "Inbox: durable accepts under gunicorn, and the workers' drain rate",
    "memory": "Memory: RSS over distinct deliveries",
    "shared_store": "Shared stores alone: what each request writes",
    "observe": "Observers: what metrics and tracing cost a delivery",
}


def render_report(report: dict[str, Any], level: int = 2, name: str = "results") -> str:
    """One report as a Markdown section: a heading, what was run, and its table.

    ``name`` (such as the file's name) titles a report that does not say which it is.
    """
    kind = str(report.get("benchmark") or name)
    title = TITLES.get(kind, kind)
    return f"{'#' * level} {title}\n\n{RENDERERS.get(kind, _generic)(report)}\n"


def render(results: Path = RESULTS, level: int = 2) -> str:
    """Markdown for every ``*.json`` report in ``results``, the known kinds first (``ORDER``)."""
    reports: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(results.glob("*.json")):
        report = json.loads(path.read_text())
        if isinstance(report, dict):
            reports.append((str(report.get("benchmark") or path.stem), report))
    if not reports:
        return "No benchmark results yet: run `make bench`.\n"

    def rank(item: tuple[str, dict[str, Any]]) -> tuple[int, str]:
        return (ORDER.index(item[0]) if item[0] in ORDER else len(ORDER), item[0])

    return "\n".join(render_report(r, level, kind) for kind, r in sorted(reports, key=rank))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--level", type=int, default=2, help="heading level of each section")
    parser.add_argument("--out", type=Path, help="write here instead of printing")
    args = parser.parse_args()
    markdown = render(args.results, args.level)
    if args.out:
        args.out.write_text(markdown)
    else:
        print(markdown, end="")


if __name__ == "__main__":
    main()

"""Smoke tests for the benchmark harness: its pure parts on tiny inputs, no wrk needed."""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import shutil
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from benchmarks import bench_http, bench_inbox, bench_memory, report
from benchmarks.bare_app import create_app
from tests.redis_server import redis_client, redis_server, redis_url  # noqa: F401  (fixtures)
from wrenn_webhooks import WebhookReceiver, verify


def read_requests(path: Path) -> tuple[list[str], list[list[str]]]:
    names, *lines = path.read_text().splitlines()
    return names.split("\t"), [line.split("\t") for line in lines]


def test_request_file_holds_distinct_valid_deliveries(tmp_path: Path) -> None:
    path = tmp_path / "requests.tsv"
    size = bench_http.write_requests(path, 50)
    names, rows = read_requests(path)
    assert names[-1] == "body"
    assert {name.lower() for name in names} >= {
        "x-wrenn-signature",
        "x-wrenn-timestamp",
        "x-wrenn-delivery",
    }
    assert len(rows) == 50
    assert all(len(row) == len(names) for row in rows)
    bodies = [row[-1].encode() for row in rows]
    assert len(set(bodies)) == 50
    assert {len(body) for body in bodies} == {size}
    receiver = WebhookReceiver(bench_http.SECRET)
    receiver.add(lambda event: None, "capsule.pause")
    for row in rows:
        headers = dict(zip(names[:-1], row[:-1], strict=True))
        verify(row[-1].encode(), headers, bench_http.SECRET)
        answer = receiver.handle(row[-1].encode(), headers)
        assert answer.status_code == 200
        assert not answer.body.get("duplicate")


def test_lua_script_reads_what_the_harness_writes() -> None:
    script = bench_http.LUA.read_text()
    assert f'headers["{bench_http.WORKER_HEADER}"]' in script
    assert '"WRK_JSON "' in script
    assert "wrk.thread:stop()" in script  # a file never wraps round to a duplicate


def test_parse_wrk_adds_requests_per_second() -> None:
    line = (
        'WRK_JSON {"duration_us":2000000,"requests":5000,"errors":0,"non_2xx_3xx":0,'
        '"p50_us":1200,"p99_us":9000,"exhausted":0,"duplicates":0,'
        '"workers":{"101":2600,"102":2400},"statuses":{"200":5000}}'
    )
    parsed = bench_http.parse_wrk(f"noise\n{line}\n")
    assert parsed["rps"] == pytest.approx(2500)
    assert parsed["workers"] == {"101": 2600, "102": 2400}
    with pytest.raises(RuntimeError):
        bench_http.parse_wrk("Running 5s test\n")


def fake_run(rps: float, shares: tuple[int, int] = (1, 1)) -> dict[str, Any]:
    total = int(rps * 5)
    first = total * shares[0] // sum(shares)
    return {
        "rps": rps,
        "requests": total,
        "p50_us": 1500.0,
        "p99_us": 8000.0,
        "errors": 0,
        "non_2xx_3xx": 0,
        "duplicates": 0,
        "workers": {"11": first, "12": total - first},
    }


HTTP_RATES = {"-": 1000.0, "memory": 960.0, "sqlite": 500.0, "redis": 400.0}


def http_report() -> dict[str, Any]:
    cases = bench_http.cases(["sync", "gthread"])
    samples = {}
    for case in cases:
        rps = HTTP_RATES[case.server.store] / (2 if case.server.fsync == "always" else 1)
        runs = [fake_run(rps), fake_run(rps * 1.1, (3, 1))]
        if case.server.store == "redis":  # two scripts per request, one running three commands
            runs = [
                run | {"redis_calls": {"evalsha": 2 * run["requests"], "hset": 3 * run["requests"]}}
                for run in runs
            ]
        samples[case] = runs
    settings = {
        "machine": "x86_64, 2 cores",
        "rounds": 2,
        "duration_s": 5,
        "warmup_s": 1,
        "connections": 64,
        "wrk_threads": 1,
        "gunicorn": "2 workers",
        "body_bytes": 333,
        "redis": "7.0.15",
        "redis_skipped": None,
    }
    return bench_http.summarize(samples, settings)


def test_http_summary_gives_ratios_and_worker_shares() -> None:
    result = http_report()
    rows = {row["case"]: row for row in result["results"]}
    assert len(rows) == 10
    memory = rows["2 gthread x 8, keep-alive: SDK, memory store"]
    assert memory["ratio_to_bare"] == pytest.approx(0.96)
    assert memory["round_ratios"] == [0.96, 0.96]
    assert memory["round_shares"] == [[0.5, 0.5], [0.75, 0.25]]
    assert memory["worker_share"][0] > memory["worker_share"][1]
    assert sum(memory["worker_share"]) == pytest.approx(1, abs=0.01)
    assert "ratio_to_bare" not in rows["2 sync, server closes: bare Flask view (floor)"]
    text = bench_http.table(result)
    assert "SDK, sqlite store" in text
    assert "0.960" in text


def test_http_summary_counts_redis_commands_per_request() -> None:
    rows = {row["case"]: row for row in http_report()["results"]}
    always = rows["2 sync, server closes: SDK, redis store (always)"]
    assert always["ratio_to_bare"] == pytest.approx(0.2)
    assert always["redis_calls_per_request"] == 5
    assert always["redis_calls_by_command"] == {"hset": 3, "evalsha": 2}
    assert "redis_calls_per_request" not in rows["2 sync, server closes: SDK, sqlite store"]
    text = bench_http.table(http_report())
    assert "SDK, redis store (everysec)" in text
    assert "  2 gthread x 8, keep-alive: SDK, redis store (always): hset 3.00, evalsha 2.00" in text
    assert " 5.00\n" in text  # the cmd/req column of a Redis row


def test_cases_cover_both_worker_classes_and_connection_modes() -> None:
    names = [case.name for case in bench_http.cases(["sync", "gthread", "gthread-close"])]
    assert len(names) == len(set(names)) == 15
    assert "2 gthread x 8, close: SDK, sqlite store" in names
    assert "2 sync, server closes: SDK, redis store (everysec)" in names
    assert "2 gthread x 8, close: SDK, redis store (always)" in names
    without = [case.name for case in bench_http.cases(["sync", "gthread"], with_redis=False)]
    assert len(without) == 6
    assert not [name for name in without if "redis" in name]


def test_round_order_keeps_the_apps_compared_together_and_rotates() -> None:
    cases = bench_http.cases(["sync", "gthread", "gthread-close"])
    orders = [bench_http.round_order(cases, number) for number in range(5)]
    for order in orders:
        assert sorted(case.name for case in order) == sorted(case.name for case in cases)
        groups = [case.group for case in order]
        # each group's five cases (the bare view, the SDK on four stores) run one after another
        assert all(len(set(groups[i : i + 5])) == 1 for i in range(0, 15, 5))
    assert len({order[0].name for order in orders}) == 5  # a different case goes first
    assert len({order[0].group for order in orders}) == 3


def test_each_sdk_server_gets_its_store(tmp_path: Path) -> None:
    urls = {"everysec": "redis://127.0.0.1:7001/0", "always": "redis://127.0.0.1:7002/0"}
    servers = {case.server.label: case.server for case in bench_http.cases(["sync"])}
    assert bench_http.store_url(servers["SDK, memory store"], tmp_path, urls) is None
    assert bench_http.store_url(servers["bare Flask view (floor)"], tmp_path, urls) is None
    sqlite = bench_http.store_url(servers["SDK, sqlite store"], tmp_path, urls)
    assert sqlite == f"sqlite:///{tmp_path}/idem-sdk-sync-sqlite.db"
    always = servers["SDK, redis store (always)"]
    assert bench_http.store_url(always, tmp_path, urls) == urls["always"]
    assert always.name == "sdk-sync-redis-always"


def test_http_skips_the_redis_store_saying_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    binary, reason = bench_inbox.find_redis("Redis store cases")
    assert binary is None
    assert reason == f"redis-server is not installed; install it with: {bench_inbox.REDIS_INSTALL}"
    assert capsys.readouterr().err == f"Redis store cases skipped: {reason}\n"
    skipped = http_report() | {"redis": None, "redis_skipped": reason}
    assert f"Redis store cases skipped: {reason}" in bench_http.table(skipped)
    assert f"The Redis store was not measured: {reason}." in report.render_report(skipped)


def test_redis_needs_redis_py_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/redis-server")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "redis" else real(name)
    )
    assert bench_inbox.redis_missing() == (
        'redis-py is not installed; install it with: pip install -e ".[redis]"'
    )
    assert bench_inbox.find_redis()[0] is None


class FakeRedis:
    """A client whose ``INFO commandstats`` answers what it is given."""

    def __init__(self, stats: dict[str, dict[str, int]]) -> None:
        self.stats = stats

    def info(self, section: str) -> dict[str, dict[str, int]]:
        assert section == "commandstats"
        return self.stats


def test_redis_calls_leave_info_out() -> None:
    stats = {
        "cmdstat_evalsha": {"calls": 7, "usec": 90},
        "cmdstat_client|setinfo": {"calls": 2, "usec": 3},
        "cmdstat_info": {"calls": 40, "usec": 900},
    }
    calls = bench_http.redis_calls(FakeRedis(stats))  # type: ignore[arg-type]
    assert calls == {"evalsha": 7, "client|setinfo": 2}


def test_redis_calls_count_a_real_servers_commands(request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue("redis_client")  # skipped, saying why, without redis-server
    before = bench_http.redis_calls(client)
    client.set("a", 1)
    client.set("b", 2)
    client.get("a")
    assert bench_http.redis_calls(client) - before == {"set": 2, "get": 1}


def test_calls_per_answer_sums_the_runs() -> None:
    runs = [{"redis_calls": {"evalsha": 20, "hset": 30}}, {"redis_calls": {"evalsha": 10}}]
    assert bench_http.calls_per_answer(runs, 15) == (4, {"evalsha": 2, "hset": 2})
    assert bench_http.calls_per_answer(runs, 0) == (None, {})


def test_gthread_workers_split_the_connections_evenly() -> None:
    gthread = bench_http.worker_options("gthread", 64)
    assert gthread[gthread.index("--worker-connections") + 1] == "32"
    assert bench_http.worker_options("gthread", 63)[-1] == "32"  # rounded up: all fit
    assert "--worker-connections" not in bench_http.worker_options("sync", 64)
    assert "--threads" not in bench_http.worker_options("sync", 64)


def test_tag_worker_adds_the_header() -> None:
    seen: list[list[tuple[str, str]]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    tagged = bench_http.tag_worker(app, "4242")
    assert tagged({}, lambda status, headers, exc_info=None: seen.append(headers)) == [b"ok"]
    assert (bench_http.WORKER_HEADER, "4242") in seen[0]


def test_bare_app_does_the_floor_work(tmp_path: Path) -> None:
    path = tmp_path / "requests.tsv"
    bench_http.write_requests(path, 2)
    names, rows = read_requests(path)
    client = create_app(bench_http.SECRET).test_client()
    headers = dict(zip(names[:-1], rows[0][:-1], strict=True))
    answer = client.post("/webhooks/wrenn", data=rows[0][-1], headers=headers)
    assert answer.status_code == 200
    assert answer.get_json() == {"ok": True, "event": "capsule.pause", "handled": 1}
    wrong = client.post("/webhooks/wrenn", data=rows[1][-1], headers=headers)
    assert wrong.status_code == 401


def test_memory_curve_on_a_small_run() -> None:
    result = bench_memory.measure(2_000, 500, max_entries=1_000)
    points = result["points"]
    assert [p["deliveries"] for p in points] == [0, 500, 1_000, 1_500, 2_000]
    assert [p["records"] for p in points[:3]] == [0, 500, 1_000]
    # Full, the store drops its oldest 1/64th at once: between 985 and 1,000 records.
    assert all(1_000 - 1_000 // 64 <= p["records"] <= 1_000 for p in points[3:])
    assert result["bound_reached_at"] == 1_000
    assert isinstance(result["flat_after_bound"], bool)
    assert bench_memory.rss_bytes() > 0


def test_memory_verdict_tells_flat_from_growing() -> None:
    mib = bench_memory.MIB

    def points(after: list[int]) -> list[dict[str, int]]:
        rss = [40 * mib, 50 * mib, *after]
        records = [0, 10_000, *[10_000] * len(after)]
        return [
            {"deliveries": 10_000 * i, "rss_bytes": r, "records": n}
            for i, (r, n) in enumerate(zip(rss, records, strict=True))
        ]

    flat = bench_memory.verdict(points([51 * mib, 51 * mib, 51 * mib]), 10_000, 900)
    assert flat["flat_after_bound"] is True
    assert flat["bytes_per_record"] == round(10 * mib / 10_000)
    leaking = bench_memory.verdict(points([60 * mib, 70 * mib, 80 * mib]), 10_000, 900)
    assert leaking["flat_after_bound"] is False
    filling = bench_memory.verdict(points([]), 100_000, 900)
    assert filling["flat_after_bound"] is None
    assert bench_memory.table(
        {"machine": "m", "deliveries": 20_000, "results": [flat | {"store": "s"}]}
    )


def test_report_renders_every_result_file(tmp_path: Path) -> None:
    core = {
        "benchmark": "core",
        "machine": "x86_64, 2 cores",
        "rounds": 3,
        "per_round": 100,
        "body_bytes": 381,
        "results": [
            {"case": "floor", "median_us": 4.6, "p25_us": 4.5, "p75_us": 4.7, "ratio_to_floor": 1},
            {"case": "a|b", "median_us": 7.4, "p25_us": 7.2, "p75_us": 7.6, "ratio_to_floor": 1.6},
        ],
    }
    memory = bench_memory.verdict(
        [
            {"deliveries": 0, "rss_bytes": 1 << 25, "records": 0},
            {"deliveries": 10, "rss_bytes": 1 << 26, "records": 10},
        ],
        100_000,
        900,
    )
    memory_report = {
        "benchmark": "memory",
        "machine": "m",
        "deliveries": 10,
        "block": 10,
        "results": [memory | {"store": "default"}],
    }
    other = {"results": [{"setting": "NORMAL", "accepts_per_s": 1234}]}
    for name, data in (
        ("core", core),
        ("http", http_report()),
        ("memory", memory_report),
        ("inbox", inbox_report()),
        ("faults", other),
    ):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    markdown = report.render(tmp_path)
    sections = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert len(sections) == 5
    assert sections[0].startswith("## Core")
    assert sections[2].startswith("## Inbox")
    assert sections[-1] == "## faults"
    assert "| a\\|b | 7.40 |" in markdown
    assert "96.0%" in markdown
    assert "| NORMAL | 1234 |" in markdown
    assert "| :-- | --: |" in markdown  # numbers to the right
    assert report.render(tmp_path / "empty").startswith("No benchmark results")


def test_drain_empties_a_filled_inbox(tmp_path: Path) -> None:
    backend = bench_inbox.Backend("SQLite", "NORMAL", str(tmp_path / "inbox.db"))
    bench_inbox.fill(backend, 500, tmp_path / "requests.tsv")
    with closing(backend.open()) as inbox:
        assert bench_inbox.stored(inbox) == 500
    result = bench_inbox.drain(backend)
    assert result["events"] == result["done"] == 500
    assert result["pending"] == result["dead"] == 0
    assert result["events_per_s"] > 0
    shared = bench_inbox.Backend("SQLite", "FULL", str(tmp_path / "shared.db"))
    bench_inbox.fill(shared, 500, tmp_path / "requests.tsv")
    together = bench_inbox.drain(shared, processes=2)
    assert sum(together["per_worker"]) == together["done"] == 500
    assert together["pending"] == together["dead"] == 0
    bench_inbox.fill(shared, 20, tmp_path / "requests.tsv")  # on an emptied inbox
    with closing(shared.open()) as inbox:
        assert bench_inbox.stored(inbox) == 20


def test_redis_drain_empties_a_filled_inbox(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = request.getfixturevalue("redis_url")  # skipped, saying why, without redis-server
    backend = bench_inbox.Backend("Redis", "everysec", url)
    bench_inbox.fill(backend, 300, tmp_path / "requests.tsv")
    with closing(backend.open()) as inbox:
        assert bench_inbox.stored(inbox) == 300
    alone = bench_inbox.drain(backend)
    assert alone["events"] == alone["done"] == 300
    bench_inbox.fill(backend, 300, tmp_path / "requests.tsv")  # FLUSHALL first: 300, not 600
    together = bench_inbox.drain(backend, processes=2)
    assert sum(together["per_worker"]) == together["done"] == 300
    assert together["pending"] == together["dead"] == 0


def test_inbox_app_opens_the_backend_its_environment_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = pytest.importorskip("redis", reason='redis-py is missing: pip install -e ".[dev]"')
    from wrenn_webhooks.inbox import SQLiteInbox
    from wrenn_webhooks.redis import RedisInbox

    def app_inbox(backend: bench_inbox.Backend) -> Any:
        monkeypatch.setenv("WRENN_WEBHOOK_SECRET", bench_http.SECRET)
        for name, value in backend.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delitem(sys.modules, "benchmarks.inbox_app", raising=False)
        return importlib.import_module("benchmarks.inbox_app").inbox

    sqlite = app_inbox(bench_inbox.Backend("SQLite", "FULL", str(tmp_path / "inbox.db")))
    assert isinstance(sqlite, SQLiteInbox)
    assert (sqlite.path, sqlite.synchronous) == (tmp_path / "inbox.db", "FULL")
    sqlite.close()
    url = "redis://127.0.0.1:1/0"  # RedisInbox connects at its first command, never here
    redis_inbox = app_inbox(bench_inbox.Backend("Redis", "always", url))
    assert isinstance(redis_inbox, RedisInbox)
    assert isinstance(redis_inbox.client, redis.Redis)  # not a cluster: no ?cluster=yes
    assert redis_inbox.client.connection_pool.connection_kwargs["port"] == 1
    redis_inbox.close()
    again = app_inbox(bench_inbox.Backend("SQLite", "NORMAL", str(tmp_path / "inbox.db")))
    assert isinstance(again, SQLiteInbox)  # an empty WRENN_INBOX_REDIS means SQLite
    again.close()


def test_inbox_offers_the_settings_the_benchmark_measures() -> None:
    assert bench_inbox.settings_offered() == ("NORMAL", "FULL")


def accept_runs(rates: tuple[float, ...], shares: tuple[int, int] = (1, 1)) -> list[dict[str, Any]]:
    """Fake runs of ``accept_run``, one per rate: every answer a 202, three events in flight,
    and on Redis one script per accept running three commands."""
    runs = []
    for rps in rates:
        run = fake_run(rps, shares)
        accepted = int(run["requests"])
        calls = {"hset": 3 * accepted, "evalsha": accepted}
        runs.append(
            run | {"statuses": {"202": accepted}, "stored": accepted + 3, "redis_calls": calls}
        )
    return runs


def bare_runs(rates: tuple[float, ...]) -> list[dict[str, Any]]:
    """Fake runs of the bare view, one per rate: every answer a 200, nothing stored."""
    runs = [fake_run(rps) for rps in rates]
    return [run | {"statuses": {"200": run["requests"]}, "stored": 0} for run in runs]


def inbox_report() -> dict[str, Any]:
    samples = {}
    for kind, setting, rps in (
        ("SQLite", "NORMAL", 1500.0),
        ("SQLite", "FULL", 900.0),
        ("Redis", "always", 2500.0),
    ):
        runs = [accept_runs((rps,))[0], accept_runs((rps * 1.1,), (3, 1))[0]]
        samples[bench_inbox.Backend(kind, setting, "-")] = runs
    full = bench_inbox.Backend("SQLite", "FULL", "-")
    samples[full][0]["stored"] -= 13  # ten 202s without a stored event
    bare = bare_runs((3000.0, 2750.0))
    drain = {
        "backend": "SQLite NORMAL",
        "workers": "2 processes",
        "events": 500,
        "events_per_s_median": 5000,
        "events_per_s_p25": 4900,
        "events_per_s_p75": 5100,
        "seconds_median": 0.1,
        "per_worker": [[300, 200]],
        "all_done": True,
        "store_errors": 0,
    }
    return {
        "benchmark": "inbox",
        "machine": "x86_64, 2 cores",
        "inbox_disk": "ext4 on /dev/vda",
        "sqlite": "3.40.1",
        "redis": "7.0.15",
        "rounds": 2,
        "duration_s": 5,
        "warmup_s": 1,
        "connections": 64,
        "wrk_threads": 1,
        "gunicorn": "2 sync workers",
        "body_bytes": 333,
        "target_rps": bench_inbox.TARGET_RPS,
        "bare": bench_inbox.summarize_bare(bare),
        "results": bench_inbox.summarize_accepts(samples, bare),
        "drain_events": 500,
        "drain_rounds": 1,
        "worker_batch": 10,
        "drain": [drain, drain | {"backend": "Redis always", "events_per_s_median": 7000}],
    }


def test_inbox_summary_and_renderers() -> None:
    result = inbox_report()
    normal, full, redis = result["results"]
    assert normal["backend"] == "SQLite NORMAL"
    assert redis["backend"] == "Redis always"
    assert normal["meets_target"]
    assert not full["meets_target"]
    assert redis["meets_target"]
    assert normal["accepted"] == normal["requests"]
    assert normal["non_202"] == 0
    assert normal["lost"] == redis["lost"] == 0
    assert normal["stored"] == normal["accepted"] + 6
    assert full["lost"] == 10
    assert normal["worker_share"][0] > normal["worker_share"][1]
    text = bench_inbox.table(result)
    assert "SQLite NORMAL" in text
    assert "Redis always" in text
    assert "Redis 7.0.15" in text
    assert "2 processes" in text
    markdown = report.render_report(result)
    assert markdown.startswith("## Inbox")
    assert "| SQLite FULL |" in markdown
    assert "| Redis always | 2,625 |" in markdown
    assert "| SQLite NORMAL | 2 processes | 5,000 |" in markdown
    assert "| Redis always | 2 processes | 7,000 |" in markdown
    assert "Redis 7.0.15 with an append-only file" in markdown
    without = result | {"redis": None}
    assert "Redis not measured" in bench_inbox.table(without)
    assert "(Redis not measured)" in report.render_report(without)


def test_ratio_to_bare_pairs_the_runs_of_each_round() -> None:
    runs = [{"rps": 1000.0}, {"rps": 1200.0}, {"rps": 900.0}, {"rps": 700.0}]
    bare = [{"rps": 2000.0}, {"rps": 2000.0}, {"rps": 1000.0}, {"rps": 0.0}]
    # 0.5, 0.6 and 0.9; a round where the bare view answered nothing has no ratio
    assert bench_inbox.ratio_to_bare(runs, bare) == {
        "vs_bare": 0.6,
        "vs_bare_p25": 0.55,
        "vs_bare_p75": 0.75,
    }
    assert bench_inbox.ratio_to_bare(runs[:1], bare[:1]) == {
        "vs_bare": 0.5,
        "vs_bare_p25": 0.5,
        "vs_bare_p75": 0.5,
    }
    assert bench_inbox.ratio_to_bare(runs, [])["vs_bare"] is None
    with pytest.raises(ValueError, match="zip"):  # a round missing: no pairing by position
        bench_inbox.ratio_to_bare(runs, bare[:3])


def test_inbox_rows_against_the_bare_view_and_redis_commands() -> None:
    result = inbox_report()
    normal, _, redis = result["results"]
    # per round: NORMAL 1500 and 1650 against the bare view's 3000 and 2750
    assert (normal["vs_bare"], normal["vs_bare_p25"], normal["vs_bare_p75"]) == (
        0.55,
        0.525,
        0.575,
    )
    assert redis["vs_bare"] == pytest.approx((2500 / 3000 + 1) / 2, abs=1e-3)
    assert redis["redis_calls_per_accept"] == 4
    assert redis["redis_calls_by_command"] == {"hset": 3, "evalsha": 1}
    assert "redis_calls_per_accept" not in normal
    bare = result["bare"]
    assert (bare["backend"], bare["rps_median"], bare["non_200"]) == (
        "bare Flask view (floor)",
        2875,
        0,
    )
    lines = bench_inbox.table(result).splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("backend "))
    assert lines[header + 1].split() == [
        *("bare", "Flask", "view", "(floor)", "2875", "2812-2938", "1.50", "8.00", "50/50"),
        *("-", "-", "-", "0", "1", "-", "-"),
    ]
    assert lines[header + 2].split()[-3:] == ["0.550", "-", "-"]  # no SQLite floor measured
    assert lines[header + 4].split()[-3:] == ["0.917", "-", "4.00"]
    assert "  Redis always: hset 3.00, evalsha 1.00" in lines
    markdown = report.render_report(result)
    assert f"| bare Flask view (floor) | 2,875 | 2,812{report.TO}2,938 |" in markdown
    assert "| - | - | - | 0 | 100% (floor) | - |" in markdown
    assert f"| 55.0% (52.5%{report.TO}57.5%) | - |" in markdown
    assert "| 91.7% (" in markdown
    assert "| 4.00 |" in markdown
    assert "over the 202s" in markdown


def without_new_keys(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` as written before the bare view and Redis' commands were measured."""
    new = ("vs_bare", "vs_sqlite_floor", "redis_calls_per", "redis_calls_by_command")
    rows = [
        {key: value for key, value in row.items() if not key.startswith(new)}
        for row in result["results"]
    ]
    later = ("bare", "redis_skipped", "sqlite_floor")
    old = {key: value for key, value in result.items() if key not in later}
    return old | {"results": rows}


def test_report_renders_results_without_the_new_fields() -> None:
    inbox = report.render_report(without_new_keys(inbox_report()))
    assert "| Redis always | 2,625 |" in inbox
    assert "bare Flask view" not in inbox
    assert "| 0 | - | - |" in inbox  # vs bare and Redis commands: not measured
    assert "commandstats" not in inbox
    http = report.render_report(without_new_keys(http_report() | {"redis": None}))
    assert "| SDK, memory store | 1,008 |" in http
    assert "| SDK, redis store (always) | 210 |" in http  # rows of a run with Redis...
    assert http.count(" | - |") == 10  # ...but no commands counted: "-"
    assert "Redis store runs on" not in http
    committed = report.render(report.RESULTS)  # the results in the repository, whatever they hold
    sections = [line for line in committed.splitlines() if line.startswith("## ")]
    assert len(sections) == len(list(report.RESULTS.glob("*.json")))


def test_the_bare_view_is_served_as_the_inboxes_are() -> None:
    bare = bench_inbox.BARE
    assert bare.app == bench_http.APPS["bare"]
    assert bare.env() == {}  # bench_http.serve gives every app WRENN_WEBHOOK_SECRET
    assert bare.label == "bare Flask view (floor)"
    assert not (bare.sdk or bare.peer or bare.on_redis)
    redis = bench_inbox.Backend("Redis", "always", "redis://127.0.0.1:1/0")
    celery = bench_inbox.Backend("Celery", "everysec", "redis://127.0.0.1:1/0")
    assert redis.sdk and redis.on_redis and celery.on_redis and not celery.sdk


def test_the_sqlite_floor_is_measured_and_counted_but_no_peer(tmp_path: Path) -> None:
    from benchmarks import peer_apps

    path = str(tmp_path / "floor.db")
    floor = bench_inbox.Backend(bench_inbox.SQLITE_FLOOR_KIND, "NORMAL", path)
    assert floor.label == bench_inbox.SQLITE_FLOOR_LABEL == "sqlite3 NORMAL"
    assert floor.sqlite_floor
    assert not (floor.peer or floor.on_redis or floor.sdk or floor.bare)
    assert "WAL commit of the raw body" in bench_inbox.DURABILITY[floor.label]
    # served as peer_apps' sqlite view, its file named by the peers' neutral variable
    assert floor.app == "benchmarks.peer_apps:create_app('sqlite')"
    assert floor.env() == {"BENCH_PEER_TARGET": path}
    rq = bench_inbox.Backend("RQ", "everysec", "redis://127.0.0.1:1/0")
    assert rq.env() == {"BENCH_PEER_TARGET": "redis://127.0.0.1:1/0"}
    assert not any(b.sqlite_floor for b in (rq, bench_inbox.BARE))
    sdk = bench_inbox.Backend("SQLite", "NORMAL", str(tmp_path / "inbox.db"))
    assert not sdk.sqlite_floor
    # counted as the inboxes are: the rows the view inserted, whichever connection reads them
    with closing(floor.open()) as table:  # creates the table, as before gunicorn starts
        assert isinstance(table, bench_inbox.InsertTable)
        assert bench_inbox.stored(table) == 0
        with closing(peer_apps.SQLiteInsert(path)) as insert:
            for n in range(5):
                insert(b'{"n": %d}' % n)
            assert bench_inbox.stored(table) == 5
            assert table.stats(now=0.0) == {"pending": 5, "done": 0, "dead": 0}
            assert Path(path + "-wal").exists()  # WAL: both connections are open
    floor.empty()
    suffixes = ("", "-wal", "-shm")
    assert not any(Path(path + suffix).exists() for suffix in suffixes)
    with closing(floor.open()) as table:  # an emptied table
        assert bench_inbox.stored(table) == 0


def test_sdk_sqlite_rows_against_the_sqlite_floor_per_round() -> None:
    result = peer_report()
    rows = {row["backend"]: row for row in result["results"]}
    floor, normal = rows["sqlite3 NORMAL"], rows["SQLite NORMAL"]
    # per round: 2400 over the floor's 3000, then 2200 over 2000: 0.8 and 1.1; the medians'
    # ratio (2300 / 2500 = 0.92) would be another figure
    assert (normal["vs_sqlite_floor"], normal["vs_sqlite_floor_p25"]) == (0.95, 0.875)
    assert normal["vs_sqlite_floor_p75"] == 1.025
    assert normal["vs_bare"] == 0.575  # and against the bare view, as every row
    assert floor["vs_bare"] == 0.625
    for row in (floor, rows["Redis everysec"], rows["Celery everysec"], rows["RQ everysec"]):
        assert "vs_sqlite_floor" not in row  # the SDK's SQLite rows only
    assert "redis_calls_per_accept" not in floor  # not on Redis
    assert floor["stored"] == floor["accepted"] + 6 and floor["lost"] == 0
    # without the floor measured: not measured, rather than a ratio to nothing
    inbox = {row["backend"]: row for row in inbox_report()["results"]}
    assert inbox["SQLite FULL"]["vs_sqlite_floor"] is None
    # the text table: x sqlite3 after x bare, the floor's own 1, a note saying what it is
    lines = bench_inbox.table(result).splitlines()
    header = next(n for n, line in enumerate(lines) if line.startswith("backend "))
    assert lines[header].split()[-5:] == ["x", "bare", "x", "sqlite3", "cmd/acc"]
    by_label = {line[:24].strip(): line.split() for line in lines[header + 1 :]}
    assert by_label["sqlite3 NORMAL"][-3:] == ["0.625", "1", "-"]
    assert by_label["SQLite NORMAL"][-3:] == ["0.575", "0.950", "-"]
    assert by_label["Redis everysec"][-2:] == ["-", "4.00"]
    assert (
        "x sqlite3: the same, for the SDK's SQLite rows, over the hand-written sqlite3 "
        "INSERT's (sqlite3 NORMAL: verify, one INSERT of the raw body, committed, 202)"
    ) in lines
    older = bench_inbox.table(inbox_report()).splitlines()
    assert not any(line.startswith("x sqlite3") for line in older)


def accepts_table(markdown: str) -> list[list[str]]:
    """The cells of the inbox report's accepts table, its header first."""
    lines = markdown.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("| Backend | Accepts/s |"))
    end = lines.index("", start)
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[start:end]]


def test_report_renders_the_sqlite_floor_column() -> None:
    markdown = report.render_report(peer_report())
    header, marks, *rows = accepts_table(markdown)
    assert header[-3:] == ["vs bare", "vs sqlite3", "Redis cmds/accept"]
    assert all(len(row) == len(header) for row in [marks, *rows])
    cells = {row[0]: row for row in rows}
    to = report.TO
    assert cells["SQLite NORMAL"][-2:] == [f"95.0% (87.5%{to}102.5%)", "-"]
    assert cells["sqlite3 NORMAL"][1] == "2,500"
    assert cells["sqlite3 NORMAL"][-3:] == [f"62.5% (56.2%{to}68.8%)", "100% (floor)", "-"]
    assert cells["bare Flask view (floor)"][-3:] == ["100% (floor)", "-", "-"]
    assert cells["Redis everysec"][-2:] == ["-", "4.00"]
    assert cells["RQ everysec"][-2] == "-"
    assert (
        "sqlite3 NORMAL: the SQLite floor, a hand-written sqlite3 INSERT (`benchmarks.peer_apps`' "
        "`sqlite` view" in markdown
    )
    assert "a 202 means one WAL commit of the raw body before the 202" in markdown
    # an older report, written before the floor was measured: the column, every cell NONE
    older = report.render_report(without_new_keys(peer_report()))
    header, marks, *rows = accepts_table(older)
    assert header[-2] == "vs sqlite3"
    assert all(len(row) == len(header) for row in [marks, *rows])
    assert {row[-2] for row in rows} == {report.NONE}
    assert "the SQLite floor" not in older
    assert {row[-2] for row in accepts_table(report.render_report(inbox_report()))[2:]} == {"-"}


def test_inbox_skips_redis_saying_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert bench_inbox.find_redis() == (None, bench_inbox.redis_missing())
    assert capsys.readouterr().err == (
        "Redis rows skipped: redis-server is not installed; "
        f"install it with: {bench_inbox.REDIS_INSTALL}\n"
    )


def peer_report() -> dict[str, Any]:
    """An inbox report with Celery and RQ rows beside the SDK's, as ``bench_inbox.run`` writes.

    With the SQLite floor's row too, faster than either peer: it must not count as one.
    """
    samples = {
        bench_inbox.Backend(kind, setting, "-"): accept_runs(rates)
        for kind, setting, rates in (
            ("sqlite3", "NORMAL", (3000.0, 2000.0)),
            ("SQLite", "NORMAL", (2400.0, 2200.0)),
            ("Redis", "everysec", (2300.0, 2100.0)),
            ("Celery", "everysec", (1200.0, 1000.0)),
            ("RQ", "everysec", (1500.0, 1100.0)),
        )
    }
    bare = bare_runs((4000.0, 4000.0))
    accepts = bench_inbox.summarize_accepts(samples, bare)
    return inbox_report() | {
        "bare": bench_inbox.summarize_bare(bare),
        "results": accepts,
        "sqlite_floor": {
            "backend": bench_inbox.SQLITE_FLOOR_LABEL,
            "case": bench_inbox.SQLITE_FLOOR_CASE,
            "durability": bench_inbox.DURABILITY[bench_inbox.SQLITE_FLOOR_LABEL],
        },
        "peers": {
            "redis_appendfsync": "everysec",
            "versions": {"Celery": "5.7.0", "RQ": "3.0.0"},
            "skipped": None,
            "results": bench_inbox.compare_peers(accepts),
        },
    }


def test_report_renders_peer_rows(tmp_path: Path) -> None:
    result = peer_report()
    redis, celery, rq, sqlite = result["peers"]["results"]
    assert [row["case"] for row in (redis, celery, rq, sqlite)] == [
        "SDK RedisInbox (everysec)",
        "Celery enqueue",
        "RQ enqueue",
        "SDK SQLiteInbox (NORMAL)",
    ]
    # per round against the faster peer: RQ's 1500, then 1100 (not the SQLite floor's 3000)
    assert redis["ratio_to_faster_peer"] == pytest.approx((2300 / 1500 + 2100 / 1100) / 2, 1e-3)
    assert rq["ratio_to_faster_peer"] == 1
    assert celery["ratio_to_faster_peer"] < 1
    assert redis["meets_target"] and sqlite["meets_target"]
    assert celery["meets_target"] is None
    assert "appendfsync everysec" in celery["durability"]
    text = bench_inbox.table(result)
    assert "Celery enqueue" in text
    assert "RQ everysec" in text
    (tmp_path / "inbox.json").write_text(json.dumps(result))
    markdown = report.render(tmp_path)
    assert markdown.startswith("## Inbox")
    assert "| Celery everysec | 1,100 |" in markdown  # the accept table's row
    assert "Against Celery and RQ (Celery 5.7.0, RQ 3.0.0)" in markdown
    assert "| SDK SQLiteInbox (NORMAL) | 2,300 |" in markdown
    assert "| RQ enqueue | 1,300 |" in markdown
    assert "**met**" in markdown
    assert report.peer_comparison(peer_report()) in markdown
    # an older report, or peers not installed, still renders
    assert report.peer_comparison(inbox_report()) == ""
    skipped = result | {"peers": {"skipped": "celery not installed", "results": []}}
    assert "not measured (celery not installed)" in report.render_report(skipped)
    assert "Peers: celery not installed" in bench_inbox.table(skipped)


def test_peer_apps_verify_before_they_enqueue(tmp_path: Path) -> None:
    from benchmarks import peer_apps

    path = tmp_path / "requests.tsv"
    bench_http.write_requests(path, 2)
    names, rows = read_requests(path)
    queued: list[bytes] = []
    client = peer_apps.verified_view(bench_http.SECRET.encode(), queued.append).test_client()
    headers = dict(zip(names[:-1], rows[0][:-1], strict=True))
    answer = client.post(peer_apps.PATH, data=rows[0][-1], headers=headers)
    assert answer.status_code == 202
    assert queued == [rows[0][-1].encode()]  # the raw body, as bytes
    assert client.post(peer_apps.PATH, data=rows[1][-1], headers=headers).status_code == 401
    stale = headers | {"X-Wrenn-Timestamp": "2020-01-01T00:00:00Z"}
    assert client.post(peer_apps.PATH, data=rows[0][-1], headers=stale).status_code == 401
    assert client.post(peer_apps.PATH, data=rows[0][-1], headers={}).status_code == 401
    assert queued == [rows[0][-1].encode()]


def events_in(path: Path) -> list[tuple[int, bytes]]:
    """The rows of the SQLite floor's table in ``path``, read back by a connection of its own."""
    import sqlite3

    with closing(sqlite3.connect(path)) as connection:
        return list(connection.execute("SELECT id, body FROM events ORDER BY id"))


def test_sqlite_view_inserts_each_accepted_body_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    import sqlite3

    from benchmarks import peer_apps

    path = tmp_path / "requests.tsv"
    bench_http.write_requests(path, 3)
    names, rows = read_requests(path)
    db = tmp_path / "floor.db"
    monkeypatch.setenv("BENCH_PEER_TARGET", str(db))  # as gunicorn's workers get it
    monkeypatch.setenv("WRENN_WEBHOOK_SECRET", f"{bench_http.SECRET},{'o' * 64}")
    app = peer_apps.create_app("sqlite")
    client = app.test_client()
    request.addfinalizer(app.extensions["enqueue"].close)
    first = dict(zip(names[:-1], rows[0][:-1], strict=True))
    refused = [
        (rows[1][-1], first),  # another body under the first one's signature
        (rows[0][-1], first | {"X-Wrenn-Timestamp": "2020-01-01T00:00:00Z"}),  # stale
        (rows[0][-1], first | {"X-Wrenn-Timestamp": "yesterday"}),
        (rows[0][-1], {}),
    ]
    for body, headers in refused:
        assert client.post(peer_apps.PATH, data=body, headers=headers).status_code == 401
    assert events_in(db) == []  # the table exists, and nothing refused was inserted
    for row in rows:
        answer = client.post(
            peer_apps.PATH, data=row[-1], headers=dict(zip(names[:-1], row[:-1], strict=True))
        )
        assert (answer.status_code, answer.get_json()) == (202, {"ok": True, "queued": True})
    # committed: another connection reads each accepted body back, once, as its raw bytes
    assert events_in(db) == [(n + 1, row[-1].encode()) for n, row in enumerate(rows)]
    assert client.post(peer_apps.PATH, data=rows[2][-1], headers=first).status_code == 401
    assert len(events_in(db)) == 3
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT typeof(body) FROM events").fetchone() == ("blob",)
    with closing(peer_apps.open_events(str(db))) as connection:
        assert connection.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL


def test_sqlite_view_refuses_a_file_it_cannot_put_in_wal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from benchmarks import peer_apps

    with pytest.raises(RuntimeError, match="journal_mode is memory, not wal"):
        peer_apps.SQLiteInsert(":memory:")
    # Another connection holding the new file's lock: given up after the busy timeout,
    # "database is locked" raised, instead of trying again forever.
    db = tmp_path / "locked.db"
    monkeypatch.setattr(peer_apps, "SQLITE_TIMEOUT", 0.1)
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            peer_apps.SQLiteInsert(str(db))
        holder.execute("ROLLBACK")
    with closing(peer_apps.SQLiteInsert(str(db))) as insert:  # the lock let go
        insert(b"{}")
    assert events_in(db) == [(1, b"{}")]


def test_peer_enqueuers_hand_the_body_on_as_text(request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("redis_url")  # skipped, saying why, without redis-server
    pytest.importorskip("rq", reason=f"rq is missing: {bench_inbox.PEER_INSTALL}")
    pytest.importorskip("celery", reason=f"celery is missing: {bench_inbox.PEER_INSTALL}")
    import redis
    from rq import Queue

    from benchmarks import peer_apps

    body = '{"event":"capsule.pause","note":"caf\u00e9"}'
    job = peer_apps.rq_enqueue(url)(body.encode())
    assert job.args == (body,)  # type: ignore[attr-defined]
    with closing(redis.Redis.from_url(url)) as client:
        assert Queue(connection=client).job_ids == [job.id]  # type: ignore[attr-defined]
        peer_apps.celery_enqueue(url)(body.encode())
        [message] = client.lrange(peer_apps.CELERY_QUEUE, 0, -1)
    envelope = json.loads(message)
    assert envelope["properties"]["body_encoding"] == "base64"
    args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
    assert (args, kwargs) == ([body], {})


def test_inbox_skips_missing_peers_saying_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "rq" else real(name)
    )
    found = bench_inbox.find_peers()
    assert "RQ" not in found
    assert capsys.readouterr().err.endswith(
        f"RQ rows skipped: rq is not installed; install it with: {bench_inbox.PEER_INSTALL}\n"
    )


def test_shared_store_benchmark_measures_each_store_each_way(tmp_path: Path) -> None:
    """A tiny run: every row's writes by one writer, two processes and eight threads, on
    SQLite and (where redis-server is installed) on Redis; each write really stored."""
    import hashlib
    import sqlite3
    import time

    from benchmarks import bench_shared_store
    from wrenn_webhooks.inbox import SQLiteInbox
    from wrenn_webhooks.stores import ClaimState, SQLiteIdempotencyStore

    result = bench_shared_store.run(deliveries=16, repeats=1)
    names = [row["store"] for row in result["results"]]
    sqlite_rows = [name for name, what in bench_shared_store.ROWS if not what.startswith("redis")]
    assert names[:3] == sqlite_rows
    if shutil.which("redis-server") and importlib.util.find_spec("redis"):
        assert names == [name for name, _ in bench_shared_store.ROWS]
        assert result["redis_skipped"] is None
    for row in result["results"]:
        assert row["us_alone"] > 0 and row["cpu_us_alone"] > 0
        assert row["per_s_2_processes"] > 0 and row["per_s_8_threads"] > 0

    # What each row writes, read back: a done record, a pending event, a row.
    for what in ("sqlite store", "sqlite inbox", "insert"):
        writes = bench_shared_store.Opens(what, str(tmp_path / f"{what}.db"))()
        bench_shared_store.deliver(writes, "check", 3)
        writes.close()
    store = SQLiteIdempotencyStore(tmp_path / "sqlite store.db")
    key = hashlib.sha256(b"check-2").hexdigest()
    assert store.claim(key, now=time.time(), lease=1).state is ClaimState.DONE
    store.close()
    inbox = SQLiteInbox(tmp_path / "sqlite inbox.db")
    assert inbox.stats(now=time.time())["pending"] == 3
    inbox.close()
    with closing(sqlite3.connect(tmp_path / "insert.db")) as connection:
        assert connection.execute("SELECT count(*) FROM events").fetchone() == (3,)
    assert "Shared stores alone" in report.render_report(result)

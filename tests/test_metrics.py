"""Prometheus metrics: what is counted, bounded labels, the inbox gauges, every /metrics."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from flask import Flask
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.routing import Route

from tests.conftest import Clock, event_body, signed
from tests.redis_server import redis_client, redis_server, redis_url  # noqa: F401  (fixtures)
from tests.servers import BIN, ROOT, free_port, serve, wait_for_http
from tests.vectors import SAMPLE_BODY, SECRET
from wrenn_webhooks import ConfigurationError, Event, WebhookReceiver
from wrenn_webhooks.errors import RequestError
from wrenn_webhooks.inbox import SQLiteInbox, Worker
from wrenn_webhooks.metrics import Metrics, asgi_app, flask_blueprint
from wrenn_webhooks.testing import signed_request

DOCS = ROOT / "docs" / "monitoring.md"
OTHER_SECRET = "0" * 64


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture
def metrics(receiver: WebhookReceiver, registry: CollectorRegistry) -> Metrics:
    watcher = Metrics(registry=registry)
    receiver.add_observer(watcher)
    return watcher


def fails(event: Event) -> None:
    raise RuntimeError("boom")


def series(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called ``name`` in an exposition, by their sorted labels."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(f"wrenn_webhooks_{name}", labels)


# --- what is counted --------------------------------------------------------------


def test_each_answer_is_counted_by_type_outcome_and_status(
    receiver: WebhookReceiver, metrics: Metrics, registry: CollectorRegistry, clock: Clock
) -> None:
    receiver.add(lambda event: None, "capsule.pause")
    receiver.add(fails, "host.up")
    body, headers = signed(SAMPLE_BODY, clock)
    assert receiver.handle(body, headers).status_code == 200
    assert receiver.handle(body, headers).body["duplicate"] is True
    assert receiver.handle(*signed(event_body("host.up", None), clock)).status_code == 500
    assert receiver.handle(*signed(event_body("widget.frob", "<odd>"), clock)).status_code == 200
    assert receiver.handle(*signed(SAMPLE_BODY, clock, OTHER_SECRET)).status_code == 401
    assert receiver.handle(b"x" * (receiver.max_body_bytes + 1), {}).status_code == 413

    deliveries = series(generate_latest(registry).decode(), "wrenn_webhooks_deliveries_total")
    assert deliveries == {
        (("event_type", "capsule.pause"), ("outcome", "error"), ("status", "200")): 2,
        (("event_type", "host.up"), ("outcome", "none"), ("status", "500")): 1,
        (("event_type", "other"), ("outcome", "other"), ("status", "200")): 1,
        (("event_type", "none"), ("outcome", "none"), ("status", "401")): 1,
        (("event_type", "none"), ("outcome", "none"), ("status", "413")): 1,
    }
    assert value(registry, "duplicates_total", event_type="capsule.pause") == 1
    assert value(registry, "delivery_duration_seconds_count") == 6
    assert 0 < (value(registry, "delivery_duration_seconds_sum") or 0) < 5


def test_handler_runs_and_failures_are_counted_by_handler(
    receiver: WebhookReceiver, metrics: Metrics, registry: CollectorRegistry, clock: Clock
) -> None:
    def audit(event: Event) -> None:
        pass

    receiver.add(audit, "capsule.*")
    receiver.add(fails, "capsule.pause")
    [audit_name, fails_name] = [route.name for route in receiver.routes]
    for number in range(3):
        body = event_body(
            "capsule.pause", "error", resource={"id": f"sb-{number}", "type": "sandbox"}
        )
        assert receiver.handle(*signed(body, clock)).status_code == 500
    receiver.handle(*signed(event_body("capsule.resume", "success"), clock))

    assert value(registry, "handler_duration_seconds_count", handler=audit_name) == 4
    assert value(registry, "handler_failures_total", handler=audit_name) == 0
    assert value(registry, "handler_duration_seconds_count", handler=fails_name) == 3
    assert value(registry, "handler_failures_total", handler=fails_name) == 3
    assert value(registry, "handler_duration_seconds_bucket", handler=audit_name, le="30.0") == 4


def test_handler_runs_in_an_inbox_worker_are_counted(
    tmp_path: Path, registry: CollectorRegistry, clock: Clock
) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    receiver.add(fails, "capsule.pause")
    receiver.add_observer(Metrics(registry=registry, inbox=inbox))
    assert receiver.handle(*signed(SAMPLE_BODY, clock)).status_code == 202
    assert Worker(receiver, clock=clock).run_once() == 1

    [name] = [route.name for route in receiver.routes]
    assert (
        value(
            registry, "deliveries_total", event_type="capsule.pause", outcome="error", status="202"
        )
        == 1
    )
    assert value(registry, "handler_failures_total", handler=name) == 1
    assert value(registry, "inbox_failed") == 1
    inbox.close()


# --- bounded labels -----------------------------------------------------------------


def test_a_thousand_made_up_types_and_outcomes_make_one_series(
    receiver: WebhookReceiver, metrics: Metrics, registry: CollectorRegistry, clock: Clock
) -> None:
    for number in range(1000):
        body = event_body(
            f"made.up{number}",
            f"outcome-{number}",
            resource={"id": f"r{number}", "type": "sandbox"},
        )
        assert receiver.handle(*signed(body, clock)).status_code == 200
    text = generate_latest(registry).decode()
    assert series(text, "wrenn_webhooks_deliveries_total") == {
        (("event_type", "other"), ("outcome", "other"), ("status", "200")): 1000
    }
    assert "made.up" not in text
    assert "outcome-" not in text


def test_a_status_outside_the_receivers_counts_as_other(
    receiver: WebhookReceiver, metrics: Metrics, registry: CollectorRegistry
) -> None:
    for status in (418, 599, 418):
        receiver.refused(RequestError("odd", status_code=status), {})
    assert (
        value(registry, "deliveries_total", event_type="none", outcome="none", status="other") == 3
    )


# --- inbox gauges -------------------------------------------------------------------


class FixedStats:
    def __init__(self, stats: dict[str, int | float | None] | Exception) -> None:
        self.result = stats
        self.calls = 0

    def stats(self, *, now: float | None = None) -> dict[str, int | float | None]:
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_inbox_gauges_are_read_from_stats_at_each_scrape(registry: CollectorRegistry) -> None:
    counts: dict[str, int | float | None] = {
        "pending": 7,
        "failed": 2,
        "in_flight": 1,
        "dead": 3,
        "done": 40,
        "oldest_pending_age": 95.5,
    }
    inbox = FixedStats(counts)
    Metrics(registry=registry, inbox=inbox)
    assert inbox.calls == 0  # registering reads nothing
    text = generate_latest(registry).decode()
    assert inbox.calls == 1
    gauges = {
        name: series(text, f"wrenn_webhooks_inbox_{name}")[()]
        for name in ("pending", "failed", "in_flight", "dead", "done", "up")
    }
    assert gauges == {"pending": 7, "failed": 2, "in_flight": 1, "dead": 3, "done": 40, "up": 1}
    assert series(text, "wrenn_webhooks_inbox_oldest_pending_age_seconds") == {(): 95.5}
    inbox.result = {**counts, "pending": 0, "oldest_pending_age": None}
    text = generate_latest(registry).decode()
    assert series(text, "wrenn_webhooks_inbox_pending") == {(): 0}
    assert series(text, "wrenn_webhooks_inbox_oldest_pending_age_seconds") == {(): 0}


def test_a_failing_stats_answers_the_scrape_with_inbox_up_0(
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    Metrics(registry=registry, inbox=FixedStats(OSError("disk gone")))
    text = generate_latest(registry).decode()
    assert series(text, "wrenn_webhooks_inbox_up") == {(): 0}
    assert not series(text, "wrenn_webhooks_inbox_pending")
    assert "disk gone" in caplog.text


def fill_and_work(receiver: WebhookReceiver, clock: Clock) -> None:
    """Three events stored; one handled, one failed, one left pending."""
    broken = {"sb-1"}

    def handler(event: Event) -> None:
        if event.resource.id in broken:
            raise RuntimeError("down")

    receiver.add(handler, "capsule.pause")
    for number in range(3):
        body = event_body(
            "capsule.pause", "error", resource={"id": f"sb-{number}", "type": "sandbox"}
        )
        assert receiver.handle(*signed(body, clock)).status_code == 202
    Worker(receiver, clock=clock, batch=2).run_once()


def inbox_gauges(registry: CollectorRegistry) -> dict[str, float | None]:
    keys = ("pending", "failed", "in_flight", "dead", "done")
    return {key: value(registry, f"inbox_{key}") for key in keys}


def test_sqlite_inbox_gauges_match_its_stats(
    tmp_path: Path, registry: CollectorRegistry, clock: Clock
) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    Metrics(registry=registry, inbox=inbox)
    fill_and_work(receiver, clock)
    stats = inbox.stats()
    assert inbox_gauges(registry) == {k: stats[k] for k in inbox_gauges(registry)}
    assert stats["pending"] == 2 and stats["failed"] == 1 and stats["done"] == 1
    assert value(registry, "inbox_up") == 1
    inbox.close()


def test_redis_inbox_gauges_match_its_stats(
    request: pytest.FixtureRequest, registry: CollectorRegistry, clock: Clock
) -> None:
    url = request.getfixturevalue("redis_url")  # skipped, saying why, without redis-server
    from wrenn_webhooks.redis import RedisInbox

    inbox = RedisInbox(url)
    receiver = WebhookReceiver(SECRET, inbox=inbox, clock=clock)
    Metrics(registry=registry, inbox=inbox)
    fill_and_work(receiver, clock)
    stats = inbox.stats()
    assert inbox_gauges(registry) == {k: stats[k] for k in inbox_gauges(registry)}
    assert stats["pending"] == 2 and stats["failed"] == 1 and stats["done"] == 1
    inbox.close()


# --- registration and imports -------------------------------------------------------


def test_a_second_metrics_in_one_registry_needs_another_namespace(
    registry: CollectorRegistry,
) -> None:
    Metrics(registry=registry, inbox=FixedStats({"pending": 1}))
    with pytest.raises(ConfigurationError, match="another registry or namespace"):
        Metrics(registry=registry, inbox=FixedStats({"pending": 2}))
    Metrics(registry=registry, namespace="second", inbox=FixedStats({"pending": 2}))
    text = generate_latest(registry).decode()  # the refused one left nothing behind
    assert series(text, "wrenn_webhooks_inbox_pending") == {(): 1}
    assert series(text, "second_inbox_pending") == {(): 2}


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_package_and_its_adapters_do_not_import_prometheus_client() -> None:
    code = (
        "import sys, wrenn_webhooks, wrenn_webhooks.flask, wrenn_webhooks.asgi, "
        "wrenn_webhooks.observe, wrenn_webhooks.cli; print('prometheus_client' in sys.modules)"
    )
    assert run_python(code) == "False"


def test_without_prometheus_client_the_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['prometheus_client'] = None\n"
        "try:\n    import wrenn_webhooks.metrics\nexcept ImportError as exc:\n    print(exc)"
    )
    assert run_python(code) == (
        'wrenn_webhooks.metrics needs prometheus_client: pip install "wrenn-webhooks[metrics]"'
    )


# --- /metrics -----------------------------------------------------------------------


def test_flask_blueprint_serves_text_and_openmetrics(
    receiver: WebhookReceiver, metrics: Metrics, clock: Clock
) -> None:
    receiver.add(lambda event: None, "capsule.pause")
    app = Flask(__name__)
    app.register_blueprint(flask_blueprint(metrics))
    receiver.handle(*signed(SAMPLE_BODY, clock))
    client = app.test_client()

    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    text = answer.get_data(as_text=True)
    assert series(text, "wrenn_webhooks_deliveries_total") == {
        (("event_type", "capsule.pause"), ("outcome", "error"), ("status", "200")): 1
    }
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.mimetype == "application/openmetrics-text"
    assert openmetrics.get_data(as_text=True).endswith("# EOF\n")
    assert client.post("/metrics").status_code == 405


def test_asgi_app_serves_metrics_in_a_starlette_route(
    receiver: WebhookReceiver, metrics: Metrics, clock: Clock
) -> None:
    receiver.add(lambda event: None, "capsule.pause")
    receiver.handle(*signed(SAMPLE_BODY, clock))
    app = Starlette(routes=[Route("/metrics", asgi_app(metrics))])

    async def scrape() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [
                await client.get("/metrics"),
                await client.head("/metrics"),
                await client.post("/metrics"),
            ]

    got, head, refused = asyncio.run(scrape())
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/plain")
    assert series(got.text, "wrenn_webhooks_delivery_duration_seconds_count") == {(): 1}
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) > 0
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"


def scrape(url: str) -> tuple[str, str]:
    """The exposition at ``url`` and the pid of the process that answered."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read().decode(), answer.headers.get("X-Worker-Pid", "")


def total(text: str, name: str) -> float:
    return sum(series(text, name).values())


@pytest.mark.skipif(not (BIN / "gunicorn").exists(), reason="gunicorn missing")
def test_two_gunicorn_workers_are_added_up_in_multiprocess_mode(
    tmp_path: Path, unused_port: int
) -> None:
    # The gunicorn.conf.py of the docs: it empties and sets PROMETHEUS_MULTIPROC_DIR.
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(docs_python("## Several processes: gunicorn")[0])
    folder = tmp_path / "multiproc"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"stale")  # a previous run's file, emptied away
    args = [
        str(BIN / "gunicorn"),
        "-c",
        str(conf),
        "-w",
        "2",
        "--no-control-socket",
        "-b",
        f"127.0.0.1:{unused_port}",
        "tests.metrics_app:app",
    ]
    env = {"WRENN_WEBHOOK_SECRET": SECRET, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    base = f"http://127.0.0.1:{unused_port}"
    with serve(args, unused_port, env, unset=["WRENN_METRICS_INBOX"]) as server:
        wait_for_http(f"{base}/metrics")
        pids: set[str] = set()
        sent = 0
        with ThreadPoolExecutor(8) as pool:
            for _ in range(10):  # until both workers answered some; each batch a new set
                bodies = [
                    event_body(
                        "capsule.pause",
                        "error",
                        resource={"id": f"sb-{sent + n}", "type": "sandbox"},
                    )
                    for n in range(24)
                ]
                for status, pid in pool.map(lambda b: deliver_to(base, b), bodies):
                    assert status == 200
                    pids.add(pid)
                sent += len(bodies)
                if len(pids) == 2:
                    break
        assert len(pids) == 2, f"one worker served all {sent} deliveries"
        scraped: dict[str, str] = {}
        with ThreadPoolExecutor(4) as pool:
            for _ in range(10):  # a scrape in each worker: both see every worker's counts
                scraped.update(
                    (pid, text) for text, pid in pool.map(scrape, [f"{base}/metrics"] * 4)
                )
                if len(scraped) == 2:
                    break
    assert not server.process.returncode, server.output
    assert set(scraped) == pids
    for text in scraped.values():
        assert total(text, "wrenn_webhooks_deliveries_total") == sent
        assert total(text, "wrenn_webhooks_handler_duration_seconds_count") == sent
        assert total(text, "wrenn_webhooks_delivery_duration_seconds_count") == sent
    assert not (folder / "counter_1.db").exists()


def deliver_to(base: str, body: bytes) -> tuple[int, str]:
    _, headers = signed_request(body, SECRET)
    request = urllib.request.Request(f"{base}/webhooks/wrenn", data=body, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, answer.headers["X-Worker-Pid"]


def test_worker_command_serves_handler_metrics_and_inbox_gauges(
    tmp_path: Path, unused_port: int
) -> None:
    path = tmp_path / "inbox.db"
    with closing(SQLiteInbox(path)) as inbox:
        filler = WebhookReceiver(SECRET, inbox=inbox)
        filler.add(lambda event: None, "capsule.pause")  # events no handler wants are not kept
        for number in range(3):
            body = event_body(
                "capsule.pause", "error", resource={"id": f"sb-{number}", "type": "sandbox"}
            )
            assert filler.handle(*signed_request(body, SECRET)).status_code == 202
    args = [
        str(BIN / "wrenn-webhooks"),
        "worker",
        "tests.metrics_app:receiver",
        "--metrics-port",
        str(unused_port),
    ]
    env = {"WRENN_WEBHOOK_SECRET": SECRET, "WRENN_METRICS_INBOX": str(path)}
    with serve(args, unused_port, env, unset=["PROMETHEUS_MULTIPROC_DIR"]) as server:
        deadline = time.monotonic() + 15
        while True:
            # One scrape reads the histograms, then the inbox: the last event can be done
            # between the two, so wait for a scrape that saw all three in both.
            text, _ = scrape(f"http://127.0.0.1:{unused_port}/metrics")
            finished = total(text, "wrenn_webhooks_handler_duration_seconds_count") == 3
            if series(text, "wrenn_webhooks_inbox_done") == {(): 3} and finished:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert series(text, "wrenn_webhooks_inbox_done") == {(): 3}, server.output
    assert series(text, "wrenn_webhooks_inbox_pending") == {(): 0}
    assert total(text, "wrenn_webhooks_handler_duration_seconds_count") == 3
    assert "tests.metrics_app.note_pause" in text
    assert f"metrics on http://127.0.0.1:{unused_port}/metrics" in server.output


# --- the docs -----------------------------------------------------------------------


def docs_python(heading: str) -> list[str]:
    section = DOCS.read_text().split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


DOC_CHECKS = {
    # The Flask example: its app answers a delivery and shows it at /metrics.
    "## Prometheus metrics": (
        "from wrenn_webhooks.testing import deliver, make_event\n"
        "receiver.add(lambda event: None, 'capsule.pause')  # kept in the inbox: 202\n"
        "client = app.test_client()\n"
        "secret = os.environ['WRENN_WEBHOOK_SECRET']\n"
        "[result] = deliver(client, make_event('capsule.pause'), secret)\n"
        "assert result.status_code == 202, result\n"
        "text = client.get('/metrics').get_data(as_text=True)\n"
        "assert 'wrenn_webhooks_inbox_pending 1.0' in text, text\n"
        "assert 'status=\"202\"' in text, text\n"
    ),
    "## Serving /metrics": (
        "from starlette.testclient import TestClient\n"
        "with TestClient(app) as client:\n"
        "    assert 'wrenn_webhooks_deliveries_total' in client.get('/metrics').text\n"
    ),
    "## Watching deliveries yourself: `Observer`": "",
}


@pytest.mark.parametrize("heading", DOC_CHECKS)
def test_the_monitoring_pages_snippets_run(heading: str, tmp_path: Path) -> None:
    """Each in a process of its own: each registers in prometheus_client's default registry."""
    [code] = docs_python(heading)
    script = tmp_path / "snippet.py"
    script.write_text(code + DOC_CHECKS[heading])
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"WRENN_WEBHOOK_SECRET": SECRET, "PYTHONPATH": str(ROOT), "PATH": ""},
    )
    assert out.returncode == 0, out.stderr


def test_the_metrics_table_names_every_metric(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    Metrics(
        registry=registry,
        inbox=FixedStats(
            {
                "pending": 0,
                "failed": 0,
                "in_flight": 0,
                "dead": 0,
                "done": 0,
                "oldest_pending_age": None,
            }
        ),
    )
    names = {family.name for family in registry.collect()}
    table = DOCS.read_text().split("## The metrics", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `(\w+)` \|", table, re.M))
    suffixed = {name + "_total" if f"{name}_total" in documented else name for name in names}
    assert suffixed == documented


# --- the cost -----------------------------------------------------------------------


def test_the_observer_benchmark_measures_and_renders(tmp_path: Path) -> None:
    from benchmarks import bench_observe, report

    result = bench_observe.run(2, 50, pin=False)
    rows = {row["case"]: row for row in result["results"]}
    assert rows["no observer"]["overhead_us"] == 0
    assert rows["Metrics"]["best_us"] > 0
    assert {row["case"] for row in result["overheads"]} == set(rows) - {"no observer"}
    assert all(row["request_us"] > 0 for row in result["overheads"])
    markdown = report.render_report(result)
    assert markdown.startswith("## Observers")
    assert "| Metrics |" in markdown
    assert bench_observe.table(result)
